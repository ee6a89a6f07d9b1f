"""Secure protocols reconstruct the plaintext result; the secure dot product agrees with MPyC."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab._ports import free_port_pair
from ppml_lab.exceptions import PrecisionError, ShareMismatchError, TripleReuseError
from ppml_lab.mpc.beaver import TrustedDealer
from ppml_lab.mpc.fixed_point import FixedPoint
from ppml_lab.mpc.network import TripleLedger, run_protocol
from ppml_lab.mpc.protocols import (
    beaver_matmul,
    beaver_multiply,
    beaver_multiply_shares,
    open_shares,
    secure_dot,
    secure_inference,
    secure_matmul,
    secure_multiply,
    secure_sum,
    share_input,
    share_inputs,
    sigmoid_poly,
)

FXP = FixedPoint()
TOL = 4 * FXP.resolution


# ---- exact in the ring ---------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8), st.data())
def test_ring_multiply_is_exact(xs, data):
    ys = data.draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=len(xs), max_size=len(xs)))
    x, y = np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)
    res = secure_multiply(x, y, fxp=None)
    np.testing.assert_array_equal(res.value, x * y)  # int64 product wraps mod 2^64 exactly as the ring


def test_ring_matmul_and_dot_are_exact():
    g = np.random.default_rng(0)
    X = g.integers(-(2**40), 2**40, size=(6, 5))
    Y = g.integers(-(2**20), 2**20, size=(5, 3))
    np.testing.assert_array_equal(secure_matmul(X, Y, fxp=None, rng=1).value, X @ Y)
    res = secure_dot(X[0], Y[:, 0], fxp=None, rng=2)
    assert int(res.value) == int(X[0] @ Y[:, 0])
    assert res.rounds == 3  # both inputs shared in one round, open D and E, open the product


def test_fixed_point_matmul_within_tolerance():
    g = np.random.default_rng(1)
    X, Y = g.normal(size=(20, 10)), g.normal(size=(10, 4))
    res = secure_matmul(X, Y, rng=3)
    # each entry: truncation error <= 1 ulp plus encoding error 10 * (|x|+|y|) * ulp/2
    assert np.max(np.abs(res.value - X @ Y)) < 20 * FXP.resolution


def test_sum_of_three_hospitals():
    vals = [np.array([1.5, 10.0]), np.array([2.25, -3.0]), np.array([0.125, 4.0])]
    res = secure_sum(vals, rng=4)
    np.testing.assert_allclose(res.value, sum(vals), atol=TOL)
    assert res.rounds == 2
    # each party sends its 2 random masks and then its share to 2 others: 4 messages of 16 B + headers
    assert all(s.messages_sent == 4 for s in res.run.stats)


def test_secure_linear_and_logistic_inference():
    g = np.random.default_rng(2)
    X, w, b = g.normal(size=(30, 6)), g.normal(size=6) * 0.5, 0.2
    lin = secure_inference(X, w, b, kind="linear", rng=5)
    np.testing.assert_allclose(lin.value, X @ w + b, atol=20 * FXP.resolution)
    log = secure_inference(X, w, b, kind="logistic", rng=6)
    np.testing.assert_allclose(log.value, sigmoid_poly(X @ w + b), atol=1e-3)
    assert (lin.rounds, log.rounds) == (4, 9)  # + one exact truncation per product


def test_model_owner_learns_nothing():
    res = secure_inference(np.ones((3, 2)), np.ones(2), kind="linear", rng=7)
    assert res.run.outputs[0] is None and res.run.outputs[1] is not None


def test_seeded_runs_are_reproducible():
    X = np.arange(6.0).reshape(2, 3)
    a = secure_matmul(X, X.T, rng=11)
    b = secure_matmul(X, X.T, rng=11)
    np.testing.assert_array_equal(a.value, b.value)


# ---- triples -------------------------------------------------------------------------------------
def _reuse_party(party, x, y, triple):
    xs = share_input(party, x, owner=0, shape=(3,))
    ys = share_input(party, y, owner=1, shape=(3,))
    z1 = beaver_multiply(party, xs, ys, triple)
    z2 = beaver_multiply(party, xs, ys, triple)  # second use of the same triple
    return open_shares(party, z1 + z2)


def test_triple_reuse_is_refused():
    t = TrustedDealer(2, rng=0).multiplication_triple((3,))
    x = np.arange(3, dtype=np.uint64)
    with pytest.raises(TripleReuseError, match="already used"):
        run_protocol(_reuse_party, [(x, None, t[0]), (None, x, t[1])], timeout=5)


def test_triple_reuse_across_runs_is_refused():
    dealer = TrustedDealer(2, rng=0)
    secure_multiply([1.0], [2.0], dealer=dealer)
    t = dealer.multiplication_triple((3,))
    t[0].consume()  # e.g. used by an earlier protocol run
    z = np.zeros(3, np.uint64)
    with pytest.raises(TripleReuseError, match="already used"):
        run_protocol(_reuse_party, [(z, None, t[0]), (None, z, t[1])], timeout=5)


def _mult_party(party, x, y, triple):
    xs = share_input(party, x, owner=0, shape=(2, 2))
    ys = share_input(party, y, owner=1, shape=(2, 2))
    return open_shares(party, beaver_multiply(party, xs, ys, triple))


def _matmul_party(party, x, y, triple):
    xs = share_input(party, x, owner=0, shape=(2, 2))
    ys = share_input(party, y, owner=1, shape=(2, 2))
    return open_shares(party, beaver_matmul(party, xs, ys, triple))


@pytest.mark.parametrize("kind", ["matmul", "trunc"])
def test_beaver_multiply_refuses_a_matmul_triple_or_truncation_pair(kind):
    # a square matmul triple or a truncation pair fits the shapes: without the check the product was garbage
    dealer = TrustedDealer(2)
    t = dealer.matmul_triple((2, 2), (2, 2)) if kind == "matmul" else dealer.truncation_pair((2, 2), frac_bits=16)
    x = np.arange(4, dtype=np.uint64).reshape(2, 2)
    books = [TripleLedger(), TripleLedger()]
    with pytest.raises(ValueError, match=rf"triple must be an element-wise multiplication triple .*kind='mul', got kind='{kind}'"):
        run_protocol(_mult_party, [(x, None, t[0]), (None, x, t[1])], ledgers=books, timeout=10)
    assert len(books[0]) == len(books[1]) == 0 and not t[0].used  # refused before it was used


def test_beaver_matmul_refuses_an_elementwise_triple():
    t = TrustedDealer(2).multiplication_triple((2, 2))
    x = np.arange(4, dtype=np.uint64).reshape(2, 2)
    books = [TripleLedger(), TripleLedger()]
    with pytest.raises(ValueError, match=r"triple must be a matrix triple .*kind='matmul', got kind='mul'"):
        run_protocol(_matmul_party, [(x, None, t[0]), (None, x, t[1])], ledgers=books, timeout=10)
    assert len(books[0]) == 0 and not t[0].used


def test_beaver_multiply_shares_refuses_a_truncation_pair():
    t = TrustedDealer(2).truncation_pair((3,), frac_bits=16)
    z = [np.zeros(3, np.uint64), np.zeros(3, np.uint64)]
    with pytest.raises(ValueError, match=r"triple\[0\] must be an element-wise multiplication triple .*got kind='trunc'"):
        beaver_multiply_shares(z, z, t)
    assert not t[0].used


# ---- bad input -----------------------------------------------------------------------------------
def test_shape_mismatch_raises():
    with pytest.raises(ShareMismatchError, match="same shape"):
        secure_multiply([1.0, 2.0], [1.0])
    with pytest.raises(ShareMismatchError, match="inner dimensions differ"):
        secure_matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ShareMismatchError, match="3 features but weights has 2"):
        secure_inference(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ShareMismatchError, match="must be a vector"):
        secure_dot(np.ones((2, 2)), np.ones(2))


def test_out_of_range_input_raises():
    with pytest.raises(PrecisionError, match="x must satisfy"):
        secure_multiply([1e6], [1.0])


def test_bad_kind_raises():
    with pytest.raises(ValueError, match="kind must be one of 'linear', 'logistic', got 'relu'"):
        secure_inference(np.ones((2, 2)), np.ones(2), kind="relu")


def test_sum_values_type_raises():
    with pytest.raises(TypeError, match="values must be a list"):
        secure_sum(np.ones(3))


# ---- cross-check with MPyC ------------------------------------------------------------------------

def _mpyc_dot(x, y, kind, tmp_path):
    path = tmp_path / f"in_{kind}.npz"
    np.savez(path, x=x, y=y, kind=kind)
    script = pathlib.Path(__file__).with_name("mpyc_dot.py")
    cmd = [sys.executable, str(script), str(path), "-M2", "-B", str(free_port_pair()), "--no-log"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("MPYC_RESULT"))
    return line.split(" ", 1)[1]


@pytest.mark.slow
def test_secure_dot_agrees_with_mpyc(tmp_path):
    g = np.random.default_rng(3)
    xi, yi = g.integers(-1000, 1000, size=20), g.integers(-1000, 1000, size=20)
    ours = secure_dot(xi, yi, fxp=None, transport="processes", timeout=30).value
    assert int(ours) == int(_mpyc_dot(xi, yi, "int", tmp_path)) == int(xi @ yi)
    xf, yf = g.normal(size=20), g.normal(size=20)
    ours_f = float(secure_dot(xf, yf).value)
    theirs_f = float(_mpyc_dot(xf, yf, "fxp", tmp_path))
    # both use 16 fractional bits: each within ~20 ulp of the float answer
    assert abs(ours_f - theirs_f) < 40 * FXP.resolution
    assert abs(ours_f - float(xf @ yf)) < 20 * FXP.resolution


def _three_party_mult(party, x, y, triple):
    xs = share_input(party, x, owner=0, shape=(20_000,))
    ys = share_input(party, y, owner=2, shape=(20_000,))
    return open_shares(party, beaver_multiply(party, xs, ys, triple))


def test_beaver_multiply_with_three_parties_spanning_cache_blocks():
    g = np.random.default_rng(5)
    x = g.integers(0, 2**64, size=20_000, dtype=np.uint64)
    y = g.integers(0, 2**64, size=20_000, dtype=np.uint64)
    t = TrustedDealer(3, rng=6).multiplication_triple((20_000,))
    run = run_protocol(_three_party_mult, [(x, None, t[0]), (None, None, t[1]), (None, y, t[2])], rng=7)
    for out in run.outputs:
        np.testing.assert_array_equal(out, x * y)


def test_raw_beaver_multiply_shares_matches_plaintext_and_refuses_reuse():
    from ppml_lab.mpc.protocols import beaver_multiply_shares
    from ppml_lab.mpc.sharing import RING_MODULUS, random_elements

    g = np.random.default_rng(8)
    for n_parties in (2, 3):
        x = g.integers(0, 2**64, size=(100, 300), dtype=np.uint64)  # spans several cache blocks
        y = g.integers(0, 2**64, size=(100, 300), dtype=np.uint64)
        xs = [random_elements(x.shape, modulus=RING_MODULUS, rng=9) for _ in range(n_parties - 1)]
        ys = [random_elements(y.shape, modulus=RING_MODULUS, rng=10) for _ in range(n_parties - 1)]
        xs.append(x - sum(xs, np.zeros_like(x)))
        ys.append(y - sum(ys, np.zeros_like(y)))
        t = TrustedDealer(n_parties, rng=11).multiplication_triple(x.shape)
        zs = beaver_multiply_shares(xs, ys, t)
        np.testing.assert_array_equal(sum(zs, np.zeros_like(x)), x * y)
        with pytest.raises(TripleReuseError):
            beaver_multiply_shares(xs, ys, t)
    with pytest.raises(ShareMismatchError, match="one triple share per party"):
        beaver_multiply_shares(xs[:2], ys, TrustedDealer(3).multiplication_triple((1,)))


def _two_owner_party(party, mine, shapes):
    xs, ys = share_inputs(party, mine, owners=(0, 1), shapes=shapes)
    return open_shares(party, xs), open_shares(party, ys)


def test_share_inputs_shares_both_owners_in_one_round():
    x = np.arange(4, dtype=np.uint64)
    y = np.arange(6, dtype=np.uint64).reshape(2, 3) * np.uint64(7)
    run = run_protocol(_two_owner_party, [(x, [(4,), (2, 3)]), (y, [(4,), (2, 3)])], rng=5)
    for opened_x, opened_y in run.outputs:
        np.testing.assert_array_equal(opened_x, x)
        np.testing.assert_array_equal(opened_y, y)
    assert all(st.rounds == 3 for st in run.stats)  # one for both inputs, one per opening


def test_share_inputs_refuses_a_wrong_shape_or_dtype():
    x = np.arange(4, dtype=np.uint64)
    with pytest.raises(ShareMismatchError, match=r"uint64 of shape \(5,\)"):
        run_protocol(_two_owner_party, [(x, [(5,), (4,)]), (x, [(5,), (4,)])], rng=6)
    with pytest.raises(ShareMismatchError, match="uint64"):
        run_protocol(_two_owner_party, [(x.astype(np.int64), [(4,), (4,)]), (x, [(4,), (4,)])], rng=7)
