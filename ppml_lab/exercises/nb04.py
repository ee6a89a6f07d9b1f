"""Exercise checks for notebook 04 (privacy auditing by membership inference)."""

from __future__ import annotations

import math

from ppml_lab.exercises import ChoiceExercise, Mistake, NumericExercise

#: Exercise 1's audit: true positives out of members, false positives out of non-members.
AUDIT_COUNTS = {"tp": 300, "n_members": 1000, "fp": 10, "n_nonmembers": 1000}


def _point_estimate() -> float:
    c = AUDIT_COUNTS
    return math.log((c["tp"] / c["n_members"]) / (c["fp"] / c["n_nonmembers"]))


def _one_run_ceiling() -> float:
    from ppml_lab.dp.one_run_audit import one_run_ceiling

    return one_run_ceiling(m=100, r=100, delta=0.0, confidence=0.95)


#: Point estimate of the epsilon lower bound log(TPR / FPR) for AUDIT_COUNTS (delta = 0).
check_point_estimate = NumericExercise(
    "point estimate of epsilon", expected=_point_estimate, tol=1e-3,
    ask="TPR = tp / n_members, FPR = fp / n_nonmembers; eps >= log(TPR / FPR).",
    right="log(0.30 / 0.01) = {truth:.3f}; with Clopper-Pearson the bound is lower (fp = 10 is a small count).",
    hint="TPR = 0.30, FPR = 0.01.",
    wrong="{value} is not log(TPR / FPR)",
    mistakes=(Mistake("30 is TPR / FPR itself", "epsilon is its natural log.", value=30.0, tol=1e-6),
              Mistake("{value:.3f} uses log base 10", "DP's e^epsilon means the natural log.", value=math.log10(30))))

#: Largest TPR any attack can have at FPR = 1 % against a (1, 0)-DP model: e^1 * 0.01.
check_max_tpr = NumericExercise(
    "largest TPR at 1 % FPR for epsilon = 1", expected=math.e * 0.01, tol=1e-4,
    ask="(epsilon, delta)-DP implies TPR <= e^epsilon * FPR + delta.",
    right="TPR <= e * 0.01 = {truth:.4f}: at low FPR, even epsilon = 1 allows little.",
    hint="epsilon = 1, FPR = 0.01, delta = 0.",
    wrong="{value} is not e^epsilon * FPR",
    mistakes=(Mistake("0.01 would be epsilon = 0", "Multiply the FPR by e^epsilon.", value=0.01, tol=1e-6),
              Mistake("that adds epsilon", "The bound is multiplicative: e^epsilon * FPR.", value=1.01, tol=1e-6)))

#: Multiple choice: what does an empirical lower bound of 0.3 beside an accountant epsilon of 8 show?
check_conclusion = ChoiceExercise(
    "what the auditor can conclude", correct="c", normalise=True,
    ask="Answer 'a', 'b', 'c' or 'd'.",
    right="An audit can refute a guarantee (a lower bound above the upper bound) but never certify one: a weak "
          "attack proves nothing about a stronger one.",
    reasons={
        "a": "A lower bound of 0.3 does not make the model 0.3-DP: a stronger attack might find more.",
        "b": "Nothing says the accountant is loose by 26x: the gap may be the attack's weakness.",
        "d": "The audit found no violation, but that is not evidence that the implementation is correct.",
    },
    hint="Which statements follow from lower bound <= upper bound alone?")

#: Largest one-run bound from r = 100 guesses, all correct, among m = 100 canaries (delta = 0, 95 %).
check_one_run_ceiling = NumericExercise(
    "one-run ceiling for 100 correct guesses", expected=_one_run_ceiling, tol=1e-3,
    ask="At delta = 0 the p-value of v = r correct is q^r with q = e^eps / (1 + e^eps); solve q^100 = 0.05, "
        "or call one_run_ceiling(m=100, r=100, delta=0.0).",
    right="{truth:.3f}: 100 perfect guesses cannot refute more than that, whatever the model; the bound grows "
          "only like log(r).",
    hint="Use delta = 0, confidence 0.95.",
    wrong="{value} is not the eps with (e^eps / (1 + e^eps))^100 = 0.05",
    mistakes=(Mistake("log(100) ignores the 95 % confidence", "Solve (e^eps / (1 + e^eps))^100 = 0.05.",
                      value=math.log(100)),))
