"""Exercise checks for notebook 04 (privacy auditing by membership inference)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.exercises import CheckResult, as_number, failed, not_answered, passed

#: Exercise 1's audit: true positives out of members, false positives out of non-members.
AUDIT_COUNTS = {"tp": 300, "n_members": 1000, "fp": 10, "n_nonmembers": 1000}




def check_point_estimate(answer: Any) -> CheckResult:
    """Point estimate of the epsilon lower bound log(TPR / FPR) for AUDIT_COUNTS (delta = 0)."""
    name = "point estimate of epsilon"
    if answer is None:
        return not_answered(name, "TPR = tp / n_members, FPR = fp / n_nonmembers; eps >= log(TPR / FPR).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    c = AUDIT_COUNTS
    truth = math.log((c["tp"] / c["n_members"]) / (c["fp"] / c["n_nonmembers"]))
    if abs(value - truth) <= 1e-3:
        return passed(name, f"log(0.30 / 0.01) = {truth:.3f}; with Clopper-Pearson the bound is lower "
                      "(fp = 10 is a small count).")
    if abs(value - 30.0) <= 1e-6:
        return failed(name, "30 is TPR / FPR itself", "epsilon is its natural log.")
    if abs(value - math.log10(30)) <= 1e-3:
        return failed(name, f"{value:.3f} uses log base 10", "DP's e^epsilon means the natural log.")
    return failed(name, f"{value} is not log(TPR / FPR)", "TPR = 0.30, FPR = 0.01.")


def check_max_tpr(answer: Any) -> CheckResult:
    """Largest TPR any attack can have at FPR = 1 % against a (1, 0)-DP model: e^1 * 0.01."""
    name = "largest TPR at 1 % FPR for epsilon = 1"
    if answer is None:
        return not_answered(name, "(epsilon, delta)-DP implies TPR <= e^epsilon * FPR + delta.")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    truth = math.e * 0.01
    if abs(value - truth) <= 1e-4:
        return passed(name, f"TPR <= e * 0.01 = {truth:.4f}: at low FPR, even epsilon = 1 allows little.")
    if abs(value - 0.01) <= 1e-6:
        return failed(name, "0.01 would be epsilon = 0", "Multiply the FPR by e^epsilon.")
    if abs(value - (0.01 + 1)) <= 1e-6:
        return failed(name, "that adds epsilon", "The bound is multiplicative: e^epsilon * FPR.")
    return failed(name, f"{value} is not e^epsilon * FPR", "epsilon = 1, FPR = 0.01, delta = 0.")


def check_conclusion(answer: Any) -> CheckResult:
    """Multiple choice: what does an empirical lower bound of 0.3 beside an accountant epsilon of 8 show?"""
    name = "what the auditor can conclude"
    if answer is None:
        return not_answered(name, "Answer 'a', 'b', 'c' or 'd'.")
    if not isinstance(answer, str) or answer.strip().lower() not in {"a", "b", "c", "d"}:
        return failed(name, f"expected one of 'a', 'b', 'c', 'd', got {answer!r}")
    choice = answer.strip().lower()
    if choice == "c":
        return passed(name, "An audit can refute a guarantee (a lower bound above the upper bound) but never "
                      "certify one: a weak attack proves nothing about a stronger one.")
    reasons = {
        "a": "A lower bound of 0.3 does not make the model 0.3-DP: a stronger attack might find more.",
        "b": "Nothing says the accountant is loose by 26x: the gap may be the attack's weakness.",
        "d": "The audit found no violation, but that is not evidence that the implementation is correct.",
    }
    return failed(name, reasons[choice], "Which statements follow from lower bound <= upper bound alone?")


def check_one_run_ceiling(answer: Any) -> CheckResult:
    """Largest one-run bound from r = 100 guesses, all correct, among m = 100 canaries (delta = 0, 95 %)."""
    name = "one-run ceiling for 100 correct guesses"
    if answer is None:
        return not_answered(name, "At delta = 0 the p-value of v = r correct is q^r with q = e^eps / (1 + e^eps); "
                            "solve q^100 = 0.05, or call one_run_ceiling(m=100, r=100, delta=0.0).")
    value = as_number(name, answer)
    if isinstance(value, CheckResult):
        return value
    from ppml_lab.dp.one_run_audit import one_run_ceiling

    truth = one_run_ceiling(m=100, r=100, delta=0.0, confidence=0.95)
    if abs(value - truth) <= 1e-3:
        return passed(name, f"{truth:.3f}: 100 perfect guesses cannot refute more than that, whatever the model; "
                      "the bound grows only like log(r).")
    if abs(value - math.log(100)) <= 1e-3:
        return failed(name, "log(100) ignores the 95 % confidence", "Solve (e^eps / (1 + e^eps))^100 = 0.05.")
    if value == float("inf"):
        return failed(name, "finite guesses never prove infinite epsilon", "Even 100/100 could be luck at p = 0.05.")
    return failed(name, f"{value} is not the eps with (e^eps / (1 + e^eps))^100 = 0.05", "Use delta = 0, confidence 0.95.")
