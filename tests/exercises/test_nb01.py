import math

from ppml_lab.dp.mechanisms import gaussian_sigma_analytic
from ppml_lab.exercises import nb01


def test_truth_probability():
    assert nb01.check_truth_probability(0.75).ok
    assert not nb01.check_truth_probability(0.25).ok
    assert "flip" in nb01.check_truth_probability(0.25).message
    assert not nb01.check_truth_probability("three quarters").ok


def test_sum_sensitivity():
    assert nb01.check_sum_sensitivity(120).ok
    assert not nb01.check_sum_sensitivity(1).ok
    assert not nb01.check_sum_sensitivity(240).ok


def test_laplace_scale():
    assert nb01.check_laplace_scale(240.0).ok
    assert not nb01.check_laplace_scale(60.0).ok
    assert not nb01.check_laplace_scale(True).ok


def test_analytic_sigma():
    assert nb01.check_analytic_sigma(gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)).ok
    assert not nb01.check_analytic_sigma(math.sqrt(2 * math.log(1.25e5))).ok
    assert not nb01.check_analytic_sigma(1.0).ok


def test_unanswered():
    r = nb01.check_laplace_scale(None)
    assert not r.ok and not r.answered and "not answered" in str(r)
