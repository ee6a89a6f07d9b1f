import math

from ppml_lab.exercises import nb15


def test_exposure_function():
    assert nb15.check_exposure_function(lambda r, n: math.log2(n) - math.log2(r))
    assert not nb15.check_exposure_function(lambda r, n: math.log(n) - math.log(r))
    assert "log base 2" in nb15.check_exposure_function(lambda r, n: math.log(n) - math.log(r)).hint
    assert not nb15.check_exposure_function(lambda r, n: math.log2(r))
    assert not nb15.check_exposure_function(lambda r, n: math.log2(n) - math.log2(r + 1))  # off by one
    assert not nb15.check_exposure_function(lambda r, n: 1 / 0)
    assert not nb15.check_exposure_function(3)
    assert not nb15.check_exposure_function(None).answered
    assert not nb15.check_exposure_function(lambda r, n: None).answered


def test_group_epsilon():
    from ppml_lab.dp.ledger import group_privacy

    assert nb15.check_group_epsilon(group_privacy(epsilon=0.5, delta=1e-6, group_size=16)[0], epsilon=0.5)
    assert not nb15.check_group_epsilon(0.5, epsilon=0.5)
    assert "different unit" in nb15.check_group_epsilon(0.5, epsilon=0.5).message
    assert not nb15.check_group_epsilon("x", epsilon=0.5)
    assert not nb15.check_group_epsilon(None, epsilon=0.5).answered


def test_dedup():
    assert nb15.check_dedup("b")
    assert not nb15.check_dedup("a") and not nb15.check_dedup("c") and not nb15.check_dedup("z")
    assert not nb15.check_dedup(None).answered
