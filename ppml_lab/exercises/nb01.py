"""Exercise checks for notebook 01 (differential privacy mechanisms)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.exercises import CheckResult, as_number, failed, not_answered, passed


def check_truth_probability(answer: Any) -> CheckResult:
    """Binary randomized response at epsilon = ln 3: probability a respondent reports the truth (0.75)."""
    name = "randomized response at epsilon = ln 3"
    if answer is None:
        return not_answered(name, "Keep the bit with probability e^eps / (1 + e^eps).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    if abs(value - 0.75) < 1e-6:
        return passed(name, "0.75: three truths for every lie, so the likelihood ratio is exactly 3 = e^eps.")
    if abs(value - 0.25) < 1e-6:
        return failed(name, "0.25 is the probability of a flip", "The truth is kept with e^eps / (1 + e^eps).")
    return failed(name, f"{value:g} is not it", "Solve p / (1 - p) = e^eps for p with eps = ln 3.")


def check_sum_sensitivity(answer: Any) -> CheckResult:
    """Sensitivity of a sum of ages clipped to [0, 120] under add/remove-one neighbours (120)."""
    name = "clipped-sum sensitivity"
    if answer is None:
        return not_answered(name, "How much can adding or removing one clipped record move the sum?")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    if value == 120:
        return passed(name, "120: one record contributes at most max(|lower|, |upper|).")
    if value == 1:
        return failed(name, "1 is the sensitivity of a count, not of a sum", "A single record can add up to 120.")
    if value == 240:
        return failed(name, "240 is the replace-one sensitivity", "This course uses add/remove-one neighbours.")
    return failed(name, f"{value:g} is not it", "Adding one record with age 120 moves the sum by 120.")


def check_laplace_scale(answer: Any) -> CheckResult:
    """Laplace scale for that sum at epsilon = 0.5 (240)."""
    name = "Laplace scale"
    if answer is None:
        return not_answered(name, "b = sensitivity / epsilon.")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    if abs(value - 240.0) < 1e-9:
        return passed(name, "b = 120 / 0.5 = 240; the noise's standard deviation is sqrt(2) b = 339 years of age.")
    if abs(value - 60.0) < 1e-9:
        return failed(name, "60 = sensitivity * epsilon", "Divide by epsilon: smaller epsilon, more noise.")
    return failed(name, f"{value:g} is not it", "b = sensitivity / epsilon with sensitivity 120 and epsilon 0.5.")


def check_analytic_sigma(answer: Any) -> CheckResult:
    """Analytic-Gaussian sigma for epsilon = 1, delta = 1e-5, L2 sensitivity 1 (Balle & Wang 2018)."""
    from ppml_lab.dp.mechanisms import gaussian_sigma_analytic

    name = "analytic Gaussian sigma"
    if answer is None:
        return not_answered(name, "Call gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    truth = gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)
    if abs(value - truth) <= 1e-3 * truth:
        return passed(name, f"sigma = {truth:.4f}; the classical bound would need epsilon < 1 and gives more.")
    classical = math.sqrt(2 * math.log(1.25 / 1e-5))
    if abs(value - classical) <= 1e-3 * classical:
        return failed(name, f"{value:.4f} is the classical bound (and it is not even valid at epsilon = 1)",
                      "Use the analytic calibration.")
    return failed(name, f"{value:g} is not it", "Use gaussian_sigma_analytic from ppml_lab.dp.mechanisms.")
