"""Exercise checks for notebook 13 (DP synthetic data)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.dp.synthetic import DEFAULT_COUNT_FRACTION, DEFAULT_INIT_FRACTION
from ppml_lab.exercises import CheckResult, ChoiceExercise, as_number, failed, not_answered, passed


def check_measurement_epsilon(answer: Any, *, epsilon: float = 2.0, iterations: int = 3,
                              init_fraction: float = DEFAULT_INIT_FRACTION,
                              count_fraction: float = DEFAULT_COUNT_FRACTION) -> CheckResult:
    """Epsilon of ONE Laplace measurement of a selected marginal in ppml_lab's MWEM (add/remove neighbours)."""
    name = "epsilon per MWEM measurement"
    if answer is None:
        return not_answered(name, "The noisy count takes count_fraction, the warm start init_fraction; the rest "
                                  "is split over 2 steps per iteration.")
    v = as_number(name, answer)
    if isinstance(v, CheckResult):
        return v
    rest = 1 - init_fraction - count_fraction
    truth = epsilon * rest / (2 * iterations)
    if math.isclose(v, truth, rel_tol=1e-6):
        return passed(name, f"{epsilon} x (1 - {init_fraction} - {count_fraction}) / (2 x {iterations}) = {truth:.4g}")
    if math.isclose(v, epsilon * (1 - init_fraction) / (2 * iterations), rel_tol=1e-6):
        return failed(name, "you forgot the noisy count's share", "The record count is private too: subtract count_fraction.")
    if math.isclose(v, epsilon * (1 - count_fraction) / (2 * iterations), rel_tol=1e-6) or math.isclose(
            v, epsilon / (2 * iterations), rel_tol=1e-6):
        return failed(name, "you forgot the warm start's share", "Subtract init_fraction too.")
    if math.isclose(v, epsilon * rest / iterations, rel_tol=1e-6):
        return failed(name, "each iteration also pays for the selection step", "Divide by 2 T, not T.")
    return failed(name, f"{v:.4g} is not right", "epsilon (1 - init_fraction - count_fraction) / (2 T).")


#: Which generator re-identified patients through the register: 'empirical', 'mwem' or 'independent'?
check_leaky_generator = ChoiceExercise(
    "the leaky generator", correct="empirical",
    ask="Look at the correct disclosures column.",
    right="resampling real rows copies rare records verbatim; 'synthetic' is not 'private'",
    reasons={o: f"{o!r} is epsilon-DP: its disclosures are near what guessing gives" for o in ("mwem", "independent")},
    hint="Which generator outputs exact copies of real rows?")


def check_total_spend(answer: Any, *, releases: tuple[float, ...] = (1.0, 2.0)) -> CheckResult:
    """Total epsilon of several pure-DP releases of the same data under basic composition."""
    name = "total epsilon of the releases"
    if answer is None:
        return not_answered(name, "Basic composition adds epsilons.")
    v = as_number(name, answer)
    if isinstance(v, CheckResult):
        return v
    truth = math.fsum(releases)
    if math.isclose(v, truth, rel_tol=1e-9):
        return passed(name, f"{' + '.join(map(str, releases))} = {truth:g}: every release of the same people adds up")
    if math.isclose(v, max(releases), rel_tol=1e-9):
        return failed(name, "the largest release is not the total", "Releases about the same people compose.")
    return failed(name, f"{v:g} is not the sum", "Add the epsilons.")
