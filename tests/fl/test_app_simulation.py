"""The course's Flower app, unchanged, in Flower's simulation engine (issue #10's simulation half).

Plain FedAvg (float64, full batch, deterministic) on 3 virtual SuperNodes must equal the package's
from-scratch FedAvg on the same split to 1e-9 in every round, and every process started - SuperLink,
SuperExec, the simulation runtime and Ray's processes under it - must be gone afterwards. Bad input must
fail before anything starts.
"""

from __future__ import annotations

import pytest

from ppml_lab.fl.app_simulation import FlowerSimulation, run_simulation_reference
from ppml_lab.fl.deploy import DeploymentConfig, reference_fedavg

ROUNDS, EPOCHS, LR, SEED, N = 2, 5, 0.5, 2026, 3


def _reference(n: int, rounds: int) -> list[tuple[float, float]]:
    """The package's FedAvg (full batch, C = 1) on the app's own split: (loss, accuracy) per round."""
    return reference_fedavg(n_supernodes=n, rounds=rounds, local_epochs=EPOCHS, lr=LR, rng=SEED)


# ---- bad input: refused before any process starts ------------------------------------------------


def test_tls_config_is_refused() -> None:
    with pytest.raises(ValueError, match="tls=False and node_auth=False"):
        FlowerSimulation(DeploymentConfig(n_supernodes=3, secagg=False))


def test_kill_partition_is_refused() -> None:
    cfg = DeploymentConfig(n_supernodes=3, secagg=False, tls=False, node_auth=False, kill_partition=1)
    with pytest.raises(ValueError, match="kill_partition"):
        FlowerSimulation(cfg)


def test_ray_smaller_than_one_client_is_refused() -> None:
    cfg = DeploymentConfig(n_supernodes=3, secagg=False, tls=False, node_auth=False)
    with pytest.raises(ValueError, match="ray_num_cpus"):
        FlowerSimulation(cfg, client_num_cpus=2, ray_num_cpus=1)


def test_config_and_kwargs_together_are_refused() -> None:
    cfg = DeploymentConfig(n_supernodes=3, secagg=False, tls=False, node_auth=False)
    with pytest.raises(TypeError, match="either config or keyword"):
        run_simulation_reference(cfg, rounds=2)


# ---- end to end in the simulation engine ---------------------------------------------------------


@pytest.mark.deployment
@pytest.mark.slow
def test_simulation_equals_from_scratch_fedavg_and_leaves_no_process() -> None:
    import threading

    import psutil

    cfg = DeploymentConfig(n_supernodes=N, rounds=ROUNDS, local_epochs=EPOCHS, lr=LR, rng=SEED, secagg=False,
                           tls=False, node_auth=False, startup_timeout=120.0, run_timeout=240.0)
    sim = FlowerSimulation(cfg, client_num_cpus=2)  # one Ray actor on this 2-CPU machine
    during: dict[int, tuple[str, float]] = {}  # every process of the run seen: pid -> (name, start time)
    done = threading.Event()

    def watch() -> None:  # both rounds can finish within one of run()'s polls: sample on our own
        while not done.wait(0.1):
            for pid in sim.all_pids():
                try:
                    q = psutil.Process(pid)
                    during.setdefault(pid, (q.name(), q.create_time()))
                except psutil.Error:
                    continue

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        with sim:
            watcher.start()
            result = sim.run()
    finally:
        done.set()
        watcher.join(timeout=5)
        assert sim.leftover_pids() == []
    ref = _reference(N, ROUNDS)

    assert result.clients_per_round == [N] * ROUNDS
    for row, (loss, acc) in zip(result.rounds, ref, strict=True):
        assert row["loss"] == pytest.approx(loss, rel=0, abs=1e-9)
        assert row["accuracy"] == pytest.approx(acc, rel=0, abs=1e-9)
    assert {t["stage"] for t in result.traffic} == {"fit"}  # plain FedAvg: no SecAgg+ stage ran
    # The simulation really ran under Ray, and none of its processes survived the run.
    names = {name for name, _ in during.values()}
    assert any("raylet" in n or "gcs_server" in n for n in names), names
    still = []
    for pid, (name, ctime) in during.items():
        try:
            q = psutil.Process(pid)
            if abs(q.create_time() - ctime) < 1e-3 and q.status() != psutil.STATUS_ZOMBIE:
                still.append((pid, name))  # the same process (not a reused PID), still running
        except psutil.Error:
            continue
    assert still == []
