"""Mechanisms against diffprivlib (distributions, analytic Gaussian), their estimators, and bad input.

Statistical tests use seeded generators and a significance level of 1e-3: with a fresh seed each test
would fail by chance at most 0.1% of the time; with the pinned seeds the outcome is deterministic.
"""

import math

import numpy as np
import pytest
from diffprivlib.mechanisms import Exponential, Gaussian, GaussianAnalytic, Geometric, Laplace
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ppml_lab.dp import mechanisms as M
from ppml_lab.exceptions import PrecisionError

ALPHA = 1e-3  # per-test false-failure rate


def _diffprivlib_draws(mech, n, value=0.0):
    return np.array([mech.randomise(value) for _ in range(n)])


# --- distributions vs diffprivlib -----------------------------------------------------------------
def test_laplace_matches_diffprivlib_ks():
    ref = _diffprivlib_draws(Laplace(epsilon=0.5, sensitivity=2.0, random_state=1), 3000, 10.0)
    ours = M.laplace_mechanism(np.full(20000, 10.0), epsilon=0.5, sensitivity=2.0, rng=2)
    assert stats.ks_2samp(ours, ref).pvalue > ALPHA
    # and against the exact Laplace CDF, plus the stated variance 2 b^2
    assert stats.kstest(ours, stats.laplace(loc=10.0, scale=4.0).cdf).pvalue > ALPHA
    assert M.laplace_stats(epsilon=0.5, sensitivity=2.0).variance == pytest.approx(32.0)
    assert np.var(ours) == pytest.approx(32.0, rel=0.06)  # sd of the sample variance ~ 1.6% at n=20000


def test_textbook_laplace_has_the_right_distribution_too():
    ours = M.laplace_mechanism_textbook(np.zeros(20000), epsilon=1.0, sensitivity=1.0, rng=3)
    assert stats.kstest(ours, stats.laplace(scale=1.0).cdf).pvalue > ALPHA


@pytest.mark.parametrize("method, ref_cls", [("analytic", GaussianAnalytic), ("classical", Gaussian)])
def test_gaussian_matches_diffprivlib_ks(method, ref_cls):
    ref_mech = ref_cls(epsilon=0.8, delta=1e-5, sensitivity=1.5, random_state=4)
    ref = _diffprivlib_draws(ref_mech, 3000)
    ours = M.gaussian_mechanism(np.zeros(20000), epsilon=0.8, delta=1e-5, sensitivity=1.5, method=method, rng=5)
    assert stats.ks_2samp(ours, ref).pvalue > ALPHA
    sigma = M.gaussian_stats(epsilon=0.8, delta=1e-5, sensitivity=1.5, method=method).std
    assert sigma == pytest.approx(ref_mech._scale, rel=1e-9)
    assert stats.kstest(ours, stats.norm(scale=sigma).cdf).pvalue > ALPHA


# (epsilon=10, delta=1e-8) is left out: diffprivlib's (1 + erf) / 2 loses digits there, see the next test
@pytest.mark.parametrize(
    "epsilon, delta",
    [(e, d) for e in (0.05, 0.5, 1.0, 3.0, 10.0) for d in (1e-8, 1e-5, 1e-2) if (e, d) != (10.0, 1e-8)],
)
@pytest.mark.parametrize("sensitivity", [0.3, 1.0, 7.0])
def test_analytic_sigma_equals_diffprivlib(epsilon, delta, sensitivity):
    ours = M.gaussian_sigma_analytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    ref = GaussianAnalytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity)._scale
    assert ours == pytest.approx(ref, rel=1e-9)


def test_analytic_sigma_where_diffprivlib_rounds():
    # epsilon=10, delta=1e-8: diffprivlib computes Phi(-z) as (1 + erf(-z/sqrt2)) / 2, which cancels for
    # large z; ours uses scipy's ndtr. The exact privacy profile (Balle & Wang 2018, Thm 8, 50 digits)
    # shows ours is the one that hits delta.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    eps, delta = 10, 1e-8
    ours = M.gaussian_sigma_analytic(epsilon=eps, delta=delta, sensitivity=1.0)
    ref = GaussianAnalytic(epsilon=eps, delta=delta, sensitivity=1.0)._scale

    def profile(s):
        s = mpmath.mpf(s)
        return mpmath.ncdf(1 / (2 * s) - eps * s) - mpmath.e**eps * mpmath.ncdf(-1 / (2 * s) - eps * s)

    assert abs(profile(ours) / delta - 1) < 1e-9
    assert abs(profile(ref) / delta - 1) > 1e-6
    assert ours == pytest.approx(ref, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(epsilon=st.floats(0.01, 5.0), delta=st.floats(1e-9, 0.1))
def test_analytic_sigma_is_tight_and_beats_classical(epsilon, delta):
    sigma = M.gaussian_sigma_analytic(epsilon=epsilon, delta=delta, sensitivity=1.0)

    def profile(s):  # Balle & Wang 2018, Thm 8: the exact delta of N(0, s^2) at this epsilon
        return stats.norm.cdf(0.5 / s - epsilon * s) - math.exp(epsilon) * stats.norm.cdf(-0.5 / s - epsilon * s)

    assert profile(sigma) <= delta * (1 + 1e-6)  # epsilon is never exceeded by the calibration
    assert profile(sigma * (1 - 1e-6)) > delta * (1 - 1e-3)  # and sigma is (nearly) the smallest
    if epsilon < 1:
        assert sigma <= M.gaussian_sigma_classical(epsilon=epsilon, delta=delta, sensitivity=1.0)


def test_geometric_matches_diffprivlib_chi_square():
    ref = _diffprivlib_draws(Geometric(epsilon=0.7, sensitivity=1, random_state=6), 3000, 0).astype(int)
    ours = M.geometric_mechanism(np.zeros(20000, dtype=int), epsilon=0.7, rng=7)
    assert ours.dtype == np.int64
    edges = np.array([-np.inf, -4.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 4.5, np.inf])
    table = np.vstack([np.histogram(ours, edges)[0], np.histogram(ref, edges)[0]])
    assert stats.chi2_contingency(table).pvalue > ALPHA


def test_exponential_mechanism_matches_diffprivlib():
    utility = [0.0, 1.0, 2.0, 4.0]
    probs = M.exponential_mechanism_probabilities(utility, epsilon=1.0, sensitivity=1.0)
    ref_mech = Exponential(epsilon=1.0, sensitivity=1.0, utility=utility, random_state=8)
    np.testing.assert_allclose(probs, np.diff(np.r_[0.0, ref_mech._probabilities]), rtol=1e-9)  # theirs is a CDF
    picks = M.exponential_mechanism(np.tile(utility, (20000, 1)), epsilon=1.0, sensitivity=1.0, rng=9)
    counts = np.bincount(picks, minlength=4)
    assert stats.chisquare(counts, 20000 * probs).pvalue > ALPHA
    assert isinstance(M.exponential_mechanism(utility, epsilon=1.0, sensitivity=1.0, rng=1), int)


def test_report_noisy_max_prefers_the_best_and_is_noisy():
    scores = np.tile([10.0, 11.0, 30.0], (2000, 1))
    picks = M.report_noisy_max(scores, epsilon=1.0, sensitivity=1.0, rng=10)
    assert np.mean(picks == 2) > 0.99
    near = M.report_noisy_max(np.tile([10.0, 10.5], (2000, 1)), epsilon=0.5, sensitivity=1.0, rng=11)
    assert 0.3 < np.mean(near == 1) < 0.8


def test_discrete_gaussian_mechanism_and_rho():
    out, rho = M.discrete_gaussian_mechanism(np.full(3000, 5), noise_multiplier=2.0, rng=12)
    assert rho == pytest.approx(0.125)
    ks = np.arange(-30, 31)
    p = np.exp(-(ks**2) / 8.0)
    p /= p.sum()
    assert np.var(out) == pytest.approx(float((p * ks**2).sum()), rel=0.1)
    assert out.dtype == np.int64 and abs(np.mean(out) - 5) < 0.15


# --- randomized response -------------------------------------------------------------------------
def test_randomized_response_estimator_is_unbiased():
    g = np.random.default_rng(13)
    truth = (g.random(50000) < 0.3).astype(int)
    resp = M.randomized_response(truth, epsilon=1.0, rng=14)
    est = M.randomized_response_estimate(resp, epsilon=1.0)
    sd = M.randomized_response_stats(epsilon=1.0, n=50000, true_fraction=truth.mean()).std
    assert abs(est - truth.mean()) < 4 * sd  # 4 sd: two-sided false-failure rate 6e-5
    p = math.e / (1 + math.e)
    assert np.mean(resp == truth) == pytest.approx(p, abs=0.01)


def test_k_randomized_response_estimator():
    g = np.random.default_rng(15)
    truth = g.choice(5, size=50000, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    resp = M.k_randomized_response(truth, k=5, epsilon=2.0, rng=16)
    est = M.k_randomized_response_estimate(resp, k=5, epsilon=2.0)
    np.testing.assert_allclose(est, np.bincount(truth, minlength=5) / 50000, atol=0.02)
    assert est.sum() == pytest.approx(1.0)
    p = math.exp(2) / (math.exp(2) + 4)
    assert np.mean(resp == truth) == pytest.approx(p, abs=0.01)


# --- queries ---------------------------------------------------------------------------------------
def test_clipped_queries():
    data = np.array([1.0, 2.0, 3.0, 100.0])
    s = M.clipped_sum(data, lower=0.0, upper=10.0, epsilon=1e6, rng=17)  # huge epsilon: nearly exact
    assert s == pytest.approx(16.0, abs=1e-3)
    assert M.clipped_count(data, epsilon=1e6, rng=18) == pytest.approx(4.0, abs=1e-3)
    assert M.clipped_mean(data, lower=0.0, upper=10.0, epsilon=1e6, rng=19) == pytest.approx(4.0, abs=1e-3)
    counts, edges = M.histogram(data, bins=[0, 2, 4, 200], epsilon=1e6, rng=20)
    np.testing.assert_allclose(counts, [1, 2, 1], atol=1e-3)
    assert len(edges) == 4


def test_outputs_lie_on_the_grid():
    out = M.laplace_mechanism(np.linspace(0, 1, 1000), epsilon=1.0, sensitivity=1.0, rng=21)
    from ppml_lab.dp.samplers import grid_step

    gamma = grid_step(1.0) / 2**M.GRID_SHRINK_MAX_BITS  # 1000 values: the grid is 2^ceil(log2 1000) (capped) finer
    np.testing.assert_array_equal(out / gamma, np.round(out / gamma))
    assert isinstance(M.laplace_mechanism(3.0, epsilon=1.0, sensitivity=1.0), float)


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(epsilon=0.0), ValueError, r"epsilon must be a finite number > 0, got 0.0"),
        (dict(epsilon=-1.0), ValueError, r"epsilon must be a finite number > 0, got -1.0"),
        (dict(epsilon=math.nan), ValueError, r"epsilon must be a finite number, got nan"),
        (dict(epsilon=math.inf), ValueError, r"epsilon must be a finite number, got inf"),
        (dict(sensitivity=0.0), ValueError, r"sensitivity must be a finite number > 0, got 0.0"),
        (dict(sensitivity="1"), TypeError, r"sensitivity must be a real number, got str"),
        (dict(value="abc"), TypeError, r"value must be a numeric array-like, got str"),
        (dict(value=[]), ValueError, r"value must not be empty"),
        (dict(value=[1.0, math.nan]), ValueError, r"value must contain only finite numbers"),
        (dict(value=1e300), PrecisionError, r"value must satisfy \|value\| < 2\^52"),
    ],
)
def test_laplace_bad_input(kwargs, exc, pattern):
    args = dict(value=1.0, epsilon=1.0, sensitivity=1.0) | kwargs
    value = args.pop("value")
    with pytest.raises(exc, match=pattern):
        M.laplace_mechanism(value, **args)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(delta=0.0), r"delta must be a finite number in \(0, 1\), got 0.0"),
        (dict(delta=1.0), r"delta must be a finite number in \(0, 1\), got 1.0"),
        (dict(delta=-0.1), r"delta must be a finite number in \(0, 1\), got -0.1"),
        (dict(epsilon=0.0), r"epsilon must be a finite number > 0, got 0.0"),
        (dict(sensitivity=-2.0), r"sensitivity must be a finite number > 0, got -2.0"),
        (dict(method="fast"), r"method must be one of 'analytic', 'classical', got 'fast'"),
        (dict(method="classical", epsilon=1.5), r"epsilon must be a finite number in \(0, 1\), got 1.5"),
    ],
)
def test_gaussian_bad_input(kwargs, pattern):
    args = dict(epsilon=0.5, delta=1e-5, sensitivity=1.0) | kwargs
    with pytest.raises(ValueError, match=pattern):
        M.gaussian_mechanism([0.0, 1.0], **args)


def test_randomized_response_bad_input():
    with pytest.raises(ValueError, match=r"k must be an integer >= 2, got 1"):
        M.k_randomized_response([0, 0], k=1, epsilon=1.0)
    with pytest.raises(ValueError, match=r"values must be integers in \[0, 2\] \(k=3\)"):
        M.k_randomized_response([0, 3], k=3, epsilon=1.0)
    with pytest.raises(ValueError, match=r"bits must contain only 0 and 1"):
        M.randomized_response([0, 2], epsilon=1.0)
    with pytest.raises(TypeError, match=r"bits must contain integers"):
        M.randomized_response([0.5, 1.0], epsilon=1.0)
    with pytest.raises(ValueError, match=r"epsilon must be a finite number > 0, got -0.5"):
        M.randomized_response([0, 1], epsilon=-0.5)


def test_selection_bad_input():
    with pytest.raises(ValueError, match=r"scores must have 1 or 2 dimension\(s\), got shape \(2, 2, 2\)"):
        M.exponential_mechanism(np.zeros((2, 2, 2)), epsilon=1.0, sensitivity=1.0)
    with pytest.raises(ValueError, match=r"scores must not be empty"):
        M.exponential_mechanism([], epsilon=1.0, sensitivity=1.0)
    with pytest.raises(TypeError, match=r"scores must be a numeric array-like, got str"):
        M.report_noisy_max("abc", epsilon=1.0, sensitivity=1.0)
    with pytest.raises(TypeError, match=r"monotonic must be True or False"):
        M.exponential_mechanism([1.0, 2.0], epsilon=1.0, sensitivity=1.0, monotonic="yes")


def test_query_bad_input():
    with pytest.raises(ValueError, match=r"lower must be < upper, got lower=5.0, upper=1.0"):
        M.clipped_sum([1.0], lower=5.0, upper=1.0, epsilon=1.0)
    with pytest.raises(ValueError, match=r"bins must be at least two strictly increasing edges"):
        M.histogram([1.0], bins=[0.0, 0.0, 1.0], epsilon=1.0)
    with pytest.raises(ValueError, match=r"sensitivity must be an integer >= 1, got 0"):
        M.geometric_mechanism([1, 2], epsilon=1.0, sensitivity=0)
    with pytest.raises(TypeError, match=r"value must contain integers"):
        M.geometric_mechanism([1.5], epsilon=1.0)
    with pytest.raises(ValueError, match=r"noise_multiplier must be a finite number > 0, got 0.0"):
        M.discrete_gaussian_mechanism([1], noise_multiplier=0.0)


def test_analytic_gaussian_does_not_overflow_at_large_epsilon():
    # e^epsilon overflows a double from epsilon = 710 on; the calibration works in log space
    sigmas = [M.gaussian_sigma_analytic(epsilon=e, delta=1e-5, sensitivity=1.0) for e in (300.0, 709.0, 710.0, 5000.0)]
    assert all(np.isfinite(sigmas)) and sigmas == sorted(sigmas, reverse=True)
    assert sigmas[1] == pytest.approx(sigmas[2], rel=0.01)


def test_gaussian_mechanism_refuses_values_beyond_the_grid():
    sigma = M.gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)
    with pytest.raises(PrecisionError, match=r"value must satisfy \|value\| < 2\^52 \* grid step"):
        M.gaussian_mechanism(np.array([0.0, 1e30]), epsilon=1.0, delta=1e-5, sensitivity=1.0, rng=0)
    ok = M.gaussian_mechanism(np.array([1e6]), epsilon=1.0, delta=1e-5, sensitivity=1.0, rng=0)
    assert abs(ok[0] - 1e6) < 10 * sigma


def test_laplace_refuses_an_epsilon_below_the_float_margin():
    with pytest.raises(PrecisionError, match="epsilon must be >"):
        M.laplace_mechanism(0.0, epsilon=1e-7, sensitivity=1.0, rng=0)
