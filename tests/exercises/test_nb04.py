"""Notebook 04 exercise checks: reference answers pass, typical wrong answers fail."""

import math

from ppml_lab.exercises import nb04


def test_point_estimate():
    assert nb04.check_point_estimate(math.log(0.3 / 0.01))
    assert not nb04.check_point_estimate(30)
    assert not nb04.check_point_estimate(math.log10(30))
    assert not nb04.check_point_estimate("x")
    assert not nb04.check_point_estimate(None).answered


def test_max_tpr():
    assert nb04.check_max_tpr(math.e * 0.01)
    assert not nb04.check_max_tpr(0.01)
    assert not nb04.check_max_tpr(1.01)
    assert not nb04.check_max_tpr(float("inf"))


def test_conclusion():
    assert nb04.check_conclusion("c")
    assert nb04.check_conclusion(" C ")
    for wrong in ("a", "b", "d"):
        assert not nb04.check_conclusion(wrong)
    assert not nb04.check_conclusion(3)
    assert "not answered yet" in str(nb04.check_conclusion(None))


def test_one_run_ceiling():
    truth = -math.log(0.05 ** (-1 / 100) - 1)  # (e^eps / (1 + e^eps))^100 = 0.05
    assert nb04.check_one_run_ceiling(truth)
    assert not nb04.check_one_run_ceiling(math.log(100))
    assert not nb04.check_one_run_ceiling(float("inf"))
    assert not nb04.check_one_run_ceiling(3.0)
    assert not nb04.check_one_run_ceiling(None).answered
