"""The statistical audit passes correct mechanisms at their epsilon and flags broken ones.

Each audit states its bound at 95% confidence: a correct mechanism is wrongly flagged with
probability <= 5% per audit for a fresh seed; with the pinned seeds the outcome is deterministic.
"""

import numpy as np
import pytest
from scipy import stats

from ppml_lab.dp import mechanisms as M
from ppml_lab.dp.audit import audit_mechanism, clopper_pearson

N = 200_000


def _lap(eps, sens):
    return lambda v, g: M.laplace_mechanism(v, epsilon=eps, sensitivity=sens, rng=g)


@pytest.mark.parametrize(
    "name, mech, x1, eps, delta",
    [
        ("laplace", _lap(1.0, 1.0), 1.0, 1.0, 0.0),
        ("gaussian", lambda v, g: M.gaussian_mechanism(v, epsilon=1.0, delta=1e-5, sensitivity=1.0, rng=g), 1.0, 1.0, 1e-5),
        ("randomized response", lambda v, g: M.randomized_response(v.astype(int), epsilon=1.0, rng=g), 1.0, 1.0, 0.0),
        ("geometric", lambda v, g: M.geometric_mechanism(v.astype(int), epsilon=0.5, rng=g), 1.0, 0.5, 0.0),
    ],
)
def test_correct_mechanisms_pass(name, mech, x1, eps, delta):
    res = audit_mechanism(mech, 0.0, x1, n_samples=N, claimed_epsilon=eps, claimed_delta=delta, rng=11)
    assert not res.violation, str(res)
    assert res.epsilon_lower_bound > 0.3 * eps  # and the audit is not vacuous: it finds real leakage


def test_halved_noise_is_flagged():
    # claims epsilon = 1 but uses scale 1 / 2: the true epsilon is 2
    res = audit_mechanism(_lap(2.0, 1.0), 0.0, 1.0, n_samples=N, claimed_epsilon=1.0, rng=12)
    assert res.violation and res.epsilon_lower_bound > 1.2, str(res)


def test_ignored_sensitivity_is_flagged():
    # a sum of values in [0, 2] calibrated as if the sensitivity were 1: neighbours differ by 2
    res = audit_mechanism(_lap(1.0, 1.0), 0.0, 2.0, n_samples=N, claimed_epsilon=1.0, rng=13)
    assert res.violation and "VIOLATION" in str(res)


def test_clopper_pearson_equals_statsmodels_formula():
    low, high = clopper_pearson([0, 7, 50], 50, confidence=0.9)
    ref = [stats.binomtest(k, 50).proportion_ci(confidence_level=0.9, method="exact") for k in (0, 7, 50)]
    np.testing.assert_allclose(low, [r.low for r in ref], atol=1e-12)
    np.testing.assert_allclose(high, [r.high for r in ref], atol=1e-12)


def test_audit_bad_input():
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= 100, got 10"):
        audit_mechanism(_lap(1.0, 1.0), 0.0, 1.0, n_samples=10)
    with pytest.raises(TypeError, match=r"mechanism must be a callable"):
        audit_mechanism("laplace", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"claimed_epsilon must be a finite number > 0, got 0.0"):
        audit_mechanism(_lap(1.0, 1.0), 0.0, 1.0, claimed_epsilon=0.0)
    with pytest.raises(ValueError, match=r"mechanism must return one output per input value"):
        audit_mechanism(lambda v, g: v[:5], 0.0, 1.0, n_samples=100)
