"""Typical wrong answers to the coding exercise of notebook 04 (epsilon lower bound from audit counts)."""

import math

from scipy import stats


def plug_in(tp, positives, fp, negatives, *, delta, confidence):
    """The point estimate ln((TPR - delta) / FPR), no confidence interval (overclaims on small samples)."""
    tpr, fpr = tp / positives, max(fp / negatives, 1e-12)
    return max(0.0, math.log((tpr - delta) / fpr)) if tpr - delta > 0 else 0.0


def bounds_swapped(tp, positives, fp, negatives, *, delta, confidence):
    """Upper bound on the TPR and lower bound on the FPR: the optimistic ends, not the conservative ones."""
    a = 1 - confidence
    tpr = stats.beta.ppf(1 - a / 2, tp + 1, positives - tp) if tp < positives else 1.0
    fpr = stats.beta.ppf(a / 2, fp, negatives - fp + 1) if fp > 0 else 1e-12
    return max(0.0, math.log((tpr - delta) / fpr)) if tpr - delta > 0 else 0.0


def full_alpha_each_side(tp, positives, fp, negatives, *, delta, confidence):
    """One-sided bounds at 1 - confidence each (joint confidence only 1 - 2 (1 - confidence))."""
    a = 1 - confidence
    tpr = stats.beta.ppf(a, tp, positives - tp + 1) if tp > 0 else 0.0
    fpr = stats.beta.ppf(1 - a, fp + 1, negatives - fp) if fp < negatives else 1.0
    return max(0.0, math.log((tpr - delta) / fpr)) if tpr - delta > 0 else 0.0


def forgets_delta(tp, positives, fp, negatives, *, delta, confidence):
    """Right Clopper-Pearson ends, but does not subtract delta from the TPR bound."""
    a = 1 - confidence
    tpr = stats.beta.ppf(a / 2, tp, positives - tp + 1) if tp > 0 else 0.0
    fpr = stats.beta.ppf(1 - a / 2, fp + 1, negatives - fp) if fp < negatives else 1.0
    return max(0.0, math.log(tpr / fpr)) if tpr > 0 else 0.0


def wald_interval(tp, positives, fp, negatives, *, delta, confidence):
    """Normal-approximation (Wald) interval: collapses to the point estimate when fp = 0 or tp = positives."""
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p1, p0 = tp / positives, fp / negatives
    tpr = p1 - z * math.sqrt(p1 * (1 - p1) / positives)
    fpr = max(p0 + z * math.sqrt(p0 * (1 - p0) / negatives), 1e-12)
    return max(0.0, math.log((tpr - delta) / fpr)) if tpr - delta > 0 else 0.0


WRONG = {"q04_epsilon_lower_bound": [plug_in, bounds_swapped, full_alpha_each_side, forgets_delta, wald_interval]}
