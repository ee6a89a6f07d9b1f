"""Who may submit code to the federation, and whose code a hospital runs (no Flower process started here).

Attacks (marker ``attack``), each shown succeeding on the raw path and refused on the default one:
- a non-local peer calls the SuperLink's Control API (submit a run) or Runtime API (act as the ServerApp):
  Flower 1.42's own SuperLink app answers it; wrapped by ``superlink_guard`` it answers 403;
- a foreign or unsigned app reaches a SuperNode: Flower's plain check has nothing to verify it against;
  the hook of ``supernode_verify`` feeds the run's signature to Flower's own ``_verify_fab``, which accepts
  the publisher's app and refuses unsigned, foreign-signed and modified ones.
The same refusals on a live federation are in tests/fl/test_deploy_engine.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from ppml_lab.exceptions import AuthenticationError
from ppml_lab.fl.certs import UnsafePathError, generate_signing_key
from ppml_lab.fl.deploy import APP_DIR, PUBLISHER_KEY_ID, build_fab, sign_fab, verify_fab
from ppml_lab.fl.deploy.signing import parse_app_signature, write_trusted_entities
from ppml_lab.fl.deploy.superlink_guard import LocalOnlyMiddleware, install_guard


@pytest.fixture(scope="module")
def publisher(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return generate_signing_key(tmp_path_factory.mktemp("publisher"), "publisher")


@pytest.fixture(scope="module")
def attacker(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return generate_signing_key(tmp_path_factory.mktemp("attacker"), "attacker")


@pytest.fixture(scope="module")
def trusted(publisher) -> dict[str, str]:  # noqa: ANN001
    return {PUBLISHER_KEY_ID: publisher.public_key.read_text().strip()}


@pytest.fixture(scope="module")
def foreign_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course's app with one line added to the ClientApp: what an attacker would submit."""
    d = tmp_path_factory.mktemp("foreign") / "app"
    shutil.copytree(APP_DIR, d, ignore=shutil.ignore_patterns("__pycache__"))
    client = d / "ppml_hospitals" / "client_app.py"
    client.write_text(client.read_text() + "\nimport os; os.system('echo pwned')  # attacker's line\n")
    return d


# ---- app signatures ----------------------------------------------------------------------------------


def test_fab_build_is_deterministic_so_a_signature_survives_resubmission() -> None:
    assert build_fab(APP_DIR) == build_fab(APP_DIR)


def test_publisher_signed_app_verifies_with_flowers_own_check(publisher, trusted) -> None:  # noqa: ANN001
    fab = build_fab(APP_DIR)
    verify_fab(fab, sign_fab(fab, publisher.private_key), trusted)  # raises if Flower's _verify_fab says no


@pytest.mark.attack
def test_unsigned_and_foreign_apps_are_refused(publisher, attacker, trusted, foreign_app) -> None:  # noqa: ANN001
    from flwr.supercore.fab import Fab
    from flwr.supernode.start_client_internal import _verify_fab

    genuine = build_fab(APP_DIR)
    foreign = build_fab(foreign_app)
    genuine_sig = sign_fab(genuine, publisher.private_key)
    # Raw path: what Flower 1.42's SuperLink hands a SuperNode for a locally submitted app - no
    # verification data at all; a SuperNode without --trusted-entities runs it, whoever submitted it.
    assert Fab(hashlib.sha256(foreign).hexdigest(), foreign, {}).verifications == {}
    # Default path: every variant an attacker can produce is refused.
    with pytest.raises(AuthenticationError, match="unsigned"):
        verify_fab(foreign, "", trusted)
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify_fab(foreign, genuine_sig, trusted)  # the publisher's signature, copied onto changed code
    with pytest.raises(AuthenticationError, match="does not verify"):
        # signed by the attacker's own key, under the publisher's key id
        verify_fab(foreign, sign_fab(foreign, attacker.private_key), trusted)
    with pytest.raises(AuthenticationError, match="does not verify"):
        verify_fab(foreign, sign_fab(foreign, attacker.private_key, key_id="fpk_attacker"), trusted)
    # And Flower's own function agrees on the parsed signature (no check of ours in between).
    fab = Fab(hashlib.sha256(genuine).hexdigest(), genuine, parse_app_signature(genuine_sig))
    assert _verify_fab(fab, trusted) is True
    forged = Fab(hashlib.sha256(foreign).hexdigest(), foreign, parse_app_signature(genuine_sig))
    assert _verify_fab(forged, trusted) is False


@pytest.mark.parametrize(
    "value",
    ["", "not json", "[]", json.dumps({PUBLISHER_KEY_ID: "x"}), json.dumps({PUBLISHER_KEY_ID: {"signature": 3}}),
     json.dumps({PUBLISHER_KEY_ID: {"signature": "AA", "signed_at": True}}),
     json.dumps({"valid_license": {"signature": "AA", "signed_at": 1}}), 3, None, "x" * 20_000],
)
def test_malformed_signature_values_count_as_unsigned(value: Any) -> None:
    assert parse_app_signature(value) == {}


def test_trusted_entities_file_is_flowers_yaml(tmp_path: Path, publisher) -> None:  # noqa: ANN001
    import yaml

    path = write_trusted_entities(tmp_path / "t.yaml", {PUBLISHER_KEY_ID: publisher.public_key})
    data = yaml.safe_load(path.read_text())
    assert data == {PUBLISHER_KEY_ID: publisher.public_key.read_text().strip()}
    with pytest.raises(UnsafePathError):
        write_trusted_entities(tmp_path / "t.yaml", {PUBLISHER_KEY_ID: publisher.public_key})  # never overwritten
    with pytest.raises(ValueError, match="must be one 'ssh-ed25519 ...' line"):
        write_trusted_entities(tmp_path / "u.yaml", {PUBLISHER_KEY_ID: "ecdsa-sha2-nistp384 AAAA"})
    with pytest.raises(ValueError, match="public_keys must list at least one publisher key"):
        write_trusted_entities(tmp_path / "v.yaml", {})


def test_sign_fab_refuses_a_non_ed25519_key(tmp_path: Path) -> None:
    from ppml_lab.fl.certs import generate_node_keys

    ec_key = generate_node_keys(tmp_path, "node")
    with pytest.raises(TypeError, match="private_key must be an Ed25519 key"):
        sign_fab(b"fab", ec_key.private_key)


@pytest.mark.attack
def test_supernode_hook_attaches_only_the_runs_signature_and_only_for_the_runs_fab(
        monkeypatch: pytest.MonkeyPatch, publisher, trusted, foreign_app) -> None:  # noqa: ANN001
    import flwr.supernode.start_client_internal as sci
    from flwr.supercore.fab import Fab

    from ppml_lab.fl.deploy import supernode_verify

    genuine = build_fab(APP_DIR)
    sig = sign_fab(genuine, publisher.private_key)
    got: dict[str, Any] = {}

    def fake_original(**kwargs: Any) -> int:  # what Flower does: get_run, then get_fab, then _verify_fab
        run = kwargs["get_run"](7)
        fab = kwargs["get_fab"](run.fab_hash, 7)
        got["verified"] = sci._verify_fab(fab, trusted) if fab.verifications.get("valid_license") else False
        return 7

    monkeypatch.setattr(sci, "_pull_and_store_message", fake_original)
    supernode_verify.install_hook()
    hooked = sci._pull_and_store_message
    assert hooked is not fake_original

    def call(run_hash: str, served: bytes, app_signature: str, link_verifications: dict[str, str]) -> bool:
        run = SimpleNamespace(fab_hash=run_hash, override_config={"app-signature": app_signature})
        fab = Fab(hashlib.sha256(served).hexdigest(), served, dict(link_verifications))
        hooked(get_run=lambda _rid: run, get_fab=lambda _h, _rid: fab, state=None)
        return bool(got["verified"])

    h = hashlib.sha256(genuine).hexdigest()
    assert call(h, genuine, sig, {}) is True  # the publisher's app with its signature runs
    foreign = build_fab(foreign_app)
    assert call(hashlib.sha256(foreign).hexdigest(), foreign, sig, {}) is False  # copied signature
    assert call(h, genuine, "", {}) is False  # unsigned
    assert call(h, foreign, sig, {}) is False  # served bytes differ from the run's FAB hash
    # A signed FAB served for a run registered under another hash: not attached (the SuperNode would
    # later hand its ClientApp the FAB stored under the run's hash, not the one that was checked).
    assert call(hashlib.sha256(foreign).hexdigest(), genuine, sig, {}) is False
    # Verification data the SuperLink sends is discarded: only the run's signature counts (one source of
    # signatures; a forged one from the SuperLink is refused either way).
    assert call(hashlib.sha256(foreign).hexdigest(), foreign, "",
                {"valid_license": "Valid", **parse_app_signature(sig)}) is False
    assert call(h, genuine, "", {"valid_license": "Valid", **parse_app_signature(sig)}) is False
    assert call(hashlib.sha256(foreign).hexdigest(), genuine, "",
                {"valid_license": "Valid", **parse_app_signature(sig)}) is False
    with pytest.raises(RuntimeError, match="called differently"):
        hooked(7)


def test_supernode_wrapper_refuses_to_start_without_trusted_entities() -> None:
    from ppml_lab.fl.deploy import supernode_verify

    with pytest.raises(SystemExit, match="--trusted-entities <yaml> is required"):
        supernode_verify.main(["--superlink", "127.0.0.1:1"])


# ---- Control and Runtime APIs: local peers only --------------------------------------------------------


def _post(app: Any, path: str, peer: str) -> int:
    async def go() -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://superlink") as c:
            r = await c.post(path, content=b"", headers={"content-type": "application/protobuf"})
            return r.status_code

    return asyncio.run(go())


@pytest.mark.attack
def test_control_and_runtime_apis_refuse_non_local_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    import flwr.superlink.main as superlink_main

    raw = superlink_main.create_app()  # Flower 1.42's SuperLink app, as flower-superlink serves it
    # Raw path: a peer from another machine (198.18.0.7, a test address) reaches the Control API's
    # handlers - it is answered by Flower, not turned away.
    assert _post(raw, "/v1/control/list-runs", "198.18.0.7") != 403
    assert _post(raw, "/v1/runtime/acquire-task", "198.18.0.7") != 403

    monkeypatch.setattr(superlink_main, "create_app", superlink_main.create_app)  # restored after the test
    install_guard("127.0.0.1")
    guarded = superlink_main.create_app()
    for path in ("/v1/control/start-run", "/v1/control/list-runs", "/v1/control/stop-run",
                 "/v1/runtime/acquire-task", "/v1/runtime/pull-task-input", "/docs", "/openapi.json",
                 "/v1/fleet/../control/start-run", "/v1/fleet", "/v1/fleet/not-a-route", "/V1/CONTROL/START-RUN"):
        assert _post(guarded, path, "198.18.0.7") == 403, path
        assert _post(guarded, path, "127.0.0.2") == 403, path  # other loopback addresses are not "local"
    # The Fleet API (what hospitals use) still reaches Flower's handlers, and local callers reach all.
    assert _post(guarded, "/v1/fleet/pull-messages", "198.18.0.7") != 403
    assert _post(guarded, "/v1/control/list-runs", "127.0.0.1") == _post(raw, "/v1/control/list-runs", "127.0.0.1")
    assert _post(guarded, "/v1/control/list-runs", "::ffff:127.0.0.1") != 403


def test_guard_allows_the_superlinks_own_bind_address() -> None:
    async def ok_app(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = LocalOnlyMiddleware(ok_app, remote_paths={"/v1/fleet/pull-messages"},
                             local_peers={"127.0.0.1", "::1", "198.18.0.1"})
    assert _post(mw, "/v1/control/start-run", "198.18.0.1") == 200  # its own SuperExec, on the public address
    assert _post(mw, "/v1/control/start-run", "198.18.0.2") == 403
    assert _post(mw, "/v1/fleet/pull-messages", "198.18.0.2") == 200
