"""Wall-clock timing for notebooks and benchmarks: one helper instead of a copy per file.

Timings are figures about a machine under its current load, never a check: tests do not assert them
(STYLE: speed goals live in ``benchmarks/``, which quote ratios of timings taken alternately in one process).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypeVar

from ppml_lab._validation import check_choice, check_int

__all__ = ["timed"]

T = TypeVar("T")

#: How several runs are summarised: the minimum (least disturbed run) or the median (typical run).
STATISTICS = ("min", "median")


def timed(fn: Callable[[], T], repeats: int = 1, *, statistic: str = "min") -> tuple[float, T]:
    """(seconds, result): ``fn()`` run ``repeats`` times, its wall time summarised by ``statistic``
    (``"min"`` or ``"median"``), and the result of the last run (the one a caller checks for agreement)."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    n = check_int("repeats", repeats, low=1)
    stat = check_choice("statistic", statistic, STATISTICS)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return (min(times) if stat == "min" else statistics.median(times)), out
