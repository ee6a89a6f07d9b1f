"""Free loopback TCP ports for tests and benchmarks that start servers (MPyC parties, JupyterLab, Flower).

Binding port 0 lets the kernel pick a port that is free now; it can be taken again before the caller
binds it, so callers that can should pass the bound socket on instead (as ``ppml_lab.mpc.network`` does).
"""

from __future__ import annotations

import socket

__all__ = ["LOOPBACK", "free_port", "free_port_pair"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the OS reports free on ``host`` right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_port_pair(host: str = LOOPBACK, *, attempts: int = 100) -> int:
    """A port p with p and p + 1 both free right now (MPyC's parties listen on consecutive ports)."""
    for _ in range(attempts):
        port = free_port(host)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((host, port + 1))
            except OSError:
                continue
        return port
    raise OSError(f"no two consecutive free TCP ports on {host} in {attempts} attempts")
