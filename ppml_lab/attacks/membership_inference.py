"""Membership inference: was this record in the training set?

The loss-threshold attack of Yeom, Giacomelli, Fredrikson & Jha 2018 ("Privacy Risk in Machine Learning:
Analyzing the Connection to Overfitting", CSF 2018, arXiv:1709.01604): predict "member" when the model's
loss on a record is below a threshold. Sweeping the threshold gives an ROC curve; the membership
advantage is max over thresholds of TPR - FPR (Yeom et al., Def. 4), which Theorem 1 of the same paper
bounds by e^epsilon - 1 for an epsilon-DP training algorithm.

Threat model: black-box access to the model's output probabilities and the true label of the candidate
record; the attacker knows (or calibrates) a threshold, e.g. from the average training loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._validation import check_array, check_fraction

__all__ = [
    "AttackResult",
    "cross_entropy_losses",
    "roc_from_scores",
    "loss_threshold_attack",
]

_EPS = 1e-12


@dataclass(frozen=True)
class AttackResult:
    """ROC of a membership-inference attack (score higher = "member")."""

    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    auc: float
    advantage: float
    n_members: int
    n_nonmembers: int

    def tpr_at_fpr(self, target_fpr: float) -> float:
        """Highest TPR reached at an FPR no larger than ``target_fpr`` (e.g. 0.001, 0.01)."""
        check_fraction("target_fpr", target_fpr, low_inclusive=True)
        ok = self.fpr <= target_fpr + 1e-15
        return float(self.tpr[ok].max()) if ok.any() else 0.0

    @property
    def balanced_accuracy(self) -> float:
        """Best accuracy on a balanced member/non-member set: (1 + advantage) / 2."""
        return 0.5 * (1.0 + self.advantage)


def cross_entropy_losses(proba: Any, y: Any) -> np.ndarray:
    """Per-sample cross-entropy -log p(y_i | x_i) from predicted class probabilities (n, k)."""
    p = check_array("proba", proba, ndim=2)
    labels = check_array("y", y, ndim=1, integer=True)
    if p.shape[0] != labels.shape[0]:
        raise ValueError(f"proba and y must have the same number of rows, got {p.shape[0]} and {labels.shape[0]}")
    if labels.min() < 0 or labels.max() >= p.shape[1]:
        raise ValueError(f"y must hold class indices in [0, {p.shape[1] - 1}], got range [{labels.min()}, {labels.max()}]")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("proba must hold probabilities in [0, 1]")
    return -np.log(np.clip(p[np.arange(len(labels)), labels], _EPS, 1.0))


def roc_from_scores(member_scores: Any, nonmember_scores: Any) -> AttackResult:
    """ROC curve, AUC and advantage for scores where higher means "member".

    Thresholds run over the distinct scores from high to low; ties are handled as scikit-learn's
    ``roc_curve`` does (one point per distinct threshold), so the AUC equals ``roc_auc_score``.
    """
    m = check_array("member_scores", member_scores, ndim=1)
    nm = check_array("nonmember_scores", nonmember_scores, ndim=1)
    scores = np.concatenate([m, nm])
    labels = np.concatenate([np.ones(m.size), np.zeros(nm.size)])
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    # last index of each run of equal scores: one ROC point per distinct threshold
    distinct = np.flatnonzero(np.diff(s)) if s.size > 1 else np.array([], dtype=int)
    ends = np.concatenate([distinct, [s.size - 1]])
    tp = np.cumsum(lab)[ends]
    fp = (ends + 1) - tp
    tpr = np.concatenate([[0.0], tp / m.size])
    fpr = np.concatenate([[0.0], fp / nm.size])
    thresholds = np.concatenate([[np.inf], s[ends]])
    auc = float(np.trapezoid(tpr, fpr))  # area under the piecewise-linear ROC
    advantage = float(np.max(tpr - fpr))  # Yeom et al. 2018, Def. 4: max_t TPR(t) - FPR(t)
    return AttackResult(fpr, tpr, thresholds, auc, advantage, int(m.size), int(nm.size))


def loss_threshold_attack(member_losses: Any, nonmember_losses: Any) -> AttackResult:
    """Yeom et al. 2018: score = -loss (low loss -> member), swept over every threshold."""
    m = check_array("member_losses", member_losses, ndim=1)
    nm = check_array("nonmember_losses", nonmember_losses, ndim=1)
    if np.any(m < 0) or np.any(nm < 0):
        raise ValueError("losses must be >= 0 (cross-entropy); got a negative loss")
    return roc_from_scores(-m, -nm)
