"""The launcher's memory cuts keep its guarantees: the exec shim (no reaper process beside a program that
starts no children) still ties the program to the launcher's life; the ``flwr`` CLI worker answers as the
``flwr`` command does; the preparation process writes the data files and a signature Flower's own check
accepts; ``supernodes_after_submit`` is validated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ppml_lab.fl.deploy import DeploymentConfig, FlowerDeployment, offline_env
from ppml_lab.fl.deploy.processes import PDEATHSIG_AVAILABLE, pdeathsig_exec_argv


def _alive(pid: int, ctime: float) -> bool:
    try:
        q = psutil.Process(pid)
        return abs(q.create_time() - ctime) < 1e-3 and q.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.skipif(not PDEATHSIG_AVAILABLE, reason="PR_SET_PDEATHSIG is Linux-only")
def test_exec_shim_program_dies_with_a_sigkilled_launcher_and_no_shim_process_stays(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "from ppml_lab.fl.deploy.processes import pdeathsig_exec_argv\n"
        "p = subprocess.Popen(pdeathsig_exec_argv(['/bin/sleep', '60']))\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and psutil.Process(pid).name() != "sleep":
        time.sleep(0.05)
    prog = psutil.Process(pid)
    ctime = prog.create_time()
    try:
        # The shim exec'd the program: the launcher's child *is* the program, nothing waits beside it.
        assert prog.name() == "sleep" and prog.children() == []
        parent.kill()  # SIGKILL: no clean-up code of the launcher runs
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid, ctime) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid, ctime)
    finally:
        if _alive(pid, ctime):
            prog.kill()


@pytest.mark.skipif(not PDEATHSIG_AVAILABLE, reason="PR_SET_PDEATHSIG is Linux-only")
def test_exec_shim_refuses_to_start_a_program_whose_launcher_is_already_gone() -> None:
    # The launcher PID given is not the shim's parent (as if the launcher died before prctl): no exec.
    argv = pdeathsig_exec_argv(["/bin/echo", "ran"])
    argv[argv.index(str(__import__("os").getpid()))] = "1"
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert res.returncode == 137 and "ran" not in res.stdout


def test_cli_worker_answers_like_the_flwr_command(tmp_path: Path) -> None:
    env = offline_env(tmp_path / "flwr_home")
    worker = subprocess.Popen([sys.executable, "-m", "ppml_lab.fl.deploy._cli_worker"], env=env, cwd=tmp_path,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out, _ = worker.communicate(json.dumps(["--version"]) + "\n" + json.dumps(["no-such-command"]) + "\n",
                                timeout=120)
    replies = [json.loads(line) for line in out.splitlines()]
    one_shot = subprocess.run([str(Path(sys.executable).parent / "flwr"), "--version"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0 and len(replies) == 2
    assert replies[0]["rc"] == one_shot.returncode == 0
    assert replies[0]["stdout"].strip() == one_shot.stdout.strip() != ""
    assert replies[1]["rc"] != 0  # an unknown command fails, as `flwr no-such-command` does


def test_preparation_process_writes_the_sites_and_a_signature_flower_accepts(tmp_path: Path) -> None:
    from ppml_lab.exceptions import AuthenticationError
    from ppml_lab.fl.certs import generate_signing_key
    from ppml_lab.fl.deploy import APP_DIR, PUBLISHER_KEY_ID, build_fab, verify_fab

    key = generate_signing_key(tmp_path / "publisher", "publisher")
    res = subprocess.run([sys.executable, "-m", "ppml_lab.fl.deploy._prepare", str(tmp_path / "data"), "2026", "3",
                          str(APP_DIR), str(key.private_key)], capture_output=True, text=True, timeout=300, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(out["site_paths"]) == 3 and all(Path(p).is_file() for p in out["site_paths"])
    assert Path(out["test_path"]).is_file()
    fab = build_fab(APP_DIR)
    trusted = {PUBLISHER_KEY_ID: key.public_key.read_text().strip()}
    verify_fab(fab, out["app_signature"], trusted)  # Flower's own check; raises if it fails
    with pytest.raises(AuthenticationError):  # the signature covers these bytes only
        verify_fab(fab + b"x", out["app_signature"], trusted)


def test_supernodes_after_submit_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="supernodes_after_submit"):
        FlowerDeployment(DeploymentConfig(n_supernodes=2), supernodes_after_submit="yes")  # type: ignore[arg-type]
