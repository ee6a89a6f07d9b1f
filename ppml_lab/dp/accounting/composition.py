"""Composition theorems for (epsilon, delta)-DP: basic (sequential) and advanced composition.

Papers: Dwork & Roth 2014, "The Algorithmic Foundations of Differential Privacy", Thm 3.16 (basic) and
Thm 3.20; Dwork, Rothblum & Vadhan 2010, "Boosting and Differential Privacy", FOCS 2010,
doi:10.1109/FOCS.2010.12, Thm III.3 (advanced, adaptive k-fold composition).

Privacy model: any neighbour relation, as long as every composed mechanism uses the same one and the
same privacy unit; an adversary who sees every release and chooses the next query adaptively.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ppml_lab._validation import check_array, check_delta, check_int, check_positive

__all__ = ["basic_composition", "advanced_composition", "advanced_composition_epsilon_per_step"]


# --------------------------------------------------------------------------------------------------
# composition theorems for (epsilon, delta)-DP
# --------------------------------------------------------------------------------------------------
def basic_composition(epsilons: Sequence[float], deltas: Sequence[float] | None = None) -> tuple[float, float]:
    """Sequential composition: (sum epsilon_i, sum delta_i)  (Dwork & Roth 2014, Thm 3.16)."""
    eps = check_array("epsilons", epsilons, ndim=1)
    if np.any(eps < 0):
        raise ValueError(f"epsilons must all be >= 0, got {float(eps[eps < 0][0])!r}")
    if deltas is None:
        dl = np.zeros_like(eps)
    else:
        dl = check_array("deltas", deltas, ndim=1)
        if dl.shape != eps.shape:
            raise ValueError(f"deltas must have one value per epsilon: got {dl.size} for {eps.size}")
        if np.any((dl < 0) | (dl >= 1)):
            raise ValueError("deltas must all be in [0, 1)")
    return float(eps.sum()), float(min(dl.sum(), 1.0))


def advanced_composition(*, epsilon: float, delta: float, k: int, delta_prime: float) -> tuple[float, float]:
    """k-fold adaptive composition of (epsilon, delta)-DP mechanisms (Dwork, Rothblum & Vadhan 2010, Thm III.3).

    Returns (eps', k delta + delta') with eps' = sqrt(2 k ln(1/delta')) eps + k eps (e^eps - 1).
    """
    e = check_positive("epsilon", epsilon)
    d = check_delta("delta", delta)
    n = check_int("k", k, low=1)
    dp = check_delta("delta_prime", delta_prime, allow_zero=False)
    eps_total = math.sqrt(2.0 * n * math.log(1.0 / dp)) * e + n * e * math.expm1(e)  # DRV10 Thm III.3
    return eps_total, n * d + dp


def advanced_composition_epsilon_per_step(*, target_epsilon: float, k: int, delta_prime: float) -> float:
    """Largest per-step epsilon whose k-fold advanced composition stays within ``target_epsilon``.

    The composed epsilon is increasing in the per-step epsilon, so this is a bisection.
    """
    target = check_positive("target_epsilon", target_epsilon)
    n = check_int("k", k, low=1)
    dp = check_delta("delta_prime", delta_prime, allow_zero=False)
    lo, hi = 0.0, target
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid == 0.0 or advanced_composition(epsilon=mid, delta=0.0, k=n, delta_prime=dp)[0] <= target:
            lo = mid
        else:
            hi = mid
    return lo
