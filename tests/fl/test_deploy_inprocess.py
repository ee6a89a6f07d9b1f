"""In-process app tasks (ppml_lab.fl.deploy.inprocess) and the DP-with-dropout error: fast checks, no
federation started. The live runs (the same code on Flower's engine) are in test_deploy_engine.py."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from ppml_lab.fl.deploy import (
    DeploymentConfig,
    DPRoundDiscardedError,
    FlowerDeployment,
    FlowerSimulation,
    RoundFailedError,
    check_rounds,
    inprocess,
)
from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG


def _dep(tmp_path: Path, **kw: object) -> FlowerDeployment:
    dep = FlowerDeployment(DeploymentConfig(n_supernodes=2, tls=False, node_auth=False, **kw), workdir=tmp_path)
    dep.port, dep.site_paths = 40000, ("site0", "site1")
    dep.trusted_entities = tmp_path / "trusted.yaml"
    return dep


def test_launcher_asks_for_in_process_apps_by_default_and_not_in_simulation(tmp_path: Path) -> None:
    dep = _dep(tmp_path)
    try:
        assert INPROCESS_FLAG in dep.superlink_argv()
        assert INPROCESS_FLAG in dep.supernode_argv(0)
        # Flower's plain SuperNode (raw path) does not know the flag: it keeps subprocess isolation.
        assert INPROCESS_FLAG not in dep.supernode_argv(0, trusted_entities=None)
    finally:
        dep.stop()
    off = _dep(tmp_path / "off", inprocess_apps=False)
    try:
        assert INPROCESS_FLAG not in off.superlink_argv() and INPROCESS_FLAG not in off.supernode_argv(0)
    finally:
        off.stop()
    sim = FlowerSimulation(DeploymentConfig(n_supernodes=2, tls=False, node_auth=False), workdir=tmp_path / "sim")
    try:
        sim.port = 40001
        assert INPROCESS_FLAG not in sim.superlink_argv()  # its runtime is started by flower-superexec
    finally:
        sim.stop()
    with pytest.raises(TypeError, match="inprocess_apps must be True or False"):
        DeploymentConfig(inprocess_apps="yes")


def _fake_main(monkeypatch: pytest.MonkeyPatch, module: str, entry: str) -> dict:
    """Run supernode_verify/superlink_guard main() with Flower's entry point and the thread replaced."""
    seen: dict = {}
    fake = types.ModuleType(module)
    setattr(fake, entry, lambda: seen.setdefault("argv", list(sys.argv)))
    monkeypatch.setitem(sys.modules, module, fake)
    monkeypatch.setattr(inprocess, "start_executor_thread",
                        lambda address, task, **kw: seen.update(address=address, task=task, **kw))
    monkeypatch.setattr(inprocess, "cap_poll_sleep", lambda mod, cap: seen.update(capped=(mod.__name__, cap)))
    return seen


def test_supernode_wrapper_runs_clientapps_in_process_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from ppml_lab.fl.deploy import supernode_verify

    monkeypatch.setattr(supernode_verify, "install_hook", lambda: None)
    seen = _fake_main(monkeypatch, "flwr.supernode.cli.flower_supernode", "flower_supernode")
    supernode_verify.main(["--trusted-entities", "t.yaml", "--port", "41234", INPROCESS_FLAG, "--insecure"])
    assert INPROCESS_FLAG not in seen["argv"]  # Flower never sees our flag ...
    assert seen["argv"][-2:] == ["--isolation", "process"]  # ... but is told not to start a SuperExec
    assert seen["address"] == "127.0.0.1:41234" and seen["task"] == inprocess.CLIENT_APP
    assert seen["capped"] == ("flwr.supernode.start_client_internal", inprocess.SUPERNODE_POLL_CAP)

    seen2 = _fake_main(monkeypatch, "flwr.supernode.cli.flower_supernode", "flower_supernode")
    supernode_verify.main(["--trusted-entities", "t.yaml", "--insecure"])
    assert "--isolation" not in seen2["argv"] and "task" not in seen2  # Flower's default isolation
    with pytest.raises(SystemExit, match="sets --isolation process itself"):
        supernode_verify.main(["--trusted-entities", "t.yaml", INPROCESS_FLAG, "--isolation", "subprocess"])


def test_superlink_wrapper_runs_the_serverapp_in_process_over_its_own_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    from ppml_lab.fl.deploy import superlink_guard

    monkeypatch.setattr(superlink_guard, "install_guard", lambda host: None)
    seen = _fake_main(monkeypatch, "flwr.superlink.cli.flower_superlink", "flower_superlink")
    superlink_guard.main(["--host", "198.18.0.1", "--port", "9100", "--ssl-ca-certfile", "ca.crt", INPROCESS_FLAG])
    assert INPROCESS_FLAG not in seen["argv"] and seen["argv"][-2:] == ["--isolation", "process"]
    # The ServerApp dials the SuperLink's own address (a local peer for the guard) and pins its CA.
    assert seen["address"] == "198.18.0.1:9100" and seen["root_certificates_path"] == "ca.crt"
    assert seen["task"] == inprocess.SERVER_APP
    seen = _fake_main(monkeypatch, "flwr.superlink.cli.flower_superlink", "flower_superlink")
    superlink_guard.main(["--host", "0.0.0.0", "--port", "9100", "--insecure", INPROCESS_FLAG])
    assert seen["address"] == "127.0.0.1:9100" and seen["root_certificates_path"] is None


def test_capped_sleep_caps_only_sleep_and_refuses_a_module_without_time() -> None:
    mod = types.ModuleType("fake_flwr_module")
    mod.time = time
    inprocess.cap_poll_sleep(mod, 0.05)
    t0 = time.monotonic()
    mod.time.sleep(3)
    assert time.monotonic() - t0 < 1.0  # Flower's 3 s poll became 0.05 s
    assert mod.time.monotonic() > 0 and mod.time.time() > 0  # everything else is the time module
    bad = types.ModuleType("no_time")
    with pytest.raises(RuntimeError, match="does not use the time module"):
        inprocess.cap_poll_sleep(bad, 0.5)
    with pytest.raises(ValueError, match="task_type must be"):
        inprocess.start_executor_thread("127.0.0.1:1", "flwr-simulation")


def test_the_wrapped_flower_internals_exist_in_the_pinned_flower() -> None:
    import flwr.superlink.grid.http_grid as http_grid
    import flwr.supernode.start_client_internal as sci
    from flwr.supernode.runtime import run_clientapp

    assert http_grid.time is time or isinstance(http_grid.time, inprocess._CappedSleep)
    assert sci.time is time or isinstance(sci.time, inprocess._CappedSleep)
    for name in ("pull_task_input", "push_message", "push_task_output"):
        assert callable(getattr(run_clientapp, name)), name


# ---- DP with a dropout: Flower's DP wrapper discards the round; the launcher says so -------------------


def test_dp_round_discarded_by_a_failure_is_a_typed_error() -> None:
    rows = [{"round": 1, "clients": 3}, {"round": 2, "clients": 0, "dp_failures": 1}]
    with pytest.raises(DPRoundDiscardedError, match=r"central DP discarded 1 round\(s\).*round 2: 1 failed") as info:
        check_rounds(rows, expected_rounds=2, min_clients=2)
    assert isinstance(info.value, RoundFailedError) and info.value.rounds == rows
    # Failures in a round that still reached its minimum are not an error; a short round without DP
    # failures is the plain RoundFailedError.
    check_rounds([{"round": 1, "clients": 2, "dp_failures": 1}], expected_rounds=1, min_clients=2)
    with pytest.raises(RoundFailedError) as plain:
        check_rounds([{"round": 1, "clients": 0}], expected_rounds=1, min_clients=2)
    assert not isinstance(plain.value, DPRoundDiscardedError)


def test_server_app_records_dp_failures_and_flower_still_discards() -> None:
    # The ServerApp's DP strategy is Flower's, unchanged, plus a count of failures per round.
    from flwr.server.strategy import FedAvg

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ppml_lab" / "fl" / "flower_app"))
    try:
        from ppml_hospitals.server_app import _DPRecordingFailures
    finally:
        sys.path.pop(0)
    out: dict = {}
    strat = _DPRecordingFailures(FedAvg(), noise_multiplier=1.0, clipping_norm=1.0, num_sampled_clients=3,
                                 failures_out=out)
    assert strat.aggregate_fit(2, [], [RuntimeError("node 2 gone")]) == (None, {})
    assert out == {2: 1}


def test_a_new_fab_is_loaded_fresh_not_from_the_previous_apps_modules(tmp_path: Path) -> None:
    # Flower's load_app reuses sys.modules[name]: without forgetting, release 2 of an app (same module
    # names, another FAB) would run release 1's code in a long-lived SuperNode.
    import importlib

    apps = tmp_path / "apps"
    for release, value in (("r1", 1), ("r2", 2)):
        pkg = apps / f"ppml-lab.demo.1.0.{release}" / "demo_pkg_deploy5"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"VALUE = {value}\n")
    seen = []
    for release in ("r1", "r2"):
        assert inprocess.forget_app_modules(apps) == (["demo_pkg_deploy5"] if release == "r2" else [])
        sys.path.insert(0, str(apps / f"ppml-lab.demo.1.0.{release}"))
        seen.append(importlib.import_module("demo_pkg_deploy5").VALUE)
    assert seen == [1, 2]
    assert inprocess.forget_app_modules(apps) == ["demo_pkg_deploy5"]
    assert not any(str(p).startswith(str(apps)) for p in sys.path) and "demo_pkg_deploy5" not in sys.modules
    assert "pytest" in sys.modules  # nothing outside the apps directory is touched
