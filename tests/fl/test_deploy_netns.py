"""Separate hosts, for real: the runbook's commands across six network namespaces (root only).

The test re-executes this file inside ``unshare -n -m`` - a fresh network namespace with no route to the
machine's real network (so nothing can leave the machine) and a private mount namespace (its
``/run/netns`` is a tmpfs that disappears with it). Inside, it makes a bridge and one network namespace per
party - the coordinator (198.18.0.1) and hospitals 0..4 (198.18.0.10..14), addresses from the benchmarking
range 198.18.0.0/15 (RFC 2544) - each joined to the bridge by a veth pair. It then parses
``ppml_lab/fl/deploy/README.md`` and runs its fenced ``sh <step>`` blocks verbatim in each party's
namespace and directory (``ip netns exec``), with ``COORDINATOR``/``HOSPITALS``/``SITE`` set, and copies
the files its ``text transfer`` block lists. The only addition is test instrumentation: ``progress_dir``
in ``[run]`` (stage markers in a directory every namespace shares) and a hold file that pauses hospital 4
as round 2's masked-vector stage starts; at that moment the test deletes hospital 4's veth pair - its
namespace is cut off - and the round must complete from the other four (SecAgg+ reconstructs the
missing hospital's masks from the survivors' shares, Bell et al. 2020 / Bonawitz et al. 2017 Fig. 4).

Every process is started under the reaper shim (it dies with the runner, SIGKILL included) and ended by
PID in ``finally``; the namespaces are deleted there too, and vanish with the private mount namespace in
any case.
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

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "ppml_lab" / "fl" / "deploy" / "README.md"
VENV_BIN = Path(sys.executable).parent

N_HOSPITALS = 5
VICTIM = 4
CUT_ROUND = 2
COORDINATOR = "198.18.0.1"
PORT = 9093
EPOCHS, LR, SEED = 5, 0.5, 2026  # the runbook's config (seed 2026; local_epochs/lr defaults)


def hospital_address(k: int) -> str:
    return f"198.18.0.{10 + k}"


# ---- the runbook ---------------------------------------------------------------------------------------

_BLOCK = re.compile(r"^```(sh|text) ([a-z][a-z0-9-]*)\n(.*?)^```", re.S | re.M)


def runbook_blocks(text: str) -> dict[str, str]:
    """``{step: body}`` of every fenced block whose info string is ``sh <step>`` or ``text <step>``."""
    out: dict[str, str] = {}
    for _lang, step, body in _BLOCK.findall(text):
        if step in out:
            raise ValueError(f"runbook step {step!r} appears twice")
        out[step] = body
    return out


def transfers(block: str, site: int) -> list[tuple[str, str, str, str]]:
    """``coordinator:ca.crt -> hospital:ca.crt`` lines as (from_role, from_file, to_role, to_file)."""
    out = []
    for line in block.strip().splitlines():
        m = re.fullmatch(r"(coordinator|hospital):(\S+) -> (coordinator|hospital):(\S+)", line.strip())
        if m is None:
            raise ValueError(f"transfer line not understood: {line!r}")
        a, fa, b, fb = m.groups()
        out.append((a, fa.replace("$SITE", str(site)), b, fb.replace("$SITE", str(site))))
    return out


REQUIRED_STEPS = ("coordinator-setup", "hospital-setup", "transfer", "coordinator-start", "coordinator-register",
                  "hospital-start", "coordinator-run", "hospital-rotate", "coordinator-rotate-register",
                  "hospital-rotate-switch", "coordinator-rotate-unregister")


def test_runbook_has_every_step_the_tests_run() -> None:
    blocks = runbook_blocks(README.read_text())
    assert set(REQUIRED_STEPS) <= set(blocks), sorted(set(REQUIRED_STEPS) - set(blocks))
    # Every command a site runs is one of the package's entry points (or a file move / config heredoc).
    for step, body in blocks.items():
        if step == "transfer":
            assert transfers(body, 3)[-1] == ("hospital", "node.pub", "coordinator", "hospital-3.pub")
            continue
        for line in body.splitlines():
            if line.startswith(("python ", "cat >", "mv ")):
                assert not line.startswith("python ") or line.startswith("python -m ppml_lab.fl.deploy "), line
    assert '--address "$COORDINATOR"' in blocks["coordinator-setup"]  # the certificate names the coordinator


# ---- the namespace test (outer half) -------------------------------------------------------------------


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "needs root (unshare -n, ip netns); CI runs it as root"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found"
    return None


@pytest.mark.deployment
@pytest.mark.slow
@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_runbook_across_network_namespaces_survives_a_cut_off_hospital(tmp_path: Path) -> None:
    import psutil
    from cryptography import x509

    from ppml_lab.fl.deploy import reference_fedavg

    base = tmp_path / "sites"
    base.mkdir(mode=0o700)
    outcome_path = tmp_path / "outcome.json"
    t0 = time.monotonic()
    proc = subprocess.run(
        ["unshare", "-n", "-m", "--propagation", "private", sys.executable, str(Path(__file__).resolve()),
         "--inner", str(base), str(outcome_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, f"inner runner failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    out = json.loads(outcome_path.read_text())
    print(f"netns test: {elapsed:.1f} s wall; inner phases {out['phases']}")

    # Nothing the runner started is left (same PID namespace: the PIDs are visible here).
    assert out["pids"], "the runner recorded no process"
    assert not [p for p in out["pids"] if psutil.pid_exists(p) and psutil.Process(p).create_time() <= out["end"]]
    assert out["namespaces_left"] == []

    # The certificate names the coordinator's address - and only it (not 127.0.0.1).
    cert = x509.load_pem_x509_certificate((base / "coordinator" / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [COORDINATOR]
    assert san.get_values_for_type(x509.DNSName) == []

    # Traffic really crossed the bridge: the SuperLink saw every hospital's own address.
    for k in range(N_HOSPITALS):
        pattern = re.escape(hospital_address(k)) + r':\d+ - "POST /v1/fleet/'
        assert re.search(pattern, out["superlink_log"]), f"no Fleet API request from hospital {k}'s address"

    # The link of hospital 4 was deleted mid-round 2, and the run completed anyway.
    assert out["cut"] is True, "hospital 4 never reached round 2's masked-vector stage"
    assert out["run_returncode"] == 0, out["run_output"]
    result = out["result"]
    assert [r["clients"] for r in result["rounds"]] == [N_HOSPITALS, N_HOSPITALS - 1]
    ref = reference_fedavg(n_supernodes=N_HOSPITALS, rounds=CUT_ROUND, local_epochs=EPOCHS, lr=LR, rng=SEED,
                           drop={VICTIM: CUT_ROUND})
    for row, (loss, acc) in zip(result["rounds"], ref):
        # SecAgg+ quantisation moves parameters by ~1e-6: the loss by far less than 1e-3, accuracy by at most
        # one of the 143 test examples.
        assert row["loss"] == pytest.approx(loss, abs=1e-3)
        assert abs(row["accuracy"] - acc) <= 1.0 / 143 + 1e-12
    stages = set(out["stages"])
    assert {"setup", "share_keys", "collect_masked_vectors", "unmask"} <= stages  # SecAgg+ really ran


# ---- the namespace test (inner half: runs as root inside `unshare -n -m`) -----------------------------------


def _sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=30)


def _inner(base: Path, outcome_path: Path) -> int:  # noqa: C901 - one linear script
    sys.path.insert(0, str(ROOT))
    from ppml_lab.fl.deploy.processes import descendants, end_pids, spawn

    phases: dict[str, float] = {}
    t_start = time.monotonic()

    def mark(name: str) -> None:
        phases[name] = round(time.monotonic() - t_start, 1)

    parties = ["coordinator", *[f"hospital{k}" for k in range(N_HOSPITALS)]]
    addr = {"coordinator": COORDINATOR, **{f"hospital{k}": hospital_address(k) for k in range(N_HOSPITALS)}}
    ns = {p: f"ppml-{p}" for p in parties}
    bridge_end = {p: f"b{i}" for i, p in enumerate(parties)}
    procs: list = []
    made_ns: list[str] = []
    outcome: dict = {"pids": [], "phases": phases, "cut": False, "run_returncode": None, "result": None,
                     "run_output": "", "superlink_log": "", "stages": [], "namespaces_left": None}
    blocks = runbook_blocks(README.read_text())
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(COORDINATOR=COORDINATOR, HOSPITALS=str(N_HOSPITALS), PYTHONUNBUFFERED="1")
    logs = base / "logs"
    logs.mkdir(mode=0o700)

    def site_dir(p: str) -> Path:
        return base / p

    def site_env(p: str) -> dict[str, str]:
        e = dict(env)
        if p != "coordinator":
            e["SITE"] = p.removeprefix("hospital")
        return e

    def argv_in(p: str, block: str) -> list[str]:
        return ["ip", "netns", "exec", ns[p], "bash", "-euo", "pipefail", "-c", block]

    def run_step(p: str, step: str, *, extra_env: dict[str, str] | None = None, timeout: float = 240):
        e = site_env(p) | (extra_env or {})
        return subprocess.Popen(argv_in(p, blocks[step]), cwd=site_dir(p), env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)

    def finish(popens: dict[str, subprocess.Popen], step: str, timeout: float = 300) -> dict[str, str]:
        outs = {}
        for p, po in popens.items():
            procs_pids.append(po.pid)
            text, _ = po.communicate(timeout=timeout)
            if po.returncode != 0:
                raise RuntimeError(f"step {step} at {p} exited {po.returncode}:\n{text[-3000:]}")
            outs[p] = text
        return outs

    def service(p: str, step: str):
        proc = spawn(f"{p}-{step}", argv_in(p, blocks[step]), env=site_env(p), cwd=site_dir(p), log_dir=logs)
        procs.append(proc)
        procs_pids.append(proc.popen.pid)
        return proc

    procs_pids: list[int] = []
    try:
        # The network: a bridge in this (isolated) namespace, one namespace + veth pair per party.
        if not Path("/run/netns").is_dir():
            os.makedirs("/run/netns", exist_ok=True)
        _sh("mount", "-t", "tmpfs", "tmpfs", "/run/netns")  # private to this mount namespace
        _sh("ip", "link", "set", "lo", "up")
        _sh("ip", "link", "add", "br0", "type", "bridge")
        _sh("ip", "link", "set", "br0", "up")
        for p in parties:
            _sh("ip", "netns", "add", ns[p])
            made_ns.append(ns[p])
            _sh("ip", "link", "add", "eth0", "netns", ns[p], "type", "veth", "peer", "name", bridge_end[p])
            _sh("ip", "link", "set", bridge_end[p], "master", "br0", "up")
            _sh("ip", "-n", ns[p], "addr", "add", f"{addr[p]}/24", "dev", "eth0")
            _sh("ip", "-n", ns[p], "link", "set", "eth0", "up")
            _sh("ip", "-n", ns[p], "link", "set", "lo", "up")
            site_dir(p).mkdir(mode=0o700)
        mark("network")

        # 1-2. Every site's setup block, all at once (each in its own namespace and directory).
        finish({p: run_step(p, "coordinator-setup" if p == "coordinator" else "hospital-setup") for p in parties},
               "setup")
        mark("setup")
        # 3. The transfers the runbook lists (the out-of-band step).
        for k in range(N_HOSPITALS):
            h = f"hospital{k}"
            for a, fa, b, fb in transfers(blocks["transfer"], k):
                src = site_dir("coordinator" if a == "coordinator" else h) / fa
                dst = site_dir("coordinator" if b == "coordinator" else h) / fb
                shutil.copyfile(src, dst)
        # Test instrumentation only: stage markers in a shared directory, and hospital 4 paused as round 2's
        # masked-vector stage starts (client_app._hold_if_asked), so the cut lands at a known protocol step.
        progress = base / "progress"
        progress.mkdir(mode=0o700)
        conf = site_dir("coordinator") / "superlink.toml"
        conf.write_text(conf.read_text().replace("[run]\n", f'[run]\nprogress_dir = "{progress}"\n', 1))
        tag = f"collect_masked_vectors_r{CUT_ROUND}_p{VICTIM}"
        (progress / f"hold_{tag}").touch()

        # 4. The SuperLink.
        sl = service("coordinator", "coordinator-start")
        deadline = time.monotonic() + 180
        while "Uvicorn running on" not in sl.log.read_text(errors="replace"):
            if not sl.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"SuperLink did not start:\n{sl.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        mark("superlink")
        # 5. Register every hospital's key (concurrently: each is one CLI process).
        regs = finish({f"hospital{k}": run_step("coordinator", "coordinator-register", extra_env={"SITE": str(k)})
                       for k in range(N_HOSPITALS)}, "register")
        outcome["node_ids"] = {p: int(re.search(r"node-id (\d+)", t).group(1)) for p, t in regs.items()}
        mark("register")
        # 6. Every hospital's SuperNode.
        for k in range(N_HOSPITALS):
            service(f"hospital{k}", "hospital-start")
        # 7. The run; hospital 4 is cut off when it holds in round 2's masked-vector stage.
        runner = run_step("coordinator", "coordinator-run")
        procs_pids.append(runner.pid)
        deadline = time.monotonic() + 600
        while runner.poll() is None:
            if not outcome["cut"] and (progress / f"stage_{tag}").exists():
                _sh("ip", "link", "del", bridge_end[f"hospital{VICTIM}"])  # both ends of the pair go
                outcome["cut"] = True
                mark("cut")
            if time.monotonic() > deadline:
                raise RuntimeError("the run did not finish within 600 s")
            time.sleep(0.2)
        text, _ = runner.communicate()
        mark("run")
        outcome["run_returncode"] = runner.returncode
        outcome["run_output"] = text[-4000:]
        result_file = site_dir("coordinator") / "result.json"
        if result_file.exists():
            outcome["result"] = json.loads(result_file.read_text())
        outcome["superlink_log"] = sl.log.read_text(errors="replace")[-400_000:]
        for f in progress.glob("traffic_p*.jsonl"):
            outcome["stages"] += sorted({json.loads(x)["stage"] for x in f.read_text().splitlines() if x.strip()})
    finally:
        pids = []
        for proc in procs:
            if proc.alive():
                pids += [*descendants(proc.popen.pid), proc.popen.pid]
        end_pids(list(reversed(pids)), grace=5.0)
        for proc in procs:
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for name in made_ns:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
        outcome["namespaces_left"] = [n for n in made_ns if n in listed]
        outcome["pids"] = sorted(set(procs_pids) | set(pids))
        outcome["end"] = time.time()
        mark("cleanup")
        outcome_path.write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--inner":
        sys.exit(_inner(Path(sys.argv[2]), Path(sys.argv[3])))
    sys.exit("usage: test_deploy_netns.py --inner <sites dir> <outcome.json> (run by pytest inside unshare -n -m)")
