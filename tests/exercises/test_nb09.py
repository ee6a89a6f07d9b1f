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


def _reference_strip(y, self_mask, pair_masks, me):
    x = y - self_mask
    for v, m in pair_masks.items():
        x = x - m if me < v else x + m
    return x


def test_strip_masks_reference_passes():
    assert nb09.check_strip_masks(_reference_strip).ok
    assert not nb09.check_strip_masks(None).answered


def test_strip_masks_typical_wrong_answers_fail_with_their_reason():
    def keeps_self_mask(y, s, p, me):
        return _reference_strip(y, s, p, me) + s

    def flipped(y, s, p, me):
        x = y - s
        for v, m in p.items():
            x = x + m if me < v else x - m
        return x

    def floats(y, s, p, me):
        return _reference_strip(y, s, p, me).astype(np.float64)

    def crashes(y, s, p, me):
        raise KeyError("oops")

    assert "self mask is still there" in nb09.check_strip_masks(keeps_self_mask).message
    assert "wrong sign" in nb09.check_strip_masks(flipped).message
    assert "dtype float64" in nb09.check_strip_masks(floats).message
    assert "raised KeyError" in nb09.check_strip_masks(crashes).message
    assert not nb09.check_strip_masks(lambda y, s, p, me: y).ok
    assert not nb09.check_strip_masks(42).ok
