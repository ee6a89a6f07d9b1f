"""Exercise checks for notebook 07 (secret sharing and secure computation)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ppml_lab.exercises import CheckResult, failed, not_answered, passed

#: The three hospitals of notebook 07 and the seed of their split (reproducibility only).
HOSPITALS = ("Singapore", "Malaysia", "Thailand")
SITE_SEED = 2026
#: The feature of Exercise 1 (Part 3 of the notebook demonstrates on "mean radius", so the answer is not printed
#: above the exercise).
FEATURE = "mean texture"
#: The two private values behind the triple-reuse transcript (what the exercise recovers: their difference).
#: (Not the values of the notebook's triple-reuse demonstration, whose printout would give the answer away.)
_REUSED_SECRETS = (np.array([48, 23, 90], dtype=np.int64), np.array([31, 40, 90], dtype=np.int64))


@lru_cache(maxsize=1)
def hospital_sites() -> dict[str, Any]:
    """breast_cancer split IID over the three hospitals (seeded): ``{name: SiteData}``."""
    from ppml_lab.data import load_dataset, split_sites

    ds = load_dataset("breast_cancer")
    return split_sites(ds.X, ds.y, sites=HOSPITALS, rng=SITE_SEED)


def feature_column(name: str = FEATURE) -> int:
    """Column of ``name`` (default: the exercise's FEATURE) in the breast_cancer features."""
    from ppml_lab.data import load_dataset

    return load_dataset("breast_cancer").feature_names.index(name)


def _pooled_variance() -> float:
    j = feature_column()
    pooled = np.concatenate([s.X[:, j] for s in hospital_sites().values()])
    return float(np.var(pooled))


def check_pooled_variance(answer: Any) -> CheckResult:
    """Population variance (ddof=0) of FEATURE over the three hospitals together, computed securely."""
    name = "pooled variance"
    if answer is None:
        return not_answered(name, "Each hospital shares [n, sum x, sum x^2]; var = E[x^2] - E[x]^2.")
    try:
        value = float(np.asarray(answer).item())
    except (TypeError, ValueError):
        return failed(name, f"expected one number, got {answer!r}")
    truth = _pooled_variance()
    if abs(value - truth) <= 1e-3 * truth:
        return passed(name, f"{value:.4f} matches the pooled variance without anyone pooling data.")
    sample_var = truth * 569 / 568
    if abs(value - sample_var) <= 1e-3 * truth:
        return failed(name, f"{value:.4f} is the sample variance (ddof=1)", "Use the population variance (ddof=0): divide by n.")
    means = [float(np.var(s.X[:, feature_column()])) for s in hospital_sites().values()]
    if any(abs(value - m) <= 1e-3 * truth for m in means) or abs(value - np.mean(means)) <= 1e-3 * truth:
        return failed(name, f"{value:.4f} is a per-hospital variance or their average",
                      "Average variances ignore the spread between hospitals: sum n, sum x and sum x^2 first.")
    return failed(name, f"{value:.4f} is not the pooled variance",
                  f"Use feature {FEATURE!r} of hospital_sites() and var = S2/n - (S1/n)^2.")


@lru_cache(maxsize=1)
def reuse_transcript() -> tuple[np.ndarray, np.ndarray]:
    """What everyone sees when one Beaver triple serves two multiplications: d1 = x1 - a and d2 = x2 - a.

    Returned as the opened uint64 values. The exercise: recover x1 - x2 without knowing a.
    """
    from ppml_lab.mpc.sharing import random_elements

    a = random_elements((3,), modulus=2**64, rng=SITE_SEED)
    x1, x2 = (v.view(np.uint64) for v in _REUSED_SECRETS)
    return x1 - a, x2 - a


def check_leaked_difference(answer: Any) -> CheckResult:
    name = "triple reuse leak"
    if answer is None:
        return not_answered(name, "Subtract the two openings d1 - d2 (uint64 wraps), then read it as signed int64.")
    try:
        arr = np.asarray(answer)
        if arr.dtype == np.uint64:
            arr = arr.view(np.int64)
        value = arr.astype(np.int64)
    except (TypeError, ValueError):
        return failed(name, f"expected an integer array, got {answer!r}")
    truth = _REUSED_SECRETS[0] - _REUSED_SECRETS[1]
    if value.shape == truth.shape and np.array_equal(value, truth):
        return passed(name, f"x1 - x2 = {truth.tolist()}: the mask a cancels, which is why a triple is used once.")
    if value.shape == truth.shape and np.array_equal(value, -truth):
        return failed(name, "that is x2 - x1", "Compute d1 - d2, not d2 - d1.")
    return failed(name, "that is not x1 - x2",
                  "d1 - d2 = (x1 - a) - (x2 - a); subtract the uint64 arrays and view the result as int64.")


def check_bytes_per_multiplication(answer: Any) -> CheckResult:
    """Payload bytes both parties send in total for ONE Beaver multiplication over Z_2^64 (2 parties)."""
    name = "bytes per multiplication"
    if answer is None:
        return not_answered(name, "Each party sends its shares of d and e (8 bytes each) to the other party.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a number of bytes, got {answer!r}")
    if value == 32:
        return passed(name, "2 parties x 2 openings (d, e) x 8 bytes = 32 bytes, in one round.")
    if value == 16:
        return failed(name, "16 bytes is what ONE party sends", "Count both parties' messages.")
    if value in (8, 64, 4):
        return failed(name, f"{value:g} bytes is not right", "Two values (d and e) per party, 8 bytes each, two parties.")
    return failed(name, f"{value:g} bytes is not right", "Look at run.stats: bytes_sent minus headers, per element.")
