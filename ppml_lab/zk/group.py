"""Prime-order groups for zero-knowledge proofs: a Schnorr group you can compute by hand, and edwards25519.

Every proof in :mod:`ppml_lab.zk` works in a cyclic group of prime order q, written multiplicatively as in
the papers (``op(a, b)`` is a*b, ``exp(a, k)`` is a^k), because soundness and zero knowledge both rest on
the discrete-logarithm problem in such a group (Schnorr, J. Cryptology 1991; Boneh and Shoup, "A Graduate
Course in Applied Cryptography", v0.6, Sec. 10.1 and Ch. 19).

- :class:`SchnorrGroup` (raw, teaching): the subgroup of quadratic residues of Z_p^* for a safe prime
  p = 2q + 1. Elements are Python ints. Sizes below 2048-bit p are toy sizes and need
  ``insecure_toy_group=True``: the notebook uses p = 23 to compute a proof by hand.
- :class:`Ed25519Group` (safe, default): the prime-order subgroup of edwards25519 (order
  l = 2^252 + 27742317777372353535851937790883648493, RFC 8032 Sec. 5.1) through libsodium
  (PyNaCl ``crypto_core_ed25519_*``). Elements are their canonical 32-byte encodings; the curve has
  cofactor 8, so every received point is checked to lie in the prime-order subgroup
  (``crypto_core_ed25519_is_valid_point``) before it is used: a point with a small-order component would
  leak the prover's secret modulo 8 or break soundness.

Threat model: the discrete-logarithm problem is hard in the group; hash-to-group (Elligator 2 through
``crypto_core_ed25519_from_uniform``, or squaring a hash for the Schnorr group) yields generators whose
logarithms to each other nobody knows.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ppml_lab._primes import is_probable_prime
from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.exceptions import InsecureParameterError, InvalidGroupElementError

__all__ = [
    "Group",
    "SchnorrGroup",
    "Ed25519Group",
    "ED25519_ORDER",
    "MIN_SCHNORR_P_BITS",
    "toy_group",
    "default_group",
    "random_scalar",
    "check_scalar",
]

#: Order l of edwards25519's prime-order subgroup (RFC 8032, Sec. 5.1).
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
#: Smallest modulus accepted for a Schnorr group without ``insecure_toy_group`` (NIST SP 800-57 Pt. 1
#: Rev. 5, Table 2: 2048-bit finite-field groups for 112-bit security).
MIN_SCHNORR_P_BITS = 2048


def _hash_int(data: bytes, nbytes: int) -> int:
    """An integer of 8*nbytes bits from SHA-512 in counter mode (for hash-to-group and challenges)."""
    out = b""
    counter = 0
    while len(out) < nbytes:
        out += hashlib.sha512(counter.to_bytes(4, "big") + data).digest()
        counter += 1
    return int.from_bytes(out[:nbytes], "big")




class Group(ABC):
    """A cyclic group of prime order ``order``, written multiplicatively.

    Subclasses define the element type; every public function of :mod:`ppml_lab.zk` accepts only
    elements that passed :meth:`check_element` (or came out of the group's own operations).
    """

    name: str
    order: int
    identity: Any
    generator: Any

    @property
    def scalar_bytes(self) -> int:
        """Bytes of an encoded scalar (an exponent in [0, order))."""
        return (self.order.bit_length() + 7) // 8

    @property
    @abstractmethod
    def element_bytes(self) -> int:
        """Bytes of an encoded element."""

    @abstractmethod
    def op(self, a: Any, b: Any) -> Any:
        """The group operation a * b."""

    @abstractmethod
    def exp(self, a: Any, k: int) -> Any:
        """a^k for an integer k (reduced mod the order)."""

    @abstractmethod
    def inv(self, a: Any) -> Any:
        """a^-1."""

    @abstractmethod
    def encode(self, a: Any) -> bytes:
        """The canonical encoding of an element (what a proof carries and a transcript hashes)."""

    @abstractmethod
    def decode(self, data: Any, *, name: str = "element") -> Any:
        """Parse and validate an encoding; raises InvalidGroupElementError for anything not in the group."""

    @abstractmethod
    def check_element(self, a: Any, *, name: str = "element") -> Any:
        """Return ``a`` if it is an element of this group, else raise InvalidGroupElementError/TypeError."""

    @abstractmethod
    def hash_to_group(self, label: bytes) -> Any:
        """An element whose discrete logarithm to any other generator is unknown (nothing-up-my-sleeve)."""

    def div(self, a: Any, b: Any) -> Any:
        """a / b = a * b^-1."""
        return self.op(a, self.inv(b))

    def multi_exp(self, bases: Sequence[Any], scalars: Sequence[int]) -> Any:
        """prod_i bases[i]^scalars[i]."""
        acc = self.identity
        for b, k in zip(bases, scalars, strict=True):
            acc = self.op(acc, self.exp(b, k))
        return acc

    def encode_scalar(self, k: int) -> bytes:
        return (int(k) % self.order).to_bytes(self.scalar_bytes, "big")

    def params_bytes(self) -> bytes:
        """Everything that defines the group, for a Fiat-Shamir transcript."""
        return self.name.encode() + b"|" + self.encode(self.generator) + self.order.to_bytes(self.scalar_bytes, "big")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order_bits={self.order.bit_length()})"


class SchnorrGroup(Group):
    """Quadratic residues modulo a safe prime p = 2q + 1: a subgroup of prime order q (raw, teaching level).

    ``p``: the safe prime; ``generator``: a quadratic residue other than 1 (default 4 = 2^2, always one).
    Below ``MIN_SCHNORR_P_BITS`` bits the group is a toy and requires ``insecure_toy_group=True``.
    """

    def __init__(self, p: int, *, generator: int = 4, insecure_toy_group: bool = False) -> None:
        if isinstance(p, bool) or not isinstance(p, int):
            raise TypeError(f"p must be an int, got {type(p).__name__}")
        if not isinstance(insecure_toy_group, bool):
            raise TypeError(f"insecure_toy_group must be a bool, got {type(insecure_toy_group).__name__}")
        q = (p - 1) // 2
        if p < 7 or not is_probable_prime(p) or not is_probable_prime(q):
            raise ValueError(f"p must be a safe prime p = 2q + 1 with q prime and p >= 7, got {p}")
        if p.bit_length() < MIN_SCHNORR_P_BITS and not insecure_toy_group:
            raise InsecureParameterError(
                f"p must have >= {MIN_SCHNORR_P_BITS} bits for the discrete logarithm to be hard, got "
                f"{p.bit_length()} bits; pass insecure_toy_group=True for a teaching example"
            )
        self.p = p
        self.order = q
        self.name = f"schnorr-p{p.bit_length()}"
        self.identity = 1
        g = self.check_element(generator, name="generator")
        if g == 1:
            raise ValueError("generator must not be the identity 1, got 1")
        self.generator = g

    @property
    def element_bytes(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def op(self, a: int, b: int) -> int:
        return a * b % self.p

    def exp(self, a: int, k: int) -> int:
        return pow(a, int(k) % self.order, self.p)

    def inv(self, a: int) -> int:
        return pow(a, -1, self.p)

    def encode(self, a: int) -> bytes:
        return int(a).to_bytes(self.element_bytes, "big")

    def decode(self, data: Any, *, name: str = "element") -> int:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"{name} must be bytes, got {type(data).__name__}")
        if len(data) != self.element_bytes:
            raise InvalidGroupElementError(f"{name} must be {self.element_bytes} bytes long, got {len(data)}")
        return self.check_element(int.from_bytes(data, "big"), name=name)

    def check_element(self, a: Any, *, name: str = "element") -> int:
        if isinstance(a, bool) or not isinstance(a, int):
            raise TypeError(f"{name} must be an int (an element of Z_p^*), got {type(a).__name__}")
        # membership in the order-q subgroup: 1 <= a < p and a^q = 1 (mod p)
        if not 1 <= a < self.p or pow(a, self.order, self.p) != 1:
            raise InvalidGroupElementError(
                f"{name} must be a quadratic residue modulo p = {self.p} (a^q = 1 mod p), got {a}"
            )
        return a

    def hash_to_group(self, label: bytes) -> int:
        # square a hash: a uniform quadratic residue whose logarithm base g nobody knows
        x = _hash_int(b"ppml_lab/zk/schnorr/h2g|" + bytes(label), self.element_bytes + 16) % self.p
        y = pow(x, 2, self.p)
        return y if y not in (0, 1) else self.hash_to_group(bytes(label) + b"'")

    def __repr__(self) -> str:
        return f"SchnorrGroup(p={self.p}, q={self.order}, g={self.generator})" if self.p.bit_length() < 64 \
            else f"SchnorrGroup(p_bits={self.p.bit_length()})"


class Ed25519Group(Group):
    """The prime-order subgroup of edwards25519 through libsodium (safe level, the default)."""

    _IDENTITY = b"\x01" + b"\x00" * 31

    def __init__(self) -> None:
        from nacl import bindings

        self._b = bindings
        self.order = ED25519_ORDER
        self.name = "edwards25519"
        self.identity = self._IDENTITY
        self.generator = bindings.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))

    @property
    def element_bytes(self) -> int:
        return 32

    @property
    def scalar_bytes(self) -> int:
        return 32

    def op(self, a: bytes, b: bytes) -> bytes:
        if a == self._IDENTITY:
            return b
        if b == self._IDENTITY:
            return a
        return self._b.crypto_core_ed25519_add(a, b)

    def exp(self, a: bytes, k: int) -> bytes:
        k = int(k) % self.order
        if k == 0 or a == self._IDENTITY:  # libsodium refuses to output the identity
            return self._IDENTITY
        kb = k.to_bytes(32, "little")
        if a == self.generator:  # fixed-base table: ~5x faster
            return self._b.crypto_scalarmult_ed25519_base_noclamp(kb)
        return self._b.crypto_scalarmult_ed25519_noclamp(kb, a)

    def inv(self, a: bytes) -> bytes:
        if a == self._IDENTITY:
            return a
        return self._b.crypto_core_ed25519_sub(self._IDENTITY, a)

    def encode(self, a: bytes) -> bytes:
        return bytes(a)

    def decode(self, data: Any, *, name: str = "element") -> bytes:
        return self.check_element(data, name=name)

    def check_element(self, a: Any, *, name: str = "element") -> bytes:
        if not isinstance(a, (bytes, bytearray)):
            raise TypeError(f"{name} must be a 32-byte point encoding (bytes), got {type(a).__name__}")
        a = bytes(a)
        if len(a) != 32:
            raise InvalidGroupElementError(f"{name} must be 32 bytes long (an edwards25519 point), got {len(a)}")
        if a == self._IDENTITY:
            return a
        # on the curve, canonical, in the prime-order subgroup, not of small order (libsodium)
        if not self._b.crypto_core_ed25519_is_valid_point(a):
            raise InvalidGroupElementError(
                f"{name} must be a canonical edwards25519 point of order l (prime-order subgroup), got {a.hex()}"
            )
        return a

    def hash_to_group(self, label: bytes) -> bytes:
        # Elligator 2 of a hash, then cofactor clearing (libsodium crypto_core_ed25519_from_uniform)
        digest = hashlib.sha512(b"ppml_lab/zk/ed25519/h2g|" + bytes(label)).digest()[:32]
        return self._b.crypto_core_ed25519_from_uniform(digest)

    def encode_scalar(self, k: int) -> bytes:
        return (int(k) % self.order).to_bytes(32, "little")


def toy_group() -> SchnorrGroup:
    """p = 23, q = 11, g = 4: small enough to compute every step by hand (insecure on purpose)."""
    return SchnorrGroup(23, generator=4, insecure_toy_group=True)


_DEFAULT: Ed25519Group | None = None


def default_group() -> Ed25519Group:
    """The safe-level group (edwards25519), created once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Ed25519Group()
    return _DEFAULT


def check_scalar(name: str, k: Any, group: Group) -> int:
    """An integer exponent in [0, order); TypeError for a non-int, ValueError outside the range."""
    if isinstance(k, bool) or not isinstance(k, int):
        try:
            import numpy as np

            if isinstance(k, np.integer):
                k = int(k)
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"{name} must be an int (a scalar mod q), got {type(k).__name__}") from None
    if not 0 <= k < group.order:
        raise ValueError(f"{name} must be a scalar in [0, q) with q = {group.order}, got {k}")
    return k


def random_scalar(group: Group, rng: RNGLike = None, *, insecure_seeded_keys: bool = False) -> int:
    """A uniform scalar in [0, q) from the key generator (OS CSPRNG unless ``insecure_seeded_keys``).

    Draws 16 bytes more than q needs, so the bias of the reduction mod q is below 2^-128.
    """
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    return int.from_bytes(g.bytes(group.scalar_bytes + 16), "big") % group.order


def random_scalars(group: Group, count: int, rng: Any) -> list[int]:
    """``count`` uniform scalars from an already-resolved generator (one call, for the hot paths)."""
    n = group.scalar_bytes + 16
    raw = rng.bytes(n * count)
    q = group.order
    return [int.from_bytes(raw[i * n : (i + 1) * n], "big") % q for i in range(count)]
