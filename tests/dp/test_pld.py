"""The PLD accountant: against dp_accounting's PLDAccountant and Opacus' PRV accountant, against exact
hockey-stick curves (the reported epsilon is an upper bound), the accountant's bookkeeping, bad input."""

import logging
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from ppml_lab.dp.accounting import RDPAccountant
from ppml_lab.dp.accounting.pld import (
    DiscretePLD,
    PLDAccountant,
    compose_plds,
    compute_pld_delta,
    compute_pld_epsilon,
    discretize_pld,
    gaussian_hockey_stick,
    laplace_hockey_stick,
    subsampled_hockey_stick,
)

dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting.pld import pld_privacy_accountant as dpa_pld  # noqa: E402
from dp_accounting.pld import privacy_loss_distribution as dpa_dist  # noqa: E402
from dp_accounting.pld import privacy_loss_mechanism as dpa_mech  # noqa: E402

MNIST = dict(sample_rate=256 / 60000, noise_multiplier=1.1, steps=14062)  # Opacus' MNIST example, 60 epochs
#: Our epsilon may differ from dp_accounting's (same grid, same connect-the-dots discretisation) only by
#: floating point and by where each cuts the tails (below e^-50 of the mass); measured <= 1e-7 relative.
AGREEMENT = 1e-6


def _dpa_eps(q, sigma, steps, delta, h=1e-4):
    a = dpa_pld.PLDAccountant(value_discretization_interval=h)
    a.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return a.get_epsilon(delta)


def _dpa_optimistic_eps(q, sigma, steps, delta, h=1e-4):
    # dp_accounting's optimistic estimate (privacy buckets rounded down): a lower estimate of the truth
    p = dpa_dist.from_gaussian_mechanism(
        sigma, sampling_prob=q, value_discretization_interval=h, pessimistic_estimate=False, use_connect_dots=False
    ).self_compose(steps)
    return p.get_epsilon_for_delta(delta)


def _prv_eps(q, sigma, steps, delta):
    from opacus.accountants import PRVAccountant

    a = PRVAccountant()
    a.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return a.get_epsilon(delta, eps_error=5e-3)


GRID = [
    (256 / 60000, 1.1, 14062),
    (256 / 60000, 0.8, 1000),
    (0.02, 1.1, 100),
    (0.02, 4.0, 3000),
    (0.2, 0.8, 100),
    (0.2, 4.0, 1),
    (1.0, 1.1, 1),
    (1.0, 4.0, 100),
]


# --- against the production libraries -------------------------------------------------------------
@pytest.mark.parametrize("q, sigma, steps", GRID)
def test_epsilon_equals_dp_accounting_and_is_never_below_it(q, sigma, steps):
    ours = compute_pld_epsilon(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=1e-5)
    ref = _dpa_eps(q, sigma, steps, 1e-5)
    assert ours == pytest.approx(ref, rel=0.01)  # the bar
    assert ours >= ref * (1 - AGREEMENT)  # never below the reference's pessimistic bound
    assert ours <= ref * (1 + AGREEMENT)
    # and never below dp_accounting's optimistic (lower) estimate of the true epsilon
    assert ours >= _dpa_optimistic_eps(q, sigma, steps, 1e-5)


@pytest.mark.parametrize("q, sigma, steps", [(256 / 60000, 1.1, 14062), (0.02, 1.1, 100), (0.2, 0.8, 100), (1.0, 4.0, 100)])
def test_epsilon_equals_opacus_prv_within_one_percent(q, sigma, steps):
    ours = compute_pld_epsilon(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=1e-5)
    assert ours == pytest.approx(_prv_eps(q, sigma, steps, 1e-5), rel=0.01)


def test_mnist_setting_pinned_and_tighter_than_rdp():
    a = PLDAccountant()
    a.step(**MNIST)
    eps = a.get_epsilon(1e-5)
    assert eps == pytest.approx(2.3817, abs=1e-4)  # dp_accounting 0.6.0 gives 2.381686
    r = RDPAccountant()
    r.step(**MNIST)
    assert r.get_epsilon(1e-5) == pytest.approx(2.597, abs=1e-3)
    assert eps < 0.93 * r.get_epsilon(1e-5)  # RDP overstates this run's epsilon by about 9 %


@pytest.mark.parametrize("q, b", [(1.0, 0.5), (1.0, 2.0), (0.1, 1.0)])
def test_laplace_equals_dp_accounting(q, b):
    ours = PLDAccountant()
    ours.step(noise_multiplier=b, sample_rate=q, steps=20, mechanism="laplace")
    ref = dpa_pld.PLDAccountant()
    event = dp_accounting.LaplaceDpEvent(b)
    ref.compose(event if q == 1.0 else dp_accounting.PoissonSampledDpEvent(q, event), 20)
    for delta in (1e-3, 1e-6):
        assert ours.get_epsilon(delta) == pytest.approx(ref.get_epsilon(delta), rel=1e-3)


def test_heterogeneous_history_equals_dp_accounting():
    ours = PLDAccountant()
    ours.step(noise_multiplier=1.0, sample_rate=0.01, steps=300)
    ours.step(noise_multiplier=2.0, sample_rate=0.05, steps=200)
    ours.step(noise_multiplier=1.0, sample_rate=0.01, steps=100)  # not adjacent to the first: a new segment
    assert len(ours) == 3
    ref = dpa_pld.PLDAccountant()
    ref.compose(dp_accounting.PoissonSampledDpEvent(0.01, dp_accounting.GaussianDpEvent(1.0)), 300)
    ref.compose(dp_accounting.PoissonSampledDpEvent(0.05, dp_accounting.GaussianDpEvent(2.0)), 200)
    ref.compose(dp_accounting.PoissonSampledDpEvent(0.01, dp_accounting.GaussianDpEvent(1.0)), 100)
    assert ours.get_epsilon(1e-5) == pytest.approx(ref.get_epsilon(1e-5), rel=1e-4)
    assert ours.get_delta(1.0) == pytest.approx(ref.get_delta(1.0), rel=1e-3)


# --- exact hockey-stick curves ------------------------------------------------------------------
@pytest.mark.parametrize("q, adjacency", [(0.01, "remove"), (0.01, "add"), (0.3, "remove"), (0.3, "add"), (1.0, "remove")])
def test_subsampled_gaussian_curve_equals_dp_accounting_and_quadrature(q, adjacency):
    eps = np.array([-0.5, -1e-3, 0.0, 0.05, 0.3, 1.0, 3.0])
    ours = subsampled_hockey_stick(eps, noise_multiplier=1.3, sample_rate=q, adjacency=adjacency)
    kind = dpa_mech.AdjacencyType.REMOVE if adjacency == "remove" else dpa_mech.AdjacencyType.ADD
    ref = dpa_mech.GaussianPrivacyLoss(1.3, sampling_prob=q, adjacency_type=kind).get_delta_for_epsilon(eps)
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-15)
    # independent check: integrate (p - e^eps r)_+ numerically, p and r the pair's densities
    with_rec = lambda x: (1 - q) * stats.norm.pdf(x, 0, 1.3) + q * stats.norm.pdf(x, 1, 1.3)  # noqa: E731
    without = lambda x: stats.norm.pdf(x, 0, 1.3)  # noqa: E731
    p, r = (with_rec, without) if adjacency == "remove" else (without, with_rec)
    for e, d in zip(eps, ours):
        # the integrand has a kink where p = e^eps r (the loss crosses eps): give quad that point
        ratio = (math.exp(e) - (1 - q)) / q if adjacency == "remove" else (math.exp(-e) - (1 - q)) / q
        kink = [1.3**2 * math.log(ratio) + 0.5] if ratio > 0 else []
        quad = integrate.quad(
            lambda x, e=e: max(p(x) - math.exp(e) * r(x), 0.0), -30, 30, points=[0.0, 1.0, *kink], limit=400,
            epsabs=1e-15, epsrel=1e-10,
        )[0]
        assert d == pytest.approx(quad, rel=1e-6, abs=1e-12)


def test_laplace_curve_is_exact():
    # Lap(0, b) vs Lap(1, b) by quadrature
    b = 0.7
    for e in (-2.0, -1.0, 0.0, 0.4, 1.0, 1.5):
        quad = integrate.quad(
            lambda x, e=e: max(stats.laplace.pdf(x, 1, b) - math.exp(e) * stats.laplace.pdf(x, 0, b), 0.0),
            -40, 40, points=[0.0, 1.0], limit=200,
        )[0]
        assert float(laplace_hockey_stick(e, noise_multiplier=b)) == pytest.approx(quad, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("h", [1e-4, 0.01, 0.05])
def test_composed_gaussian_delta_is_an_upper_bound(h):
    # q = 1: n Gaussian releases of std sigma are one of std sigma / sqrt(n): the exact curve is known
    sigma, n = 2.0, 10
    a = PLDAccountant(discretization_interval=h)
    a.step(noise_multiplier=sigma, sample_rate=1.0, steps=n)
    eps = np.linspace(0.0, 12.0, 97)
    exact = gaussian_hockey_stick(eps, noise_multiplier=sigma / math.sqrt(n))
    ours = np.array([a.get_delta(float(e)) for e in eps])
    assert np.all(ours >= exact * (1 - 1e-9))
    assert np.all(ours <= exact * (1 + 40 * h) + 1e-300)  # and tight: the slack shrinks with h
    exact_eps = optimize.brentq(lambda e: float(gaussian_hockey_stick(e, noise_multiplier=sigma / math.sqrt(n))) - 1e-5, 0, 50)
    assert exact_eps <= a.get_epsilon(1e-5) <= exact_eps * (1 + 10 * h)


def test_heterogeneous_gaussians_with_coarse_truncation_stay_an_upper_bound():
    # q = 1, sigmas 2 and 3: the composition is one Gaussian with 1/s^2 = 3/4 + 2/9; a large tail
    # truncation (1e-4) must move mass up (to +inf), never drop it
    a = PLDAccountant(discretization_interval=0.02, tail_mass_truncation=1e-4)
    a.step(noise_multiplier=2.0, sample_rate=1.0, steps=3)
    a.step(noise_multiplier=3.0, sample_rate=1.0, steps=2)
    s_eff = 1.0 / math.sqrt(3 / 4 + 2 / 9)
    for e in np.linspace(0.0, 8.0, 81):
        assert a.get_delta(float(e)) >= float(gaussian_hockey_stick(e, noise_multiplier=s_eff))


def test_self_composition_with_coarse_truncation_stays_an_upper_bound():
    # one segment, a large FFT truncation (1e-3): the mass outside the FFT window must go to +inf
    a = PLDAccountant(discretization_interval=0.02, tail_mass_truncation=1e-3)
    a.step(noise_multiplier=2.0, sample_rate=1.0, steps=10)
    for e in np.linspace(0.0, 12.0, 121):
        assert a.get_delta(float(e)) >= float(gaussian_hockey_stick(e, noise_multiplier=2.0 / math.sqrt(10)))


def test_pairwise_composition_with_coarse_truncation_stays_an_upper_bound():
    # two single releases composed directly (no self-composition): the right tail cut by compose_plds
    # must go to +inf, not to the last kept loss
    one = discretize_pld(noise_multiplier=1.0, discretization_interval=0.02)
    two = discretize_pld(noise_multiplier=1.5, discretization_interval=0.02)
    both = compose_plds(one, two, tail_mass_truncation=1e-3)
    s_eff = 1.0 / math.sqrt(1.0 + 1.0 / 1.5**2)
    for e in np.linspace(0.0, 10.0, 101):
        assert both.get_delta(float(e)) >= float(gaussian_hockey_stick(e, noise_multiplier=s_eff))


def test_both_neighbour_directions_are_accounted():
    # for the subsampled Laplace the *add* direction has the larger delta at small epsilon: the
    # accountant must report the larger of the two (as dp_accounting does)
    ours = PLDAccountant(discretization_interval=1e-3)
    ours.step(noise_multiplier=0.5, sample_rate=0.5, steps=3, mechanism="laplace")
    remove, add = ours._plds()
    assert add.get_delta(0.1) > remove.get_delta(0.1) * 1.002
    assert ours.get_delta(0.1) == add.get_delta(0.1)
    assert ours.get_epsilon(0.47) == max(add.get_epsilon(0.47), remove.get_epsilon(0.47)) > remove.get_epsilon(0.47)
    ref = dpa_pld.PLDAccountant(value_discretization_interval=1e-3)
    ref.compose(dp_accounting.PoissonSampledDpEvent(0.5, dp_accounting.LaplaceDpEvent(0.5)), 3)
    assert ours.get_delta(0.1) == pytest.approx(ref.get_delta(0.1), rel=1e-4)


@pytest.mark.parametrize("q, adjacency", [(0.05, "remove"), (0.05, "add"), (1.0, "remove")])
def test_one_release_discretisation_is_pessimistic_everywhere(q, adjacency):
    # a coarse grid and a short range (1e-3 of the mass left outside): the discrete curve must still
    # lie above the exact one for every epsilon, including beyond the grid (the +inf atom)
    pld = discretize_pld(noise_multiplier=0.9, sample_rate=q, adjacency=adjacency, discretization_interval=0.1,
                         range_tail_mass=1e-3)
    assert pld.probs.sum() + pld.infinity_mass == pytest.approx(1.0, abs=1e-12)
    eps = np.linspace(-1.0, 8.0, 451)
    exact = subsampled_hockey_stick(eps, noise_multiplier=0.9, sample_rate=q, adjacency=adjacency)
    ours = np.array([pld.get_delta(float(e)) for e in eps])
    assert np.all(ours >= exact - 1e-12)
    # connect the dots: at the grid points the discrete curve equals the exact one
    grid = pld.losses
    at_grid = np.array([pld.get_delta(float(g)) for g in grid])
    np.testing.assert_allclose(
        at_grid, subsampled_hockey_stick(grid, noise_multiplier=0.9, sample_rate=q, adjacency=adjacency), atol=1e-12
    )


def test_epsilon_is_the_root_of_delta():
    a = PLDAccountant()
    a.step(noise_multiplier=1.0, sample_rate=0.01, steps=1000)
    for delta in (1e-3, 1e-5, 1e-8):
        eps = a.get_epsilon(delta)
        assert a.get_delta(eps) == pytest.approx(delta, rel=1e-6)
        assert a.get_delta(eps * 0.999) > delta  # a smaller epsilon does not meet delta
    assert compute_pld_delta(sample_rate=0.01, noise_multiplier=1.0, steps=1000, epsilon=a.get_epsilon(1e-5)) == (
        pytest.approx(1e-5, rel=1e-6)
    )


def test_more_noise_costs_less_and_more_steps_cost_more():
    e = {
        (s, n): compute_pld_epsilon(sample_rate=0.05, noise_multiplier=s, steps=n, delta=1e-5, discretization_interval=1e-3)
        for s in (0.8, 1.6)
        for n in (50, 100)
    }
    assert e[(1.6, 50)] < e[(0.8, 50)] and e[(1.6, 100)] < e[(0.8, 100)]
    assert e[(0.8, 50)] < e[(0.8, 100)] and e[(1.6, 50)] < e[(1.6, 100)]


@pytest.mark.parametrize("q, sigma, steps", [(0.01, 1.0, 1000), (0.1, 2.0, 50), (1.0, 3.0, 10), (0.01, 5.0, 100)])
def test_pld_is_never_above_rdp(q, sigma, steps):
    r = RDPAccountant()
    r.step(noise_multiplier=sigma, sample_rate=q, steps=steps)
    assert compute_pld_epsilon(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=1e-5) < r.get_epsilon(1e-5)


@pytest.mark.attack
def test_optimal_membership_attack_respects_the_reported_epsilon():
    # The most powerful test of "record in the data set or not" after 10 Poisson-subsampled Gaussian
    # steps (q = 0.1, sigma = 0.8) thresholds the summed privacy loss (Neyman-Pearson). For any
    # (epsilon, delta)-DP claim, TPR - e^eps FPR <= delta for every threshold. Threshold picked on one half
    # of the trials, measured on the other (200,000 each; the estimate's sd is about 1e-3, the slack 5e-3).
    q, sigma, n, delta = 0.1, 0.8, 10, 0.01
    pld = PLDAccountant()
    pld.step(noise_multiplier=sigma, sample_rate=q, steps=n)
    rdp = RDPAccountant()
    rdp.step(noise_multiplier=sigma, sample_rate=q, steps=n)
    undercounted = PLDAccountant()  # the raw bug: an accountant that recorded 2 of the 10 steps
    undercounted.step(noise_multiplier=sigma, sample_rate=q, steps=2)

    g = np.random.default_rng(20261201)
    trials = 400_000
    with_record = g.normal(0.0, sigma, (trials, n)) + (g.random((trials, n)) < q)  # sampled: shifted by 1
    without = g.normal(0.0, sigma, (trials, n))

    def loss(x):  # log((1-q) + q e^((2x-1)/(2 sigma^2))), summed over the steps
        return np.log1p(q * np.expm1((2 * x - 1) / (2 * sigma**2))).sum(axis=1)

    lp, lq = loss(with_record), loss(without)
    half = trials // 2
    thresholds = np.linspace(-1.0, 6.0, 141)

    def attack_delta(eps):
        gaps = [(lp[:half] > t).mean() - math.exp(eps) * (lq[:half] > t).mean() for t in thresholds]
        t = thresholds[int(np.argmax(gaps))]
        return (lp[half:] > t).mean() - math.exp(eps) * (lq[half:] > t).mean()

    assert attack_delta(undercounted.get_epsilon(delta)) > delta + 0.03  # the raw claim is broken
    assert attack_delta(pld.get_epsilon(delta)) <= delta + 5e-3  # ours holds (and is nearly tight)
    assert attack_delta(rdp.get_epsilon(delta)) <= delta


# --- the accountant's bookkeeping ----------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 40])
def test_step_twice_equals_one_step_of_twice_the_steps(n):
    twice = PLDAccountant(discretization_interval=1e-3)
    twice.step(noise_multiplier=1.1, sample_rate=0.02, steps=n)
    e_first = twice.get_epsilon(1e-5)  # cached PLD must be invalidated by the next step
    twice.step(noise_multiplier=1.1, sample_rate=0.02, steps=n)
    once = PLDAccountant(discretization_interval=1e-3)
    once.step(noise_multiplier=1.1, sample_rate=0.02, steps=2 * n)
    assert twice.history == once.history == [(1.1, 0.02, 2 * n, "gaussian")]
    assert twice.get_epsilon(1e-5) == once.get_epsilon(1e-5) > e_first
    assert "steps=" + str(2 * n) in repr(twice)


def test_empty_accountant_spends_nothing():
    a = PLDAccountant()
    assert a.get_epsilon(1e-5) == 0.0 and a.get_delta(0.5) == 0.0
    a.step(noise_multiplier=1.0, sample_rate=0.1, steps=0)
    assert a.history == []


def test_infinite_epsilon_when_the_inf_atom_exceeds_delta():
    pld = DiscretePLD(interval=0.1, offset=0, probs=np.array([0.5]), infinity_mass=0.5)
    assert pld.get_epsilon(0.1) == math.inf
    assert pld.get_delta(math.inf) == 0.5


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(noise_multiplier=0.0), ValueError, r"noise_multiplier must be a finite number > 0, got 0.0"),
        (dict(noise_multiplier=-1.0), ValueError, r"noise_multiplier must be a finite number > 0, got -1.0"),
        (dict(noise_multiplier=math.nan), ValueError, r"noise_multiplier must be a finite number, got nan"),
        (dict(noise_multiplier="1"), TypeError, r"noise_multiplier must be a real number, got str"),
        (dict(sample_rate=0.0), ValueError, r"sample_rate must be a finite number in \(0, 1\], got 0.0"),
        (dict(sample_rate=1.5), ValueError, r"sample_rate must be a finite number in \(0, 1\], got 1.5"),
        (dict(steps=0), ValueError, r"steps must be an integer >= 1, got 0"),
        (dict(steps=2.0), TypeError, r"steps must be an integer, got float"),
        (dict(delta=0.0), ValueError, r"delta must be a finite number in \(0, 1\), got 0.0"),
        (dict(delta=1.0), ValueError, r"delta must be a finite number in \(0, 1\), got 1.0"),
        (dict(mechanism="cauchy"), ValueError, r"mechanism must be one of 'gaussian', 'laplace', got 'cauchy'"),
        (dict(discretization_interval=0.0), ValueError, r"discretization_interval must be a finite number > 0, got 0.0"),
        (dict(discretization_interval=2.0), ValueError, r"discretization_interval must be a finite number in \(0, 1\], got 2.0"),
    ],
)
def test_compute_pld_epsilon_bad_input(kwargs, exc, pattern):
    args = dict(sample_rate=0.01, noise_multiplier=1.0, steps=10, delta=1e-5) | kwargs
    with pytest.raises(exc, match=pattern):
        compute_pld_epsilon(**args)


def test_grid_too_large_is_refused_before_allocating():
    # sigma = 0.01 without subsampling: losses span about +-5,000, i.e. 1e8 grid points at h = 1e-4
    with pytest.raises(ValueError, match=r"one release's PLD would need \d+ grid points \(> 16777216\) at discretization_interval=0.0001"):
        compute_pld_epsilon(sample_rate=1.0, noise_multiplier=0.01, steps=1, delta=1e-5)
    with pytest.raises(ValueError, match=r"composing 100000 steps would need \d+ grid points"):
        compute_pld_epsilon(sample_rate=1.0, noise_multiplier=0.5, steps=100_000, delta=1e-5)


def test_compute_pld_delta_bad_epsilon():
    with pytest.raises(ValueError, match=r"epsilon must be a finite number >= 0, got -1.0"):
        compute_pld_delta(sample_rate=0.01, noise_multiplier=1.0, steps=10, epsilon=-1.0)


def test_accountant_bad_input_records_nothing():
    a = PLDAccountant()
    with pytest.raises(ValueError, match=r"noise_multiplier must be a finite number > 0, got 0.0"):
        a.step(noise_multiplier=0.0, sample_rate=0.1)
    with pytest.raises(ValueError, match=r"sample_rate must be a finite number in \(0, 1\], got 2.0"):
        a.step(noise_multiplier=1.0, sample_rate=2.0)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 0, got -3"):
        a.step(noise_multiplier=1.0, sample_rate=0.1, steps=-3)
    with pytest.raises(ValueError, match=r"mechanism must be one of"):
        a.step(noise_multiplier=1.0, sample_rate=0.1, mechanism="gauss")
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0, 1\)"):
        a.get_epsilon(0.0)
    with pytest.raises(ValueError, match=r"epsilon must be a finite number >= 0, got -0.5"):
        a.get_delta(-0.5)
    assert a.history == []
    with pytest.raises(ValueError, match=r"discretization_interval must be a finite number > 0, got -0.1"):
        PLDAccountant(discretization_interval=-0.1)
    with pytest.raises(ValueError, match=r"tail_mass_truncation must be a finite number in \[0, 0.001\], got 0.5"):
        PLDAccountant(tail_mass_truncation=0.5)


def test_discretize_and_compose_bad_input():
    with pytest.raises(ValueError, match=r"adjacency must be one of 'remove', 'add', got 'replace'"):
        discretize_pld(noise_multiplier=1.0, adjacency="replace")
    with pytest.raises(ValueError, match=r"range_tail_mass must be a finite number in \(0, 0.5\], got 0.0"):
        discretize_pld(noise_multiplier=1.0, range_tail_mass=0.0)
    a = discretize_pld(noise_multiplier=1.0, discretization_interval=0.01)
    b = discretize_pld(noise_multiplier=1.0, discretization_interval=0.02)
    with pytest.raises(ValueError, match=r"PLDs must share one discretization_interval to be composed, got 0.01 and 0.02"):
        compose_plds(a, b)
    with pytest.raises(TypeError, match=r"first and second must be DiscretePLD, got DiscretePLD and float"):
        compose_plds(a, 1.0)
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0, 1\), got 0.0"):
        a.get_epsilon(0.0)
    with pytest.raises(ValueError, match=r"adjacency must be one of"):
        subsampled_hockey_stick(0.5, noise_multiplier=1.0, sample_rate=0.1, adjacency="swap")


logging.getLogger("absl").setLevel(logging.ERROR)
