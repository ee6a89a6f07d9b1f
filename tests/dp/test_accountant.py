"""The RDP accountant against Opacus and dp_accounting (RDP, conversion, noise search), exact arithmetic,
the composition and zCDP theorems, and the one shape every accountant shares (``get_epsilon(delta)``)."""

import logging
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants import RDPAccountant as OpacusRDP
from opacus.accountants.analysis import rdp as opacus_rdp
from opacus.accountants.utils import get_noise_multiplier

from ppml_lab.dp import accountant as acc
from ppml_lab.dp.accounting import (
    DEFAULT_ORDERS,
    DP_ACCOUNTING_ORDERS,
    OPACUS_ORDERS,
    PLDAccountant,
    PrivacyAccountant,
    RDPAccountant,
    ZCDPAccountant,
    compute_rdp,
    find_noise_multiplier,
    rdp_to_epsilon,
)

mpmath = pytest.importorskip("mpmath")
dp_accounting = pytest.importorskip("dp_accounting")
from dp_accounting.rdp import rdp_privacy_accountant as dpa_rdp  # noqa: E402


def _opacus_eps(q, sigma, steps, delta):
    o = OpacusRDP()
    o.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "optimal order is the largest alpha"
        return o.get_epsilon(delta)


def test_order_lists_are_the_libraries_defaults():
    assert list(OPACUS_ORDERS) == [float(a) for a in OpacusRDP.DEFAULT_ALPHAS]
    assert list(DP_ACCOUNTING_ORDERS) == [float(a) for a in dpa_rdp.DEFAULT_RDP_ORDERS]
    assert list(DEFAULT_ORDERS) == sorted(set(OPACUS_ORDERS) | set(DP_ACCOUNTING_ORDERS))
    assert max(DEFAULT_ORDERS) == 1024.0


def _dp_accounting_rdp_eps(q, sigma, steps, delta):
    a = dpa_rdp.RdpAccountant()  # its default orders, 1.1 ... 1024
    a.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    logging.disable(logging.WARNING)  # "failed to converge ... excluding this order" for tiny fractional orders
    try:
        return a.get_epsilon(delta)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("q, sigma, steps", [(0.01, 5.0, 100), (1.0, 30.0, 1), (256 / 60000, 4.0, 1000)])
def test_large_orders_lower_epsilon_and_equal_dp_accounting(q, sigma, steps):
    # much noise: the best order lies above Opacus' last order, 63
    ours = RDPAccountant()
    ours.step(noise_multiplier=sigma, sample_rate=q, steps=steps)
    eps, best_order = ours.get_privacy_spent(delta=1e-5)
    assert best_order >= 128
    assert eps == pytest.approx(_dp_accounting_rdp_eps(q, sigma, steps, 1e-5), rel=1e-6)
    assert eps < 0.95 * _opacus_eps(q, sigma, steps, 1e-5)  # Opacus' orders stop at 63


def test_large_orders_pinned():
    a = RDPAccountant()
    a.step(noise_multiplier=5.0, sample_rate=0.01, steps=100)
    assert a.get_epsilon(1e-5) == pytest.approx(0.0722, abs=1e-4)
    b = RDPAccountant(orders=OPACUS_ORDERS)
    b.step(noise_multiplier=5.0, sample_rate=0.01, steps=100)
    assert b.get_epsilon(1e-5) == pytest.approx(0.1161, abs=1e-4)


def test_mnist_setting_equals_opacus():
    # q=256/60000, sigma=1.1, 60 epochs (14062 steps), delta=1e-5: Opacus gives about 2.597
    a = RDPAccountant()
    a.step(noise_multiplier=1.1, sample_rate=256 / 60000, steps=14062)
    eps = a.get_epsilon(1e-5)
    assert eps == pytest.approx(_opacus_eps(256 / 60000, 1.1, 14062, 1e-5), rel=1e-6)
    assert eps == pytest.approx(2.597, abs=1e-3)


@pytest.mark.parametrize(
    "q, sigma",
    [(q, s) for q in (1e-3, 256 / 60000, 0.01, 1.0) for s in (0.7, 1.1, 4.0)] + [(0.1, 1.1), (0.5, 4.0)],
)
def test_epsilon_grid_equals_opacus(q, sigma):
    # one RDP curve per (q, sigma); steps and delta only rescale / shift it, so they are looped here
    rdp1 = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=1, orders=OPACUS_ORDERS)
    ref1 = np.asarray(
        opacus_rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=OpacusRDP.DEFAULT_ALPHAS)
    )
    for steps in (1, 100, 14062):
        for delta in (1e-3, 1e-5, 1e-8):
            ours, _ = rdp_to_epsilon(orders=OPACUS_ORDERS, rdp=rdp1 * steps, delta=delta)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ref, _ = opacus_rdp.get_privacy_spent(orders=OpacusRDP.DEFAULT_ALPHAS, rdp=ref1 * steps, delta=delta)
            assert ours == pytest.approx(float(ref), rel=1e-6), (steps, delta)


def test_rdp_curve_equals_opacus_where_well_conditioned():
    # where A_alpha is far from 1 both codes agree to round-off
    ours = compute_rdp(sample_rate=0.01, noise_multiplier=1.0, steps=1, orders=DEFAULT_ORDERS)
    ref = opacus_rdp.compute_rdp(q=0.01, noise_multiplier=1.0, steps=1, orders=DEFAULT_ORDERS)
    np.testing.assert_allclose(ours, ref, rtol=1e-8)


def _exact_rdp(q, sigma, alpha):
    # D_alpha((1-q) N(0,s^2) + q N(1,s^2) || N(0,s^2)) by 50-digit quadrature (MTZ19 Sec 3)
    mpmath.mp.dps = 50
    qq, ss = mpmath.mpf(q), mpmath.mpf(sigma)

    def f(z):
        return mpmath.npdf(z, 0, ss) * ((1 - qq) + qq * mpmath.exp((2 * z - 1) / (2 * ss**2))) ** alpha

    return float(mpmath.log(mpmath.quad(f, [-mpmath.inf, 0, 1, mpmath.inf])) / (alpha - 1))


@pytest.mark.parametrize("alpha", [3.7, 40.0])
def test_rdp_matches_exact_integral_in_hard_regime(alpha):
    # tiny q, large sigma: A_alpha = 1 + O(1e-9); our integer path sums A - 1 directly (exact to 1e-13),
    # the fractional series carries the same round-off as Opacus' (about 1e-8 here)
    q, sigma = 1e-4, 5.0
    ours = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=1, orders=[alpha])[0]
    tol = 1e-12 if float(alpha).is_integer() else 1e-6
    assert ours == pytest.approx(_exact_rdp(q, sigma, alpha), rel=tol)


def test_q_one_is_the_plain_gaussian():
    orders = np.array([1.5, 2.0, 10.0, 63.0])
    np.testing.assert_allclose(
        compute_rdp(sample_rate=1.0, noise_multiplier=2.0, steps=3, orders=orders), 3 * orders / 8.0
    )


@settings(max_examples=10, deadline=None)
@given(
    q=st.floats(1e-4, 0.9),
    sigma=st.floats(0.5, 10.0),
    s1=st.integers(1, 500),
    s2=st.integers(1, 500),
)
def test_rdp_is_additive_and_monotone(q, sigma, s1, s2):
    orders = [2.0, 4.5, 16.0]
    r1 = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=s1, orders=orders)
    r2 = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=s2, orders=orders)
    r12 = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=s1 + s2, orders=orders)
    np.testing.assert_allclose(r1 + r2, r12, rtol=1e-10)
    assert np.all(r1 >= 0)
    # more noise never costs more privacy; sampling more never costs less
    more_noise = compute_rdp(sample_rate=q, noise_multiplier=sigma * 1.5, steps=s1, orders=orders)
    assert np.all(more_noise <= r1 * (1 + 1e-9))
    full = compute_rdp(sample_rate=1.0, noise_multiplier=sigma, steps=s1, orders=orders)
    assert np.all(r1 <= full * (1 + 1e-9))


def test_accountant_merges_history_and_composes():
    a = RDPAccountant()
    assert a.get_epsilon(1e-5) == 0.0
    for _ in range(3):
        a.step(noise_multiplier=1.0, sample_rate=0.01)
    a.step(noise_multiplier=2.0, sample_rate=0.01, steps=10)
    assert a.history == [(1.0, 0.01, 3), (2.0, 0.01, 10)]
    o = OpacusRDP()
    for _ in range(3):
        o.step(noise_multiplier=1.0, sample_rate=0.01)
    for _ in range(10):
        o.step(noise_multiplier=2.0, sample_rate=0.01)
    assert a.get_epsilon(1e-5) == pytest.approx(o.get_epsilon(1e-5), rel=1e-6)
    eps, order = a.get_privacy_spent(delta=1e-5)
    assert order in DEFAULT_ORDERS and eps == a.get_epsilon(1e-5)
    assert "steps=13" in repr(a)


@pytest.mark.parametrize("n", [1, 7, 500])
def test_step_twice_equals_one_step_of_twice_the_steps(n):
    # merging two equal segments must add n steps, not 1 (a merge that adds 1 understates epsilon)
    twice = RDPAccountant()
    twice.step(noise_multiplier=1.1, sample_rate=0.01, steps=n)
    twice.step(noise_multiplier=1.1, sample_rate=0.01, steps=n)
    once = RDPAccountant()
    once.step(noise_multiplier=1.1, sample_rate=0.01, steps=2 * n)
    assert twice.history == once.history == [(1.1, 0.01, 2 * n)]
    assert twice.get_epsilon(1e-5) == once.get_epsilon(1e-5)
    fewer = RDPAccountant()
    fewer.step(noise_multiplier=1.1, sample_rate=0.01, steps=n + 1)
    if n > 1:
        assert twice.get_epsilon(1e-5) > fewer.get_epsilon(1e-5)


@pytest.mark.parametrize(
    "target, q, steps", [(1.0, 256 / 60000, 14062), (2.0, 0.02, 500)]
)
def test_noise_search_equals_opacus(target, q, steps):
    ours = find_noise_multiplier(target_epsilon=target, delta=1e-5, sample_rate=q, steps=steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = get_noise_multiplier(target_epsilon=target, target_delta=1e-5, sample_rate=q, steps=steps)
    assert ours == pytest.approx(ref, rel=1e-9)
    a = RDPAccountant()
    a.step(noise_multiplier=ours, sample_rate=q, steps=steps)
    eps = a.get_epsilon(1e-5)
    assert target - 0.01 <= eps <= target  # meets the target, within the tolerance


def test_noise_search_gives_up_on_tiny_budget():
    with pytest.raises(ValueError, match=r"target_epsilon=1e-09 is too small"):
        find_noise_multiplier(target_epsilon=1e-9, delta=1e-5, sample_rate=1.0, steps=1000)


# --- composition and zCDP ------------------------------------------------------------------------
def test_basic_composition():
    assert acc.basic_composition([0.5, 0.25, 0.25], [1e-6, 0, 1e-6]) == (1.0, 2e-6)
    assert acc.basic_composition([1.0]) == (1.0, 0.0)


def test_advanced_composition_formula_and_crossover():
    eps, delta = acc.advanced_composition(epsilon=0.1, delta=1e-7, k=100, delta_prime=1e-6)
    expected = math.sqrt(200 * math.log(1e6)) * 0.1 + 100 * 0.1 * math.expm1(0.1)
    assert eps == pytest.approx(expected, rel=1e-12) and delta == pytest.approx(100 * 1e-7 + 1e-6)
    # for many small steps advanced beats basic (k eps); for few large steps it does not
    assert eps < 100 * 0.1
    assert acc.advanced_composition(epsilon=1.0, delta=0.0, k=3, delta_prime=1e-6)[0] > 3.0


def test_advanced_composition_inverse():
    per = acc.advanced_composition_epsilon_per_step(target_epsilon=2.0, k=500, delta_prime=1e-6)
    assert acc.advanced_composition(epsilon=per, delta=0, k=500, delta_prime=1e-6)[0] == pytest.approx(2.0, rel=1e-9)


def test_zcdp_conversions():
    rho = acc.gaussian_zcdp(noise_multiplier=2.0, steps=4)
    assert rho == pytest.approx(0.5)
    assert acc.pure_dp_to_zcdp(epsilon=0.2) == pytest.approx(0.02)
    eps_bs = acc.zcdp_to_epsilon(rho=0.5, delta=1e-5)
    assert eps_bs == pytest.approx(0.5 + 2 * math.sqrt(0.5 * math.log(1e5)))
    eps_rdp = acc.zcdp_to_epsilon(rho=0.5, delta=1e-5, method="rdp")
    assert eps_rdp < eps_bs
    # the Gaussian's RDP curve is exactly rho * alpha: the zCDP route equals the RDP accountant at q=1
    a = RDPAccountant(orders=np.linspace(1.01, 200, 20000))
    a.step(noise_multiplier=2.0, sample_rate=1.0, steps=4)
    assert a.get_epsilon(1e-5) == pytest.approx(eps_rdp, rel=1e-3)
    z = acc.ZCDPAccountant()
    z.add_gaussian(noise_multiplier=2.0, steps=4)
    z.add_pure(epsilon=0.1)
    assert z.rho == pytest.approx(0.505)
    np.testing.assert_allclose(acc.zcdp_to_rdp(rho=0.5, orders=[2.0, 3.0]), [1.0, 1.5])


# --- one question, one shape ----------------------------------------------------------------------
def test_every_accountant_answers_get_epsilon_of_delta():
    # the same two Gaussian releases (sigma = 2, no subsampling) through each accountant
    rdp, pld, zcdp = RDPAccountant(), PLDAccountant(), ZCDPAccountant()
    for a in (rdp, pld, zcdp):
        assert isinstance(a, PrivacyAccountant)
        assert a.get_epsilon(1e-5) == 0.0  # nothing spent yet
        a.step(noise_multiplier=2.0, sample_rate=1.0, steps=2)
    eps = {type(a).__name__: a.get_epsilon(1e-5) for a in (rdp, pld, zcdp)}  # positional delta everywhere
    # PLD is exact up to discretisation; RDP loses in the conversion; zCDP (Bun-Steinke) loses more
    assert 0 < eps["PLDAccountant"] < eps["RDPAccountant"] < eps["ZCDPAccountant"]
    assert not isinstance(object(), PrivacyAccountant)


def test_zcdp_step_refuses_subsampling():
    z = ZCDPAccountant()
    with pytest.raises(ValueError, match=r"sample_rate must be 1 for zCDP accounting .* got 0.01"):
        z.step(noise_multiplier=1.0, sample_rate=0.01)
    assert z.rho == 0.0


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(sample_rate=0.0), ValueError, r"sample_rate must be a finite number in \(0, 1\], got 0.0"),
        (dict(sample_rate=1.5), ValueError, r"sample_rate must be a finite number in \(0, 1\], got 1.5"),
        (dict(sample_rate="0.1"), TypeError, r"sample_rate must be a real number, got str"),
        (dict(noise_multiplier=0.0), ValueError, r"noise_multiplier must be a finite number > 0, got 0.0"),
        (dict(noise_multiplier=-1.0), ValueError, r"noise_multiplier must be a finite number > 0, got -1.0"),
        (dict(noise_multiplier=math.nan), ValueError, r"noise_multiplier must be a finite number, got nan"),
        (dict(steps=-1), ValueError, r"steps must be an integer >= 0, got -1"),
        (dict(steps=1.5), TypeError, r"steps must be an integer, got float"),
        (dict(orders=[1.0, 2.0]), ValueError, r"orders must all be finite numbers > 1"),
        (dict(orders=[]), ValueError, r"orders must not be empty"),
    ],
)
def test_compute_rdp_bad_input(kwargs, exc, pattern):
    args = dict(sample_rate=0.01, noise_multiplier=1.0, steps=10, orders=[2.0, 3.0]) | kwargs
    with pytest.raises(exc, match=pattern):
        compute_rdp(**args)


@pytest.mark.parametrize(
    "delta, pattern",
    [
        (0.0, r"delta must be a finite number in \(0, 1\), got 0.0"),
        (1.0, r"delta must be a finite number in \(0, 1\), got 1.0"),
        (-1e-5, r"delta must be a finite number in \(0, 1\), got -1e-05"),
    ],
)
def test_rdp_to_epsilon_bad_delta(delta, pattern):
    with pytest.raises(ValueError, match=pattern):
        rdp_to_epsilon(orders=[2.0, 3.0], rdp=[0.1, 0.2], delta=delta)


def test_rdp_to_epsilon_bad_curve():
    with pytest.raises(ValueError, match=r"rdp must have one value per order: got 1 values for 2 orders"):
        rdp_to_epsilon(orders=[2.0, 3.0], rdp=[0.1], delta=1e-5)
    with pytest.raises(ValueError, match=r"rdp must contain numbers >= 0"):
        rdp_to_epsilon(orders=[2.0, 3.0], rdp=[0.1, -0.2], delta=1e-5)
    assert rdp_to_epsilon(orders=[2.0], rdp=[math.inf], delta=1e-5)[0] == math.inf


def test_accountant_bad_input():
    a = RDPAccountant()
    with pytest.raises(ValueError, match=r"noise_multiplier must be a finite number > 0, got 0.0"):
        a.step(noise_multiplier=0.0, sample_rate=0.1)
    with pytest.raises(ValueError, match=r"sample_rate must be a finite number in \(0, 1\], got 2.0"):
        a.step(noise_multiplier=1.0, sample_rate=2.0)
    with pytest.raises(ValueError, match=r"steps must be an integer >= 0, got -3"):
        a.step(noise_multiplier=1.0, sample_rate=0.1, steps=-3)
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0, 1\)"):
        a.get_epsilon(0.0)
    assert a.history == []


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(target_epsilon=0.0), ValueError, r"target_epsilon must be a finite number > 0, got 0.0"),
        (dict(target_epsilon=math.inf), ValueError, r"target_epsilon must be a finite number, got inf"),
        (dict(delta=0.0), ValueError, r"delta must be a finite number in \(0, 1\)"),
        (dict(steps=0), ValueError, r"steps must be an integer >= 1, got 0"),
        (dict(tolerance=-0.1), ValueError, r"tolerance must be a finite number > 0"),
    ],
)
def test_noise_search_bad_input(kwargs, exc, pattern):
    args = dict(target_epsilon=1.0, delta=1e-5, sample_rate=0.01, steps=100) | kwargs
    with pytest.raises(exc, match=pattern):
        find_noise_multiplier(**args)


def test_composition_bad_input():
    with pytest.raises(ValueError, match=r"epsilon must be a finite number > 0, got -0.1"):
        acc.advanced_composition(epsilon=-0.1, delta=0, k=10, delta_prime=1e-6)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        acc.advanced_composition(epsilon=0.1, delta=0, k=0, delta_prime=1e-6)
    with pytest.raises(ValueError, match=r"delta_prime must be a finite number in \(0, 1\)"):
        acc.advanced_composition(epsilon=0.1, delta=0, k=10, delta_prime=0.0)
    with pytest.raises(ValueError, match=r"epsilons must all be >= 0, got -1.0"):
        acc.basic_composition([1.0, -1.0])
    with pytest.raises(ValueError, match=r"method must be one of"):
        acc.zcdp_to_epsilon(rho=0.1, delta=1e-5, method="magic")
    with pytest.raises(ValueError, match=r"rho must be a finite number >= 0, got -0.1"):
        acc.zcdp_to_epsilon(rho=-0.1, delta=1e-5)
