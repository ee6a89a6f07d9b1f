"""Fixed-point encoding of reals in Z_2^64 and the SecureML truncation of shared products.

A real x is encoded as the integer round(x * 2^f) in two's complement mod 2^64 (f = ``frac_bits``). The
product of two encodings carries 2f fractional bits, so after every multiplication the parties divide by
2^f *on shares*. SecureML (Mohassel & Zhang, "SecureML", IEEE S&P 2017, ePrint 2017/396, Sec. 4.1,
Theorem 1) does it locally for two parties: party 0 shifts its share, party 1 shifts the negation of its
share and negates back. If the shared value z satisfies |z| < 2^(l_x) in Z_2^l, the result equals
floor(z / 2^f) up to 1 in the last place, except with probability at most 2^(l_x + 1 - l) (l = 64 here):
on failure the output is off by about 2^(64-f) -- catastrophically wrong, not slightly wrong.
:func:`truncation_failure_bound` evaluates that bound; tests and notebook 07 measure it.

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
    "truncate_shares_secureml",
    "truncation_failure_bound",
]

_U = np.uint64


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

    def decode(self, v: Any, *, frac_bits: int | None = None) -> np.ndarray:
        """Signed reading of uint64 residues divided by 2^f (2^frac_bits for untruncated products)."""
        f = self.frac_bits if frac_bits is None else frac_bits
        return np.asarray(v, dtype=_U).view(np.int64).astype(np.float64) / float(2**f)


DEFAULT_FIXED_POINT = FixedPoint()


def truncate_shares_secureml(share0: np.ndarray, share1: np.ndarray, *, frac_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Both parties' halves of the SecureML local truncation (Mohassel & Zhang 2017, Sec. 4.1).

    Party 0: floor(z0 / 2^f); party 1: 2^l - floor((2^l - z1) / 2^f). No communication.
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
