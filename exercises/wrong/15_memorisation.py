"""Typical wrong answers to the coding exercise of notebook 15 (exposure from the model's scores).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``exposure_from_scores``) and checks that otter's tests for the question reject it.
"""

import numpy as np


def exposure_from_scores_counts_itself(log_probs, index):
    """rank = number of candidates at least as likely (>=), which counts the canary itself: off by one."""
    lp = np.asarray(log_probs, dtype=float)
    return float(np.log2(lp.size) - np.log2(1 + np.count_nonzero(lp >= lp[index])))


def exposure_from_scores_ascending(log_probs, index):
    """Ranks from the LEAST likely candidate: a memorised canary gets exposure ~0."""
    lp = np.asarray(log_probs, dtype=float)
    return float(np.log2(lp.size) - np.log2(1 + np.count_nonzero(lp < lp[index])))


def exposure_from_scores_natural_log(log_probs, index):
    """Uses ln instead of log2: exposure in nats, not bits."""
    lp = np.asarray(log_probs, dtype=float)
    return float(np.log(lp.size) - np.log(1 + np.count_nonzero(lp > lp[index])))


def exposure_from_scores_zero_based(log_probs, index):
    """0-based rank (no +1): the most likely canary gets log2(0) = -inf."""
    lp = np.asarray(log_probs, dtype=float)
    with np.errstate(divide="ignore"):
        return float(np.log2(lp.size) - np.log2(np.count_nonzero(lp > lp[index])))


def exposure_from_scores_argsort_rank(log_probs, index):
    """Rank from the position in a sort: ties are broken arbitrarily, against the canary's favour."""
    lp = np.asarray(log_probs, dtype=float)
    order = np.argsort(-lp, kind="stable")
    rank = int(np.flatnonzero(order == index)[0]) + 1
    return float(np.log2(lp.size) - np.log2(rank))


WRONG = {"q15_exposure_from_scores": [
    exposure_from_scores_counts_itself,
    exposure_from_scores_ascending,
    exposure_from_scores_natural_log,
    exposure_from_scores_zero_based,
    exposure_from_scores_argsort_rank,
]}
