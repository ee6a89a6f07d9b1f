"""Beaver triples: c = a b on reconstruction, one use only."""

import numpy as np
import pytest

from ppml_lab.exceptions import TripleReuseError
from ppml_lab.mpc.beaver import TrustedDealer, generate_triple


def _rec(parts):
    out = parts[0].copy()
    for p in parts[1:]:
        out += p
    return out


@pytest.mark.parametrize("n", [2, 3])
def test_triples_reconstruct_to_products(n):
    a, b, c = generate_triple((50,), n_parties=n, rng=1)
    assert len(a) == n
    np.testing.assert_array_equal(_rec(c), _rec(a) * _rec(b))
    a, b, c = generate_triple((4, 3), (3, 5), n_parties=n, kind="matmul", rng=2)
    np.testing.assert_array_equal(_rec(c), np.matmul(_rec(a), _rec(b)))


def test_matmul_triple_matches_python_ints():
    a, b, c = generate_triple((2, 3), (3, 2), kind="matmul", rng=3)
    A, B = _rec(a).astype(object), _rec(b).astype(object)
    ref = (A.dot(B)) % 2**64
    assert (_rec(c).astype(object) == ref).all()


def test_triple_is_single_use():
    shares = TrustedDealer(2, rng=0).multiplication_triple((3,))
    shares[0].consume()
    assert shares[0].used and not shares[1].used
    with pytest.raises(TripleReuseError, match="already used .* reveal x - x'"):
        shares[0].consume()


def test_dealer_ids_are_fresh_and_repr_hides_values():
    d = TrustedDealer(2, rng=0)
    t1, t2 = d.multiplication_triple((2,)), d.matmul_triple((2, 2), (2,))
    assert t1[0].triple_id != t2[0].triple_id
    text = repr(t1[0])
    assert "hidden" in text and str(int(t1[0].a[0])) not in text
    assert "issued=2" in repr(d)


def test_bad_matmul_shapes_raise():
    with pytest.raises(ValueError, match=r"matmul triple shapes must be \(m, k\) and \(k, n\)"):
        TrustedDealer(2).matmul_triple((2, 3), (4, 2))


def test_bad_dealer_parties_raise():
    with pytest.raises(ValueError, match="n_parties must be an integer >= 2, got 1"):
        TrustedDealer(1)


def test_dealer_replays_only_with_the_insecure_flag():
    """A seeded dealer's triples are OS randomness by default; insecure_seeded_keys=True makes them replayable."""
    def values(**kw):
        t = TrustedDealer(rng=7, **kw).multiplication_triple((4,))
        return np.concatenate([np.ravel(s.a) for s in t] + [np.ravel(s.c) for s in t])

    assert np.array_equal(values(insecure_seeded_keys=True), values(insecure_seeded_keys=True))
    assert not np.array_equal(values(), values())
