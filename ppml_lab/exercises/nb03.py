"""Exercise checks for notebook 03 (DP-SGD from scratch)."""

from __future__ import annotations

from typing import Any

from ppml_lab.exercises import CheckResult, as_number, failed, not_answered, passed

#: Exercise 2's setting: Poisson rate, noise multiplier, steps and delta.
EPSILON_SETTING = {"sample_rate": 0.01, "noise_multiplier": 1.0, "steps": 1000, "delta": 1e-5}




def check_noise_std(answer: Any) -> CheckResult:
    """Std of the noise on one coordinate of the AVERAGED gradient: sigma * C / (q N), here 1.1 * 0.5 / 100."""
    name = "noise std per coordinate"
    if answer is None:
        return not_answered(name, "Noise N(0, (sigma C)^2) is added to the SUM, then divided by the expected batch size.")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    truth = 1.1 * 0.5 / 100
    if abs(value - truth) <= 1e-6:
        return passed(name, f"sigma * C / (q N) = {truth:.4g}: bigger lots dilute the same noise.")
    if abs(value - 1.1 * 0.5) <= 1e-6:
        return failed(name, f"{value} is the std on the sum", "Divide by the expected batch size q N = 100.")
    if abs(value - 1.1 / 100) <= 1e-6:
        return failed(name, f"{value} forgets the clipping norm", "The noise scale is sigma times C.")
    return failed(name, f"{value} is not sigma * C / (q N)", "sigma = 1.1, C = 0.5, q N = 100.")


def _epsilon_truth() -> float:
    from ppml_lab.dp.accountant import RDPAccountant

    s = EPSILON_SETTING
    acc = RDPAccountant()
    acc.step(noise_multiplier=s["noise_multiplier"], sample_rate=s["sample_rate"], steps=int(s["steps"]))
    return acc.get_epsilon(s["delta"])


def check_epsilon(answer: Any) -> CheckResult:
    """epsilon of DP-SGD with q = 0.01, sigma = 1.0, 1000 steps at delta = 1e-5 (RDP accountant)."""
    name = "epsilon of 1000 DP-SGD steps"
    if answer is None:
        return not_answered(name, "RDPAccountant().step(noise_multiplier=..., sample_rate=..., steps=...), then get_epsilon(delta).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    truth = _epsilon_truth()
    if abs(value - truth) <= 1e-3 * max(1.0, truth):
        return passed(name, f"epsilon = {truth:.3f}: subsampling (q = 1 %) is what keeps it this small.")
    if value > 5 * truth:
        return failed(name, f"{value:.3f} is far too large", "Did you forget subsampling (sample_rate=0.01)?")
    return failed(name, f"{value:.3f} is not the RDP accountant's epsilon", "Use steps=1000 and delta=1e-5.")


def check_clip_factor(answer: Any) -> CheckResult:
    """A per-sample gradient of norm 4 with max_grad_norm 1 is multiplied by min(1, C / ||g||) = 0.25."""
    name = "clipping factor"
    if answer is None:
        return not_answered(name, "Clipping multiplies g_i by min(1, C / ||g_i||).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    if abs(value - 0.25) <= 1e-3:
        return passed(name, "0.25: the clipped gradient has norm exactly C = 1.")
    if abs(value - 1.0) <= 1e-9:
        return failed(name, "1 leaves the gradient unclipped", "Its norm (4) exceeds C (1), so it is scaled down.")
    if abs(value - 4.0) <= 1e-9:
        return failed(name, "4 is ||g|| / C, upside down", "The factor is C / ||g||.")
    return failed(name, f"{value} is not min(1, C / ||g||)", "C = 1, ||g|| = 4.")
