"""Key rotation with the runbook's own commands, on loopback (pytest markers ``deployment``, ``slow``).

One coordinator and one hospital on 127.0.0.1 run the README's blocks verbatim (setup, transfer, start,
register, and the four rotation blocks). Test instrumentation only: the fixed ports of the runbook (9093,
9094) are replaced by free ones, since other tests share this machine. The attack: someone kept a copy of
the hospital's *old* private key (a stolen laptop, a leaked backup). Raw path - before the coordinator
unregisters it - that key joins the federation; after the rotation it is refused by the SuperLink while
the hospital's new key joins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppml_lab.fl.deploy.processes import Proc, descendants, end_pids, free_port, spawn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_deploy_netns import README, VENV_BIN, runbook_blocks, transfers  # noqa: E402

pytestmark = [pytest.mark.deployment, pytest.mark.slow]


class _Sites:
    """Two site directories on this machine and the processes started for them (ended by PID)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.blocks = runbook_blocks(README.read_text())
        self.env = dict(os.environ)
        self.env["PATH"] = f"{VENV_BIN}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.update(COORDINATOR="127.0.0.1", HOSPITALS="3", SITE="0", PYTHONUNBUFFERED="1")
        self.procs: list[Proc] = []
        for d in ("coordinator", "hospital", "logs"):
            (base / d).mkdir(mode=0o700)

    def run(self, site: str, step: str, **extra: str) -> str:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", self.blocks[step]], cwd=self.base / site,
                             env=self.env | extra, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"{step} at {site}: {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        return res.stdout

    def start(self, site: str, step: str, name: str) -> Proc:
        proc = spawn(name, ["bash", "-euo", "pipefail", "-c", self.blocks[step]], env=self.env,
                     cwd=self.base / site, log_dir=self.base / "logs")
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        if proc.alive():
            end_pids([*descendants(proc.popen.pid), proc.popen.pid], grace=5.0)
        proc.popen.wait(timeout=15)

    def nodes(self) -> dict[int, str]:
        out = subprocess.run([str(VENV_BIN / "python"), "-m", "ppml_lab.fl.deploy", "nodes", "--config",
                              "superlink.toml"], cwd=self.base / "coordinator", env=self.env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return {int(n["node-id"]): str(n["status"]) for n in json.loads(out.stdout)}

    def wait_status(self, node_id: int, status: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nodes().get(node_id) == status:
                return
            time.sleep(2.0)
        raise AssertionError(f"node {node_id} never reached status {status!r}: {self.nodes()}")


@pytest.mark.attack
def test_rotated_key_is_refused_and_the_new_key_joins(tmp_path: Path) -> None:
    s = _Sites(tmp_path)
    try:
        s.run("coordinator", "coordinator-setup")
        s.run("hospital", "hospital-setup")
        for a, fa, b, fb in transfers(s.blocks["transfer"], 0):
            shutil.copyfile(tmp_path / a / fa, tmp_path / b / fb)
        port, app_port = free_port(), free_port()
        for f, old, new in (("coordinator/superlink.toml", "port = 9093", f"port = {port}"),
                            ("hospital/supernode.toml", "127.0.0.1:9093", f"127.0.0.1:{port}"),
                            ("hospital/supernode.toml", "[supernode]\n", f"[supernode]\nclientapp_port = {app_port}\n")):
            p = tmp_path / f
            assert old in p.read_text()
            p.write_text(p.read_text().replace(old, new, 1))

        sl = s.start("coordinator", "coordinator-start", "superlink")
        deadline = time.monotonic() + 180
        while "Uvicorn running on" not in sl.log.read_text(errors="replace"):
            assert sl.alive() and time.monotonic() < deadline, sl.log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        old_id = int(re.search(r"node-id (\d+)", s.run("coordinator", "coordinator-register")).group(1))
        node = s.start("hospital", "hospital-start", "supernode-old-key")
        s.wait_status(old_id, "online")  # raw path: the old key is admitted while it is registered
        old_key_copy = tmp_path / "stolen"
        old_key_copy.mkdir(mode=0o700)
        shutil.copy2(tmp_path / "hospital" / "node", old_key_copy / "node")

        # The four rotation blocks, in the runbook's order.
        s.run("hospital", "hospital-rotate")
        line = re.search(r"`(hospital:node-next\.pub -> coordinator:\S+)`", README.read_text()).group(1)
        ((a, fa, b, fb),) = transfers(line, 0)
        shutil.copyfile(tmp_path / a / fa, tmp_path / b / fb)
        new_id = int(re.search(r"node-id (\d+)", s.run("coordinator", "coordinator-rotate-register")).group(1))
        s.stop(node)
        s.run("hospital", "hospital-rotate-switch")
        s.run("coordinator", "coordinator-rotate-unregister", OLD_NODE_ID=str(old_id))
        assert new_id != old_id

        # Attack: a SuperNode holding the old key (the hospital's config, its old private key).
        stolen_conf = tmp_path / "hospital" / "stolen.toml"
        stolen_conf.write_text((tmp_path / "hospital" / "supernode.toml").read_text().replace(
            'private_key = "node"', f'private_key = "{old_key_copy / "node"}"'))
        attacker = spawn("supernode-stolen-key", [str(VENV_BIN / "python"), "-m", "ppml_lab.fl.deploy", "supernode",
                                                  "--config", str(stolen_conf)],
                         env=s.env, cwd=tmp_path / "hospital", log_dir=tmp_path / "logs")
        s.procs.append(attacker)
        try:
            attacker.popen.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("the SuperNode with the revoked key kept running (not refused within 120 s)")
        assert attacker.popen.returncode != 0
        assert "Failed to activate SuperNode" in attacker.log.read_text(errors="replace")
        assert s.nodes().get(old_id) != "online"

        # The hospital, restarted on its new key, joins.
        s.start("hospital", "hospital-start", "supernode-new-key")
        s.wait_status(new_id, "online")
    finally:
        for proc in reversed(s.procs):
            s.stop(proc)
        assert not [p.popen.pid for p in s.procs if p.alive()]
