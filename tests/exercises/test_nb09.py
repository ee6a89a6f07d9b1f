import numpy as np

from ppml_lab.exercises import nb09


def test_pair_masks():
    assert nb09.check_pair_masks(4).ok
    assert not nb09.check_pair_masks(10).ok  # pairs in the round
    assert not nb09.check_pair_masks(5).ok
    assert not nb09.check_pair_masks("4").ok
    assert not nb09.check_pair_masks(None).answered


def test_max_dropouts():
    assert nb09.check_max_dropouts(2).ok
    assert not nb09.check_max_dropouts(3).ok
    assert nb09.check_max_dropouts(40, n_clients=100, threshold=60).ok


def test_two_party_leak():
    mine, other = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    kw = dict(my_update=mine, aggregate=mine + other, other_update=other)
    assert nb09.check_two_party_leak(other, **kw).ok
    assert not nb09.check_two_party_leak(-other, **kw).ok
    assert "sign" in nb09.check_two_party_leak(-other, **kw).message
    assert not nb09.check_two_party_leak(mine, **kw).ok
