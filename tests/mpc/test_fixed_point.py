"""Fixed point: encoding bounds, round trip, SecureML truncation error and its measured failure rate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.exceptions import PrecisionError
from ppml_lab.mpc.fixed_point import FixedPoint, truncate_shares_secureml, truncation_failure_bound
from ppml_lab.mpc.sharing import share

FXP = FixedPoint(frac_bits=16, integer_bits=15)
reals = st.floats(min_value=-(2**15) + 1, max_value=2**15 - 1, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(reals, min_size=1, max_size=10))
def test_round_trip_within_half_ulp(xs):
    x = np.array(xs)
    assert np.max(np.abs(FXP.decode(FXP.encode(x)) - x)) <= FXP.resolution / 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=10), st.lists(st.floats(-100, 100), min_size=1, max_size=10))
def test_truncated_shared_product_within_one_ulp(xs, ys):
    n = min(len(xs), len(ys))
    x, y = np.array(xs[:n]), np.array(ys[:n])
    prod = FXP.encode(x) * FXP.encode(y)  # 2f fractional bits, |.| < 2^46: failure prob <= 2^-17
    s = share(prod, n_shares=2, rng=5)
    t0, t1 = truncate_shares_secureml(s[0].value, s[1].value, frac_bits=16)
    got = FXP.decode(t0 + t1)
    exact = FXP.decode(FXP.encode(x)) * FXP.decode(FXP.encode(y))
    assert np.max(np.abs(got - exact)) <= 2 * FXP.resolution


def test_failure_rate_matches_secureml_bound():
    # |z| ~ 2^56 in Z_2^64: Theorem 1 bounds failure by 2^(57-64) = 2^-7; the exact rate is |z| / 2^64.
    g = np.random.default_rng(7)
    n = 200_000
    z = g.integers(2**55, 2**56, size=n).astype(np.int64) * np.where(g.random(n) < 0.5, -1, 1)
    s = share(z, n_shares=2, rng=8)
    t0, t1 = truncate_shares_secureml(s[0].value, s[1].value, frac_bits=16)
    err = np.abs((t0 + t1).view(np.int64) - (z >> 16))  # arithmetic shift = floor(z / 2^16)
    fail_rate = np.mean(err > 1)
    bound = truncation_failure_bound(56)
    expected = np.mean(np.abs(z)) / 2.0**64  # ~ 0.0029; sd of the estimate ~ 1.2e-4
    assert bound == 2.0**-7
    assert fail_rate <= bound
    assert abs(fail_rate - expected) < 6e-4
    assert np.all(err[err > 1] > 2**40)  # failures are catastrophic, not off by one


def test_no_failure_for_small_values():
    g = np.random.default_rng(9)
    z = g.integers(-(2**40), 2**40, size=200_000)  # bound 2^-23: expected failures 0.02
    s = share(z, n_shares=2, rng=10)
    t0, t1 = truncate_shares_secureml(s[0].value, s[1].value, frac_bits=16)
    assert np.max(np.abs((t0 + t1).view(np.int64) - (z >> 16))) <= 1


def test_overflow_raises_instead_of_wrapping():
    with pytest.raises(PrecisionError, match=r"\|x\| < 2\^15 = 32768 .* got 40000.0"):
        FXP.encode([1.0, 40000.0])
    with pytest.raises(PrecisionError, match="got -32768.0"):
        FXP.encode(-32768.0)


def test_nan_raises():
    with pytest.raises(ValueError, match="finite"):
        FXP.encode([np.nan])


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match=r"frac_bits \+ integer_bits must be <= 31 .*got 20 \+ 20 = 40"):
        FixedPoint(frac_bits=20, integer_bits=20)
    with pytest.raises(TypeError, match="frac_bits must be an integer"):
        FixedPoint(frac_bits=16.0)
    with pytest.raises(ValueError, match="frac_bits must be an integer in"):
        FixedPoint(frac_bits=0)


def test_encoding_is_twos_complement():
    assert FXP.encode(-1.0).item() == 2**64 - 2**16
    assert FXP.encode(0.5).item() == 2**15
    assert FXP.decode(FXP.encode([-3.25]))[0] == -3.25


# ---- exact truncation with a dealer pair; the SecureML failure it replaces ------------------------
from ppml_lab.exceptions import TripleReuseError  # noqa: E402
from ppml_lab.mpc.beaver import TripleShare, TrustedDealer  # noqa: E402
from ppml_lab.mpc.fixed_point import (  # noqa: E402
    TRUNCATION_VALUE_BITS,
    secureml_value_bits,
    trunc_finish_share,
    trunc_mask_share,
)
from ppml_lab.mpc.network import TripleLedger, run_protocol  # noqa: E402
from ppml_lab.mpc.protocols import open_shares, secure_inference, secure_matmul, secure_multiply, truncate  # noqa: E402

BOUND = 2**TRUNCATION_VALUE_BITS


def _split(v, n, g):
    parts = [g.integers(0, 2**64, size=v.shape, dtype=np.uint64) for _ in range(n - 1)]
    last = v.copy()
    for p in parts:
        last -= p
    return [*parts, last]


def _exact_truncate_all(z, r, n, f, seed):
    """All n parties' side of the exact truncation, with the dealer's r chosen by the caller."""
    g = np.random.default_rng(seed)
    zs = _split(z.view(np.uint64), n, g)
    rs, hs, ms = (_split(v, n, g) for v in (r, r >> np.uint64(f), r >> np.uint64(63)))
    cs = [trunc_mask_share(zs[i], rs[i], lead=i == 0) for i in range(n)]
    c = cs[0].copy()
    for ci in cs[1:]:
        c += ci
    outs = [trunc_finish_share(c, hs[i], ms[i], lead=i == 0, frac_bits=f) for i in range(n)]
    res = outs[0].copy()
    for o in outs[1:]:
        res += o
    return res.view(np.int64)


r_values = st.one_of(
    st.integers(0, 2**20),  # r tiny: c < 2^63 without a wrap
    st.integers(2**64 - 2**63, 2**64 - 1),  # r in the top half: the wrap happens when z + 2^62 + r >= 2^64
    st.integers(2**64 - 2**20, 2**64 - 1),  # r right below 2^64
    st.integers(0, 2**64 - 1),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-BOUND + 1, BOUND - 1), r_values), min_size=1, max_size=20),
       st.integers(2, 4), st.integers(1, 30))
def test_exact_truncation_is_floor_or_one_more_for_every_mask(pairs, n, f):
    z = np.array([p[0] for p in pairs], dtype=np.int64)
    r = np.array([p[1] for p in pairs], dtype=np.uint64)
    err = _exact_truncate_all(z, r, n, f, seed=len(pairs))
    assert set(np.unique(err - (z >> f)).tolist()) <= {0, 1}


def test_secureml_bound_for_two_to_the_minus_40_is_23_bits():
    assert secureml_value_bits() == 23
    assert truncation_failure_bound(secureml_value_bits()) == 2.0**-40
    assert truncation_failure_bound(secureml_value_bits() + 1) > 2.0**-40
    # at f = 16 a product carries 32 fractional bits: |x y| < 2^(23 - 32) -- why the protocols do not use it


@pytest.mark.attack
def test_raw_secureml_truncation_fails_silently_at_large_inputs_exact_truncation_does_not():
    # |x|, |y| ~ 2e4 at FixedPoint(16, 15): the product is ~1.7e18 ring units, failure rate ~ |z| / 2^64
    g = np.random.default_rng(11)
    n = 20_000
    x = g.uniform(1.5e4, 2.5e4, n) * g.choice([-1, 1], n)
    y = g.uniform(1.5e4, 2.5e4, n) * g.choice([-1, 1], n)
    exact = FXP.decode(FXP.encode(x)) * FXP.decode(FXP.encode(y))
    prod = FXP.encode(x) * FXP.encode(y)
    s = share(prod, n_shares=2, rng=12)
    t0, t1 = truncate_shares_secureml(s[0].value, s[1].value, frac_bits=16)
    raw_err = np.abs(FXP.decode(t0 + t1) - exact)
    failed = raw_err > 1.0
    assert 0.05 < failed.mean() < 0.14  # expected mean|z| / 2^64 ~ 0.093
    np.testing.assert_allclose(raw_err[failed], 2.0**48 / 2**16, rtol=1e-6)  # each off by 2^32 ~ 4.3e9
    # the default protocol on the same inputs: every element right to one ulp
    res = secure_multiply(x, y, rng=13)
    assert np.max(np.abs(res.value - exact)) <= FXP.resolution


def test_exact_truncation_at_the_bound_never_fails_where_secureml_fails_often():
    g = np.random.default_rng(21)
    n = 1_000_000
    z = g.integers(BOUND - 2**56, BOUND, size=n, dtype=np.int64) * np.where(g.random(n) < 0.5, -1, 1)
    r = g.integers(0, 2**64, size=n, dtype=np.uint64)
    err = _exact_truncate_all(z, r, 2, 16, seed=22) - (z >> 16)
    assert np.all((err == 0) | (err == 1))  # zero failures in 10^6 trials at |z| ~ 2^62
    s = share(z, n_shares=2, rng=23)
    t0, t1 = truncate_shares_secureml(s[0].value, s[1].value, frac_bits=16)
    assert np.mean(np.abs((t0 + t1).view(np.int64) - (z >> 16)) > 1) > 0.2  # SecureML: ~|z|/2^64 = 25 %


def test_products_beyond_the_truncation_bound_are_refused():
    bound = FXP.max_product_abs
    assert bound == 2.0**30
    big = np.full((1, 3), 30_000.0)
    with pytest.raises(PrecisionError, match=r"x @ y must stay below 2\^\(62 - 2\*frac_bits\) = 2\^30 = 1.07374e\+09 .* got 2.7e\+09"):
        secure_matmul(big, big.T)
    with pytest.raises(PrecisionError, match=r"x @ weights must stay below .* got 3.6e\+09"):
        secure_inference(np.full((2, 4), 30_000.0), np.full(4, 30_000.0), kind="linear")
    with pytest.raises(PrecisionError, match=r"z\^3 .* must stay below"):
        secure_inference(np.full((2, 4), 100.0), np.full(4, 10.0), kind="logistic")
    ok = np.full((1, 1), 32_000.0)  # 1.024e9: just inside
    np.testing.assert_allclose(secure_matmul(ok, ok, rng=1).value, [[1.024e9]], atol=FXP.resolution)


def test_check_product_names_bound_and_value():
    with pytest.raises(PrecisionError, match=r"z must stay below .* got inf"):
        FXP.check_product("z", [1.0, np.inf])
    FXP.check_product("z", [])  # nothing to truncate
    FXP.check_product("z", [2.0**30 - 1])  # just inside
    with pytest.raises(PrecisionError, match=r"got 1.07374e\+09"):
        FXP.check_product("z", [2.0**30])  # the bound itself is outside


def _trunc_party(party, z_share, pair):
    return open_shares(party, truncate(party, z_share, frac_bits=16, pair=pair))


@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_truncation_runs_with_three_parties_and_refuses_a_reused_pair(transport):
    z = np.array([-(2**61), 5 * 2**16 + 7, 2**61 + 3], dtype=np.int64)
    zs = _split(z.view(np.uint64), 3, np.random.default_rng(1))
    pair = TrustedDealer(3, rng=2).truncation_pair((3,), frac_bits=16)
    books = [TripleLedger() for _ in range(3)]
    run = run_protocol(_trunc_party, [(zs[i], pair[i]) for i in range(3)], transport=transport, timeout=20,
                       start_method="fork", ledgers=books)
    assert set((run.outputs[0].view(np.int64) - (z >> 16)).tolist()) <= {0, 1}
    assert all(st.rounds == 2 for st in run.stats)  # one opening of c, one of the result
    with pytest.raises(TripleReuseError):
        run_protocol(_trunc_party, [(zs[i], pair[i]) for i in range(3)], transport=transport, timeout=20,
                     start_method="fork", ledgers=books)


def test_truncation_refuses_a_pair_for_other_frac_bits():
    pair = TrustedDealer(2, rng=3).truncation_pair((1,), frac_bits=8)
    z = np.zeros(1, dtype=np.uint64)
    with pytest.raises(ValueError, match="truncation pair made for frac_bits=16, got kind='trunc' with frac_bits=8"):
        run_protocol(_trunc_party, [(z, pair[0]), (z, pair[1])], timeout=5)
    triple = TrustedDealer(2, rng=4).multiplication_triple((1,))
    with pytest.raises(ValueError, match="got kind='mul'"):
        run_protocol(_trunc_party, [(z, triple[0]), (z, triple[1])], timeout=5)


def test_truncation_pair_is_consistent():
    pair = TrustedDealer(2, rng=5).truncation_pair((1000,), frac_bits=16)
    assert isinstance(pair[0], TripleShare) and pair[0].kind == "trunc" and "hidden" in repr(pair[0])
    r = pair[0].a + pair[1].a
    np.testing.assert_array_equal(pair[0].b + pair[1].b, r >> np.uint64(16))
    np.testing.assert_array_equal(pair[0].c + pair[1].c, r >> np.uint64(63))
