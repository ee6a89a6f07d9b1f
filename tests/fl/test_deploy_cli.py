"""Separate-hosts entry points without a federation: config files, keys, the coordinator's identity.

Fast (no Flower process starts). The end-to-end runs are tests/fl/test_deploy_netns.py (six network
namespaces, root) and tests/fl/test_deploy_cli_engine.py (key rotation on loopback).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509

from ppml_lab.exceptions import AuthenticationError, DeploymentError
from ppml_lab.fl.certs import TLSFiles, UnsafePathError, generate_tls_files
from ppml_lab.fl.deploy import DeploymentConfig
from ppml_lab.fl.deploy.cli import main
from ppml_lab.fl.deploy.hosts import (
    SuperLinkIdentityError,
    check_superlink_identity,
    make_superlink_keys,
    make_supernode_keys,
    prepare_supernode,
    register_node,
    superlink_argv,
    write_course_data,
)
from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG
from ppml_lab.fl.deploy.site_config import (
    SiteConfigError,
    load_superlink_config,
    load_supernode_config,
)

COORD = "198.18.0.1"

SUPERLINK_OK = f"""
[superlink]
address = "{COORD}"
port = 9093

[run]
hospitals = 5
rounds = 2
threshold = 3
"""

SUPERNODE_OK = f"""
[supernode]
superlink = "{COORD}:9093"
partition_id = 4
num_partitions = 5
data = "site.npz"
"""


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---- config files --------------------------------------------------------------------------------------


def test_good_files_load_with_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_superlink_config(_write(tmp_path, SUPERLINK_OK))
    assert (cfg.address, cfg.port, cfg.dial) == (COORD, 9093, f"{COORD}:9093")
    assert (cfg.run.hospitals, cfg.run.threshold, cfg.run.min_clients, cfg.run.rounds) == (5, 3, 3, 2)
    assert cfg.ca_cert == tmp_path.resolve() / "ca.crt" and cfg.run.publisher_key == tmp_path.resolve() / "publisher"
    node = load_supernode_config(_write(tmp_path, SUPERNODE_OK, "n.toml"))
    assert (node.superlink, node.partition_id, node.num_partitions) == (f"{COORD}:9093", 4, 5)
    assert node.data == tmp_path.resolve() / "site.npz" and node.private_key == tmp_path.resolve() / "node"
    # Defaults: threshold max(2, n - 1); min_clients = threshold.
    d = load_superlink_config(_write(tmp_path, f'[superlink]\naddress = "{COORD}"\n[run]\nhospitals = 5\n', "d.toml"))
    assert (d.run.threshold, d.run.min_clients) == (4, 4)


def test_json_config_is_accepted_too(tmp_path: Path) -> None:
    p = _write(tmp_path, json.dumps({"supernode": {"superlink": "coord.example.org:9093", "partition_id": 0,
                                                   "num_partitions": 2, "data": "/data/site.npz"}}), "n.json")
    cfg = load_supernode_config(p)
    assert cfg.superlink_host == "coord.example.org" and cfg.data == Path("/data/site.npz")


def test_run_config_has_the_loopback_launchers_keys(tmp_path: Path) -> None:
    spec = load_superlink_config(_write(tmp_path, SUPERLINK_OK)).run
    ours = spec.run_config(results_path=Path("r.json"), app_signature="sig")
    theirs = DeploymentConfig(n_supernodes=5, threshold=3).run_config(results_path=Path("r.json"),
                                                                        progress_dir=Path("p"), app_signature="sig")
    assert set(ours) == set(theirs)
    assert ours["secagg-threshold"] == 3 and ours["min-clients"] == 3 and ours["num-partitions"] == 5
    assert ours["progress-dir"] == ""  # nothing written on the hospitals' disks unless asked


SUPERLINK_BAD = [
    # (replace what, with what, field, bound fragment, value)
    ('address = "198.18.0.1"', 'address = "0.0.0.0"', "superlink.address", "not the wildcard", "0.0.0.0"),
    ('address = "198.18.0.1"', 'address = "coord:9093"', "superlink.address", "no port", "coord:9093"),
    ('address = "198.18.0.1"', "", "superlink.address", "required field", None),
    ("port = 9093", "port = 80", "superlink.port", "in [1024, 65535]", 80),
    ("port = 9093", 'port = "9093"', "superlink.port", "an integer", "9093"),
    ("threshold = 3", "threshold = 7", "run.threshold", "in [2, 5]", 7),
    ("threshold = 3", "threshold = 1", "run.threshold", "in [2, 5]", 1),
    ("hospitals = 5", "hospitals = 1", "run.hospitals", "in [2, 64]", 1),
    ("threshold = 3", "threshold = 3\nmin_clients = 2", "run.min_clients", "in [3, 5]", 2),
    ("threshold = 3", "threshold = 3\nsecagg = false", "run.threshold", "absent when secagg = false", 3),
    ("rounds = 2", "rounds = 0", "run.rounds", "in [1, 1000]", 0),
    ("rounds = 2", "rounds = 2\nlr = 0", "run.lr", "> 0", 0),
    ("rounds = 2", "rounds = 2\ndp_delta = 1.0", "run.dp_delta", "< 1", 1.0),
    ("rounds = 2", "rounds = 2\ndp_noise_multiplier = -1", "run.dp_noise_multiplier", ">= 0", -1),
    ("rounds = 2", "rounds = 2\ntreshold = 3", "run.treshold", "unknown field", 3),
    ("rounds = 2", "rounds = 2\ndp_clipping_norm = 1.5", "run.dp_clipping_norm", "renamed dp_max_update_norm", 1.5),
    ("rounds = 2", "rounds = 2\ndp_max_update_norm = 0", "run.dp_max_update_norm", "> 0", 0),
    ("port = 9093", "port = 9093\nserver_key = \"\"", "superlink.server_key", "non-empty path", ""),
    ("[run]", "[runs]", "runs", "unknown section", "runs"),
]


@pytest.mark.parametrize(("old", "new", "field", "bound", "value"), SUPERLINK_BAD,
                         ids=[f"{c[2]}={c[4]!r}" for c in SUPERLINK_BAD])
def test_bad_superlink_file_names_field_bound_and_value(tmp_path: Path, old: str, new: str, field: str, bound: str,
                                                        value: object) -> None:
    assert old in SUPERLINK_OK
    p = _write(tmp_path, SUPERLINK_OK.replace(old, new, 1))
    with pytest.raises(SiteConfigError) as info:
        load_superlink_config(p)
    err = info.value
    assert isinstance(err, ValueError)  # a value error, like every bad-input refusal of the package
    assert err.field == field and bound in err.bound and err.value == value
    assert str(p.resolve()) in str(err) and bound in str(err)


SUPERNODE_BAD = [
    (f'superlink = "{COORD}:9093"', f'superlink = "{COORD}"', "supernode.superlink", '"host:port"', COORD),
    (f'superlink = "{COORD}:9093"', 'superlink = "0.0.0.0:9093"', "supernode.superlink", "wildcard", "0.0.0.0:9093"),
    (f'superlink = "{COORD}:9093"', f'superlink = "{COORD}:22"', "supernode.superlink", "[1024, 65535]", f"{COORD}:22"),
    ("partition_id = 4", "partition_id = 5", "supernode.partition_id", "in [0, 4]", 5),
    ("partition_id = 4", "partition_id = -1", "supernode.partition_id", "in [0, 4]", -1),
    ("num_partitions = 5", "num_partitions = 0", "supernode.num_partitions", "in [1, 64]", 0),
    ('data = "site.npz"', "", "supernode.data", "required field", None),
    ('data = "site.npz"', 'data = "site.npz"\nclientapp_port = 70000', "supernode.clientapp_port", "[1024, 65535]", 70000),
    ('data = "site.npz"', 'data = "site.npz"\nconnect_timeout = 0', "supernode.connect_timeout", "> 0", 0),
    ('data = "site.npz"', 'data = "site.npz"\nprivate_key = 3', "supernode.private_key", "a string", 3),
]


@pytest.mark.parametrize(("old", "new", "field", "bound", "value"), SUPERNODE_BAD,
                         ids=[f"{c[2]}={c[4]!r}" for c in SUPERNODE_BAD])
def test_bad_supernode_file_names_field_bound_and_value(tmp_path: Path, old: str, new: str, field: str, bound: str,
                                                        value: object) -> None:
    assert old in SUPERNODE_OK
    with pytest.raises(SiteConfigError) as info:
        load_supernode_config(_write(tmp_path, SUPERNODE_OK.replace(old, new, 1)))
    assert info.value.field == field and bound in info.value.bound and info.value.value == value


def test_unreadable_or_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"must end in \.toml or \.json"):
        load_supernode_config(_write(tmp_path, SUPERNODE_OK, "n.yaml"))
    with pytest.raises(SiteConfigError, match="cannot be read"):
        load_supernode_config(tmp_path / "missing.toml")
    with pytest.raises(SiteConfigError, match="not valid TOML"):
        load_supernode_config(_write(tmp_path, "[supernode\n", "bad.toml"))
    with pytest.raises(SiteConfigError, match=r"\[supernode\] must be a table \(required section\)"):
        load_supernode_config(_write(tmp_path, "", "empty.toml"))


def test_cli_exit_codes_for_bad_config_and_the_loopback_launcher_still_parses(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    p = _write(tmp_path, SUPERLINK_OK.replace("threshold = 3", "threshold = 9"))
    assert main(["run", "--config", str(p)]) == 2
    assert "[run] threshold must be an integer in [2, 5]" in capsys.readouterr().err
    assert main(["keys", "superlink", "--address", "0.0.0.0", "--out", str(tmp_path / "k")]) == 2
    # The one-machine launcher keeps its flags (notebook 12 and the engine tests use it).
    assert main(["--supernodes", "0"]) == 2
    assert "n_supernodes must be an integer in [1, 64], got 0" in capsys.readouterr().err


def test_the_old_clipping_norm_flag_and_keyword_are_refused_with_the_new_name(capsys: pytest.CaptureFixture) -> None:
    # max_grad_norm (per example) and max_update_norm (per client update): one name per unit, package-wide
    assert main(["--dp-clipping-norm", "1.5"]) == 2
    assert "--dp-clipping-norm was renamed --dp-max-update-norm" in capsys.readouterr().err
    with pytest.raises(TypeError, match="got dp_clipping_norm=, which was renamed dp_max_update_norm="):
        DeploymentConfig(dp_clipping_norm=1.5)
    with pytest.raises(ValueError, match="dp_max_update_norm must be"):
        DeploymentConfig(dp_max_update_norm=0.0)
    cfg = DeploymentConfig(dp_max_update_norm=1.5)
    run = cfg.run_config(results_path=Path("r"), progress_dir=Path("p"))
    assert run["dp-max-update-norm"] == 1.5 and "dp-clipping-norm" not in run


def test_the_apps_run_config_keys_are_the_ones_the_launchers_send(tmp_path: Path) -> None:
    import tomllib

    from ppml_lab.fl.deploy.reference import APP_DIR

    defaults = tomllib.loads((Path(APP_DIR) / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    sent = DeploymentConfig().run_config(results_path=Path("r"), progress_dir=Path("p"))
    assert set(sent) <= set(defaults), sorted(set(sent) - set(defaults))


# ---- keys and the coordinator's certificate -----------------------------------------------------------


@pytest.mark.parametrize("address", [COORD, "coordinator.hospital-net.example"])
def test_coordinator_certificate_names_exactly_its_address(tmp_path: Path, address: str) -> None:
    files, publisher = make_superlink_keys(tmp_path / "k", address=address)
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(v) for v in san.get_values_for_type(x509.IPAddress)] + san.get_values_for_type(x509.DNSName)
    assert names == [address]  # not 127.0.0.1, not localhost
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(files.ca_cert.read_bytes()))
    for secret in (files.server_key, publisher.private_key):
        assert secret.stat().st_mode & 0o077 == 0
    assert publisher.public_key.read_text().startswith("ssh-ed25519 ")
    with pytest.raises(UnsafePathError, match="already exists"):  # keys are never overwritten
        make_superlink_keys(tmp_path / "k", address=address)


def test_superlink_refuses_a_certificate_that_does_not_name_its_address(tmp_path: Path) -> None:
    generate_tls_files(tmp_path / "lo")  # the one-machine launcher's certificate: 127.0.0.1, localhost
    p = _write(tmp_path / "lo", SUPERLINK_OK)
    with pytest.raises(DeploymentError, match=r"does not list 198\.18\.0\.1 as a SAN"):
        superlink_argv(load_superlink_config(p))
    # With the coordinator's own certificate the SuperLink binds that address, TLS, node auth, guard.
    files, _ = make_superlink_keys(tmp_path / "ok", address=COORD)
    argv = superlink_argv(load_superlink_config(_write(tmp_path / "ok", SUPERLINK_OK)))
    assert argv[argv.index("--host") + 1] == COORD and argv[argv.index("--ssl-certfile") + 1] == str(files.server_cert)
    assert "ppml_lab.fl.deploy.superlink_guard" in argv and "--enable-supernode-auth" in argv
    assert INPROCESS_FLAG in argv and "--insecure" not in argv


def test_node_keys_and_registration_refuse_a_non_node_key(tmp_path: Path) -> None:
    keys = make_supernode_keys(tmp_path / "h", name="node")
    assert keys.private_key.stat().st_mode & 0o077 == 0
    _, publisher = make_superlink_keys(tmp_path / "c", address=COORD)
    cfg = load_superlink_config(_write(tmp_path / "c", SUPERLINK_OK))
    with pytest.raises(AuthenticationError, match="must be an EC"):
        register_node(cfg, publisher.public_key, name="hospital-0")  # an Ed25519 key is no node key
    with pytest.raises(AuthenticationError, match="not an OpenSSH public key"):
        register_node(cfg, keys.private_key, name="hospital-0")


def test_course_data_files_are_the_split_every_launcher_uses(tmp_path: Path) -> None:
    from ppml_lab.fl.deploy import load_task_module

    (site,) = write_course_data(tmp_path / "h", hospitals=5, rng=2026, site=3)
    sites, (xte, _) = load_task_module().load_split(2026, 5)
    with np.load(site) as z:
        np.testing.assert_array_equal(z["X"], sites[3].X)
    (test,) = write_course_data(tmp_path / "c", hospitals=5, rng=2026, test=True)
    with np.load(test) as z:
        np.testing.assert_array_equal(z["X"], xte)
    with pytest.raises(ValueError, match="site must be an integer in \\[0, 4\\], got 5"):
        write_course_data(tmp_path / "x", hospitals=5, rng=2026, site=5)
    with pytest.raises(ValueError, match="pass site=<k>"):
        write_course_data(tmp_path / "x", hospitals=5, rng=2026)


def test_supernode_refuses_missing_files_and_a_readable_private_key(tmp_path: Path) -> None:
    p = _write(tmp_path, SUPERNODE_OK)
    with pytest.raises(DeploymentError, match=r"\[supernode\] data file not found"):
        prepare_supernode(load_supernode_config(p), check_identity=False)
    write_course_data(tmp_path, hospitals=5, rng=2026, site=4)
    make_superlink_keys(tmp_path / "c", address=COORD)
    for f in ("ca.crt", "publisher.pub"):
        (tmp_path / f).write_bytes((tmp_path / "c" / f).read_bytes())
    keys = make_supernode_keys(tmp_path, name="node")
    keys.private_key.chmod(0o644)
    with pytest.raises(UnsafePathError, match="readable by group or others"):
        prepare_supernode(load_supernode_config(p), check_identity=False)
    keys.private_key.chmod(0o600)
    argv = prepare_supernode(load_supernode_config(p), check_identity=False)
    assert argv[argv.index("--superlink") + 1] == f"{COORD}:9093"
    assert argv[argv.index("--root-certificates") + 1] == str(tmp_path.resolve() / "ca.crt")
    trusted = Path(argv[argv.index("--trusted-entities") + 1])
    assert (tmp_path / "publisher.pub").read_text().strip() in trusted.read_text()


# ---- attack: a server that is not named by its certificate ------------------------------------------------


class _TLSServer:
    """A TLS server on 127.0.0.1 presenting ``files``' certificate: an impostor at an address the
    certificate does not name (the coordinator's stolen certificate, or one the same CA issued to
    another host), or the real thing when the certificate names 127.0.0.1."""

    def __init__(self, files: TLSFiles) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(files.server_cert, files.server_key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(5)
                with self.ctx.wrap_socket(conn, server_side=True) as s:
                    s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture()
def impostor(tmp_path: Path) -> Iterator[tuple[_TLSServer, TLSFiles]]:
    # The coordinator's genuine CA and certificate - for 198.18.0.1 - served from 127.0.0.1.
    files, _ = make_superlink_keys(tmp_path / "coordinator", address=COORD)
    server = _TLSServer(files)
    try:
        yield server, files
    finally:
        server.close()


@pytest.mark.attack
def test_supernode_refuses_a_server_whose_certificate_does_not_name_the_address_dialled(
        impostor: tuple[_TLSServer, TLSFiles], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    server, files = impostor
    # Raw path: checking only that the certificate chains to the CA (no name check) accepts the impostor.
    raw = ssl.create_default_context(cafile=str(files.ca_cert))
    raw.check_hostname = False
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s, raw.wrap_socket(s) as t:
        assert t.getpeercert() is not None  # handshake completed: the raw client would talk to it

    # Default path: the hospital's pre-flight check refuses, naming the address and the certificate's names.
    with pytest.raises(SuperLinkIdentityError, match=r"127\.0\.0\.1.*'198\.18\.0\.1'") as info:
        check_superlink_identity("127.0.0.1", server.port, ca_cert=files.ca_cert, timeout=10)
    assert isinstance(info.value, AuthenticationError)

    # ... so does the entry point a hospital runs (exit code 3, before any SuperNode starts) ...
    node_dir = tmp_path / "hospital"
    write_course_data(node_dir, hospitals=5, rng=2026, site=4)
    make_supernode_keys(node_dir)
    for f in ("ca.crt", "publisher.pub"):
        (node_dir / f).write_bytes((files.ca_cert.parent / f).read_bytes())
    conf = _write(node_dir, SUPERNODE_OK.replace(f"{COORD}:9093", f"127.0.0.1:{server.port}"))
    assert main(["supernode", "--config", str(conf)]) == 3
    assert "is not the coordinator" in capsys.readouterr().err

    # ... and Flower's own client (what flower-supernode builds from --root-certificates) refuses too.
    import httpx
    from flwr.supercore.protobuf.client import ProtobufClient

    client = ProtobufClient.from_server_address(f"127.0.0.1:{server.port}", insecure=False,
                                                root_certificates=files.ca_cert.read_bytes(), interceptors=())
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client._client.get(f"https://127.0.0.1:{server.port}/health")
    client.close()


def test_identity_check_accepts_the_coordinator_at_the_address_its_certificate_names(tmp_path: Path) -> None:
    files, _ = make_superlink_keys(tmp_path, address="127.0.0.1")
    server = _TLSServer(files)
    try:
        check_superlink_identity("127.0.0.1", server.port, ca_cert=files.ca_cert, timeout=10)  # no error
        other_ca = generate_tls_files(tmp_path / "other")  # names 127.0.0.1 too, but another CA
        with pytest.raises(SuperLinkIdentityError, match="is not the coordinator"):
            check_superlink_identity("127.0.0.1", server.port, ca_cert=other_ca.ca_cert, timeout=10)
    finally:
        server.close()


def test_identity_check_waits_bounded_for_a_coordinator_that_is_not_up(tmp_path: Path) -> None:
    files, _ = make_superlink_keys(tmp_path, address="127.0.0.1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(DeploymentError, match=rf"no SuperLink answered at 127\.0\.0\.1:{port} within 1 s"):
        check_superlink_identity("127.0.0.1", port, ca_cert=files.ca_cert, timeout=1.0)


# ---- `run`: loud about a short round (Flower replaced by a stand-in that writes the ServerApp's result) ----


def _fake_federation(monkeypatch: pytest.MonkeyPatch, clients: list[int]) -> list[list[str]]:
    import subprocess

    from ppml_lab.fl.deploy import hosts

    calls: list[list[str]] = []

    def fake_run_bounded(argv, *, env, cwd, timeout):  # noqa: ANN001, ANN202 - stands in for `flwr run`
        calls.append(list(argv))
        overrides = Path(argv[argv.index("--run-config") + 1]).read_text()
        results = Path(re.search(r'results-path = "([^"]+)"', overrides).group(1))
        rows = [{"round": r + 1, "clients": c, "loss": 0.1, "accuracy": 0.9} for r, c in enumerate(clients)]
        results.write_text(json.dumps({"rounds": rows, "final_loss": 0.1, "final_accuracy": 0.9}))
        return subprocess.CompletedProcess(argv, 0, stdout='{"success": true, "run-id": 7}', stderr="")

    monkeypatch.setattr(hosts, "_wait_online", lambda cfg, n, timeout: None)
    monkeypatch.setattr(hosts, "run_bounded", fake_run_bounded)
    return calls


def _coordinator(tmp_path: Path, extra: str = "") -> Path:
    make_superlink_keys(tmp_path, address=COORD)
    write_course_data(tmp_path, hospitals=5, rng=2026, test=True)
    return _write(tmp_path, SUPERLINK_OK.replace("threshold = 3", "threshold = 3" + extra))


def test_run_submits_the_signed_app_and_returns_the_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re as _re

    from ppml_lab.fl.deploy import dp_epsilon, verify_fab
    from ppml_lab.fl.deploy.hosts import submit_run
    from ppml_lab.fl.deploy.reference import APP_DIR
    from ppml_lab.fl.deploy.signing import PUBLISHER_KEY_ID, build_fab

    calls = _fake_federation(monkeypatch, [5, 4])
    cfg = load_superlink_config(_coordinator(tmp_path, "\ndp_noise_multiplier = 0.8"))
    out = submit_run(cfg)
    assert out["run_id"] == 7 and [r["clients"] for r in out["rounds"]] == [5, 4]
    assert out["epsilon"] == dp_epsilon(noise_multiplier=0.8, rounds=2, delta=1e-5)
    overrides = Path(calls[0][calls[0].index("--run-config") + 1]).read_text()
    sig = json.loads(_re.search(r"app-signature = (.+)", overrides).group(1))
    verify_fab(build_fab(APP_DIR), sig, {PUBLISHER_KEY_ID: (tmp_path / "publisher.pub").read_text().strip()})
    assert 'secagg-threshold = 3' in overrides and 'min-clients = 3' in overrides


def test_run_with_a_round_below_min_clients_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    from ppml_lab.fl.deploy import RoundFailedError
    from ppml_lab.fl.deploy.hosts import submit_run

    _fake_federation(monkeypatch, [5, 2])  # round 2 aggregated 2 < min_clients = threshold = 3
    conf = _coordinator(tmp_path)
    with pytest.raises(RoundFailedError, match=r"must be >= min_clients \(3\), got round 2: 2"):
        submit_run(load_superlink_config(conf))
    assert main(["run", "--config", str(conf)]) == 1
    assert "RoundFailedError" in capsys.readouterr().err
