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
