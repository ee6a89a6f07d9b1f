"""Samplers: exact discrete samplers against their pmfs, the grid sampler, and the floating-point attack."""

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from ppml_lab.dp import mechanisms as M
from ppml_lab.dp import samplers as S
from ppml_lab.dp.audit import attack_accuracy, floating_point_attack

ALPHA = 1e-3  # per-test false-failure rate of each seeded goodness-of-fit test


def _chi2_against_pmf(draws, support, pmf):
    # bins: each support point, plus the two tails merged into the end bins
    clipped = np.clip(draws, support[0], support[-1])
    counts = np.array([np.sum(clipped == k) for k in support])
    expected = pmf / pmf.sum() * draws.size
    return stats.chisquare(counts, expected).pvalue


def _dlap_pmf(support, t):
    p = np.exp(-np.abs(support) / t)
    # fold the tails beyond the support into the end points
    a = math.exp(-1 / t)
    tail = a ** (support[-1] + 1) / (1 - a)
    p[0] += tail
    p[-1] += tail
    return p


@pytest.mark.parametrize("t", [0.7, 3.0, 25.0])
def test_discrete_laplace_grid_sampler_pmf(t):
    draws = S.discrete_laplace(scale=t, size=50_000, rng=1)
    support = np.arange(-int(4 * t) - 2, int(4 * t) + 3)
    assert _chi2_against_pmf(draws, support, _dlap_pmf(support.astype(float), t)) > ALPHA
    assert np.var(draws) == pytest.approx(S.discrete_laplace_variance(t), rel=0.05)


def test_discrete_laplace_exact_pmf():
    draws = S.discrete_laplace_exact(scale=Fraction(5, 2), size=3000, rng=2)
    support = np.arange(-10, 11)
    assert _chi2_against_pmf(draws, support, _dlap_pmf(support.astype(float), 2.5)) > ALPHA


def test_discrete_gaussian_exact_pmf():
    sigma = 1.5
    draws = S.discrete_gaussian_exact(sigma=sigma, size=3000, rng=3)
    support = np.arange(-6, 7)
    full = np.arange(-60, 61)
    p_full = np.exp(-(full**2) / (2 * sigma**2))
    p = np.array([p_full[full == k][0] for k in support])
    p[0] += p_full[full < -6].sum()
    p[-1] += p_full[full > 6].sum()
    assert _chi2_against_pmf(draws, support, p) > ALPHA


def test_bernoulli_exp_exact_rate():
    draws = S.bernoulli_exp_exact(np.full(4000, 3), np.full(4000, 2), rng=4)  # P = exp(-1.5)
    sd = math.sqrt(math.exp(-1.5) * (1 - math.exp(-1.5)) / 4000)
    assert abs(draws.mean() - math.exp(-1.5)) < 4 * sd  # 4 sd: false-failure rate 6e-5


def test_grid_step_is_a_power_of_two_below_the_scale():
    for b in (1e-3, 0.7, 1.0, 3.0, 1e6):
        g = S.grid_step(b)
        assert math.log2(g) == int(math.log2(g))
        assert b / 2**21 < g <= b / 2**20


def test_csprng_default_path_runs():
    out = M.laplace_mechanism(np.zeros(1000), epsilon=1.0, sensitivity=1.0)  # rng=None: os.urandom
    assert out.shape == (1000,) and 0.5 < np.var(out) < 4


# --- Mironov 2012: the textbook sampler leaks the input, the default one does not ------------------
@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_floating_point_attack_breaks_textbook_sampler(epsilon):
    n = 20_000
    y0 = M.laplace_mechanism_textbook(np.zeros(n), epsilon=epsilon, sensitivity=1.0, rng=5)
    y1 = M.laplace_mechanism_textbook(np.ones(n), epsilon=epsilon, sensitivity=1.0, rng=6)
    d0 = floating_point_attack(y0, x0=0.0, x1=1.0, scale=1 / epsilon)
    d1 = floating_point_attack(y1, x0=0.0, x1=1.0, scale=1 / epsilon)
    # never wrong when it decides, and it decides most of the time
    assert not np.any(d0 == 1) and not np.any(d1 == 0)
    acc = attack_accuracy(d0, d1)
    dp_cap = math.exp(epsilon) / (1 + math.exp(epsilon))  # best possible accuracy under epsilon-DP
    assert acc > dp_cap + 0.1


@pytest.mark.attack
@pytest.mark.parametrize("epsilon", [0.1, 1.0])
def test_floating_point_attack_fails_on_default_sampler(epsilon):
    n = 20_000
    y0 = M.laplace_mechanism(np.zeros(n), epsilon=epsilon, sensitivity=1.0, rng=7)
    y1 = M.laplace_mechanism(np.ones(n), epsilon=epsilon, sensitivity=1.0, rng=8)
    acc = attack_accuracy(
        floating_point_attack(y0, x0=0.0, x1=1.0, scale=1 / epsilon),
        floating_point_attack(y1, x0=0.0, x1=1.0, scale=1 / epsilon),
    )
    dp_cap = math.exp(epsilon) / (1 + math.exp(epsilon))
    # sd of the accuracy estimate <= 0.5 / sqrt(2n) = 0.0025; 0.0125 is 5 sd (false-failure rate < 1e-6)
    assert acc <= dp_cap + 0.0125


# --- sampler-independent checks: support of the default mechanism, whatever the sampler does inside ---
class _AllZeroBits(np.random.Generator):
    """A generator whose every random bit is 0: the sampler's most extreme draw, deterministically."""

    def __init__(self):
        super().__init__(np.random.PCG64(0))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return np.zeros(size, dtype=np.int64)

    def random(self, size=None):
        return np.zeros(size, dtype=np.float64)


@pytest.mark.attack
@pytest.mark.parametrize("scale", [3.0, 2.0**20])
def test_grid_sampler_reaches_the_deep_tail(scale):
    # A sampler that cannot output |K| beyond some bound leaves grid points that only inputs on one side
    # can produce (an output far to the right of x but in reach of x' identifies x'): the mechanism is then
    # not epsilon-DP. With 52-bit uniforms that bound was about 36 scales; the stated one is ~708 scales.
    k = S.discrete_laplace(scale=scale, size=4, rng=_AllZeroBits())
    assert np.all(np.abs(k) >= 700 * scale)
    # the ideal mass beyond 700 scales is the delta the module states
    assert 2 * math.exp(-700) / (1 + math.exp(-1 / scale)) < 2.0 ** -1000 * 2.0**12


def test_full_precision_uniform_is_uniform_in_every_binade():
    u = S.uniform_full_precision(400_000, rng=11)
    assert np.all((u > 0) & (u < 1))
    for j in (1, 4, 10, 14):  # P(U < 2^-j) = 2^-j: binomial sd, 5 sd bounds (false-failure < 1e-6 each)
        p = 2.0**-j
        assert abs(np.mean(u < p) - p) < 5 * math.sqrt(p * (1 - p) / u.size)
    lo = u[u < 2.0**-8] * 2.0**8  # rescaled, the lowest binades are uniform too (KS test)
    assert stats.kstest(lo, "uniform").pvalue > ALPHA


@pytest.mark.attack
@pytest.mark.parametrize("d", [1, 2, 1000, 2**21])
def test_vector_laplace_covers_the_rounding_of_every_coordinate(d, monkeypatch):
    # Worst neighbours for rounding: every coordinate sits just either side of a half grid step, so the
    # rounded vectors differ by d * gamma in L1 although the inputs differ by almost nothing. The noise
    # scale must cover sensitivity + d * gamma, or the privacy loss reaches (S + d gamma) / b > epsilon.
    seen = {}
    real = S.discrete_laplace

    def spy(*, scale, size, rng=None):
        seen["t"] = scale
        return real(scale=scale, size=size, rng=rng)

    monkeypatch.setattr(S, "discrete_laplace", spy)
    eps, sens = 1.0, 1.0
    out = M.laplace_mechanism(np.zeros(d), epsilon=eps, sensitivity=sens, rng=3)
    gamma = np.min(np.abs(out[out != 0])) if np.any(out != 0) else None
    gamma = 2.0 ** np.floor(np.log2(gamma))  # outputs are integer multiples of the power-of-two grid
    while not np.all(np.mod(out / gamma, 1.0) == 0):
        gamma /= 2
    loss = (sens + d * gamma) / gamma / seen["t"]  # worst L1 shift in grid steps / scale in grid steps
    assert loss <= eps


def test_clipped_sum_sensitivity_is_the_larger_bound():
    # one record clipped to [-10, 1] moves the sum by up to 10, not |upper| = 1: Var = 2 (10 / eps)^2
    draws = np.array([M.clipped_sum(np.zeros(3), lower=-10.0, upper=1.0, epsilon=1.0, rng=g) for g in range(3000)])
    # the sample variance of 3000 Laplace draws has sd about sqrt(5)*200/sqrt(3000) ~ 8.2%: 0.7..1.4 is > 4 sd
    assert 0.7 * 200 < np.var(draws) < 1.4 * 200


def test_sampler_bad_input():
    with pytest.raises(ValueError, match=r"scale must be a finite number > 0, got 0.0"):
        S.discrete_laplace(scale=0.0, size=3)
    with pytest.raises(ValueError, match=r"size must be an integer >= 0, got -1"):
        S.textbook_laplace(scale=1.0, size=-1)
    with pytest.raises(TypeError, match=r"size must be an integer, got float"):
        S.discrete_laplace(scale=1.0, size=2.0)
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0, got -1.0"):
        S.discrete_gaussian_exact(sigma=-1.0, size=3)
    with pytest.raises(ValueError, match=r"scale must be > 0, got -1/2"):
        S.discrete_laplace_exact(scale=Fraction(-1, 2), size=3)
