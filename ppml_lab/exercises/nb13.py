"""Exercise checks for notebook 13 (DP synthetic data)."""

from __future__ import annotations

import math

from ppml_lab.dp.synthetic import DEFAULT_COUNT_FRACTION, DEFAULT_INIT_FRACTION
from ppml_lab.exercises import ChoiceExercise, Mistake, NumericExercise


def _measurement(epsilon: float, iterations: int, init_fraction: float, count_fraction: float) -> float:
    return epsilon * (1 - init_fraction - count_fraction) / (2 * iterations)


#: Epsilon of ONE Laplace measurement of a selected marginal in ppml_lab's MWEM (add/remove neighbours).
check_measurement_epsilon = NumericExercise(
    "epsilon per MWEM measurement", expected=_measurement, tol=0.0, rel_tol=1e-6,
    params={"epsilon": 2.0, "iterations": 3, "init_fraction": DEFAULT_INIT_FRACTION,
            "count_fraction": DEFAULT_COUNT_FRACTION},
    ask="The noisy count takes count_fraction, the warm start init_fraction; the rest is split over 2 steps per "
        "iteration.",
    right="{epsilon} x (1 - {init_fraction} - {count_fraction}) / (2 x {iterations}) = {truth:.4g}",
    hint="epsilon (1 - init_fraction - count_fraction) / (2 T).",
    wrong="{value:.4g} is not right",
    mistakes=(
        Mistake("you forgot the noisy count's share", "The record count is private too: subtract count_fraction.",
                value=lambda epsilon, iterations, init_fraction, count_fraction:
                _measurement(epsilon, iterations, init_fraction, 0.0)),
        Mistake("you forgot the warm start's share", "Subtract init_fraction too.",
                value=lambda epsilon, iterations, init_fraction, count_fraction:
                _measurement(epsilon, iterations, 0.0, count_fraction)),
        Mistake("you forgot the warm start's share", "Subtract init_fraction too.",
                value=lambda epsilon, iterations, init_fraction, count_fraction:
                _measurement(epsilon, iterations, 0.0, 0.0)),
        Mistake("each iteration also pays for the selection step", "Divide by 2 T, not T.",
                value=lambda epsilon, iterations, init_fraction, count_fraction:
                2 * _measurement(epsilon, iterations, init_fraction, count_fraction))))


#: Which generator re-identified patients through the register: 'empirical', 'mwem' or 'independent'?
check_leaky_generator = ChoiceExercise(
    "the leaky generator", correct="empirical",
    ask="Look at the correct disclosures column.",
    right="resampling real rows copies rare records verbatim; 'synthetic' is not 'private'",
    reasons={o: f"{o!r} is epsilon-DP: its disclosures are near what guessing gives" for o in ("mwem", "independent")},
    hint="Which generator outputs exact copies of real rows?")


#: Total epsilon of several pure-DP releases of the same data under basic composition.
check_total_spend = NumericExercise(
    "total epsilon of the releases", expected=lambda releases: math.fsum(releases), tol=0.0, rel_tol=1e-9,
    params={"releases": (1.0, 2.0)},
    ask="Basic composition adds epsilons.",
    right="the releases add up to {truth:g}: every release of the same people adds up",
    hint="Add the epsilons.",
    wrong="{value:g} is not the sum",
    mistakes=(Mistake("the largest release is not the total", "Releases about the same people compose.",
                      value=lambda releases: max(releases)),))
