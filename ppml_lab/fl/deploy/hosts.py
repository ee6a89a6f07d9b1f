"""A federation on separate machines: what the coordinator and each hospital run (the runbook's commands).

The loopback launcher (:mod:`ppml_lab.fl.deploy.engine`) starts every party itself on 127.0.0.1. Here each
party is started by its own operator on its own machine, from a config file
(:mod:`ppml_lab.fl.deploy.site_config`):

- ``keys superlink --address A``: the coordinator's CA, a server certificate whose only Subject Alternative
  Name is ``A`` (the address hospitals dial; RFC 5280 Sec. 4.2.1.6) and the app publisher's Ed25519 key;
- ``keys supernode``: a hospital's EC P-384 node key pair (Flower's SuperNode authentication);
- ``superlink``: Flower's SuperLink behind :mod:`~ppml_lab.fl.deploy.superlink_guard` (Control and Runtime
  APIs answer the coordinator's machine only), bound to ``A``, TLS, node authentication, ServerApp in process;
- ``supernode``: first checks that the server at the configured address presents a certificate chained to
  the coordinator's CA *and naming that address* (:func:`check_superlink_identity`, a typed
  :class:`SuperLinkIdentityError` otherwise - Flower's own client would also refuse, less legibly), then
  runs Flower's SuperNode behind :mod:`~ppml_lab.fl.deploy.supernode_verify` (only apps signed by the
  publisher key run);
- ``register`` / ``unregister`` / ``nodes``: the coordinator's list of admitted hospital keys (``flwr
  supernode register|unregister|list`` on its own SuperLink);
- ``run``: waits until every hospital is online, signs the app, submits it, waits (bounded) for the result
  and ends with :class:`~ppml_lab.fl.deploy.RoundFailedError` if any round aggregated fewer clients than
  its minimum.

Threat model (separate hosts): the network between sites is hostile (TLS; the certificate names the
coordinator's address, so a machine elsewhere holding another certificate from the same CA cannot pose as
the coordinator); a machine whose key the coordinator did not register cannot join (node authentication);
anyone reaching the SuperLink's port can use the Fleet API only; hospitals run only the publisher's signed
code; the coordinator is honest-but-curious (SecAgg+ hides individual updates). The coordinator's machine
and its operator are trusted with the CA and publisher keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ppml_lab._rng import renamed_keywords
from ppml_lab._validation import check_int, check_type
from ppml_lab.exceptions import AuthenticationError, DeploymentError, SuperLinkIdentityError
from ppml_lab.fl.certs import (
    NodeKeys,
    TLSFiles,
    UnsafePathError,
    check_tls_files,
    generate_node_keys,
    generate_signing_key,
    generate_tls_files,
    secure_directory,
    write_new_file,
)
from ppml_lab.fl.deploy.config import check_rounds
from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG
from ppml_lab.fl.deploy.processes import BIN, flwr_json, offline_env, parse_run_id, run_bounded
from ppml_lab.fl.deploy.reference import APP_DIR, dp_epsilon
from ppml_lab.fl.deploy.signing import PUBLISHER_KEY_ID, build_fab, sign_fab, write_trusted_entities
from ppml_lab.fl.deploy.site_config import SuperLinkSiteConfig, SuperNodeSiteConfig, check_host

__all__ = [
    "SuperLinkIdentityError",
    "CONNECTION",
    "make_superlink_keys",
    "make_supernode_keys",
    "write_course_data",
    "superlink_argv",
    "supernode_argv",
    "check_superlink_identity",
    "prepare_supernode",
    "register_node",
    "unregister_node",
    "list_nodes",
    "submit_run",
    "certificate_fingerprint",
]

#: Name of the coordinator's connection in its private ``$FLWR_HOME/config.toml``.
CONNECTION = "ppml"


# ---- keys and data ---------------------------------------------------------------------------------


def certificate_fingerprint(cert: str | Path) -> str:
    """SHA-256 of a PEM certificate's DER bytes, ``AB:CD:...`` (what operators compare out of band)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(Path(cert).read_bytes()).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def make_superlink_keys(out: str | Path, *, address: str) -> tuple[TLSFiles, NodeKeys]:
    """The coordinator's ``ca.crt``, ``server.pem``/``server.key`` (SAN = ``address`` only) and the app
    publisher's Ed25519 key ``publisher``/``publisher.pub``, created new in ``out`` (nothing overwritten)."""
    address = check_host(check_type("address", address, str))
    files = generate_tls_files(out, hosts=(address,))
    publisher = generate_signing_key(out, "publisher")
    return files, publisher


def make_supernode_keys(out: str | Path, *, name: str = "node") -> NodeKeys:
    """A hospital's node key pair ``<name>`` (private, 0600) / ``<name>.pub`` (to register), created new."""
    return generate_node_keys(out, name)


@renamed_keywords(seed="rng")
def write_course_data(out: str | Path, *, hospitals: int, rng: int, site: int | None = None,
                      test: bool = False) -> list[Path]:
    """The course's stand-in for hospital records: hospital ``site``'s share of the split as ``site.npz``
    and/or the coordinator's held-out ``test.npz`` (same split as every other launcher for the int seed ``rng``)."""
    import tempfile

    from ppml_lab.fl.deploy.reference import write_site_files

    n = check_int("hospitals", hospitals, low=1, high=64)
    seed = check_int("rng", rng, low=0)
    if site is not None:
        check_int("site", site, low=0, high=n - 1)
    if site is None and not test:
        raise ValueError("pass site=<k> (a hospital's share), test=True (the coordinator's test split), or both")
    dest = secure_directory(out)
    written = []
    with tempfile.TemporaryDirectory(prefix="ppml-data-") as tmp:
        sites, test_path = write_site_files(Path(tmp), rng=seed, n=n)
        pairs = ([(Path(sites[site]), dest / "site.npz")] if site is not None else []) + (
            [(Path(test_path), dest / "test.npz")] if test else [])
        for src, dst in pairs:
            write_new_file(dst, src.read_bytes(), private=True)
            written.append(dst)
    return written


# ---- the two services -------------------------------------------------------------------------------


def superlink_argv(cfg: SuperLinkSiteConfig) -> list[str]:
    """The coordinator's SuperLink command line; refuses TLS files that do not name ``cfg.address``."""
    check_type("cfg", cfg, SuperLinkSiteConfig)
    # The certificate must name the address hospitals dial (a 127.0.0.1 certificate would make every
    # hospital refuse the SuperLink - or, worse, tempt someone to turn verification off).
    check_tls_files(TLSFiles(cfg.ca_cert, cfg.server_cert, cfg.server_key), host=cfg.address)
    state = secure_directory(cfg.state_dir)
    return [sys.executable, "-m", "ppml_lab.fl.deploy.superlink_guard", "--host", cfg.address,
            "--port", str(cfg.port), "--disable-runtime-dependency-installation",
            "--database", str(state / "superlink.db"),
            "--ssl-ca-certfile", str(cfg.ca_cert), "--ssl-certfile", str(cfg.server_cert),
            "--ssl-keyfile", str(cfg.server_key), "--enable-supernode-auth", INPROCESS_FLAG]


def _san_names(pem: bytes) -> list[str]:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # noqa: BLE001 - diagnostics only
        return []
    return sorted({str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName)))


def check_superlink_identity(host: str, port: int, *, ca_cert: str | Path, timeout: float = 300.0) -> None:
    """Bounded wait until ``host:port`` answers, then a TLS handshake that must verify: the certificate
    chains to ``ca_cert`` and names ``host`` (Python's ``ssl``: ``check_hostname``, RFC 6125 / RFC 5280 IP SAN).

    Connection refused / unreachable is retried until ``timeout`` s (the coordinator may start later), then
    :class:`DeploymentError`. A certificate that fails verification raises :class:`SuperLinkIdentityError`
    at once, naming the address dialled and the names the certificate lists.
    """
    host = check_host(check_type("host", host, str))
    port = check_int("port", port, low=1, high=65535)
    ctx = ssl.create_default_context(cafile=str(ca_cert))  # CERT_REQUIRED + check_hostname
    deadline = time.monotonic() + float(timeout)
    last: Exception | None = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=host):
                    return
        except ssl.SSLCertVerificationError as err:
            names: list[str] = []
            with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                names = _san_names(ssl.get_server_certificate((host, port), timeout=10).encode())
            raise SuperLinkIdentityError(
                f"the server at {host}:{port} is not the coordinator: {err.verify_message}; its certificate "
                f"names {names or 'nothing readable'}, the address dialled is {host}. Refusing to connect - check "
                "the address in the config file and that ca.crt is the coordinator's (compare its fingerprint)"
            ) from None
        except (OSError, ssl.SSLError) as err:
            last = err
        if time.monotonic() >= deadline:
            raise DeploymentError(f"no SuperLink answered at {host}:{port} within {timeout:.0f} s (last error: {last})")
        time.sleep(1.0)


def prepare_supernode(cfg: SuperNodeSiteConfig, *, check_identity: bool = True) -> list[str]:
    """Check the hospital's files and the SuperLink's identity, write its trusted-publisher list; return the
    SuperNode's command line."""
    check_type("cfg", cfg, SuperNodeSiteConfig)
    for label, p in (("data", cfg.data), ("ca_cert", cfg.ca_cert), ("private_key", cfg.private_key),
                     ("publisher_public_key", cfg.publisher_public_key)):
        if not Path(p).is_file():
            raise DeploymentError(f"{cfg.file}: [supernode] {label} file not found at {p}")
    if Path(cfg.private_key).stat().st_mode & 0o077:
        raise UnsafePathError(f"private_key {cfg.private_key} is readable by group or others; chmod 600 it")
    if check_identity:
        check_superlink_identity(cfg.superlink_host, cfg.superlink_port, ca_cert=cfg.ca_cert,
                                 timeout=cfg.connect_timeout)
    state = secure_directory(cfg.state_dir)
    trusted = state / "trusted_entities.yaml"
    with contextlib.suppress(FileNotFoundError):
        trusted.unlink()  # rewritten from publisher.pub at every start (a rotated publisher key takes effect)
    write_trusted_entities(trusted, {PUBLISHER_KEY_ID: Path(cfg.publisher_public_key)})
    return supernode_argv(cfg, trusted_entities=trusted)


def supernode_argv(cfg: SuperNodeSiteConfig, *, trusted_entities: Path) -> list[str]:
    """The hospital's SuperNode command line (apps signed by the publisher only, ClientApps in process)."""
    node_config = (f"partition-id={cfg.partition_id} num-partitions={cfg.num_partitions} "
                   f'data-path="{cfg.data}"')
    return [sys.executable, "-m", "ppml_lab.fl.deploy.supernode_verify", "--trusted-entities", str(trusted_entities),
            INPROCESS_FLAG, "--superlink", cfg.superlink, "--port", str(cfg.clientapp_port),
            "--node-config", node_config, "--root-certificates", str(cfg.ca_cert),
            "--auth-supernode-private-key", str(cfg.private_key)]


# ---- the coordinator's Control API calls (local only) ----------------------------------------------------


def _flwr_env(cfg: SuperLinkSiteConfig) -> tuple[dict[str, str], Path]:
    state = secure_directory(cfg.state_dir)
    home = secure_directory(state / "flwr_home")
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{cfg.dial}"\n'
        f'root-certificates = "{cfg.ca_cert}"\n', encoding="utf-8")
    return offline_env(home), state


def _flwr(cfg: SuperLinkSiteConfig, args: list[str], *, timeout: float = 120.0) -> Any:
    """Run ``flwr <args> ppml --format json`` against the coordinator's SuperLink; its parsed JSON."""
    env, state = _flwr_env(cfg)
    argv = [str(BIN / "flwr"), *args, CONNECTION, "--format", "json"]
    try:
        res = run_bounded(argv, env=env, cwd=state, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeploymentError(f"`flwr {' '.join(args)}` did not finish within {timeout:.0f} s") from None
    try:
        data = flwr_json(res.stdout)
    except json.JSONDecodeError:
        data = None
    if res.returncode != 0 or not isinstance(data, dict) or data.get("success") is False:
        detail = (data or {}).get("error-message") if isinstance(data, dict) else None
        raise DeploymentError(f"`flwr {' '.join(args)}` failed (code {res.returncode}): "
                              f"{detail or (res.stdout + res.stderr)[-1500:]}")
    return data


def _check_node_public_key(path: Path) -> None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        key = load_ssh_public_key(Path(path).read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm) as err:
        raise AuthenticationError(f"public_key {path} is not an OpenSSH public key ({err})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AuthenticationError(
            f"public_key {path} must be an EC (NIST curve) key, as `keys supernode` writes; got {type(key).__name__}")


def register_node(cfg: SuperLinkSiteConfig, public_key: str | Path, *, name: str) -> int:
    """Admit the hospital holding ``public_key``'s private half; returns its node id."""
    _check_node_public_key(Path(public_key))
    check_type("name", name, str)
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"name must be a non-empty name of [A-Za-z0-9._-], got {name!r}")
    data = _flwr(cfg, ["supernode", "register", str(Path(public_key).resolve()), "--name", name])
    node_id = data.get("node-id")
    if node_id is None:
        raise DeploymentError(f"`flwr supernode register` returned no node id: {data}")
    return int(node_id)


def unregister_node(cfg: SuperLinkSiteConfig, node_id: int) -> None:
    """Remove a hospital's key: the SuperLink refuses that key from now on (rotation, revocation)."""
    check_int("node_id", node_id, low=0)
    _flwr(cfg, ["supernode", "unregister", str(node_id)])


def list_nodes(cfg: SuperLinkSiteConfig) -> list[dict[str, Any]]:
    """The SuperLink's registered SuperNodes, as ``flwr supernode list`` reports them (one dict each)."""
    data = _flwr(cfg, ["supernode", "list"])
    return list(data.get("nodes", []))


def _wait_online(cfg: SuperLinkSiteConfig, n: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    online = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(DeploymentError):
            online = sum(1 for x in list_nodes(cfg) if x.get("status") == "online")
            if online >= n:
                return
        time.sleep(2.0)
    raise DeploymentError(f"{online} of {n} hospitals were online after {timeout:.0f} s; start the missing "
                          "SuperNodes (and check they are registered: `nodes --config ...`)")


def submit_run(cfg: SuperLinkSiteConfig, *, app_dir: str | Path = APP_DIR) -> dict[str, Any]:
    """Wait for every hospital, sign and submit the app, wait for its result; loud on a short round.

    Returns the ServerApp's result (rounds, final loss/accuracy) plus ``run_id``, ``seconds`` and, with
    central DP, ``epsilon`` (hospital-level, by the package's RDP accountant at ``dp_delta``).
    """
    spec = cfg.run
    if not Path(spec.publisher_key).is_file():
        raise DeploymentError(f"{cfg.file}: [run] publisher_key not found at {spec.publisher_key}")
    if not Path(spec.test_data).is_file():
        raise DeploymentError(f"{cfg.file}: [run] test_data not found at {spec.test_data}")
    _wait_online(cfg, spec.hospitals, timeout=spec.startup_timeout)
    env, state = _flwr_env(cfg)
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}"
    results = state / f"results_{stamp}.json"
    signature = sign_fab(build_fab(Path(app_dir)), spec.publisher_key)
    overrides = state / f"run_config_{stamp}.toml"
    overrides.write_text("".join(f"{k} = {json.dumps(v)}\n"
                                 for k, v in spec.run_config(results_path=results, app_signature=signature).items()),
                         encoding="utf-8")
    t0 = time.monotonic()
    argv = [str(BIN / "flwr"), "run", str(app_dir), CONNECTION, "--run-config", str(overrides), "--format", "json"]
    try:
        res = run_bounded(argv, env=env, cwd=state, timeout=spec.startup_timeout)
    except subprocess.TimeoutExpired:
        raise DeploymentError(f"`flwr run` did not finish within {spec.startup_timeout:.0f} s") from None
    run_id = parse_run_id(res.stdout)
    if res.returncode != 0 or run_id is None:
        raise DeploymentError(f"`flwr run` failed (code {res.returncode}): {(res.stdout + res.stderr)[-1500:]}")
    deadline = t0 + spec.run_timeout
    next_status = t0 + 30.0
    while not results.exists():
        if time.monotonic() > deadline:
            raise DeploymentError(f"run {run_id} produced no result within {spec.run_timeout:.0f} s")
        if time.monotonic() > next_status:  # a failed ServerApp writes no file: ask now and then
            next_status = time.monotonic() + 30.0
            with contextlib.suppress(DeploymentError):
                runs = _flwr(cfg, ["ls", "--run-id", str(run_id)]).get("runs", [])
                status = str(runs[0].get("status", "")) if runs else ""
                if status.startswith("finished:") and status != "finished:completed":
                    time.sleep(1.0)
                    if not results.exists():
                        raise DeploymentError(f"run {run_id} ended with status {status} and no result")
        time.sleep(0.5)
    out = json.loads(results.read_text())
    # Loud failure: a round below its minimum (zero included) is an error, not a result.
    check_rounds(list(out["rounds"]), expected_rounds=spec.rounds, min_clients=spec.min_clients)
    out["run_id"] = run_id
    out["seconds"] = time.monotonic() - t0
    out["epsilon"] = (dp_epsilon(noise_multiplier=spec.dp_noise_multiplier, rounds=spec.rounds, delta=spec.dp_delta)
                      if spec.dp_noise_multiplier > 0 else None)
    return out
