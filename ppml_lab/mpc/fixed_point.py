"""Fixed-point encoding of reals in Z_2^64 and the truncation of shared products.

A real x is encoded as the integer round(x * 2^f) in two's complement mod 2^64 (f = ``frac_bits``). The
product of two encodings carries 2f fractional bits, so after every multiplication the parties divide by
2^f *on shares*.

**Raw (teaching) truncation: SecureML's local shift.** Mohassel & Zhang, "SecureML", IEEE S&P 2017,
ePrint 2017/396, Sec. 4.1, Theorem 1: party 0 shifts its share, party 1 shifts the negation of its share
and negates back; no communication. If |z| < 2^(l_x) in Z_2^l the result is floor(z / 2^f) up to one unit
in the last place, except with probability at most 2^(l_x + 1 - l) -- and on failure it is off by about
2^(64-f) (4.3e9 at f = 16), catastrophically and silently. (Exactly: it fails iff party 0's share falls
within |z| of 0 mod 2^64, probability |z| / 2^64.) The bound that keeps one truncation's failure below
2^-40 is therefore 2^(l_x + 1 - 64) <= 2^-40, i.e. l_x <= 23 (:func:`secureml_value_bits`): |z| < 2^23
ring units. A product of two encodings carries 2f = 32 fractional bits at the default f = 16, so that
bound is |x y| < 2^(23 - 32) = 2^-9 -- useless. At |x y| ~ 1e3 the failure rate is ~2^-22 per element
(2.2e-4 measured at |x| ~ 1e3 with y of a few units), at ~2e4 about 10 %. Keeping 2^-40 in this ring would
leave f <= 7, and a larger ring (Z_2^128) would leave numpy. So :func:`truncate_shares_secureml` stays as
the raw level the notebook derives and measures, and the protocols do not use it.

**Default truncation: exact, with a dealer pair.** The dealer (already trusted for Beaver triples) gives
shares of a uniform r, of r >> f and of msb(r). For |z| < 2^(l_x), l_x = :data:`TRUNCATION_VALUE_BITS`
(62), the parties open c = z + 2^(l_x) + r mod 2^64 -- uniform, so it hides z -- and compute locally
  [z >> f] = (c >> f) - [r >> f] + [c < 2^(l_x+1)] * [msb(r)] * 2^(64-f) - 2^(l_x - f).
Why: u = z + 2^(l_x) lies in [0, 2^(l_x+1)) and u + r = c + w 2^64 with the wrap bit w in {0, 1}; w = 1
forces c < u < 2^(l_x+1) and r > 2^64 - 2^(l_x+1), while c < 2^(l_x+1) with w = 0 forces r <= c, so
w = [c < 2^(l_x+1)] msb(r) (a public bit times a shared bit: linear). The result is floor(z / 2^f) or one
more (the borrow of the low bits: one unit in the last place), always, for any number of parties; it costs one round and
one opening per element. This is the probabilistic truncation of Catrina & Saxena (FC 2010) with the
wrap bit supplied by the dealer instead of a statistical gap (a gap of 40 bits would leave l_x <= 23 in
Z_2^64, the same wall as above). The bound it needs, |z| < 2^62 in ring units, means a product or sum of
products of reals below 2^(62 - 2f) = 2^30 at f = 16 (:meth:`FixedPoint.check_product`, which raises
:class:`~ppml_lab.exceptions.PrecisionError` naming the bound and the value beyond it).

Threat model: encoding is public and deterministic; secrecy comes from the sharing. Encoding refuses
values outside +-2^``integer_bits`` with :class:`~ppml_lab.exceptions.PrecisionError` instead of wrapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._validation import check_array, check_int
from ppml_lab.exceptions import PrecisionError

__all__ = [
    "FixedPoint",
    "DEFAULT_FIXED_POINT",
    "TRUNCATION_VALUE_BITS",
    "TRUNCATION_FAILURE_BITS",
    "truncate_shares_secureml",
    "truncation_failure_bound",
    "secureml_value_bits",
    "trunc_mask_share",
    "trunc_finish_share",
]

_U = np.uint64
#: Exact truncation handles shared values with |z| < 2^62 (ring units, 2f fractional bits).
TRUNCATION_VALUE_BITS = 62
#: The statistical target for the raw SecureML truncation's per-element failure probability: 2^-40.
TRUNCATION_FAILURE_BITS = 40


@dataclass(frozen=True)
class FixedPoint:
    """Fixed-point parameters: ``frac_bits`` fractional bits, values with |x| < 2^``integer_bits``.

    ``frac_bits + integer_bits`` must stay <= 31 so that the product of two encodings (< 2^62 in
    magnitude) still fits the signed 64-bit ring before truncation.
    """

    frac_bits: int = 16
    integer_bits: int = 15

    def __post_init__(self) -> None:
        check_int("frac_bits", self.frac_bits, low=1, high=30)
        check_int("integer_bits", self.integer_bits, low=1, high=30)
        if self.frac_bits + self.integer_bits > 31:
            raise ValueError(
                "frac_bits + integer_bits must be <= 31 so products fit Z_2^64 before truncation, got "
                f"{self.frac_bits} + {self.integer_bits} = {self.frac_bits + self.integer_bits}"
            )

    @property
    def scale(self) -> int:
        return 1 << self.frac_bits

    @property
    def resolution(self) -> float:
        """One unit in the last place: 2^-frac_bits."""
        return 1.0 / self.scale

    @property
    def max_abs(self) -> float:
        """Encodable values satisfy |x| < max_abs = 2^integer_bits."""
        return float(2**self.integer_bits)

    def encode(self, x: Any, *, name: str = "x") -> np.ndarray:
        """round(x * 2^f) as uint64 (two's complement). Raises PrecisionError outside +-max_abs."""
        arr = check_array(name, x, ndim=None, allow_empty=True)
        if arr.size and np.max(np.abs(arr)) >= self.max_abs:
            worst = float(arr.flat[int(np.argmax(np.abs(arr)))])
            raise PrecisionError(
                f"{name} must satisfy |{name}| < 2^{self.integer_bits} = {self.max_abs:g} to be encoded with "
                f"{self.frac_bits} fractional bits, got {worst!r}; rescale the data or raise integer_bits"
            )
        return np.rint(arr * self.scale).astype(np.int64).view(_U)  # x_hat = round(x 2^f) mod 2^64

    @property
    def max_product_abs(self) -> float:
        """Products (and sums of products) of reals must stay below 2^(62 - 2f) to be truncated exactly."""
        return float(2 ** (TRUNCATION_VALUE_BITS - 2 * self.frac_bits))

    def check_product(self, name: str, magnitude: Any) -> None:
        """Refuse a product whose real magnitude would break exact truncation (|z| >= 2^62 ring units).

        ``magnitude``: an upper bound on |the real value| of each product or sum of products about to be
        truncated (e.g. ``abs(X) @ abs(Y)`` for a matmul). Raises PrecisionError naming the bound and value.
        """
        m = np.asarray(magnitude, dtype=np.float64)
        if m.size == 0:
            return
        worst = float(np.max(m))
        if not np.isfinite(worst) or worst >= self.max_product_abs:
            raise PrecisionError(
                f"{name} must stay below 2^(62 - 2*frac_bits) = 2^{TRUNCATION_VALUE_BITS - 2 * self.frac_bits} "
                f"= {self.max_product_abs:g} in magnitude so that truncation in Z_2^64 is exact, got {worst:g}; "
                "rescale the inputs or use fewer frac_bits"
            )

    def decode(self, v: Any, *, frac_bits: int | None = None) -> np.ndarray:
        """Signed reading of uint64 residues divided by 2^f (2^frac_bits for untruncated products)."""
        f = self.frac_bits if frac_bits is None else frac_bits
        return np.asarray(v, dtype=_U).view(np.int64).astype(np.float64) / float(2**f)


DEFAULT_FIXED_POINT = FixedPoint()


def truncate_shares_secureml(share0: np.ndarray, share1: np.ndarray, *, frac_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Both parties' halves of the SecureML local truncation (Mohassel & Zhang 2017, Sec. 4.1). RAW.

    Party 0: floor(z0 / 2^f); party 1: 2^l - floor((2^l - z1) / 2^f). No communication. Fails silently
    (off by ~2^(64-f)) with probability |z| / 2^64: below 2^-40 only for |z| < 2^23 (see the module
    docstring). Kept for teaching and measurement; the protocols truncate with :func:`trunc_mask_share` /
    :func:`trunc_finish_share` and a dealer pair instead.
    """
    f = _U(check_int("frac_bits", frac_bits, low=1, high=62))
    with np.errstate(over="ignore"):  # 0-d inputs become numpy scalars, which warn on the intended wrap
        t0 = np.asarray(np.asarray(share0, dtype=_U) >> f)
        t1 = np.asarray(-((-np.asarray(share1, dtype=_U)) >> f), dtype=_U)  # uint64 negation is 2^64 - z1
    return t0, t1


def truncation_failure_bound(value_bits: int, *, ring_bits: int = 64) -> float:
    """SecureML Theorem 1: P[truncation fails] <= 2^(l_x + 1 - l) for |z| < 2^(l_x) in Z_2^l."""
    lx = check_int("value_bits", value_bits, low=0, high=ring_bits)
    return min(1.0, math.ldexp(1.0, lx + 1 - ring_bits))


def secureml_value_bits(*, failure_bits: int = TRUNCATION_FAILURE_BITS, ring_bits: int = 64) -> int:
    """Largest l_x with SecureML's bound 2^(l_x + 1 - l) <= 2^-failure_bits: l - 1 - failure_bits (23)."""
    fb = check_int("failure_bits", failure_bits, low=1, high=ring_bits - 2)
    return check_int("ring_bits", ring_bits, low=8) - 1 - fb


def trunc_mask_share(z_share: np.ndarray, r_share: np.ndarray, *, lead: bool,
                     value_bits: int = TRUNCATION_VALUE_BITS) -> np.ndarray:
    """This party's share of c = z + 2^(l_x) + r (the value opened by the exact truncation)."""
    with np.errstate(over="ignore"):
        c = np.asarray(z_share, dtype=_U) + np.asarray(r_share, dtype=_U)  # [c] = [z] + [r]
        if lead:
            c = c + _U(1 << value_bits)  # + 2^(l_x), added once: u = z + 2^(l_x) >= 0
    return np.asarray(c, dtype=_U)


def trunc_finish_share(c: np.ndarray, r_hi_share: np.ndarray, msb_share: np.ndarray, *, lead: bool,
                       frac_bits: int, value_bits: int = TRUNCATION_VALUE_BITS) -> np.ndarray:
    """This party's share of floor(z / 2^f) (or one more) from the opened c and its pair shares.

    [z >> f] = (c >> f) - [r >> f] + [c < 2^(l_x+1)] [msb(r)] 2^(64-f) - 2^(l_x - f)   (module docstring)
    """
    f = check_int("frac_bits", frac_bits, low=1, high=62)
    lx = check_int("value_bits", value_bits, low=f, high=62)
    c = np.asarray(c, dtype=_U)
    wrap_possible = (c < _U(1 << (lx + 1))).astype(_U)  # public bit: c < 2^(l_x+1)
    with np.errstate(over="ignore"):
        out = wrap_possible * np.asarray(msb_share, dtype=_U) * _U(1 << (64 - f))  # [w] 2^(64-f)
        out = out - np.asarray(r_hi_share, dtype=_U)  # - [r >> f]
        if lead:
            out = out + (c >> _U(f)) - _U(1 << (lx - f))  # + (c >> f) - 2^(l_x - f), added once
    return np.asarray(out, dtype=_U)
