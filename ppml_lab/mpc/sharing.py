"""Secret sharing: additive over the ring Z_2^64 or a prime field, and Shamir t-of-n over a prime field.

Additive sharing splits a secret x into n shares that sum to x modulo the modulus; any n-1 shares are
uniformly random, so they say nothing about x (perfect secrecy; see Cramer, Damgård & Nielsen, *Secure
Multiparty Computation and Secret Sharing*, 2015, Sec. 3.3). Shamir sharing (Shamir, "How to share a
secret", CACM 22(11), 1979, DOI 10.1145/359168.359176) hides x as f(0) of a random polynomial f of degree
t-1 over GF(p) and hands party i the point f(i); any t points determine f by Lagrange interpolation and
any t-1 points are uniformly distributed whatever x is.

Threat model: information-theoretic secrecy against a coalition of fewer than t holders (n-1 for additive)
that follows or deviates from the protocol; no integrity (a holder can change its share undetected).

Two arithmetic back ends, chosen by the modulus:

* ``RING_MODULUS = 2**64``: numpy ``uint64`` whose wrap-around *is* reduction mod 2^64 (fast; used by the
  Beaver protocols in :mod:`ppml_lab.mpc.protocols`).
* a prime ``p``: for ``p < 2**32`` (default ``DEFAULT_PRIME = 2**31 - 1``) values are ``uint64`` and every
  product of two residues fits without overflow; for larger primes (``MERSENNE_61``, ``MERSENNE_127``, for
  sharing keys or PRG seeds) values are numpy ``object`` arrays of Python ints -- exact, vectorised, slower.

Shamir sharing itself lives in :mod:`ppml_lab.mpc.shamir`; ``shamir_share``, ``shamir_reconstruct`` and
``lagrange_coefficients`` stay importable from this module.

Public API (other modules, e.g. secure aggregation, build on it)::

    shares = share(x, n_shares=3)                      # additive, Z_2^64
    x == reconstruct(shares)
    shares = shamir_share(x, threshold=3, n_shares=5)  # Shamir over GF(2^31 - 1)
    x == shamir_reconstruct(shares[1:4])               # any 3 of the 5

Shares carry their scheme, modulus, index, threshold and a random ``sharing_id``; reconstructing a mix of
sharings, moduli, shapes or schemes raises :class:`~ppml_lab.exceptions.ShareMismatchError`, and too few
shares raise :class:`~ppml_lab.exceptions.InsufficientSharesError`. ``repr`` never shows share values.

Secrets must be representable: over a prime p, integers in [-(p // 2), p - 1] (so that the unsigned or the
``signed=True`` reading gives them back); over Z_2^64, [-2^63, 2^64). Anything else would be silently
reduced mod the modulus and reconstruct to a different number, so it raises
:class:`~ppml_lab.exceptions.PrecisionError` naming the bound and the value. Shamir with ``threshold=1`` is
refused (:class:`~ppml_lab.exceptions.InsecureParameterError`): a degree-0 polynomial makes every share equal
to the secret.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._primes import is_probable_prime  # one primality test, CSPRNG witnesses
from ppml_lab._rng import RNGLike, key_rng, resolve_rng
from ppml_lab._validation import check_int, check_type
from ppml_lab.exceptions import InsufficientSharesError, PrecisionError, ShareMismatchError

__all__ = [
    "RING_BITS",
    "RING_MODULUS",
    "DEFAULT_PRIME",
    "MERSENNE_61",
    "MERSENNE_127",
    "Share",
    "share",
    "reconstruct",
    "shamir_share",  # noqa: F822 - re-exported lazily from ppml_lab.mpc.shamir
    "shamir_reconstruct",  # noqa: F822 - re-exported lazily from ppml_lab.mpc.shamir
    "lagrange_coefficients",  # noqa: F822 - re-exported lazily from ppml_lab.mpc.shamir
    "random_elements",
    "is_probable_prime",
    "to_signed",
]

RING_BITS = 64
#: Z_2^64: numpy uint64 arithmetic wraps modulo this for free.
RING_MODULUS = 2**RING_BITS
#: Mersenne prime 2^31 - 1: the largest residue product (< 2^62) fits in uint64, so arithmetic stays numpy.
DEFAULT_PRIME = 2**31 - 1
#: Mersenne primes for secrets wider than 31 bits (object-array back end, exact but slower).
MERSENNE_61 = 2**61 - 1
MERSENNE_127 = 2**127 - 1

_FAST_LIMIT = 2**32  # primes below this use uint64 arithmetic
_SCHEMES = ("additive", "shamir")


# ------------------------------------------------------------------------------------------------
# arithmetic helpers
# ------------------------------------------------------------------------------------------------
def _check_prime(prime: Any) -> int:
    p = check_int("prime", prime, low=3)
    if not is_probable_prime(p):
        raise ValueError(f"prime must be a prime number >= 3, got {p} (e.g. DEFAULT_PRIME = 2**31 - 1)")
    return p


def _is_fast(modulus: int) -> bool:
    return modulus == RING_MODULUS or modulus < _FAST_LIMIT


def random_elements(shape: tuple[int, ...], *, modulus: int, rng: RNGLike = None) -> np.ndarray:
    """Uniform elements of Z_modulus of the given shape (uint64, or object ints for moduli >= 2^32).

    For wide primes the draw takes ``bits(p) + 64`` random bits and reduces mod p: statistical distance
    from uniform below 2^-64.
    """
    g = resolve_rng(rng)
    n = int(np.prod(shape, dtype=np.int64))
    if modulus == RING_MODULUS or modulus < _FAST_LIMIT:
        high = RING_MODULUS if modulus == RING_MODULUS else modulus
        return np.asarray(g.integers(0, high, size=n, dtype=np.uint64), dtype=np.uint64).reshape(shape)
    limbs = -(-(modulus.bit_length() + 64) // 62)
    raw = np.asarray(g.integers(0, 2**62, size=(limbs, n), dtype=np.int64))
    acc = np.zeros(n, dtype=object)
    for k in range(limbs):  # loop over a handful of 62-bit limbs, not over elements
        acc = acc * (2**62) + raw[k].astype(object)
    return (acc % modulus).reshape(shape)


def _secret_range(modulus: int) -> tuple[int, int]:
    """Inclusive range of integers a sharing mod ``modulus`` gives back unchanged (unsigned or signed)."""
    if modulus == RING_MODULUS:
        return -(2**63), 2**64 - 1
    return -(modulus // 2), modulus - 1


def _check_secret_range(arr: np.ndarray, modulus: int, name: str = "secret") -> None:
    """PrecisionError if any element lies outside _secret_range (it would be reduced silently)."""
    if arr.size == 0:
        return
    lo, hi = _secret_range(modulus)
    if arr.dtype == object:
        vals = [int(v) for v in arr.flat]
        bad = next((v for v in vals if v < lo or v > hi), None)
    else:
        a = arr
        if a.dtype.kind == "u" and hi >= int(np.iinfo(a.dtype).max) and lo <= 0:
            return  # every unsigned value of this width fits
        mx, mn = int(a.max()), int(a.min())
        bad = mx if mx > hi else (mn if mn < lo else None)
    if bad is not None:
        mod = "2**64" if modulus == RING_MODULUS else str(modulus)
        raise PrecisionError(
            f"{name} must lie in [{lo}, {hi}] to be shared modulo {mod} without being reduced, got {bad}; "
            "use a larger prime (MERSENNE_61, MERSENNE_127) or split the value"
        )


def _encode(secret: Any, modulus: int, *, check_range: bool = False) -> np.ndarray:
    """Integers (any sign) -> residues mod ``modulus`` in the back end's dtype.

    ``check_range=True`` (secrets) refuses values a reduction would change (PrecisionError); public
    constants in share arithmetic are reduced as ring/field elements.
    """
    if isinstance(secret, np.ndarray) and secret.dtype == object:
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in secret.flat):
            raise TypeError("secret must contain integers, got an object array with non-integers")
        arr = secret
    else:
        if isinstance(secret, (str, bytes)) or secret is None:
            raise TypeError(f"secret must be an integer array-like, got {type(secret).__name__}")
        if isinstance(secret, numbers.Integral) and not isinstance(secret, (bool, np.integer)):
            arr = np.asarray(secret if -(2**63) <= int(secret) < 2**64 else np.array(secret, dtype=object))
        else:
            arr = np.asarray(secret)
        if arr.dtype.kind not in "iuO":
            raise TypeError(
                f"secret must contain integers (encode reals with ppml_lab.mpc.fixed_point), got dtype {arr.dtype}"
            )
    if arr.dtype == object and not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in arr.flat):
        raise TypeError("secret must contain integers, got an object array with non-integers")
    if check_range:
        _check_secret_range(arr, modulus)
    if modulus == RING_MODULUS:
        if arr.dtype == object:
            return np.array([int(v) % RING_MODULUS for v in arr.flat], dtype=np.uint64).reshape(arr.shape)
        return arr.astype(np.int64).view(np.uint64) if arr.dtype.kind == "i" else arr.astype(np.uint64)
    if modulus < _FAST_LIMIT:
        if arr.dtype == object:
            return np.array([int(v) % modulus for v in arr.flat], dtype=np.uint64).reshape(arr.shape)
        if arr.dtype.kind == "u":
            return (arr.astype(np.uint64) % np.uint64(modulus)).astype(np.uint64)
        return np.mod(arr.astype(np.int64), modulus).astype(np.uint64)
    obj = arr.astype(object)
    return obj % modulus


def _add(a: np.ndarray, b: np.ndarray, modulus: int) -> np.ndarray:
    if modulus == RING_MODULUS:
        return a + b  # uint64 wraps: reduction mod 2^64
    return (a + b) % (np.uint64(modulus) if a.dtype == np.uint64 else modulus)


def _sub(a: np.ndarray, b: np.ndarray, modulus: int) -> np.ndarray:
    if modulus == RING_MODULUS:
        return a - b
    if a.dtype == np.uint64:
        m = np.uint64(modulus)
        return (a + (m - b)) % m
    return (a - b) % modulus


def _mul_public(a: np.ndarray, k: Any, modulus: int) -> np.ndarray:
    kk = _encode(k, modulus)
    if modulus == RING_MODULUS:
        return a * kk
    if a.dtype == np.uint64:
        return (a * kk) % np.uint64(modulus)
    return (a * kk) % modulus


def to_signed(values: np.ndarray, modulus: int) -> np.ndarray:
    """Map residues to the symmetric range: int64 for Z_2^64 and small primes, Python ints otherwise."""
    if modulus == RING_MODULUS:
        return np.asarray(values, dtype=np.uint64).view(np.int64)
    if modulus < _FAST_LIMIT:
        v = np.asarray(values).astype(np.int64)
        return np.where(v > modulus // 2, v - modulus, v)
    v = np.asarray(values, dtype=object)
    return np.where(v > modulus // 2, v - modulus, v)


def _combine_ids(*ids: int) -> int:
    h = hashlib.blake2b(digest_size=8)
    for i in ids:
        h.update(int(i).to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "little")


# ------------------------------------------------------------------------------------------------
# the share
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Share:
    """One holder's share of a secret array. Immutable; ``repr`` shows metadata, never the value.

    ``index`` is the holder's position: 0..n-1 for additive shares, the evaluation point 1..n for Shamir.
    ``sharing_id`` ties the shares of one sharing together (random at sharing time, combined
    deterministically by ``+``/``-`` so all holders stay consistent).
    Linear operations are local: ``s + t``, ``s - t``, ``k * s`` (public integer k), ``s.add_public(c)``.
    """

    scheme: str
    index: int
    value: np.ndarray
    modulus: int
    n_shares: int
    threshold: int
    sharing_id: int

    def __repr__(self) -> str:
        mod = "2**64" if self.modulus == RING_MODULUS else str(self.modulus)
        who = f"point x={self.index}" if self.scheme == "shamir" else f"party {self.index}"
        return (
            f"Share(scheme={self.scheme!r}, {who} of {self.n_shares}, threshold={self.threshold}, "
            f"shape={tuple(np.shape(self.value))}, modulus={mod}, value=<hidden>)"
        )

    __str__ = __repr__

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value))

    def _check_compatible(self, other: Share) -> None:
        check_type("other", other, Share)
        if (self.scheme, self.modulus, self.index, self.n_shares) != (
            other.scheme,
            other.modulus,
            other.index,
            other.n_shares,
        ):
            raise ShareMismatchError(
                "shares combined locally must belong to the same holder, scheme and modulus, got "
                f"{self!r} and {other!r}"
            )
        if self.shape != other.shape:
            raise ShareMismatchError(f"share shapes must match, got {self.shape} and {other.shape}")

    def _derive(self, value: np.ndarray, sharing_id: int, threshold: int | None = None) -> Share:
        return Share(
            self.scheme,
            self.index,
            value,
            self.modulus,
            self.n_shares,
            self.threshold if threshold is None else threshold,
            sharing_id,
        )

    def __add__(self, other: Share) -> Share:
        # [x] + [y] = [x + y]: share-wise addition (linearity of both schemes)
        self._check_compatible(other)
        return self._derive(
            _add(self.value, other.value, self.modulus),
            _combine_ids(1, self.sharing_id, other.sharing_id),
            max(self.threshold, other.threshold),
        )

    def __sub__(self, other: Share) -> Share:
        self._check_compatible(other)
        return self._derive(
            _sub(self.value, other.value, self.modulus),
            _combine_ids(2, self.sharing_id, other.sharing_id),
            max(self.threshold, other.threshold),
        )

    def __neg__(self) -> Share:
        zero = np.zeros_like(self.value)
        return self._derive(_sub(zero, self.value, self.modulus), _combine_ids(3, self.sharing_id))

    def __mul__(self, k: Any) -> Share:
        # k [x] = [k x] for a PUBLIC integer k; the product of two shares is not a share (use Beaver)
        if isinstance(k, Share):
            raise TypeError(
                "multiplying two shares needs interaction: use ppml_lab.mpc.protocols.beaver_multiply"
            )
        if isinstance(k, (float, np.floating)) or (isinstance(k, np.ndarray) and k.dtype.kind == "f"):
            raise TypeError(f"k must be a public integer (or integer array), got {type(k).__name__}")
        return self._derive(_mul_public(self.value, k, self.modulus), _combine_ids(4, self.sharing_id))

    __rmul__ = __mul__

    def add_public(self, c: Any) -> Share:
        """[x + c] for a public integer c: additive -> only holder 0 adds c; Shamir -> every point adds c."""
        cc = _encode(c, self.modulus)
        if self.scheme == "additive" and self.index != 0:
            value = self.value + np.zeros_like(cc) if np.ndim(cc) else self.value
        else:
            value = _add(self.value, cc, self.modulus)
        return self._derive(np.asarray(value), _combine_ids(5, self.sharing_id))


def _new_id(rng: Any) -> int:
    return int(np.asarray(resolve_rng(rng).integers(0, 2**63, size=1, dtype=np.int64))[0])


# ------------------------------------------------------------------------------------------------
# additive sharing
# ------------------------------------------------------------------------------------------------
def share(
    secret: Any, *, n_shares: int = 2, modulus: int = RING_MODULUS, rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> list[Share]:
    """Additive n-of-n sharing: n-1 uniform shares and x minus their sum (CDN 2015, Sec. 3.3).

    ``secret``: integers (any sign; reduced mod ``modulus``). ``modulus``: ``RING_MODULUS`` (2**64, default)
    or a prime. ``rng``: the shares are key material, so they come from the OS CSPRNG
    (:func:`ppml_lab._rng.key_rng`) and a seed is ignored unless ``insecure_seeded_keys=True`` (reproducible
    teaching material only: whoever knows the seed knows every share).
    """
    n = check_int("n_shares", n_shares, low=2)
    m = check_int("modulus", modulus, low=3)
    if m != RING_MODULUS:
        m = _check_prime(m)
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    x = _encode(secret, m, check_range=True)
    shape = tuple(np.shape(x))
    randoms = [random_elements(shape, modulus=m, rng=g) for _ in range(n - 1)]
    last = x
    for r in randoms:
        last = _sub(last, r, m)  # x_n = x - sum_{i<n} x_i  (mod m)
    sid = _new_id(g)
    values = [*randoms, np.asarray(last)]
    return [Share("additive", i, v, m, n, n, sid) for i, v in enumerate(values)]


def _check_shares(shares: Any, scheme: str) -> list[Share]:
    if isinstance(shares, Share):
        raise TypeError("shares must be a list of Share objects, got a single Share")
    if not isinstance(shares, Sequence) or isinstance(shares, (str, bytes)):
        raise TypeError(f"shares must be a list of Share objects, got {type(shares).__name__}")
    if len(shares) == 0:
        raise InsufficientSharesError("shares must not be empty, got 0 shares")
    for k, s in enumerate(shares):
        check_type(f"shares[{k}]", s, Share)
    first = shares[0]
    if first.scheme != scheme:
        raise ShareMismatchError(
            f"expected {scheme} shares, got {first.scheme} shares; use "
            f"{'reconstruct' if first.scheme == 'additive' else 'shamir_reconstruct'}"
        )
    for s in shares[1:]:
        if s.scheme != first.scheme:
            raise ShareMismatchError(f"cannot mix {first.scheme} and {s.scheme} shares")
        if s.modulus != first.modulus:
            raise ShareMismatchError(f"shares use different moduli: {first.modulus} and {s.modulus}")
        if s.sharing_id != first.sharing_id:
            raise ShareMismatchError(
                "shares come from different sharings (sharing_id differs); combine shares of one secret only"
            )
        if s.shape != first.shape:
            raise ShareMismatchError(f"share shapes differ: {first.shape} and {s.shape}")
    idx = [s.index for s in shares]
    if len(set(idx)) != len(idx):
        raise ShareMismatchError(f"each holder's share may appear once, got indices {sorted(idx)}")
    return list(shares)


def reconstruct(shares: Sequence[Share], *, signed: bool = False) -> np.ndarray:
    """Sum all n additive shares mod the modulus. ``signed=True`` maps to the symmetric range."""
    ss = _check_shares(shares, "additive")
    n = ss[0].n_shares
    if len(ss) < n:
        raise InsufficientSharesError(
            f"additive sharing needs all {n} shares, got {len(ss)}; any {n - 1} are uniformly random"
        )
    m = ss[0].modulus
    acc = ss[0].value
    for s in ss[1:]:
        acc = _add(acc, s.value, m)  # x = sum_i x_i  (mod m)
    return to_signed(acc, m) if signed else acc


# ------------------------------------------------------------------------------------------------
# Shamir sharing lives in ppml_lab.mpc.shamir; these names stay importable from here
# ------------------------------------------------------------------------------------------------
_SHAMIR_NAMES = ("shamir_share", "shamir_reconstruct", "lagrange_coefficients")


def __getattr__(name: str) -> Any:  # PEP 562: lazy, so shamir (which imports this module) loads after it
    if name in _SHAMIR_NAMES:
        from ppml_lab.mpc import shamir

        return getattr(shamir, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
