"""Process bookkeeping for the Flower launchers: environment, ports, spawning, ending by PID.

Every process a launcher starts is (1) ended by PID on ``stop()``, on error, on Ctrl-C and at interpreter
exit, and (2) dies with the launcher even when the launcher gets no chance to clean up (SIGKILL, a
Jupyter kernel restart, an OOM kill): it runs under a small reaper shim (``_reaper.py``) that holds
Linux's parent-death signal, ``prctl(PR_SET_PDEATHSIG)``, and is a child subreaper,
``prctl(PR_SET_CHILD_SUBREAPER)`` (prctl(2)). When the launcher dies the kernel signals the shim, which
ends the program and every process below it - including those Flower starts in a new session
(SuperExec, ServerApp, ClientApps), which would otherwise be re-parented to init and keep running:
Flower's own parent-PID watch (``flwr/supercore/app_utils.py`` ``start_parent_process_monitor``) raises
SIGINT in them, and a SuperExec and its ServerApp were measured still running 10 s after the launcher's
SIGKILL. ``tests/fl/test_deploy_orphans.py`` SIGKILLs a launcher mid-round and checks.

A program that starts no processes of its own (a SuperLink or SuperNode running its apps in-process, a
``flwr`` CLI call) runs under the exec shim (``_pdeathsig_exec.py``) instead: it sets the parent-death
signal (SIGKILL) and ``exec``s the program, so no reaper process (~10 MB each) waits beside it.

Caveat of the mechanism (prctl(2)): the signal fires when the *thread* that forked the child exits, so
launchers must start processes from a thread that lives as long as the deployment (the main thread;
the monitor thread started here never spawns).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppml_lab._ports import free_port  # the package's one copy; re-exported here
from ppml_lab.fl.certs import LOOPBACK

__all__ = [
    "BIN",
    "flwr_json",
    "parse_run_id",
    "offline_env",
    "free_port",
    "listen_port",
    "port_free",
    "port_open",
    "pdeathsig_argv",
    "pdeathsig_exec_argv",
    "PDEATHSIG_AVAILABLE",
]

BIN = Path(sys.executable).parent  # the venv's bin (not resolved: the venv python is a symlink)

#: Linux only: other systems fall back to the launcher's own clean-up (stop(), atexit).
PDEATHSIG_AVAILABLE = sys.platform.startswith("linux")

_REAPER = Path(__file__).with_name("_reaper.py")
_EXEC_SHIM = Path(__file__).with_name("_pdeathsig_exec.py")

#: Seconds a program gets to shut down after SIGTERM before its whole tree is SIGKILLed.
SHUTDOWN_GRACE = 3.0


def pdeathsig_argv(argv: Sequence[str], *, grace: float = SHUTDOWN_GRACE) -> list[str]:
    """``argv`` run under the reaper shim (:mod:`ppml_lab.fl.deploy._reaper`): the program and every
    process below it die when the calling process dies, SIGKILL included. Non-Linux: ``argv`` unchanged."""
    argv = [str(a) for a in argv]
    if not PDEATHSIG_AVAILABLE:
        return argv
    return [sys.executable, "-I", "-S", str(_REAPER), str(os.getpid()), f"{float(grace):g}", *argv]


def pdeathsig_exec_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` run under the exec shim (:mod:`ppml_lab.fl.deploy._pdeathsig_exec`): the program itself
    is SIGKILLed when the calling thread's process dies; no process stays beside it. Only for programs
    that start no children (those would outlive it: use :func:`pdeathsig_argv`). Non-Linux: unchanged."""
    argv = [str(a) for a in argv]
    if not PDEATHSIG_AVAILABLE:
        return argv
    return [sys.executable, "-I", "-S", str(_EXEC_SHIM), str(os.getpid()), *argv]


def offline_env(flwr_home: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every Flower process: private FLWR_HOME, no telemetry, no update checks, no Ray
    usage stats, and this venv's ``bin`` first on PATH (SuperLink/SuperNode spawn ``flwr-serverapp`` and
    ``flwr-clientapp`` by name). The one copy of this set-up (deployment and simulation both use it)."""
    env = dict(os.environ if base is None else base)
    env.update(
        FLWR_HOME=str(flwr_home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",  # the CLI's --format json must stay parseable ...
        TERM="dumb",
    )
    for var in ("FORCE_COLOR", "CLICOLOR_FORCE"):  # ... also under Jupyter, whose kernel sets these
        env.pop(var, None)
    env.setdefault("RAY_TMPDIR", str(Path(flwr_home).parent / "ray_tmp"))
    return env


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def listen_port(host: str = LOOPBACK, *, tries: int = 200) -> int:
    """A free TCP port for a server to listen on, drawn at random *below* the OS's ephemeral range.

    :func:`free_port` returns an ephemeral port, the range the kernel also hands to outgoing connections:
    between choosing it and the server's bind, any new connection on the machine (a SuperNode dialling the
    SuperLink, a CLI call, another program) may take it - seen as ``[Errno 98] address already in use``
    from a SuperNode's Runtime API when 20 SuperNodes started on a loaded machine. Ports below the range
    are never given to outgoing connections; a random draw makes two launchers' choices unlikely to meet.
    """
    import secrets

    low_eph, _ = _ephemeral_range()
    low, high = 20000, max(20001, low_eph - 1)
    if low_eph <= low:  # an unusual configuration: fall back to the OS's choice
        return free_port(host)
    for _ in range(tries):
        port = low + secrets.randbelow(high - low + 1)
        if port_free(port, host):
            return port
    return free_port(host)


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """True if a server could bind ``host:port`` now (with SO_REUSEADDR, as servers - uvicorn, gRPC - do:
    connections of a dead process in TIME_WAIT do not count, a live listener does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid`` (empty if it is gone)."""
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def same_process(pid: int, create_time: float) -> bool:
    """True if ``pid`` is alive, not a zombie, and started at ``create_time`` (not a reused PID)."""
    import psutil

    try:
        q = psutil.Process(pid)
        return abs(q.create_time() - create_time) < 1e-3 and q.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def end_pids(pids: Sequence[int], *, grace: float = 5.0) -> None:
    """SIGTERM then, after ``grace`` seconds, SIGKILL - only the given PIDs."""
    import psutil

    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)


@dataclass
class Proc:
    """One process started by a launcher, its log, and every descendant seen (pid -> start time)."""

    name: str
    popen: subprocess.Popen
    log: Path
    seen: dict[int, float] = field(default_factory=dict)
    peak_rss: int = 0  # highest RSS of this process + its descendants seen by the launcher's sampler

    def alive(self) -> bool:
        return self.popen.poll() is None


def spawn(name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_dir: Path,
          may_fork: bool = True) -> Proc:
    """Start ``argv`` with the parent-death shim, its own session (ended as one group, never by name),
    stdout+stderr to ``log_dir/<name>.log``. ``may_fork=False``: the program starts no processes of its
    own, and runs under the exec shim instead of the reaper (one process less)."""
    log = log_dir / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "ab")  # noqa: SIM115 - the child inherits it; ours is closed right after the fork
    try:
        popen = subprocess.Popen(
            pdeathsig_argv(argv) if may_fork else pdeathsig_exec_argv(argv), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=cwd, start_new_session=True,
        )
    finally:
        fh.close()
    return Proc(name, popen, log)


def run_bounded(argv: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run a short command (a ``flwr`` CLI call, which starts no processes) to completion within
    ``timeout`` s; it dies with us too (exec shim: no reaper process beside it)."""
    return subprocess.run(pdeathsig_exec_argv(argv), env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def flwr_json(stdout: str) -> Any:
    """A ``flwr --format json`` answer: ANSI colour codes and any text before the first brace ignored."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stdout)
    start = text.find("{")
    return json.loads(text[start:] if start >= 0 else text)


def parse_run_id(stdout: str) -> int | None:
    """The run id of ``flwr run --format json``'s answer, or None if it has none (or is not JSON)."""
    try:
        data = flwr_json(stdout)
    except json.JSONDecodeError:
        return None
    rid = data.get("run-id") if isinstance(data, dict) else None
    return int(rid) if rid is not None else None
