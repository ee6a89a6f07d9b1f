import math

from ppml_lab.exercises import nbmem


def test_exposure_function():
    assert nbmem.check_exposure_function(lambda r, n: math.log2(n) - math.log2(r))
    assert not nbmem.check_exposure_function(lambda r, n: math.log(n) - math.log(r))
    assert "log base 2" in nbmem.check_exposure_function(lambda r, n: math.log(n) - math.log(r)).hint
    assert not nbmem.check_exposure_function(lambda r, n: math.log2(r))
    assert not nbmem.check_exposure_function(lambda r, n: math.log2(n) - math.log2(r + 1))  # off by one
    assert not nbmem.check_exposure_function(lambda r, n: 1 / 0)
    assert not nbmem.check_exposure_function(3)
    assert not nbmem.check_exposure_function(None).answered
    assert not nbmem.check_exposure_function(lambda r, n: None).answered


def test_group_epsilon():
    from ppml_lab.dp.ledger import group_privacy

    assert nbmem.check_group_epsilon(group_privacy(epsilon=0.5, delta=1e-6, group_size=16)[0], epsilon=0.5)
    assert not nbmem.check_group_epsilon(0.5, epsilon=0.5)
    assert "different unit" in nbmem.check_group_epsilon(0.5, epsilon=0.5).message
    assert not nbmem.check_group_epsilon("x", epsilon=0.5)
    assert not nbmem.check_group_epsilon(None, epsilon=0.5).answered


def test_dedup():
    assert nbmem.check_dedup("b")
    assert not nbmem.check_dedup("a") and not nbmem.check_dedup("c") and not nbmem.check_dedup("z")
    assert not nbmem.check_dedup(None).answered
