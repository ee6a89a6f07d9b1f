"""The foundation's loss-threshold attack (Yeom et al. 2018) against scikit-learn's ROC."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from ppml_lab.attacks.membership_inference import cross_entropy_losses, loss_threshold_attack, roc_from_scores


def test_roc_equals_sklearn_with_ties():
    g = np.random.default_rng(0)
    m, nm = g.normal(1, 1, 400).round(1), g.normal(0, 1, 600).round(1)
    res = roc_from_scores(m, nm)
    labels = np.r_[np.ones(400), np.zeros(600)]
    assert res.auc == pytest.approx(roc_auc_score(labels, np.r_[m, nm]), abs=1e-12)
    fpr, tpr, _ = roc_curve(labels, np.r_[m, nm], drop_intermediate=False)
    assert res.advantage == pytest.approx(np.max(tpr - fpr))
    assert res.balanced_accuracy == pytest.approx(0.5 * (1 + res.advantage))


def test_separable_and_useless_attacks():
    perfect = loss_threshold_attack(np.zeros(50), np.ones(50))
    assert perfect.auc == 1.0 and perfect.advantage == 1.0 and perfect.tpr_at_fpr(0.0) == 1.0
    g = np.random.default_rng(1)
    same = loss_threshold_attack(g.exponential(size=5000), g.exponential(size=5000))
    assert abs(same.auc - 0.5) < 0.03  # 5000 vs 5000: sd of AUC ~ 0.006


def test_cross_entropy_losses():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert np.allclose(cross_entropy_losses(p, [0, 0]), [-np.log(0.9), -np.log(0.2)])


def test_bad_inputs():
    with pytest.raises(ValueError, match="losses must be >= 0"):
        loss_threshold_attack([-1.0], [0.5])
    with pytest.raises(ValueError, match="member_scores must not be empty"):
        roc_from_scores([], [1.0])
    with pytest.raises(ValueError, match="y must hold class indices in \\[0, 1\\]"):
        cross_entropy_losses([[0.5, 0.5]], [2])
    with pytest.raises(ValueError, match="proba and y must have the same number of rows"):
        cross_entropy_losses([[0.5, 0.5]], [0, 1])
    with pytest.raises(ValueError, match="target_fpr must be a finite number in \\[0, 1\\]"):
        loss_threshold_attack([0.1], [0.2]).tpr_at_fpr(2.0)
