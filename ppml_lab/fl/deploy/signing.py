"""App signing: only the publisher's code runs at a hospital.

Anyone who can submit a run to a SuperLink chooses the code every SuperNode executes (the FAB - Flower
App Bundle - carries the ClientApp). Flower 1.42 has the verification half: a SuperNode started with
``--trusted-entities <yaml>`` runs a FAB only if one of the listed Ed25519 keys signed
``timestamp (8 bytes, big-endian) || SHA-256(FAB)`` (``flwr/supernode/start_client_internal.py``
``_verify_fab``; message format ``flwr/supercore/primitives/asymmetric_ed25519.py``
``create_message_to_sign``). What it lacks is a way to get a signature to the SuperNode for an app that is
not on Flower Hub: for a locally submitted app the SuperLink always stores ``verifications = {}``
(``flwr/superlink/servicer/control/control_handlers.py`` ``start_run``, ``verification_dict: dict[str,
str] = {}``; only ``_get_remote_fab`` - a download from Flower Hub, network required - fills it), so a
SuperNode with ``--trusted-entities`` refuses every such run ("App verification is not supported by the
connected SuperLink").

This module closes that gap without weakening the check: the publisher signs the FAB here in Flower's
format; the signature travels *with the run* as the run-config value ``app-signature`` (the SuperLink
passes run config through untouched; the signature is over the FAB bytes, so the submitter cannot alter
the code without invalidating it); and the SuperNode wrapper (:mod:`ppml_lab.fl.deploy.supernode_verify`)
hands it to Flower's own ``_verify_fab`` with the hospital's ``--trusted-entities``. An unsigned app, an
app signed by another key, or a signed app with one byte changed is refused by every SuperNode before
any of its code runs (``tests/fl/test_deploy_security.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ppml_lab._validation import check_int, check_type
from ppml_lab.exceptions import AuthenticationError
from ppml_lab.fl.certs import write_new_file

__all__ = [
    "PUBLISHER_KEY_ID",
    "build_fab",
    "sign_fab",
    "parse_app_signature",
    "verify_fab",
    "write_trusted_entities",
]

#: Key id under which the course's publisher key is listed in ``--trusted-entities`` (Flower's ids look
#: like ``fpk_<uuid>``; any string key works, it only selects which public key checks a signature).
PUBLISHER_KEY_ID = "fpk_ppml_lab_publisher"

#: Flower's marker that the SuperLink delivered verification data at all (start_client_internal.py).
_VALID_LICENSE = "valid_license"


def build_fab(app_dir: str | Path) -> bytes:
    """The FAB bytes ``flwr run <app_dir>`` submits (Flower's own builder; deterministic: fixed zip dates)."""
    from flwr.cli.build import build_fab_from_disk

    return build_fab_from_disk(Path(app_dir))


def sign_fab(fab: bytes, private_key: str | Path, *, key_id: str = PUBLISHER_KEY_ID,
             signed_at: int | None = None) -> str:
    """Sign ``fab`` with the Ed25519 OpenSSH key at ``private_key``; returns the ``app-signature`` value.

    The signed message is Flower's: ``signed_at.to_bytes(8, "big") + sha256(fab)``; the value is JSON
    ``{key_id: {"signature": <base64url, no padding>, "signed_at": <unix seconds>}}``.
    """
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key
    from flwr.supercore.primitives.asymmetric_ed25519 import create_message_to_sign

    check_type("fab", fab, bytes)
    check_type("key_id", key_id, str)
    ts = int(time.time()) if signed_at is None else check_int("signed_at", signed_at, low=0, high=2**63 - 1)
    key = load_ssh_private_key(Path(private_key).read_bytes(), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise TypeError(f"private_key must be an Ed25519 key (Flower verifies Ed25519 only), got {type(key).__name__}")
    sig = key.sign(create_message_to_sign(hashlib.sha256(fab).digest(), ts))
    b64 = base64.urlsafe_b64encode(sig).rstrip(b"=").decode("ascii")
    return json.dumps({key_id: {"signature": b64, "signed_at": ts}}, sort_keys=True)


def parse_app_signature(value: Any) -> dict[str, str]:
    """``app-signature`` run-config value -> Flower's ``Fab.verifications`` mapping; {} if absent or malformed.

    Malformed input is treated as *unsigned* (refused by the SuperNode), never as an error that could stop
    the SuperNode: the value comes from whoever submitted the run.
    """
    if not isinstance(value, str) or not value or len(value) > 16_384:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    for key_id, entry in data.items():
        if (isinstance(key_id, str) and key_id != _VALID_LICENSE and isinstance(entry, dict)
                and isinstance(entry.get("signature"), str) and isinstance(entry.get("signed_at"), int)
                and not isinstance(entry.get("signed_at"), bool) and 0 <= entry["signed_at"] < 2**63):
            out[key_id] = json.dumps({"signature": entry["signature"], "signed_at": entry["signed_at"]})
    if out:
        out[_VALID_LICENSE] = "ppml-lab: signature delivered with the run"
    return out


def verify_fab(fab: bytes, app_signature: str, trusted_entities: dict[str, str]) -> None:
    """Raise :class:`AuthenticationError` unless a key of ``trusted_entities`` signed ``fab``.

    Runs Flower 1.42's own check (``_verify_fab``) - what every SuperNode runs before executing an app.
    """
    from flwr.supercore.fab import Fab
    from flwr.supernode.start_client_internal import _verify_fab

    check_type("fab", fab, bytes)
    verifications = parse_app_signature(app_signature)
    if not verifications:
        raise AuthenticationError("app_signature is missing or malformed: the app is unsigned and is refused")
    try:
        ok = _verify_fab(Fab(hashlib.sha256(fab).hexdigest(), fab, verifications), dict(trusted_entities))
    except Exception:  # noqa: BLE001 - a malformed signature is a failed verification
        ok = False
    if not ok:
        raise AuthenticationError(
            f"app signature does not verify under the trusted keys {sorted(trusted_entities)}: the app was "
            "changed after signing or signed by another key; refused"
        )


def write_trusted_entities(path: str | Path, public_keys: dict[str, str | Path]) -> Path:
    """Write Flower's ``--trusted-entities`` YAML: ``{key_id: 'ssh-ed25519 AAAA...'}`` (created new, 0644)."""
    check_type("public_keys", public_keys, dict)
    if not public_keys:
        raise ValueError("public_keys must list at least one publisher key, got {}")
    lines = []
    for key_id, pub in public_keys.items():
        text = Path(pub).read_text().strip() if isinstance(pub, Path) else str(pub).strip()
        if not text.startswith("ssh-ed25519 ") or "'" in text or "\n" in text:
            raise ValueError(f"public_keys[{key_id!r}] must be one 'ssh-ed25519 ...' line, got {text[:40]!r}")
        if not key_id or not all(c.isalnum() or c in "_-" for c in key_id):
            raise ValueError(f"key id must be a non-empty name of [A-Za-z0-9_-], got {key_id!r}")
        lines.append(f"{key_id}: '{text}'")
    return write_new_file(path, ("\n".join(lines) + "\n").encode(), private=False)
