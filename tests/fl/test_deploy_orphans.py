"""No orphans: every process of a federation dies with its launcher, even when the launcher is SIGKILLed.

A Jupyter kernel restart, an OOM kill or a killed test ends the launcher without any clean-up code
running (no ``finally``, no ``atexit``). The launcher's children carry Linux's parent-death signal
(:mod:`ppml_lab.fl.deploy.processes`) and Flower's own processes below them watch their parent's PID, so
within seconds nothing of the federation is left and its ports are free again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ppml_lab.fl.deploy import free_port
from ppml_lab.fl.deploy.processes import PDEATHSIG_AVAILABLE, pdeathsig_argv, port_free, port_open

pytestmark = pytest.mark.skipif(not PDEATHSIG_AVAILABLE, reason="PR_SET_PDEATHSIG is Linux-only")


def _family(pid: int) -> dict[int, tuple[float, str]]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    out = {}
    for q in kids:
        try:
            out[q.pid] = (q.create_time(), " ".join(q.cmdline()))
        except psutil.Error:
            continue
    return out


def _listening_ports(pids: list[int]) -> set[int]:
    ports: set[int] = set()
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        ports |= {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}
    return ports


def _alive(pid: int, ctime: float) -> bool:
    try:
        q = psutil.Process(pid)
        return abs(q.create_time() - ctime) < 1e-3 and q.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(pid: int, ctime: float, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid, ctime) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid, ctime)


# A program that starts a grandchild in a new session (as Flower starts its SuperExec), writes the
# grandchild's PID, then sleeps (or exits at once with "exit").
_PROGRAM = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen(['/bin/sleep', '60'], start_new_session=True)\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "time.sleep(0 if sys.argv[2] == 'exit' else 60)\n"
)


def _grandchild(pidfile: Path) -> tuple[int, float]:
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    return pid, psutil.Process(pid).create_time()


def test_sigkilled_parent_takes_program_and_detached_grandchild_with_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "from ppml_lab.fl.deploy.processes import pdeathsig_argv\n"
        f"p = subprocess.Popen(pdeathsig_argv([sys.executable, '-c', {_PROGRAM!r}, {str(pidfile)!r}, 'stay']))\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    shim = psutil.Process(int(parent.stdout.readline()))
    g_pid, g_ctime = _grandchild(pidfile)
    tree = {q.pid: q.create_time() for q in shim.children(recursive=True)}
    try:
        parent.kill()  # SIGKILL: no clean-up code of the parent runs
        parent.wait()
        assert _wait_gone(shim.pid, shim.create_time())
        assert all(_wait_gone(pid, ct) for pid, ct in tree.items())
        assert _wait_gone(g_pid, g_ctime)  # the detached grandchild too
    finally:
        for pid, ct in [(g_pid, g_ctime), *tree.items()]:
            if _alive(pid, ct):
                psutil.Process(pid).kill()


def test_program_that_exits_leaves_no_detached_child_and_its_exit_code_is_kept(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    res = subprocess.run(pdeathsig_argv([sys.executable, "-c", _PROGRAM + "sys.exit(7)\n", str(pidfile), "exit"]),
                         timeout=60)
    assert res.returncode == 7
    g_pid = int(pidfile.read_text())
    assert not psutil.pid_exists(g_pid) or psutil.Process(g_pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.deployment
@pytest.mark.slow
def test_sigkill_of_the_launcher_mid_round_leaves_no_process_and_frees_the_ports(tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "launcher.log", "wb")  # noqa: SIM115
    # The default federation (SecAgg+, TLS, node authentication, signed app), long enough to be mid-round,
    # with Flower's subprocess isolation: the deepest process tree (a SuperExec per node, a ClientApp
    # process per message, SuperExec + ServerApp at the coordinator), which the in-process default is a
    # subset of (the same SuperLink and SuperNode processes under the same reaper, and no children).
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ppml_lab.fl.deploy", "--supernodes", "2", "--threshold", "2", "--rounds", "50",
         "--port", str(port), "--subprocess-apps"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    seen: dict[int, tuple[float, str]] = {}
    ports: set[int] = set()
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            assert launcher.poll() is None, (tmp_path / "launcher.log").read_text()[-3000:]
            fam = _family(launcher.pid)
            seen.update(fam)
            ports |= _listening_ports(list(fam))
            if any("flwr-clientapp" in cmd for _, cmd in fam.values()):
                break  # a hospital is training: mid-round
            time.sleep(0.3)
        else:
            pytest.fail("no ClientApp started within 400 s:\n" + (tmp_path / "launcher.log").read_text()[-3000:])
        seen.update(_family(launcher.pid))
        assert port in ports  # the SuperLink's port was held by the federation
        names = " ".join(cmd for _, cmd in seen.values())
        for part in ("_reaper.py", "superlink_guard", "supernode_verify", "flower-superexec", "flwr-serverapp",
                     "flwr-clientapp"):
            assert part in names, part  # the whole federation was running

        os.kill(launcher.pid, signal.SIGKILL)  # no clean-up code of the launcher runs
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = {pid: cmd for pid, (ct, cmd) in seen.items() if _alive(pid, ct)}
            busy = {p for p in ports if port_open(p) or not port_free(p)}  # nothing listens; rebindable
            if not left and not busy:
                break
            time.sleep(0.2)
        assert left == {}, left
        assert busy == set(), busy
    finally:
        log.close()
        if launcher.poll() is None:
            launcher.kill()
        for pid, (ct, _) in seen.items():  # never leave our own test's processes behind, even on failure
            if _alive(pid, ct):
                psutil.Process(pid).kill()
