"""Fast checks of the deployment launcher and the certificates: no Flower process is started here.

Bad input must fail before anything starts (DeploymentError / ValueError / TypeError with a clear
message); the TLS files must form a chain that names 127.0.0.1 as an IP SAN; the app's task must be the
package's FedAvg.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.certs import TLSFiles, check_tls_files, generate_node_keys, generate_tls_files
from ppml_lab.fl.deploy import APP_DIR, DeploymentConfig, FlowerDeployment, free_port, offline_env


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return generate_tls_files(tmp_path_factory.mktemp("tls"))


# ---- certificates ------------------------------------------------------------------------------


def test_server_certificate_lists_loopback_as_ip_san_and_chains_to_ca(tls: TLSFiles) -> None:
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    srv = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    srv.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    check_tls_files(tls)  # the launcher's own check agrees


def test_server_certificate_verifies_in_a_real_tls_handshake(tls: TLSFiles) -> None:
    import ssl
    import threading

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tls.server_cert, tls.server_key)
    client_ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]

        def serve() -> None:
            conn, _ = lsock.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as s:
                s.sendall(b"ok")

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.recv(2) == b"ok"
        t.join(timeout=10)


def test_node_keys_are_p384_openssh(tmp_path: Path) -> None:
    keys = generate_node_keys(tmp_path, "node0")
    priv = serialization.load_ssh_private_key(keys.private_key.read_bytes(), password=None)
    pub = serialization.load_ssh_public_key(keys.public_key.read_bytes())
    assert priv.curve.name == "secp384r1" and pub.curve.name == "secp384r1"
    assert keys.private_key.stat().st_mode & 0o077 == 0  # private key readable by its owner only
    assert "private_key" not in repr(keys)


def test_missing_certificate_is_refused(tls: TLSFiles, tmp_path: Path) -> None:
    broken = TLSFiles(ca_cert=tmp_path / "nope.crt", server_cert=tls.server_cert, server_key=tls.server_key)
    with pytest.raises(DeploymentError, match="ca_cert not found"):
        DeploymentConfig(certs=broken)


def test_mismatched_key_is_refused(tls: TLSFiles, tmp_path: Path) -> None:
    other = generate_tls_files(tmp_path)
    with pytest.raises(DeploymentError, match="does not match server_cert"):
        check_tls_files(TLSFiles(tls.ca_cert, tls.server_cert, other.server_key))


def test_certificate_from_another_ca_is_refused(tls: TLSFiles, tmp_path: Path) -> None:
    other = generate_tls_files(tmp_path)
    with pytest.raises(DeploymentError, match="was not issued by ca_cert"):
        check_tls_files(TLSFiles(other.ca_cert, tls.server_cert, tls.server_key))


def test_certificate_without_loopback_san_is_refused(tmp_path: Path) -> None:
    files = generate_tls_files(tmp_path, hosts=("example.org",))
    with pytest.raises(DeploymentError, match="does not list 127.0.0.1"):
        check_tls_files(files)


def test_bad_generate_arguments() -> None:
    with pytest.raises(ValueError, match="hosts must name at least one"):
        generate_tls_files("/tmp/unused-ppml", hosts=())
    with pytest.raises(TypeError, match="directory must be"):
        generate_tls_files(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be a non-empty file name"):
        generate_node_keys("/tmp/unused-ppml", "a/b")


# ---- launcher validation (nothing starts) ---------------------------------------------------------


def test_secagg_needs_two_supernodes() -> None:
    with pytest.raises(ValueError, match=r"n_supernodes must be >= 2 for SecAgg\+"):
        DeploymentConfig(n_supernodes=1, secagg=True)
    DeploymentConfig(n_supernodes=1, secagg=False, tls=False, node_auth=False)  # plain FedAvg is fine


def test_threshold_above_n_is_refused() -> None:
    with pytest.raises(ValueError, match=r"threshold must be <= n_supernodes \(3\).*got 4"):
        DeploymentConfig(n_supernodes=3, threshold=4)
    with pytest.raises(ValueError, match="threshold must be an integer >= 2"):
        DeploymentConfig(n_supernodes=3, threshold=1)


def test_dropout_below_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="below the SecAgg\\+ threshold 3"):
        DeploymentConfig(n_supernodes=3, threshold=3, kill_partition=0)


def test_port_in_use_is_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(DeploymentError, match=f"superlink_port {port} is already in use"):
            DeploymentConfig(superlink_port=port)


def test_unknown_or_malformed_connection_name_is_refused() -> None:
    with pytest.raises(ValueError, match="connection must be a non-empty name"):
        DeploymentConfig(connection="no such connection!")
    with pytest.raises(TypeError, match="connection must be str"):
        DeploymentConfig(connection=3)  # type: ignore[arg-type]


def test_node_auth_without_tls_is_refused() -> None:
    with pytest.raises(ValueError, match="node_auth requires tls=True"):
        DeploymentConfig(tls=False, node_auth=True)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"rounds": 0}, ValueError, "rounds must be an integer >= 1"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number > 0"),
        ({"secagg": "yes"}, TypeError, "secagg must be True or False"),
        ({"run_timeout": 0}, ValueError, "run_timeout must be a finite number > 0"),
        ({"kill_partition": 3}, ValueError, "kill_partition must be an integer in \\[0, 2\\]"),
        ({"min_clients": 1}, ValueError, "min_clients must be >= the SecAgg\\+ threshold"),
    ],
)
def test_bad_config_values(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        DeploymentConfig(**kwargs)


def test_run_before_start_is_refused() -> None:
    dep = FlowerDeployment(DeploymentConfig(n_supernodes=2), workdir=None)
    try:
        with pytest.raises(DeploymentError, match="start\\(\\) the deployment before run\\(\\)"):
            dep.run()
    finally:
        dep.stop()
    assert dep.leftover_pids() == []


def test_offline_environment_and_free_port(tmp_path: Path) -> None:
    env = offline_env(tmp_path / "home", base={"PATH": "/usr/bin"})
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["FLWR_HOME"] == str(tmp_path / "home")
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # it really was free


def test_app_files_are_committed_and_the_task_is_the_package_fedavg(tmp_path: Path) -> None:
    import importlib.util

    from ppml_lab.fl.fedavg import run_fedavg

    assert (APP_DIR / "pyproject.toml").is_file()
    spec = importlib.util.spec_from_file_location("task_under_test", APP_DIR / "ppml_hospitals" / "task.py")
    task_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(task_mod)
    sites, (Xte, yte) = task_mod.load_split(2026, 3)
    task = task_mod.make_task(Xte.shape[1], 2)
    init = task_mod.init_params(task, 2026)
    # One round by hand, with the app's own functions...
    ups = [task_mod.local_train(task, init, s, epochs=2, lr=0.5) for s in sites]
    ns = np.array([s.n_samples for s in sites], dtype=float)
    by_hand = [sum(n * u[j] for n, u in zip(ns, ups)) / ns.sum() for j in range(2)]
    # ... equals the package's FedAvg (full batch, C = 1).
    hist = run_fedavg(task, {s.name: s for s in sites}, rounds=1, test=(Xte, yte), local_epochs=2, batch_size=None,
                      lr=0.5, initial_params=init, rng=0)
    assert hist.loss[-1] == pytest.approx(task_mod.evaluate(task, by_hand, Xte, yte)[0], rel=1e-12)
    # Site files round-trip.
    paths, test_path = task_mod.write_site_files(str(tmp_path), 2026, 3)
    s0 = task_mod.load_site_file(paths[0])
    np.testing.assert_array_equal(s0.X, sites[0].X)
    assert s0.name == sites[0].name == "Singapore"


def test_dp_epsilon_is_the_package_accountant_for_full_participation() -> None:
    import math

    from ppml_lab.dp.accountant import DEFAULT_ORDERS, rdp_to_epsilon
    from ppml_lab.fl.deploy import dp_epsilon

    sigma, rounds, delta = 1.1, 3, 1e-5
    orders = np.asarray(DEFAULT_ORDERS, dtype=float)
    rdp = rounds * orders / (2 * sigma**2)  # Gaussian mechanism, q = 1: alpha / (2 sigma^2) per round
    eps_closed, _ = rdp_to_epsilon(orders=orders, rdp=rdp, delta=delta)
    eps = dp_epsilon(noise_multiplier=sigma, rounds=rounds, delta=delta)
    assert eps == pytest.approx(eps_closed, rel=1e-9)
    assert dp_epsilon(noise_multiplier=sigma, rounds=rounds + 1, delta=delta) > eps  # composition grows
    assert math.isfinite(eps) and eps > 0
    with pytest.raises(ValueError, match="noise_multiplier must be a finite number > 0"):
        dp_epsilon(noise_multiplier=0.0, rounds=1, delta=delta)
    with pytest.raises(ValueError, match="dp_delta must be"):
        DeploymentConfig(dp_noise_multiplier=1.0, dp_delta=0.0)


# ---- failure is loud: a round below its minimum is an error, not a result ------------------------------


def test_round_that_aggregated_zero_clients_is_an_error() -> None:
    from ppml_lab.fl.deploy import RoundFailedError, check_rounds

    rows = [{"round": 1, "clients": 3}, {"round": 2, "clients": 0}]
    with pytest.raises(RoundFailedError, match=r"must be >= min_clients \(2\), got round 2: 0") as info:
        check_rounds(rows, expected_rounds=2, min_clients=2)
    assert info.value.rounds == rows
    assert isinstance(info.value, DeploymentError)


def test_round_below_the_minimum_is_an_error_and_at_the_minimum_is_not() -> None:
    from ppml_lab.fl.deploy import RoundFailedError, check_rounds

    with pytest.raises(RoundFailedError, match=r"got round 1: 1"):
        check_rounds([{"round": 1, "clients": 1}], expected_rounds=1, min_clients=2)
    check_rounds([{"round": 1, "clients": 2}, {"round": 2, "clients": 3}], expected_rounds=2, min_clients=2)


def test_missing_round_is_an_error() -> None:
    from ppml_lab.fl.deploy import RoundFailedError, check_rounds

    with pytest.raises(RoundFailedError, match=r"rounds \[3\] of 3 produced no result"):
        check_rounds([{"round": 1, "clients": 2}, {"round": 2, "clients": 2}], expected_rounds=3, min_clients=2)
    with pytest.raises(ValueError, match="min_clients must be an integer >= 1"):
        check_rounds([], expected_rounds=1, min_clients=0)


def test_run_config_carries_the_app_signature_key_the_app_declares() -> None:
    import tomllib

    declared = tomllib.loads((APP_DIR / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    overrides = DeploymentConfig().run_config(results_path=Path("r"), progress_dir=Path("p"), app_signature="s")
    assert set(overrides) <= set(declared)  # flwr run refuses keys the app does not declare
    assert overrides["app-signature"] == "s"
    with pytest.raises(TypeError, match="sign_app must be True or False"):
        DeploymentConfig(sign_app=1)


def test_old_import_paths_still_work() -> None:
    from ppml_lab.fl import deploy
    from ppml_lab.fl.app_simulation import FlowerSimulation, run_simulation_reference

    for name in ("DeploymentConfig", "DeploymentResult", "FlowerDeployment", "run_deployment",
                 "dp_epsilon", "reference_fedavg", "free_port", "offline_env", "APP_DIR"):
        assert hasattr(deploy, name), name
    assert FlowerSimulation is deploy.FlowerSimulation and run_simulation_reference is deploy.run_simulation_reference


def test_default_processes_are_the_guarded_superlink_and_verifying_supernodes(tmp_path: Path, tls: TLSFiles) -> None:
    # What start() launches, without launching it: the SuperLink behind superlink_guard (Control/Runtime
    # APIs local-only) and SuperNodes that verify the app signature against the publisher key.
    dep = FlowerDeployment(DeploymentConfig(n_supernodes=2, certs=tls), workdir=tmp_path)
    try:
        dep.port, dep.site_paths = 40000, ("site0", "site1")
        dep.node_keys = [generate_node_keys(tmp_path / "keys", f"node{k}") for k in range(2)]
        dep.trusted_entities = tmp_path / "trusted.yaml"
        link = dep.superlink_argv()
        assert link[1:3] == ["-m", "ppml_lab.fl.deploy.superlink_guard"]
        assert {"--host", "127.0.0.1", "--enable-supernode-auth", "--ssl-keyfile"} <= set(link)
        node = dep.supernode_argv(1)
        assert node[1:3] == ["-m", "ppml_lab.fl.deploy.supernode_verify"]
        assert node[node.index("--trusted-entities") + 1] == str(dep.trusted_entities)
        assert node[node.index("--auth-supernode-private-key") + 1] == str(dep.node_keys[1].private_key)
        assert "--insecure" not in node
        # The raw path, on request only: Flower's plain SuperNode runs any app submitted.
        assert dep.supernode_argv(1, trusted_entities=None)[0].endswith("flower-supernode")
    finally:
        dep.stop()


def test_deploy_errors_live_in_exceptions_and_the_old_paths_re_export_them() -> None:
    from ppml_lab import exceptions
    from ppml_lab.fl import deploy
    from ppml_lab.fl.deploy import config, hosts, site_config

    assert deploy.RoundFailedError is config.RoundFailedError is exceptions.RoundFailedError
    assert config.DPRoundDiscardedError is exceptions.DPRoundDiscardedError
    assert hosts.SuperLinkIdentityError is exceptions.SuperLinkIdentityError
    assert site_config.SiteConfigError is exceptions.SiteConfigError
    # a refused SuperNode is what expect_refused() returns a log for, not an error: no class nothing raises
    assert not hasattr(deploy, "NodeRefused") and not hasattr(exceptions, "NodeRefusedError")
    assert issubclass(exceptions.SiteConfigError, ValueError)
    assert issubclass(exceptions.SuperLinkIdentityError, exceptions.AuthenticationError)


def test_free_port_is_the_packages_one_copy() -> None:
    from ppml_lab import _ports
    from ppml_lab.fl import deploy
    from ppml_lab.fl.deploy import processes

    assert deploy.free_port is processes.free_port is _ports.free_port


def test_randomness_is_the_rng_argument_and_seed_is_refused_with_the_new_name() -> None:
    from ppml_lab.fl.deploy import reference_fedavg

    with pytest.raises(TypeError, match=r"DeploymentConfig.__init__\(\) got seed=, which was renamed rng="):
        DeploymentConfig(seed=1)
    with pytest.raises(TypeError, match=r"reference_fedavg\(\) got seed=, which was renamed rng="):
        reference_fedavg(n_supernodes=2, rounds=1, local_epochs=1, lr=0.5, seed=1)
    with pytest.raises(ValueError, match="rng must be"):
        DeploymentConfig(rng=-1)
    # an int is the run's seed, sent to every process unchanged (what seed= did)
    run = DeploymentConfig(rng=7).run_config(results_path=Path("r"), progress_dir=Path("p"))
    assert run["seed"] == 7
    # None: the OS CSPRNG picks the seed, and the config records it so the run can be replayed
    drawn = {DeploymentConfig(rng=None).rng for _ in range(3)}
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in drawn) and len(drawn) > 1


def test_flwr_json_answers_are_parsed_through_colour_codes_and_preamble() -> None:
    from ppml_lab.fl.deploy.processes import flwr_json, parse_run_id

    out = 'Loading project...\n\x1b[32m{"success": true, "run-id": 4242}\x1b[0m\n'
    assert flwr_json(out) == {"success": True, "run-id": 4242}
    assert parse_run_id(out) == 4242
    assert parse_run_id('{"success": false}') is None
    assert parse_run_id("no json here") is None


def test_result_epsilon_is_the_accountants_for_the_rounds_that_ran_and_none_without_dp() -> None:
    from ppml_lab.fl.deploy import DeploymentResult, dp_epsilon

    def result(z: float, n_rounds: int) -> DeploymentResult:
        return DeploymentResult(rounds=[{"round": r + 1} for r in range(n_rounds)], final_loss=0.1, final_accuracy=0.9,
                                clients_per_round=[5] * n_rounds, killed_partition=None, seconds=1.0,
                                peak_rss_bytes=0, traffic=[], config={"dp_noise_multiplier": z, "dp_delta": 1e-5})

    assert result(0.0, 2).epsilon is None and result(0.0, 2).to_dict()["epsilon"] is None
    assert result(1.0, 2).epsilon == dp_epsilon(noise_multiplier=1.0, rounds=2, delta=1e-5)
    assert result(1.0, 3).epsilon == dp_epsilon(noise_multiplier=1.0, rounds=3, delta=1e-5) > result(1.0, 2).epsilon
    assert result(1.0, 2).to_dict()["epsilon"] == result(1.0, 2).epsilon


def test_the_launcher_does_not_load_the_accountant_while_the_federation_runs() -> None:
    # The accountant (scipy, ~70 MB) is read after the run, when the SuperNodes are gone: importing the
    # launcher and building a result must not load it.
    import subprocess
    import sys

    code = ("import sys; from ppml_lab.fl.deploy import DeploymentResult, FlowerDeployment, DeploymentConfig; "
            "r = DeploymentResult(rounds=[{}], final_loss=0.0, final_accuracy=0.0, clients_per_round=[1], "
            "killed_partition=None, seconds=0.0, peak_rss_bytes=0, traffic=[], config={'dp_noise_multiplier': 1.0, "
            "'dp_delta': 1e-5}); print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
