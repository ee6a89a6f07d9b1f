"""JSON (de)serialisation of Paillier keys and ciphertexts (format version 1, hex integers).

Loading runs the same checks as building in code: a key is size- and structure-checked (toy keys need
``allow_insecure=True``), a ciphertext must be a unit mod n^2 under the expected key, and its ``bound`` field
— the sender's claim — must fit the key's plaintext space (|m| <= max_int); decryption checks the claim.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ppml_lab._validation import check_bool
from ppml_lab.exceptions import InsecureParameterError, SerializationError
from ppml_lab.he import _paillier_backend as _bk
from ppml_lab.he.paillier.ciphertext import EncryptedNumber, PaillierVector, _bound_enc
from ppml_lab.he.paillier.encoding import MAX_PRECISION
from ppml_lab.he.paillier.keys import PaillierPrivateKey, PaillierPublicKey, check_same_key

__all__ = ["SerializationError", "dumps", "loads"]


def dumps(d: dict) -> str:
    return json.dumps(d)


def loads(text: Any) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SerializationError(f"serialised data must be UTF-8 JSON: {err}") from None
    if not isinstance(text, str):
        raise TypeError(f"serialised data must be str or bytes, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SerializationError(f"serialised data is not valid JSON: {err}") from None


def _expect_dict(data: Any, kind: str) -> dict:
    if not isinstance(data, dict):
        raise TypeError(f"serialised {kind} must be a dict, got {type(data).__name__}")
    if data.get("type") != kind:
        raise SerializationError(f"expected a serialised {kind!r}, got type={data.get('type')!r}")
    if data.get("version") != 1:
        raise SerializationError(f"unsupported {kind} version {data.get('version')!r}; this code reads version 1")
    return data


def _parse_hex(v: Any, name: str) -> int:
    if not isinstance(v, str):
        raise SerializationError(f"field {name!r} must be a hex string, got {type(v).__name__}")
    try:
        return int(v, 16)
    except ValueError:
        raise SerializationError(f"field {name!r} is not a hex integer: {v[:40]!r}") from None


def _hex_field(d: dict, name: str) -> int:
    if name not in d:
        raise SerializationError(f"missing field {name!r}")
    return _parse_hex(d[name], name)


def _ciphertext_value(c: int, pk: PaillierPublicKey) -> int:
    # a valid ciphertext is a unit of Z_{n^2}: 0 < c < n^2 and gcd(c, n) = 1
    if not 0 < c < pk.nsquare or math.gcd(c, pk.n) != 1:
        raise SerializationError("ciphertext must be a unit modulo n^2 (0 < c < n^2, gcd(c, n) = 1)")
    return c


def _precision_bound_fields(d: dict, pk: PaillierPublicKey, bound: Any) -> tuple[int, int]:
    f = d.get("precision")
    if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f <= MAX_PRECISION:
        raise SerializationError(f"field 'precision' must be an int in [0, {MAX_PRECISION}], got {f!r}")
    if bound is not None:  # the receiver's own bound on |value| replaces the sender's claim
        return f, _bound_enc(pk, bound, f)
    claimed = _hex_field(d, "bound")
    if claimed > pk.max_int:
        raise SerializationError(
            f"field 'bound' must be <= the key's max_int (2^{pk.max_int.bit_length()}), got "
            f"2^{claimed.bit_length()}: no plaintext of this key is that large"
        )
    return f, claimed


def _with_key(build: Any, what: str) -> Any:
    """Run a key constructor; a security refusal stays typed, anything else is a malformed document."""
    try:
        return build()
    except InsecureParameterError:
        raise
    except (ValueError, TypeError) as err:
        raise SerializationError(f"serialised {what} is inconsistent: {err}") from None


def public_key_from_dict(data: Any, *, allow_insecure: bool = False) -> PaillierPublicKey:
    allow_insecure = check_bool("allow_insecure", allow_insecure)
    d = _expect_dict(data, "paillier_public_key")
    n = _hex_field(d, "n")
    return _with_key(lambda: PaillierPublicKey(n, allow_insecure=allow_insecure), "public key")


def private_key_from_dict(data: Any, *, allow_insecure: bool = False) -> PaillierPrivateKey:
    allow_insecure = check_bool("allow_insecure", allow_insecure)
    d = _expect_dict(data, "paillier_private_key")
    n, p, q = _hex_field(d, "n"), _hex_field(d, "p"), _hex_field(d, "q")
    return _with_key(lambda: PaillierPrivateKey(PaillierPublicKey(n, allow_insecure=allow_insecure), p, q),
                     "private key")


def number_from_dict(data: Any, *, public_key: PaillierPublicKey, bound: Any = None) -> EncryptedNumber:
    d = _expect_dict(data, "paillier_ciphertext")
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    check_same_key(public_key, d.get("key") if isinstance(d.get("key"), str) else repr(d.get("key")),
                   what="serialised ciphertext")
    c = _ciphertext_value(_hex_field(d, "ciphertext"), public_key)
    f, be = _precision_bound_fields(d, public_key, bound)
    return EncryptedNumber(public_key, _bk.mpz(c), precision=f, bound=be, _fresh=True)


def vector_from_dict(data: Any, *, public_key: PaillierPublicKey, bound: Any = None) -> PaillierVector:
    d = _expect_dict(data, "paillier_vector")
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    check_same_key(public_key, d.get("key") if isinstance(d.get("key"), str) else repr(d.get("key")),
                   what="serialised ciphertext")
    raw = d.get("ciphertexts")
    if not isinstance(raw, list):
        raise SerializationError(f"field 'ciphertexts' must be a list of hex strings, got {type(raw).__name__}")
    cs = [_bk.mpz(_ciphertext_value(_parse_hex(v, "ciphertexts[]"), public_key)) for v in raw]
    f, be = _precision_bound_fields(d, public_key, bound)
    return PaillierVector(public_key, cs, precision=f, bound=be, _fresh=True)
