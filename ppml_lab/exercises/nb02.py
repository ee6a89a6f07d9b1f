"""Exercise checks for notebook 02 (privacy accounting)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.dp.ledger import format_spend
from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, as_number, failed, not_answered, passed

#: The DP-SGD setting of exercise 2 (RDP vs PLD): sample rate, noise multiplier, steps, delta.
#: Deliberately not notebook 03's setting (q = 0.01, sigma = 1.0, 1000 steps).
PLD_SETTING = {"sample_rate": 0.02, "noise_multiplier": 0.9, "steps": 500, "delta": 1e-5}
#: The target of exercise 3.
TARGET = {"target_epsilon": 2.0, "delta": 1e-5, "sample_rate": 0.01, "steps": 1000}


#: Total epsilon of 20 releases at epsilon = 0.05 each under basic composition.
check_basic_composition = NumericExercise(
    "basic composition", expected=1.0,
    ask="Under basic composition epsilons add up.",
    right="20 x 0.05 = 1.0.",
    hint="Add the epsilons of the twenty releases.",
    mistakes=(Mistake("0.05 is one release's cost", "Twenty releases each spend 0.05.", value=0.05),))


def _rdp_and_pld_epsilons() -> tuple[float, float]:
    """(RDP epsilon, PLD epsilon) at PLD_SETTING, both from the package's accountants."""
    from ppml_lab.dp.accounting import PLDAccountant, RDPAccountant

    s = PLD_SETTING
    out = []
    for acc in (RDPAccountant(), PLDAccountant()):
        acc.step(noise_multiplier=s["noise_multiplier"], sample_rate=s["sample_rate"], steps=int(s["steps"]))
        out.append(acc.get_epsilon(s["delta"]))
    return out[0], out[1]


def check_rdp_overstatement(answer: Any) -> CheckResult:
    """By how many percent the RDP epsilon exceeds the PLD epsilon at PLD_SETTING: 100 (eps_RDP / eps_PLD - 1)."""
    name = "RDP vs PLD"
    if answer is None:
        return not_answered(name, "Run both accountants on the same steps, then compare the two epsilons.")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    rdp, pld = _rdp_and_pld_epsilons()
    truth = 100.0 * (rdp / pld - 1.0)
    if abs(value - truth) <= 0.2:
        return passed(name, f"RDP says {format_spend(rdp)}, PLD {format_spend(pld)}: RDP overstates this run's epsilon by {truth:.1f} %.")
    if abs(value - 100.0 * (1.0 - pld / rdp)) <= 0.2:
        return failed(name, f"{value:.1f} % is measured against the RDP value",
                      "The question asks how far RDP lies above PLD: divide by the PLD epsilon.")
    if any(abs(value - e) <= 0.01 for e in (rdp, pld)):
        return failed(name, f"{value:g} is one of the epsilons, not the gap", "Answer in percent.")
    if abs(value - truth / 100.0) <= 0.002:
        return failed(name, f"{value:.4f} is a fraction", "Answer in percent (multiply by 100).")
    return failed(name, f"{value:.3g} is not it",
                  "Use q=0.02, sigma=0.9, 500 steps and delta=1e-5 for both RDPAccountant and PLDAccountant.")


def check_noise_multiplier(answer: Any) -> CheckResult:
    """A noise multiplier that meets TARGET (epsilon <= 2 at delta = 1e-5) and is within 0.05 of tight."""
    from ppml_lab.dp.accounting import compute_rdp, rdp_to_epsilon

    name = "noise multiplier for epsilon = 2"
    if answer is None:
        return not_answered(name, "find_noise_multiplier(target_epsilon=2.0, delta=1e-5, sample_rate=0.01, steps=1000)")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    if not (value > 0 and math.isfinite(value)):
        return failed(name, f"{value!r} is not a positive noise multiplier")
    t = TARGET
    rdp = compute_rdp(sample_rate=t["sample_rate"], noise_multiplier=value, steps=int(t["steps"]))
    from ppml_lab.dp.accounting import DEFAULT_ORDERS

    eps = rdp_to_epsilon(orders=DEFAULT_ORDERS, rdp=rdp, delta=t["delta"])[0]
    if eps > t["target_epsilon"]:
        return failed(name, f"sigma = {value:g} gives epsilon = {format_spend(eps)} > 2", "More noise: a larger multiplier.")
    if eps < t["target_epsilon"] - 0.05:
        return failed(name, f"sigma = {value:g} gives epsilon = {format_spend(eps)}: private, but wastes utility",
                      "Search for the smallest sigma that still meets the target.")
    return passed(name, f"sigma = {value:.4g} gives epsilon = {format_spend(eps)} <= 2.")


#: Budget 3.0; spends 0.5, 1.2 and 0.8, then a refused 1.0: the remaining epsilon.
check_remaining_budget = NumericExercise(
    "remaining budget", expected=0.5,
    ask="A refused spend costs nothing.",
    right="0.5: the refused release spent nothing, because nothing was released.",
    hint="3.0 - (0.5 + 1.2 + 0.8).",
    mistakes=(Mistake("-0.5 counts the refused spend", "The ledger refuses it before anything is released.",
                      value=-0.5),))
