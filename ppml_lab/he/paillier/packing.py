"""Packing many bounded values into one Paillier plaintext, so an aggregation of vectors costs one encryption
per slot-full rather than one per value.

Slot i of the plaintext holds v_i + B (B = bound * 2^precision, so v_i + B is in [0, 2B]); a slot sized for
``max_additions`` summands, 2*B*max_additions < 2^slot_bits, never carries into its neighbour, and the
packed plaintext stays below 2^(key_bits - 1) < n. Decryption checks every slot lies in [0, 2*count*B] and
that no bit lies above the last slot, so a wrong key, tampering or an over-full slot raises PrecisionError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike
from ppml_lab._validation import check_choice, check_int, check_real
from ppml_lab.exceptions import PrecisionError
from ppml_lab.he.paillier.encoding import _as_1d, _check_precision, _decode_list, _encode_array
from ppml_lab.he.paillier.keys import (
    _RANDOMNESS,
    PaillierPrivateKey,
    PaillierPublicKey,
    Randomness,
    _source,
    check_same_key,
)

__all__ = ["PackingScheme", "PackedPaillierVector", "packing_scheme", "encrypt_packed", "decrypt_packed"]


@dataclass(frozen=True)
class PackingScheme:
    """Slots of ``slot_bits`` bits; each holds v + B (B = bound * 2^precision) summed over <= max_additions
    vectors, so a slot never exceeds 2*B*max_additions < 2^slot_bits and never carries into its neighbour."""

    key_fingerprint: str
    bound_enc: int
    precision: int
    max_additions: int
    slot_bits: int
    n_slots: int


def packing_scheme(public_key: PaillierPublicKey, *, bound: float | int, max_additions: int,
                   precision: int = 0) -> PackingScheme:
    """Plan slots for values with |v| <= bound that will be summed over at most ``max_additions`` vectors."""
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    f = _check_precision(precision)
    check_real("bound", bound, low=0.0, low_inclusive=False)
    k = check_int("max_additions", max_additions, low=1)
    be = bound << f if isinstance(bound, int) else math.ceil(math.ldexp(float(bound), f))
    slot_bits = (2 * be * k).bit_length()  # holds sum of k values in [0, 2B]
    n_slots = (public_key.key_bits - 1) // slot_bits  # packed plaintext < 2^(key_bits-1) <= n
    if n_slots < 1:
        raise PrecisionError(
            f"one slot needs {slot_bits} bits but the {public_key.key_bits}-bit key has room for none; "
            "lower bound, precision or max_additions"
        )
    return PackingScheme(public_key.fingerprint, be, f, k, slot_bits, n_slots)


class PackedPaillierVector:
    """A vector packed ``scheme.n_slots`` values per ciphertext; supports ``+`` (aggregation) only."""

    __slots__ = ("public_key", "scheme", "_cs", "length", "count")

    def __init__(self, public_key: PaillierPublicKey, scheme: PackingScheme, ciphertexts: list[Any], *,
                 length: int, count: int) -> None:
        check_same_key(public_key, scheme.key_fingerprint, what="the packing scheme")
        if count > scheme.max_additions:
            raise PrecisionError(
                f"{count} packed vectors summed but the scheme has headroom for max_additions="
                f"{scheme.max_additions}; slots would carry into each other. Plan a scheme with more headroom"
            )
        self.public_key, self.scheme, self._cs, self.length, self.count = public_key, scheme, ciphertexts, length, count

    def __repr__(self) -> str:
        return (f"PackedPaillierVector(len={self.length}, ciphertexts={len(self._cs)}, "
                f"slots={self.scheme.n_slots}x{self.scheme.slot_bits} bits, summands={self.count})")

    def __len__(self) -> int:
        return self.length

    @property
    def n_ciphertexts(self) -> int:
        return len(self._cs)

    def __add__(self, other: Any) -> PackedPaillierVector:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:  # lets sum() start from 0
            return self
        if not isinstance(other, PackedPaillierVector):
            return NotImplemented
        check_same_key(self.public_key, other.public_key, what="adding packed vectors")
        if other.scheme != self.scheme or other.length != self.length:
            raise ValueError("packed vectors must share one packing scheme and length")
        nsq = self.public_key._consts()[1]
        cs = [a * b % nsq for a, b in zip(self._cs, other._cs)]  # slot-wise sums: Enc(A)Enc(B) = Enc(A+B)
        return PackedPaillierVector(self.public_key, self.scheme, cs, length=self.length,
                                     count=self.count + other.count)

    __radd__ = __add__

    def rerandomize(self, *, rng: RNGLike = None, insecure_seeded_keys: bool = False) -> PackedPaillierVector:
        pk = self.public_key
        src = _source(rng, insecure_seeded_keys)
        nsq = pk._consts()[1]
        cs = [c * pk._obfuscator("short_exponent", src) % nsq for c in self._cs]
        return PackedPaillierVector(pk, self.scheme, cs, length=self.length, count=self.count)


def encrypt_packed(public_key: PaillierPublicKey, values: Any, scheme: PackingScheme, *,
                   randomness: Randomness = "short_exponent", rng: RNGLike = None,
                   insecure_seeded_keys: bool = False) -> PackedPaillierVector:
    """Encrypt a 1-D array as ceil(len / n_slots) ciphertexts: m = sum_i (v_i + B) * 2^(slot_bits * i).

    Randomness from the OS CSPRNG; ``rng`` is used only with ``insecure_seeded_keys=True``.
    """
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    if not isinstance(scheme, PackingScheme):
        raise TypeError(f"scheme must be a PackingScheme, got {type(scheme).__name__}")
    check_same_key(public_key, scheme.key_fingerprint, what="the packing scheme")
    check_choice("randomness", randomness, _RANDOMNESS)
    arr = _as_1d(values, "values")
    encs = _encode_array(arr, scheme.precision)
    if encs and max(map(abs, encs)) > scheme.bound_enc:
        raise PrecisionError(f"values must satisfy |v| * 2^precision <= {scheme.bound_enc}, got a larger value")
    src = _source(rng, insecure_seeded_keys)
    nsq = public_key._consts()[1]
    w, B = scheme.slot_bits, scheme.bound_enc
    cs = []
    for start in range(0, len(encs), scheme.n_slots):
        m = 0
        for v in reversed(encs[start : start + scheme.n_slots]):
            m = (m << w) | (v + B)  # slot i holds v_i + B in [0, 2B]
        cs.append(public_key._nude(m) * public_key._obfuscator(randomness, src) % nsq)
    return PackedPaillierVector(public_key, scheme, cs, length=len(encs), count=1)


def decrypt_packed(sk: PaillierPrivateKey, x: PackedPaillierVector) -> np.ndarray:
    """Unpack the slot sums of a packed aggregate: slot_i - count*B, over 2^precision."""
    if not isinstance(x, PackedPaillierVector):
        raise TypeError(f"decrypt_packed expects a PackedPaillierVector, got {type(x).__name__}")
    check_same_key(sk.public_key, x.public_key, what="decrypt")
    s = x.scheme
    mask = (1 << s.slot_bits) - 1
    top = 2 * x.count * s.bound_enc  # a slot holds a sum of count values in [0, 2B]
    out: list[int] = []
    for c in x._cs:
        m = sk._raw_decrypt(c)
        if m >> (s.slot_bits * s.n_slots):
            raise PrecisionError("packed plaintext has bits above the last slot: wrong key or tampering")
        slots = [(m >> (s.slot_bits * i)) & mask for i in range(s.n_slots)]
        if max(slots) > top:
            raise PrecisionError(
                f"a packed slot holds more than 2 * count * bound = {top}: a summand was outside the scheme's "
                "bound (a forged or tampered ciphertext); its neighbours cannot be trusted either"
            )
        out.extend(v - x.count * s.bound_enc for v in slots)
    return _decode_list(out[: x.length], s.precision)
