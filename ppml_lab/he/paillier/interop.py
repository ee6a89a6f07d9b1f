"""Interoperability with python-paillier (``phe``): keys and ciphertexts both ways, same p, q, same encoding.

Our fixed point with f fractional bits is phe's base-16 exponent -f/4. Everything imported is checked as if
built here: keys pass the size and structure checks (toy keys need ``allow_insecure=True``), a ciphertext
must be a unit mod n^2 under the expected key, and its bound — phe tracks none — defaults to the whole signed
plaintext space (max_int) unless the caller states a tighter public bound on |value|.
"""

from __future__ import annotations

from typing import Any

from ppml_lab._validation import check_bool
from ppml_lab.exceptions import PrecisionError
from ppml_lab.he import _paillier_backend as _bk
from ppml_lab.he.paillier.ciphertext import EncryptedNumber, _bound_enc
from ppml_lab.he.paillier.keys import PaillierPrivateKey, PaillierPublicKey, check_same_key
from ppml_lab.he.paillier.serialization import _ciphertext_value

__all__ = [
    "public_key_to_phe",
    "public_key_from_phe",
    "private_key_to_phe",
    "private_key_from_phe",
    "number_to_phe",
    "number_from_phe",
]


def public_key_to_phe(pk: PaillierPublicKey) -> Any:
    import phe

    return phe.PaillierPublicKey(pk.n)


def public_key_from_phe(key: Any, *, allow_insecure: bool = False) -> PaillierPublicKey:
    return PaillierPublicKey(int(key.n), allow_insecure=check_bool("allow_insecure", allow_insecure))


def private_key_to_phe(sk: PaillierPrivateKey) -> Any:
    import phe

    return phe.PaillierPrivateKey(public_key_to_phe(sk.public_key), sk.p, sk.q)


def private_key_from_phe(key: Any, *, allow_insecure: bool = False) -> PaillierPrivateKey:
    pub = public_key_from_phe(key.public_key, allow_insecure=allow_insecure)
    return PaillierPrivateKey(pub, int(key.p), int(key.q))


def number_to_phe(x: EncryptedNumber, public_key: Any = None) -> Any:
    """A ``phe.EncryptedNumber`` (base-16 exponent = -precision/4; precision must be a multiple of 4)."""
    import phe

    if x.precision % 4:
        raise PrecisionError(f"phe uses base-16 exponents: precision must be a multiple of 4, got {x.precision}")
    pub = public_key if public_key is not None else public_key_to_phe(x.public_key)
    check_same_key(x.public_key, int(pub.n), what="exporting to phe")
    return phe.EncryptedNumber(pub, x.ciphertext(), -(x.precision // 4))


def number_from_phe(x: Any, *, public_key: PaillierPublicKey | None = None, bound: Any = None) -> EncryptedNumber:
    """Wrap a ``phe.EncryptedNumber`` under ``public_key`` (default: its own key, checked like any key).

    ``bound`` is a public bound on |value| (as in ``encrypt``). Without one the bound is max_int: all we know
    about a ciphertext we did not make is that a valid plaintext is a signed value in the key's range, so
    any product or sum that could wrap is refused until a tighter bound is stated. A stated bound is a claim
    that decryption checks (PrecisionError if |m| exceeds the bound that the computation derived from it).
    """
    pk = public_key if public_key is not None else public_key_from_phe(x.public_key)
    if not isinstance(pk, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(pk).__name__}")
    check_same_key(pk, int(x.public_key.n), what="importing a phe ciphertext")
    c = _bk.mpz(_ciphertext_value(int(x.ciphertext(be_secure=False)), pk))
    e = int(x.exponent)
    if e > 0:  # value = m * 16^e: fold 16^e into the plaintext
        c = _bk.powmod(c, 16**e, pk._consts()[1])
        e = 0
    f = -4 * e
    be = pk.max_int if bound is None else _bound_enc(pk, bound, f)
    return EncryptedNumber(pk, c, precision=f, bound=be)
