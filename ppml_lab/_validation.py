"""Input validation shared by the whole package.

``TypeError`` for the wrong kind of thing, ``ValueError`` (or a domain subclass from
:mod:`ppml_lab.exceptions`) for the wrong value. Messages follow one pattern:
``<name> must be <constraint>, got <value>`` plus a fix where one helps. Never ``assert``: it vanishes
under ``python -O``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_type",
    "check_real",
    "check_positive",
    "check_nonnegative",
    "check_fraction",
    "check_delta",
    "check_int",
    "check_choice",
    "check_array",
    "check_same_shape",
    "check_bool",
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_type(name: str, value: Any, types: type | tuple[type, ...], *, what: str | None = None) -> Any:
    """Raise TypeError unless ``value`` is an instance of ``types``."""
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        expected = what or " or ".join(t.__name__ for t in _as_tuple(types))
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {_fmt(value)}")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool; raise TypeError naming ``name`` unless it is True/False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {_fmt(value)}")
    return bool(value)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """A finite real number (no bool, no NaN; inf only with ``allow_inf``) within optional bounds."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {_fmt(value)}")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {x!r}")
    lo_ok = low is None or (x >= low if low_inclusive else x > low)
    hi_ok = high is None or (x <= high if high_inclusive else x < high)
    if not (lo_ok and hi_ok):
        lo = "" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
        if low is not None and high is not None:
            bound = f"in {lo}, {hi}"
        elif low is not None:
            bound = (">= " if low_inclusive else "> ") + f"{low:g}"
        else:
            bound = ("<= " if high_inclusive else "< ") + f"{high:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {x!r}")
    return x


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """A finite number > 0 (e.g. epsilon, sensitivity, noise scale)."""
    return check_real(name, value, low=0.0, low_inclusive=False, allow_inf=allow_inf)


def check_nonnegative(name: str, value: Any) -> float:
    """Return ``value`` as a float; raise unless it is a real number >= 0 (see :func:`check_real`)."""
    return check_real(name, value, low=0.0)


def check_fraction(
    name: str, value: Any, *, low_inclusive: bool = False, high_inclusive: bool = True
) -> float:
    """A number in (0, 1] by default (sampling rates, client fractions)."""
    return check_real(
        name, value, low=0.0, high=1.0, low_inclusive=low_inclusive, high_inclusive=high_inclusive
    )


def check_delta(name: str, value: Any, *, allow_zero: bool = True) -> float:
    """delta in [0, 1), or (0, 1) when the mechanism needs delta > 0."""
    return check_real(name, value, low=0.0, high=1.0, low_inclusive=allow_zero, high_inclusive=False)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or numpy; not bool, not float) within optional inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {_fmt(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if low is not None and high is not None:
            bound = f"in [{low}, {high}]"
        elif low is not None:
            bound = f">= {low}"
        else:
            bound = f"<= {high}"
        raise ValueError(f"{name} must be an integer {bound}, got {v}")
    return v


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """Return ``value`` unchanged; raise ValueError naming ``name`` and the allowed options otherwise."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {_fmt(value)}")
    return value


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | Sequence[int] | None = None,
    allow_empty: bool = False,
    finite: bool = True,
    dtype: Any = np.float64,
    integer: bool = False,
) -> np.ndarray:
    """Convert to a numeric numpy array and check it: numeric, shape, non-empty, finite.

    ``integer=True`` requires integer (or bool) input and returns int64; otherwise returns ``dtype``.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a numeric array-like, got {type(value).__name__} {_fmt(value)}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise TypeError(f"{name} must be a numeric array-like, got {type(value).__name__}: {err}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array-like, got dtype {arr.dtype}")
    if integer and arr.dtype.kind not in "biu":
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain finite integers, got NaN or inf")
        if arr.size and not np.all(arr == np.round(arr)):
            raise TypeError(f"{name} must contain integers, got non-integer values (dtype {arr.dtype})")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}"
            )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} must contain only finite numbers, got {bad} NaN or inf value(s)")
    return arr.astype(np.int64) if integer else arr.astype(dtype, copy=False)


def check_same_shape(names: tuple[str, str], a: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError naming both parameters and their shapes unless ``a`` and ``b`` have one shape."""
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {np.shape(a)} and {np.shape(b)}"
        )
