"""Exercise checks for notebook 01 (differential privacy mechanisms)."""

from __future__ import annotations

import math

from ppml_lab.exercises import Mistake, NumericExercise


def _analytic_sigma() -> float:
    from ppml_lab.dp.mechanisms import gaussian_sigma_analytic

    return gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)


#: Binary randomized response at epsilon = ln 3: probability a respondent reports the truth.
check_truth_probability = NumericExercise(
    "randomized response at epsilon = ln 3", expected=0.75, tol=1e-6,
    ask="Keep the bit with probability e^eps / (1 + e^eps).",
    right="0.75: three truths for every lie, so the likelihood ratio is exactly 3 = e^eps.",
    hint="Solve p / (1 - p) = e^eps for p with eps = ln 3.",
    mistakes=(Mistake("0.25 is the probability of a flip", "The truth is kept with e^eps / (1 + e^eps).",
                      value=0.25),))

#: Sensitivity of a sum of ages clipped to [0, 120] under add/remove-one neighbours.
check_sum_sensitivity = NumericExercise(
    "clipped-sum sensitivity", expected=120, tol=0.0,
    ask="How much can adding or removing one clipped record move the sum?",
    right="120: one record contributes at most max(|lower|, |upper|).",
    hint="Adding one record with age 120 moves the sum by 120.",
    mistakes=(Mistake("1 is the sensitivity of a count, not of a sum", "A single record can add up to 120.", value=1),
              Mistake("240 is the replace-one sensitivity", "This course uses add/remove-one neighbours.",
                      value=240)))

#: Laplace scale for that sum at epsilon = 0.5.
check_laplace_scale = NumericExercise(
    "Laplace scale", expected=240.0,
    ask="b = sensitivity / epsilon.",
    right="b = 120 / 0.5 = 240; the noise's standard deviation is sqrt(2) b = 339 years of age.",
    hint="b = sensitivity / epsilon with sensitivity 120 and epsilon 0.5.",
    mistakes=(Mistake("60 = sensitivity * epsilon", "Divide by epsilon: smaller epsilon, more noise.", value=60.0),))

#: Analytic-Gaussian sigma for epsilon = 1, delta = 1e-5, L2 sensitivity 1 (Balle & Wang 2018).
check_analytic_sigma = NumericExercise(
    "analytic Gaussian sigma", expected=_analytic_sigma, tol=0.0, rel_tol=1e-3,
    ask="Call gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0).",
    right="sigma = {truth:.4f}; the classical bound would need epsilon < 1 and gives more.",
    hint="Use gaussian_sigma_analytic from ppml_lab.dp.mechanisms.",
    mistakes=(Mistake("{value:.4f} is the classical bound (and it is not even valid at epsilon = 1)",
                      "Use the analytic calibration.", value=math.sqrt(2 * math.log(1.25 / 1e-5)),
                      tol=1e-3 * math.sqrt(2 * math.log(1.25 / 1e-5))),))
