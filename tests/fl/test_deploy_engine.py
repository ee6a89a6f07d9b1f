"""End-to-end on Flower's Deployment Engine, on loopback (pytest marker ``deployment``; slow).

One federation (3 SuperNodes, SecAgg+, TLS + SuperNode authentication, signed app, local-only Control
API) serves the four refusal cases, the two code-submission attacks (a foreign app, signed or not, is
refused by every SuperNode and the run ends in RoundFailedError; the Control API turns a non-loopback
peer away) and the end-to-end run, whose metrics must equal the package's from-scratch FedAvg on the same
task up to SecAgg+'s quantisation; a second federation loses a SuperNode mid-round; a third (plain
transport, no app signing: the raw path, where the foreign app does run) runs central DP. Every wait is
bounded and every process started is checked gone afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ppml_lab.fl.certs import generate_node_keys, generate_signing_key, generate_tls_files
from ppml_lab.fl.deploy import (
    APP_DIR,
    DeploymentConfig,
    FlowerDeployment,
    RoundFailedError,
    dp_epsilon,
    reference_fedavg,
    sign_fab,
)
from ppml_lab.fl.deploy.signing import build_fab

pytestmark = [pytest.mark.deployment, pytest.mark.slow]

ROUNDS, EPOCHS, LR, SEED = 2, 5, 0.5, 2026


def _reference(n: int, rounds: int, drop: dict[int, int] | None = None,
               update_norms: list[float] | None = None) -> list[tuple[float, float]]:
    """The package's FedAvg (full batch, C = 1) on the app's own split, with this module's settings."""
    return reference_fedavg(n_supernodes=n, rounds=rounds, local_epochs=EPOCHS, lr=LR, rng=SEED, drop=drop,
                            update_norms=update_norms)


@pytest.fixture(scope="module")
def federation() -> Iterator[FlowerDeployment]:
    cfg = DeploymentConfig(n_supernodes=3, rounds=ROUNDS, local_epochs=EPOCHS, lr=LR, rng=SEED, secagg=True,
                           tls=True, node_auth=True, startup_timeout=240.0, run_timeout=600.0)
    dep = FlowerDeployment(cfg)
    try:
        dep.start()
        yield dep
    finally:
        dep.stop()
        assert dep.leftover_pids() == []  # no orphan: SuperLink, SuperNodes, ServerApp, ClientApps all gone


def _foreign_app(directory: Path, marker: Path) -> Path:
    """The course's app plus one attacker's line in the ClientApp: it writes ``marker`` when imported."""
    app = directory / "foreign_app"
    shutil.copytree(APP_DIR, app, ignore=shutil.ignore_patterns("__pycache__"))
    client = app / "ppml_hospitals" / "client_app.py"
    client.write_text(client.read_text() + f"\nPath({str(marker)!r}).write_text('attacker code ran')\n")
    return app


# ---- the four refusal cases (a registered node joins; these do not) --------------------------------


def test_unregistered_key_is_refused(federation: FlowerDeployment) -> None:
    stranger = generate_node_keys(federation.workdir / "keys", "stranger")
    proc = federation.start_supernode(0, private_key=stranger.private_key, name="refused-unregistered",
                                      max_wait_time=20)
    log = federation.expect_refused(proc, timeout=45)
    assert "Failed to activate SuperNode" in log, log  # flwr 1.42: code 2004, exit code 305


def test_missing_key_is_refused(federation: FlowerDeployment) -> None:
    proc = federation.start_supernode(0, private_key=None, name="refused-nokey", max_wait_time=20)
    log = federation.expect_refused(proc, timeout=45)
    assert "All SuperNodes must be registered" in log, log  # flwr 1.42: code 2001


def test_plain_text_connection_is_refused(federation: FlowerDeployment) -> None:
    proc = federation.start_supernode(0, insecure=True, private_key=None, name="refused-plaintext", max_wait_time=20)
    log = federation.expect_refused(proc, timeout=45)
    assert "Connection attempt failed" in log, log  # plain HTTP to a TLS port never gets an answer


def test_client_without_the_ca_is_refused(federation: FlowerDeployment) -> None:
    other_ca = generate_tls_files(federation.workdir / "other_ca", prefix="other-")
    proc = federation.start_supernode(0, root_certificates=other_ca.ca_cert, name="refused-wrongca",
                                      max_wait_time=20)
    log = federation.expect_refused(proc, timeout=45)
    assert "CERTIFICATE_VERIFY_FAILED" in log, log


# ---- code submission: only the publisher's app runs; the Control API is not served to other hosts -------


@pytest.mark.attack
@pytest.mark.parametrize("signer", ["unsigned", "attacker"])
def test_foreign_app_is_refused_by_every_supernode(federation: FlowerDeployment, tmp_path: Path,
                                                   signer: str) -> None:
    marker = tmp_path / "pwned"
    app = _foreign_app(tmp_path, marker)
    signature = ""
    if signer == "attacker":  # the attacker's own Ed25519 key, presented under the publisher's key id
        key = generate_signing_key(tmp_path / "attacker", "attacker")
        signature = sign_fab(build_fab(app), key.private_key)
    with pytest.raises(RoundFailedError, match=r"must be >= min_clients \(2\), got round 1: 0, round 2: 0"):
        federation.run(app_dir=app, app_signature=signature)
    assert not marker.exists()  # not one hospital imported the attacker's ClientApp
    for k in range(3):
        assert "FAB verification failed" in federation.log_tail(f"supernode{k}", 200_000) or \
            "could not be verified" in federation.log_tail(f"supernode{k}", 200_000)


@pytest.mark.attack
def test_control_api_is_not_served_to_a_non_loopback_peer(federation: FlowerDeployment) -> None:
    import http.client
    import ssl

    assert federation.tls_files is not None
    ctx = ssl.create_default_context(cafile=str(federation.tls_files.ca_cert))

    def post(source: str, path: str) -> int:
        conn = http.client.HTTPSConnection("127.0.0.1", federation.port, context=ctx, timeout=30,
                                           source_address=(source, 0))
        try:
            conn.request("POST", path, body=b"", headers={"Content-Type": "application/protobuf"})
            return conn.getresponse().status
        finally:
            conn.close()

    # 127.0.0.2 stands in for another host: a different source address than the SuperLink's own.
    assert post("127.0.0.2", "/v1/control/start-run") == 403
    assert post("127.0.0.2", "/v1/runtime/acquire-task") == 403
    assert post("127.0.0.1", "/v1/control/list-runs") != 403  # the operator's CLI, on the machine itself
    assert post("127.0.0.2", "/v1/fleet/pull-messages") != 403  # hospitals still reach the Fleet API


# ---- end to end --------------------------------------------------------------------------------------


def test_end_to_end_secagg_tls_nodeauth_matches_fedavg(federation: FlowerDeployment) -> None:
    assert federation.online_count() == 3  # the registered nodes joined; no refused one did
    result = federation.run()
    ref = _reference(3, ROUNDS)
    assert result.clients_per_round == [3] * ROUNDS
    for row, (loss, acc) in zip(result.rounds, ref):
        # SecAgg+ quantises to 2^22 levels over [-8, 8]: parameters differ by ~4e-6, the loss by far less
        # than 1e-3; accuracy may move by at most one test example.
        assert row["loss"] == pytest.approx(loss, abs=1e-3)
        assert abs(row["accuracy"] - acc) <= 1.0 / 143 + 1e-12
    stages = {t["stage"] for t in result.traffic}
    assert stages == {"setup", "share_keys", "collect_masked_vectors", "unmask"}  # SecAgg+ really ran


def test_dropout_round_completes_from_survivors() -> None:
    # Node 2 is killed in round 2 as it enters SecAgg+'s collect-masked-vectors stage: its key shares
    # reached the survivors, its masked vector never leaves. The server must reconstruct its sk1 from the
    # survivors' shares and remove its pairwise masks. (This was flaky while the kill came at share-keys:
    # when it beat the victim's reply, flwr 1.42 still listed the victim as dead in unmask, the survivors
    # had no share of its key, and round 2 aggregated 0 clients - see FlowerDeployment.run.)
    # secagg_timeout bounds the server's wait for the dead node's stage-2 reply.
    cfg = DeploymentConfig(n_supernodes=3, rounds=2, local_epochs=EPOCHS, lr=LR, rng=SEED, threshold=2,
                           kill_partition=2, kill_at_round=2, secagg_timeout=60.0, startup_timeout=240.0,
                           run_timeout=600.0)
    dep = FlowerDeployment(cfg)
    try:
        with dep:
            result = dep.run()
    finally:
        assert dep.leftover_pids() == []
    assert result.killed_partition == 2
    assert result.clients_per_round[0] == 3
    # The node was killed before it sent its round-2 masked vector: that round aggregates the survivors.
    assert result.clients_per_round[1] == 2
    (_, _), (loss2, acc2) = _reference(3, 2, drop={2: 2})
    assert result.rounds[1]["loss"] == pytest.approx(loss2, abs=1e-3)
    assert result.final_accuracy > 0.9


def test_central_dp_runs_on_the_engine_with_the_accounted_epsilon() -> None:
    # Central DP (McMahan et al. 2018): clients clip ||w_k - w_t|| <= C, the server adds N(0, (sigma C/m)^2)
    # to the mean. Plain FedAvg transport (no SecAgg+, no TLS) keeps it to one ClientApp per node and round.
    # C = 1.5 is above every local update norm of this task (<= 1.23, checked below), so clipping is inert
    # and the only difference from the non-DP reference is the server's noise, std 0.5 * 1.5 / 3 = 0.25.
    # Over 20,000 simulated runs of this set-up (same task, numpy noise) accuracy never fell below 0.669
    # and |final loss - reference| < 1e-4 in 0.07% of runs (roughly linear near 0, so < 1e-6 in ~1e-5):
    # the false-failure rate of the two statistical assertions is below about 1e-4.
    import numpy as np

    from ppml_lab.data import load_dataset

    sigma, clip, n = 0.5, 1.5, 3
    cfg = DeploymentConfig(n_supernodes=n, rounds=ROUNDS, local_epochs=EPOCHS, lr=LR, rng=SEED, secagg=False,
                           tls=False, node_auth=False, sign_app=False, dp_noise_multiplier=sigma,
                           dp_max_update_norm=clip, startup_timeout=240.0, run_timeout=600.0)
    dep = FlowerDeployment(cfg)
    marker = dep.workdir / "pwned"
    try:
        with dep:
            result = dep.run()
            server_log = dep.log_tail("serverapp", 200_000)
            # Raw path of the code-submission attack: Flower's SuperNode without --trusted-entities runs
            # whatever app is submitted - the attacker's line executed at the hospitals.
            dep.run(app_dir=_foreign_app(dep.workdir, marker))
            raw_attack_ran = marker.exists()
    finally:
        assert dep.leftover_pids() == []
    norms: list[float] = []
    ref = _reference(n, ROUNDS, update_norms=norms)
    y = load_dataset("breast_cancer").y
    chance = max(np.mean(y == c) for c in np.unique(y))  # majority-class rate, ~0.63

    assert result.clients_per_round == [n] * ROUNDS
    # Flower's DifferentialPrivacyClientSideFixedClipping logged its noise once per round, std sigma C / m.
    noise_line = f"central DP noise with {sigma * clip / n:.4f} stdev added"
    assert server_log.count(noise_line) == ROUNDS, server_log[-3000:]
    assert result.epsilon == dp_epsilon(noise_multiplier=sigma, rounds=ROUNDS, delta=cfg.dp_delta)
    assert np.isfinite(result.epsilon) and result.epsilon > 0
    assert max(norms) < clip  # clipping inert: without noise the run would equal the reference exactly
    assert abs(result.final_loss - ref[-1][0]) > 1e-6  # the noise was really added
    assert result.final_accuracy > chance
    assert raw_attack_ran


def test_central_dp_survives_a_silent_dropout_with_noise_for_the_survivors() -> None:
    # Central DP + SecAgg+ + a dropout. Flower's DP wrapper (DifferentialPrivacyClientSideFixedClipping)
    # discards a round with any *failure* (an error reply): that case raises DPRoundDiscardedError
    # (tests/fl/test_deploy_inprocess.py::test_dp_round_discarded_by_a_failure_is_a_typed_error). A node
    # that dies silently - killed as round 1's masked-vector stage starts - is no failure: SecAgg+ times it
    # out and unmasks the 2 survivors' sum, and the wrapper adds noise of std sigma C / m with m =
    # min_clients = 2 survivors, i.e. sigma C on their sum: the calibration the accountant assumes.
    sigma, clip = 1.0, 1.5
    cfg = DeploymentConfig(n_supernodes=3, rounds=1, local_epochs=EPOCHS, lr=LR, rng=SEED, threshold=2,
                           min_clients=2, kill_partition=2, kill_at_round=1, secagg_timeout=30.0,
                           dp_noise_multiplier=sigma, dp_max_update_norm=clip, startup_timeout=240.0,
                           run_timeout=600.0)
    # Known intermittent (seen once in the clean-clone CI runs of 2026-12-01, cause not found): the round ends with 0 clients
    # aggregated and no client failure, i.e. SecAgg+ recovered nothing after the silent dropout; 4 of 4
    # reruns on a quiet machine passed. That one signature - and only it - gets a second, fresh deployment;
    # its ServerApp log is printed for diagnosis. Any other failure, or the same one twice, fails the test.
    for attempt in (1, 2):
        dep = FlowerDeployment(cfg)
        try:
            with dep:
                try:
                    result = dep.run()
                except RoundFailedError as err:
                    if attempt == 2 or type(err) is not RoundFailedError or any(r.get("clients") for r in err.rounds):
                        raise
                    print(f"attempt 1 aggregated 0 clients after the dropout: {err}\n"
                          f"{dep.log_tail('serverapp', 20_000)[-6000:]}")
                    continue
                server_log = dep.log_tail("serverapp", 200_000)
        finally:
            assert dep.leftover_pids() == []
        break
    assert result.killed_partition == 2 and result.clients_per_round == [2]
    assert server_log.count(f"central DP noise with {sigma * clip / 2:.4f} stdev added") == 1, server_log[-3000:]
    assert "received 2 results and 0 failures" in server_log
    assert result.epsilon == dp_epsilon(noise_multiplier=sigma, rounds=1, delta=cfg.dp_delta)
