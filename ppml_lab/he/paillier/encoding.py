"""Signed fixed-point encoding of ints and floats into Paillier's plaintext space Z_n (pure functions).

A value x is stored as the integer round(x * 2^precision) (ints exactly, floats ties-to-even), negative
values as n - |m| (python-paillier's convention: |m| <= max_int = n//3 - 1, the middle third of [0, n) is the
overflow band that :func:`_center` refuses). No key material and no randomness here.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ppml_lab._validation import check_int
from ppml_lab.exceptions import PrecisionError

__all__ = ["DEFAULT_PRECISION", "MAX_PRECISION", "DEFAULT_BOUND_BITS", "encode", "decode"]

#: Fractional bits used for floats when ``precision`` is not given: resolution 2^-32 ~ 2.3e-10.
#: A multiple of 4 so the encoding maps onto python-paillier's base-16 exponents (exponent = -precision/4).
DEFAULT_PRECISION = 32
MAX_PRECISION = 1024
#: Without an explicit ``bound``, plaintexts must satisfy |value| < 2^64: this public bound is what lets the
#: safe layer prove that sums and products cannot wrap around n.
DEFAULT_BOUND_BITS = 64


def _check_precision(precision: Any) -> int:
    return check_int("precision", precision, low=0, high=MAX_PRECISION)


def _round_shift(mantissa: int, k: int) -> int:
    """round(mantissa / 2^k), ties to even (matches numpy.rint)."""
    q, r = divmod(mantissa, 1 << k)
    half = 1 << (k - 1)
    if r > half or (r == half and q & 1):
        q += 1
    return q


def encode(value: Any, *, precision: int) -> int:
    """Signed fixed point: the integer round(value * 2^precision) (ints exactly, floats ties-to-even).

    Raises TypeError for non-numbers (and bool), ValueError for NaN or inf. The result is not reduced mod n.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"value must be an int or a float, got {type(value).__name__} {value!r}")
    f = _check_precision(precision)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value) << f
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"value must be a finite number, got {x!r}")
    if x == 0.0:
        return 0
    m, e = math.frexp(x)  # x = m * 2^e, 0.5 <= |m| < 1
    mant, exp2 = int(math.ldexp(m, 53)), e - 53  # x = mant * 2^exp2 exactly
    shift = exp2 + f
    return mant << shift if shift >= 0 else _round_shift(mant, -shift)


def decode(encoded: int, *, precision: int) -> int | float:
    """Inverse of :func:`encode`: an int when precision is 0, else encoded / 2^precision (correctly rounded)."""
    f = _check_precision(precision)
    if f == 0:
        return int(encoded)
    try:
        return int(encoded) / (1 << f)
    except OverflowError:
        raise PrecisionError(
            f"decoded value {int(encoded)} / 2^{f} is too large for a float; decode with precision 0"
        ) from None


def _encode_array(values: Any, precision: int) -> list[int]:
    """Vectorised :func:`encode` for a 1-D array of ints or floats."""
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise TypeError(f"values must be a numeric array of ints or floats, got dtype {arr.dtype}")
    arr = arr.reshape(-1)
    if arr.dtype.kind in "iu":
        return [int(v) << precision for v in arr.tolist()]
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"values must contain only finite numbers, got {int(np.sum(~np.isfinite(arr)))} NaN or inf")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(arr.astype(np.float64), precision))  # exact: scaling by 2^f, then ties-to-even
    if not np.all(np.isfinite(scaled)):
        raise PrecisionError(f"values * 2^{precision} overflow a float; lower precision")
    if scaled.size == 0 or np.max(np.abs(scaled)) < 2.0**62:
        return scaled.astype(np.int64).tolist()
    return [int(v) for v in scaled.tolist()]


def _center(m: int, n: int, max_int: int) -> int:
    """Signed plaintext from m in [0, n): [0, max_int] positive, [n - max_int, n) negative, else overflow."""
    if m <= max_int:
        return m
    if m >= n - max_int:
        return m - n
    raise PrecisionError(
        "decrypted plaintext lies in the overflow band (max_int, n - max_int): the computation wrapped "
        "around n, or the ciphertext was made with another key. Use a larger key or smaller values."
    )


def _default_precision(value: Any, precision: Any) -> int:
    if precision is not None:
        return _check_precision(precision)
    return 0 if isinstance(value, (numbers.Integral, np.integer)) else DEFAULT_PRECISION


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be a 1-D numeric array, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array of ints or floats, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _decode_list(signed: list[int], precision: int) -> np.ndarray:
    if precision == 0:
        big = any(abs(v) >= 2**63 for v in signed)
        return np.array(signed, dtype=object if big else np.int64)
    return np.array([decode(v, precision=precision) for v in signed], dtype=np.float64)


def _scalar_encoding(k: Any) -> tuple[int, int]:
    """(integer, precision) for a plaintext scalar, exactly: ints as they are, a float as mant * 2^-f with
    the fewest fractional bits f that represent it exactly (as phe does), so 1/k keeps 53 significant bits."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"scalar must be an int or a float, got {type(k).__name__} {k!r}")
    if isinstance(k, (numbers.Integral, np.integer)):
        return int(k), 0
    x = float(k)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"scalar must be a finite number, got {x!r}")
    num, den = x.as_integer_ratio()  # den is a power of two
    return num, den.bit_length() - 1
