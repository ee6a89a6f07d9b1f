"""Paillier ciphertexts with a public bound: :class:`EncryptedNumber`, :class:`PaillierVector`, safe encryption
and decryption.

Every ciphertext carries its fixed-point ``precision`` and a PUBLIC bound B on |encoded plaintext|. Each
homomorphic operation computes the bound of its result (a + b: B_a + B_b; k * a: |k| B_a; a sum of L
elements: L * B) and raises :class:`~ppml_lab.exceptions.PrecisionError` before computing anything whose
bound could pass max_int = n//3 - 1, i.e. wrap around n (Paillier arithmetic is mod n).

A bound is *established* when this package encrypts (the value is checked against it) and *claimed* when a
ciphertext is imported (``from_phe``, ``from_json``, the constructor): nobody without the private key can
check a claim. So decryption checks it: a plaintext in the overflow band, or with |m| > B, raises
PrecisionError instead of returning a wrong number. An understated claim is therefore detected when the
result is decrypted, unless a sender who controls the plaintext crafts it so that the wrapped result lands
inside the bound — an integrity attack Paillier does not address (it is malleable by design; a
zero-knowledge range proof on the input is the fix).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike
from ppml_lab._validation import check_choice, check_int, check_real
from ppml_lab.exceptions import PrecisionError
from ppml_lab.he import _paillier_backend as _bk
from ppml_lab.he.paillier.encoding import (
    DEFAULT_BOUND_BITS,
    DEFAULT_PRECISION,
    MAX_PRECISION,
    _as_1d,
    _center,
    _check_precision,
    _decode_list,
    _default_precision,
    _encode_array,
    _scalar_encoding,
    decode,
    encode,
)
from ppml_lab.he.paillier.keys import (
    _RANDOMNESS,
    PaillierPrivateKey,
    PaillierPublicKey,
    Randomness,
    _source,
    check_same_key,
)

__all__ = ["EncryptedNumber", "PaillierVector", "encrypt_number", "encrypt_vector", "decrypt"]


# ---------------------------------------------------------------------------------------------------------
# bounds
# ---------------------------------------------------------------------------------------------------------
def _bound_enc(pk: PaillierPublicKey, bound: Any, f: int) -> int:
    """The encoded bound ceil(bound * 2^f) for a bound on |value| (default 2^64), at most max_int."""
    if bound is None:
        return min(1 << (DEFAULT_BOUND_BITS + f), pk.max_int)
    if isinstance(bound, (int, np.integer)) and not isinstance(bound, bool):
        b = int(bound)
        if b <= 0:
            raise ValueError(f"bound must be a number > 0, got {b}")
        be = b << f
    else:
        be = math.ceil(math.ldexp(check_real("bound", bound, low=0.0, low_inclusive=False), f))
    if be > pk.max_int:
        raise PrecisionError(
            f"bound * 2^precision must be <= max_int of the key (2^{pk.max_int.bit_length()} for a "
            f"{pk.key_bits}-bit n), got {be} (2^{be.bit_length()}); lower the bound or the precision, or use a "
            "larger key"
        )
    return be


def _check_in_bound(enc: int, bound_enc: int, value: Any) -> None:
    if abs(enc) > bound_enc:  # |value|: a large NEGATIVE value must not slip under the bound either
        raise PrecisionError(
            f"value {value!r} is outside the encodable range: |value| * 2^precision must be <= {bound_enc} "
            f"(the public bound); pass a larger bound= (at most max_int) or a lower precision"
        )


def _check_bound(bound: int, pk: PaillierPublicKey, what: str) -> int:
    if bound > pk.max_int:
        raise PrecisionError(
            f"{what} could exceed the plaintext space: its bound 2^{bound.bit_length()} > max_int "
            f"2^{pk.max_int.bit_length()} of a {pk.key_bits}-bit key, so the result could wrap around n. "
            "Use a larger key, a lower precision or a tighter bound= at encryption"
        )
    return bound


def _within_bound(m: int, bound: int) -> int:
    """The decryption-time check of a ciphertext's public bound (the only check an imported claim gets)."""
    if abs(m) > bound:
        raise PrecisionError(
            f"decrypted plaintext exceeds the ciphertext's public bound: |m| has {abs(m).bit_length()} bits, "
            f"bound is 2^{bound.bit_length()}; an imported bound was understated (the computation may have "
            "wrapped around n) or the ciphertext was tampered with. Import it with a correct bound="
        )
    return m


def _scalar_pow(c: Any, k: int, pk: PaillierPublicKey) -> Any:
    """c^k mod n^2 for a signed k: negative k via (c^-1)^|k| (Dec(c^k) = k*Dec(c) mod n)."""
    nsq = pk._consts()[1]
    if k < 0:
        return _bk.powmod(_bk.invert(c, nsq), -k, nsq)
    return _bk.powmod(c, k, nsq)


# ---------------------------------------------------------------------------------------------------------
# safe encryption and decryption
# ---------------------------------------------------------------------------------------------------------
def encrypt_number(
    pk: PaillierPublicKey, value: Any, *, precision: int | None, bound: Any, randomness: Randomness,
    obfuscator: Any, rng: RNGLike, insecure_seeded_keys: bool,
) -> EncryptedNumber:
    """Encode, check |value| against the public bound, encrypt (``obfuscator``: the key owner's CRT r^n)."""
    f = _default_precision(value, precision)
    check_choice("randomness", randomness, _RANDOMNESS)
    enc = encode(value, precision=f)
    be = _bound_enc(pk, bound, f)
    _check_in_bound(enc, be, value)
    src = _source(rng, insecure_seeded_keys)
    obf = obfuscator(src) if obfuscator is not None else pk._obfuscator(randomness, src)
    c = pk._nude(enc % pk.n) * obf % pk._consts()[1]
    return EncryptedNumber(pk, c, precision=f, bound=be, _fresh=True)


def encrypt_vector(
    pk: PaillierPublicKey, values: Any, *, precision: int | None, bound: Any, randomness: Randomness,
    rng: RNGLike, insecure_seeded_keys: bool,
) -> PaillierVector:
    """Element-wise safe encryption under one precision and one public per-element bound."""
    arr = _as_1d(values, "values")
    f = _check_precision(precision) if precision is not None else (0 if arr.dtype.kind in "iu" else DEFAULT_PRECISION)
    check_choice("randomness", randomness, _RANDOMNESS)
    encs = _encode_array(arr, f)
    be = _bound_enc(pk, bound, f)
    if encs:
        worst = max(encs, key=abs)  # the largest |value|, negative or positive
        _check_in_bound(worst, be, worst / (1 << f) if f else worst)
    src = _source(rng, insecure_seeded_keys)
    nsq = pk._consts()[1]
    cs = [pk._nude(e % pk.n) * pk._obfuscator(randomness, src) % nsq for e in encs]
    return PaillierVector(pk, cs, precision=f, bound=be, _fresh=True)


def decrypt(sk: PaillierPrivateKey, x: Any) -> Any:
    """Decrypt and decode, refusing (PrecisionError) a plaintext in the overflow band or beyond its bound."""
    from ppml_lab.he.paillier.packing import PackedPaillierVector, decrypt_packed

    if isinstance(x, PackedPaillierVector):
        return decrypt_packed(sk, x)
    if not isinstance(x, (EncryptedNumber, PaillierVector)):
        raise TypeError(
            f"decrypt expects an EncryptedNumber, PaillierVector or PackedPaillierVector, got "
            f"{type(x).__name__}; use raw_decrypt for integers"
        )
    pk = sk.public_key
    check_same_key(pk, x.public_key, what="decrypt")
    if isinstance(x, PaillierVector):
        signed = [_within_bound(_center(sk._raw_decrypt(c), pk.n, pk.max_int), x.bound) for c in x._cs]
        return _decode_list(signed, x.precision)
    m = _within_bound(_center(sk._raw_decrypt(x._c), pk.n, pk.max_int), x.bound)
    return decode(m, precision=x.precision)


# ---------------------------------------------------------------------------------------------------------
# ciphertexts
# ---------------------------------------------------------------------------------------------------------
class EncryptedNumber:
    """One Paillier ciphertext with its fixed-point precision and a public bound on |encoded plaintext|.

    Supports ``+`` (ciphertext or plaintext), ``-``, unary ``-``, ``*`` and ``/`` by plaintext scalars.
    Results of operations are not re-randomised until they leave (``ciphertext()``, serialisation).
    """

    __slots__ = ("public_key", "_c", "precision", "bound", "_fresh")

    def __init__(self, public_key: PaillierPublicKey, ciphertext: Any, *, precision: int, bound: int,
                 _fresh: bool = False) -> None:
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
        self.public_key = public_key
        self._c = ciphertext
        self.precision = _check_precision(precision)
        self.bound = _check_bound(check_int("bound", bound, low=0), public_key, "ciphertext")
        self._fresh = bool(_fresh)

    @classmethod
    def _make(cls, public_key: PaillierPublicKey, c: Any, f: int, bound: int, fresh: bool = False) -> EncryptedNumber:
        """Internal constructor for results whose fields were already checked (skips validation)."""
        obj = object.__new__(cls)
        obj.public_key, obj._c, obj.precision, obj.bound, obj._fresh = public_key, c, f, bound, fresh
        return obj

    def __repr__(self) -> str:
        return (f"EncryptedNumber(key_bits={self.public_key.key_bits}, fingerprint='{self.public_key.fingerprint}', "
                f"precision={self.precision})")

    # -- leaving the owner ---------------------------------------------------------------------------
    def rerandomize(self, *, randomness: Randomness = "short_exponent", rng: RNGLike = None,
                    insecure_seeded_keys: bool = False) -> EncryptedNumber:
        """c * (fresh n-th residue): same plaintext, unlinkable ciphertext (self-blinding, Paillier 1999)."""
        check_choice("randomness", randomness, _RANDOMNESS)
        pk = self.public_key
        c = self._c * pk._obfuscator(randomness, _source(rng, insecure_seeded_keys)) % pk._consts()[1]
        return EncryptedNumber(pk, c, precision=self.precision, bound=self.bound, _fresh=True)

    def ciphertext(self, be_secure: bool = True) -> int:
        """The ciphertext integer; re-randomised first (in place) unless it already is (as phe does)."""
        if be_secure and not self._fresh:
            fresh = self.rerandomize()
            self._c, self._fresh = fresh._c, True
        return int(self._c)

    @property
    def is_rerandomized(self) -> bool:
        return self._fresh

    # -- arithmetic ----------------------------------------------------------------------------------
    def _at_precision(self, f: int) -> EncryptedNumber:
        if f == self.precision:
            return self
        shift = f - self.precision  # Enc(m)^(2^s) = Enc(m * 2^s): same value, s more fractional bits
        bound = _check_bound(self.bound << shift, self.public_key, "raising precision")
        c = _bk.powmod(self._c, 1 << shift, self.public_key._consts()[1])
        return EncryptedNumber(self.public_key, c, precision=f, bound=bound, _fresh=self._fresh)

    def __add__(self, other: Any) -> EncryptedNumber:
        from ppml_lab.he.paillier.packing import PackedPaillierVector

        pk = self.public_key
        nsq = pk._consts()[1]
        if isinstance(other, EncryptedNumber):
            check_same_key(pk, other.public_key, what="adding ciphertexts")
            f = max(self.precision, other.precision)
            a, b = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(a.bound + b.bound, pk, "the sum")
            return EncryptedNumber._make(pk, a._c * b._c % nsq, f, bound)  # Enc(a)Enc(b) = Enc(a+b)
        if isinstance(other, (PaillierVector, PackedPaillierVector)):
            return NotImplemented
        f0 = _default_precision(other, None)
        f = max(self.precision, f0)
        k = encode(other, precision=f)
        a = self._at_precision(f)
        bound = _check_bound(a.bound + abs(k), pk, "the sum")
        return EncryptedNumber(pk, a._c * pk._nude(k % pk.n) % nsq, precision=f, bound=bound)  # Enc(a) g^k

    __radd__ = __add__

    def __neg__(self) -> EncryptedNumber:
        nsq = self.public_key._consts()[1]
        return EncryptedNumber(self.public_key, _bk.invert(self._c, nsq), precision=self.precision,
                               bound=self.bound)  # Enc(a)^-1 = Enc(-a)

    def __sub__(self, other: Any) -> EncryptedNumber:
        return self + (-other)

    def __rsub__(self, other: Any) -> EncryptedNumber:
        return (-self) + other

    def __mul__(self, other: Any) -> EncryptedNumber:
        from ppml_lab.he.paillier.packing import PackedPaillierVector

        if isinstance(other, (EncryptedNumber, PaillierVector, PackedPaillierVector)):
            if isinstance(other, EncryptedNumber):
                raise TypeError("Paillier cannot multiply two ciphertexts (only ciphertext * plaintext); "
                                "use CKKS or an MPC protocol for that")
            return NotImplemented
        k, fk = _scalar_encoding(other)
        if self.precision + fk > MAX_PRECISION:
            raise PrecisionError(
                f"the product would carry {self.precision + fk} fractional bits (> MAX_PRECISION={MAX_PRECISION}); "
                "decrypt and re-encrypt, or multiply by a coarser scalar"
            )
        bound = _check_bound(self.bound * abs(k), self.public_key, "the product")
        c = _scalar_pow(self._c, k, self.public_key)  # Enc(a)^k = Enc(k*a)
        return EncryptedNumber._make(self.public_key, c, _check_precision(self.precision + fk), bound)

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> EncryptedNumber:
        check_real("scalar", scalar)
        if scalar == 0:
            raise ZeroDivisionError("division of an EncryptedNumber by zero")
        return self * (1.0 / float(scalar))

    # -- serialisation and interop -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Re-randomises first: a serialised ciphertext has left its owner."""
        return {"type": "paillier_ciphertext", "version": 1, "key": self.public_key.fingerprint,
                "ciphertext": hex(self.ciphertext()), "precision": self.precision, "bound": hex(self.bound)}

    @classmethod
    def from_dict(cls, data: Any, *, public_key: PaillierPublicKey, bound: float | int | None = None
                  ) -> EncryptedNumber:
        """Load a serialised ciphertext. Its ``bound`` field is the sender's claim (checked against max_int now
        and against the plaintext at decryption); pass ``bound=`` (on |value|) to use your own instead."""
        from ppml_lab.he.paillier.serialization import number_from_dict

        return number_from_dict(data, public_key=public_key, bound=bound)

    def to_json(self) -> str:
        from ppml_lab.he.paillier.serialization import dumps

        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, public_key: PaillierPublicKey, bound: float | int | None = None
                  ) -> EncryptedNumber:
        from ppml_lab.he.paillier.serialization import loads, number_from_dict

        return number_from_dict(loads(text), public_key=public_key, bound=bound)

    def to_phe(self, public_key: Any = None) -> Any:
        """A ``phe.EncryptedNumber`` (base-16 exponent = -precision/4; precision must be a multiple of 4)."""
        from ppml_lab.he.paillier.interop import number_to_phe

        return number_to_phe(self, public_key)

    @classmethod
    def from_phe(cls, x: Any, *, public_key: PaillierPublicKey | None = None, bound: float | int | None = None
                 ) -> EncryptedNumber:
        """Wrap a ``phe.EncryptedNumber``. ``bound`` is a public bound on |value| (default: the whole signed
        plaintext space, max_int, so arithmetic that could wrap is refused until you state a tighter one)."""
        from ppml_lab.he.paillier.interop import number_from_phe

        return number_from_phe(x, public_key=public_key, bound=bound)


class PaillierVector:
    """A 1-D array of ciphertexts under one key, one precision and one public per-element bound.

    Element-wise ``+``/``-`` with another PaillierVector, a scalar or a numpy array; ``*`` by a plaintext
    scalar or array (float arrays are encoded with ``DEFAULT_PRECISION`` fractional bits, int arrays
    exactly); ``sum()``; ``dot(w)`` for encrypted linear scoring. Each element is a big integer, so
    the per-element work is a list comprehension over gmpy2 operations (numpy cannot hold them natively).
    """

    __slots__ = ("public_key", "_cs", "precision", "bound", "_fresh")

    def __init__(self, public_key: PaillierPublicKey, ciphertexts: Sequence[Any], *, precision: int, bound: int,
                 _fresh: bool = False) -> None:
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
        self.public_key = public_key
        self._cs = list(ciphertexts)
        self.precision = _check_precision(precision)
        self.bound = _check_bound(check_int("bound", bound, low=0), public_key, "ciphertext")
        self._fresh = bool(_fresh)

    def __repr__(self) -> str:
        return (f"PaillierVector(len={len(self._cs)}, key_bits={self.public_key.key_bits}, "
                f"fingerprint='{self.public_key.fingerprint}', precision={self.precision})")

    def __len__(self) -> int:
        return len(self._cs)

    @property
    def shape(self) -> tuple[int]:
        return (len(self._cs),)

    def __getitem__(self, i: int) -> EncryptedNumber:
        i = check_int("index", i, low=-len(self._cs), high=len(self._cs) - 1)
        return EncryptedNumber(self.public_key, self._cs[i], precision=self.precision, bound=self.bound,
                               _fresh=self._fresh)

    def __iter__(self) -> Iterable[EncryptedNumber]:
        return (self[i] for i in range(len(self._cs)))

    def _new(self, cs: list[Any], f: int, bound: int, fresh: bool = False) -> PaillierVector:
        return PaillierVector(self.public_key, cs, precision=f, bound=bound, _fresh=fresh)

    def _at_precision(self, f: int) -> PaillierVector:
        if f == self.precision:
            return self
        shift = f - self.precision
        bound = _check_bound(self.bound << shift, self.public_key, "raising precision")
        nsq = self.public_key._consts()[1]
        e = 1 << shift
        return self._new([_bk.powmod(c, e, nsq) for c in self._cs], f, bound, self._fresh)

    def _plain(self, other: Any, name: str) -> tuple[list[int], int]:
        arr = np.asarray(other)
        if arr.dtype == object or arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be numeric (int or float), got {type(other).__name__} dtype {arr.dtype}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != len(self)):
            raise ValueError(f"{name} must be a scalar or have shape ({len(self)},), got shape {arr.shape}")
        f = 0 if arr.dtype.kind in "iu" else DEFAULT_PRECISION
        vals = _encode_array(np.broadcast_to(arr, (len(self),)), f)
        return vals, f

    def __add__(self, other: Any) -> PaillierVector:
        pk = self.public_key
        nsq = pk._consts()[1]
        if isinstance(other, PaillierVector):
            check_same_key(pk, other.public_key, what="adding encrypted vectors")
            if len(other) != len(self):
                raise ValueError(f"PaillierVectors must have the same length, got {len(self)} and {len(other)}")
            f = max(self.precision, other.precision)
            a, b = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(a.bound + b.bound, pk, "the sum")
            return self._new([x * y % nsq for x, y in zip(a._cs, b._cs)], f, bound)
        if isinstance(other, EncryptedNumber):
            check_same_key(pk, other.public_key, what="adding a ciphertext to an encrypted vector")
            f = max(self.precision, other.precision)
            av, bn = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(av.bound + bn.bound, pk, "the sum")
            return self._new([x * bn._c % nsq for x in av._cs], f, bound)
        vals, f0 = self._plain(other, "other")
        f = max(self.precision, f0)
        if f > f0:
            vals = [v << (f - f0) for v in vals]
        a = self._at_precision(f)
        bound = _check_bound(a.bound + max(map(abs, vals), default=0), pk, "the sum")
        return self._new([x * pk._nude(v % pk.n) % nsq for x, v in zip(a._cs, vals)], f, bound)

    __radd__ = __add__

    def __neg__(self) -> PaillierVector:
        nsq = self.public_key._consts()[1]
        return self._new([_bk.invert(c, nsq) for c in self._cs], self.precision, self.bound)

    def __sub__(self, other: Any) -> PaillierVector:
        return self + (-other if isinstance(other, (PaillierVector, EncryptedNumber)) else -np.asarray(other))

    def __rsub__(self, other: Any) -> PaillierVector:
        return (-self) + other

    def __mul__(self, other: Any) -> PaillierVector:
        if isinstance(other, (PaillierVector, EncryptedNumber)):
            raise TypeError("Paillier cannot multiply two ciphertexts (only ciphertext * plaintext)")
        ks, fk = self._plain(other, "other")
        pk = self.public_key
        bound = _check_bound(self.bound * max(map(abs, ks), default=0), pk, "the product")
        return self._new([_scalar_pow(c, k, pk) for c, k in zip(self._cs, ks)], self.precision + fk, bound)

    __rmul__ = __mul__

    def sum(self) -> EncryptedNumber:
        """Enc(sum_i x_i) = prod_i Enc(x_i) mod n^2; its bound is len * (per-element bound)."""
        pk = self.public_key
        nsq = pk._consts()[1]
        bound = _check_bound(self.bound * len(self._cs), pk, "the sum")  # |sum of L values| <= L * B
        acc = _bk.mpz(1)
        for c in self._cs:
            acc = acc * c % nsq
        return EncryptedNumber(pk, acc, precision=self.precision, bound=bound)

    def dot(self, weights: Any) -> EncryptedNumber:
        """Enc(w . x) = prod_i Enc(x_i)^(w_i) mod n^2: the server never sees x (additive homomorphism)."""
        ws, fw = self._plain(weights, "weights")
        if np.asarray(weights).ndim != 1:
            raise ValueError(f"weights must be 1-D of length {len(self)}, got shape {np.shape(weights)}")
        pk = self.public_key
        nsq = pk._consts()[1]
        bound = _check_bound(self.bound * sum(map(abs, ws)), pk, "the dot product")  # |w.x| <= B sum|w_i|
        acc = _bk.mpz(1)
        for c, w in zip(self._cs, ws):
            if w:
                acc = acc * _scalar_pow(c, w, pk) % nsq
        return EncryptedNumber(pk, acc, precision=self.precision + fw, bound=bound)

    def rerandomize(self, *, randomness: Randomness = "short_exponent", rng: RNGLike = None,
                    insecure_seeded_keys: bool = False) -> PaillierVector:
        check_choice("randomness", randomness, _RANDOMNESS)
        pk = self.public_key
        src = _source(rng, insecure_seeded_keys)
        nsq = pk._consts()[1]
        return self._new([c * pk._obfuscator(randomness, src) % nsq for c in self._cs], self.precision,
                         self.bound, True)

    def ciphertexts(self, be_secure: bool = True) -> list[int]:
        if be_secure and not self._fresh:
            fresh = self.rerandomize()
            self._cs, self._fresh = fresh._cs, True
        return [int(c) for c in self._cs]

    def to_dict(self) -> dict:
        return {"type": "paillier_vector", "version": 1, "key": self.public_key.fingerprint,
                "ciphertexts": [hex(c) for c in self.ciphertexts()], "precision": self.precision,
                "bound": hex(self.bound)}

    @classmethod
    def from_dict(cls, data: Any, *, public_key: PaillierPublicKey, bound: float | int | None = None
                  ) -> PaillierVector:
        """Load a serialised vector; ``bound`` as in :meth:`EncryptedNumber.from_dict`."""
        from ppml_lab.he.paillier.serialization import vector_from_dict

        return vector_from_dict(data, public_key=public_key, bound=bound)

    def to_json(self) -> str:
        from ppml_lab.he.paillier.serialization import dumps

        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, public_key: PaillierPublicKey, bound: float | int | None = None
                  ) -> PaillierVector:
        from ppml_lab.he.paillier.serialization import loads, vector_from_dict

        return vector_from_dict(loads(text), public_key=public_key, bound=bound)
