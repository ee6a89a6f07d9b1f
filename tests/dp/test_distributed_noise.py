"""Distributed discrete Gaussian (KLS21): noise independent of the cohort, modular sums, collusion, epsilon."""

import math

import numpy as np
import pytest
from scipy import stats

from ppml_lab.dp import distributed_noise as dn
from ppml_lab.dp.accountant import RDPAccountant
from ppml_lab.exceptions import DropoutThresholdError, PrecisionError
from ppml_lab.fl.secure_aggregation import secure_aggregate

ALPHA = 1e-6  # per-check false-failure rate of each seeded variance test (two-sided chi-square)


def _params(**kw):
    base = dict(max_update_norm=1.0, noise_multiplier=1.0, dim=64, min_clients=6, max_clients=40)
    base.update(kw)
    return dn.ddg_params(**base)


def _variance_ok(values, variance):
    """Two-sided chi-square test of 'the values have this variance' at level ALPHA (mean known: 0)."""
    n = values.size
    stat = float(np.sum(values**2) / variance)  # ~ chi2(n) for centred (near-)Gaussian values
    return stats.chi2.cdf(stat, n) > ALPHA / 2 and stats.chi2.sf(stat, n) > ALPHA / 2


def _noise_sums(prm, m, reps, rng):
    """reps independent sums of m clients' encodings of the zero vector, decoded: the noise alone."""
    zero = np.zeros(prm.dim)
    out = [dn.ddg_aggregate(np.stack([dn.ddg_encode(zero, params=prm, rng=rng) for _ in range(m)]), params=prm)
           for _ in range(reps)]
    return np.concatenate(out)


# ------------------------------------------------------------------ noise does not depend on who shows up


@pytest.mark.parametrize("m", [6, 30])
def test_per_client_noise_variance_is_the_same_for_any_cohort_size(m):
    # Arrange: the parameters are fixed before the round, from min_clients / colluding_clients only
    prm = _params()
    g = np.random.default_rng(100 + m)
    # Act: m clients send the zero vector; the decoded sum is the noise of m shares
    noise = _noise_sums(prm, m, reps=max(1, 60 // m), rng=g)
    # Assert: variance m * (sigma_c gamma)^2, i.e. the per-client share does not depend on m
    per_client = (prm.local_sigma * prm.granularity) ** 2
    assert _variance_ok(noise, m * per_client)


def test_honest_noise_alone_reaches_the_calibrated_level():
    prm = _params(min_clients=8)  # default colluding_clients = 8 // 2 = 4: four honest shares
    assert prm.colluding_clients == 4 and prm.honest_clients == 4
    assert prm.honest_clients * prm.local_sigma**2 == pytest.approx((prm.noise_multiplier * prm.sensitivity) ** 2)
    assert prm.guaranteed_noise_std >= prm.noise_multiplier * prm.max_update_norm


@pytest.mark.attack
def test_colluders_who_subtract_their_noise_leave_at_least_z_times_s():
    """t - 1 colluding clients tell the server their noise; what remains must still be >= (z S)^2."""
    zero = np.zeros(64)
    g = np.random.default_rng(7)

    def residual(prm, colluders, reps=12):
        out = []
        for _ in range(reps):
            msgs = np.stack([dn.ddg_encode(zero, params=prm, rng=g) for _ in range(prm.min_clients)])
            total = dn.modular_sum(msgs, bits=prm.bits)
            known = dn.modular_sum(msgs[:colluders], bits=prm.bits)  # the colluders' own noise, revealed
            out.append(dn.ddg_decode(total - known, params=prm))  # uint64 wraps: still mod 2^bits
        return np.concatenate(out)

    target = 1.0  # (z S)^2 with z = S = 1
    # raw path: noise calibrated as if nobody colluded; 3 of 6 clients collude -> half the variance left
    naive = _params(colluding_clients=0)
    left = residual(naive, colluders=3)
    assert _variance_ok(left, 3 * (naive.local_sigma * naive.granularity) ** 2)
    assert np.var(left) < 0.7 * target  # attack succeeds: the noise the server faces is below the claim
    # default path: colluding_clients = 3 (t - 1 for the strict-majority threshold t = 4 of 6 clients)
    safe = _params()
    assert safe.colluding_clients == 3
    left = residual(safe, colluders=3)
    assert _variance_ok(left, 3 * (safe.local_sigma * safe.granularity) ** 2)
    assert 3 * (safe.local_sigma * safe.granularity) ** 2 >= target  # attack fails: >= (z S)^2 remains


# ------------------------------------------------------------------ quantisation and the modular wrap


def test_sum_survives_the_mod_2_to_the_bits_wrap():
    # 8-bit modulus: individual messages and partial sums wrap constantly
    prm = dn.ddg_params(max_update_norm=1.0, noise_multiplier=0.5, dim=4, min_clients=4, max_clients=4,
                        colluding_clients=0, bits=8)
    g = np.random.default_rng(3)
    wrapped = 0
    for _ in range(100):
        xs = g.normal(size=(4, 4))
        xs /= np.linalg.norm(xs, axis=1, keepdims=True)
        msgs = np.stack([dn.ddg_encode(x, params=prm, rng=g) for x in xs])
        singles = np.stack([np.rint(dn.ddg_decode(m, params=prm) / prm.granularity) for m in msgs])
        wrapped += int(np.any(msgs >= 128))  # a negative value's representative
        total = np.rint(dn.ddg_aggregate(msgs, params=prm) / prm.granularity)
        # the decoded modular sum is the exact integer sum of the clients' (rounded + noise) vectors
        assert np.array_equal(total, singles.sum(axis=0))
    assert wrapped > 50  # the test did exercise negative values / wrapped representatives


def test_worst_case_data_never_wraps():
    # every client pushes the full clip norm into the same coordinate: the data part is at its maximum
    prm = dn.ddg_params(max_update_norm=1.0, noise_multiplier=0.5, dim=4, min_clients=4, max_clients=4,
                        colluding_clients=0, bits=8)
    g = np.random.default_rng(4)
    x = np.array([1.0, 0.0, 0.0, 0.0])
    for _ in range(50):
        total = dn.ddg_aggregate(np.stack([dn.ddg_encode(x, params=prm, rng=g) for _ in range(4)]), params=prm)
        assert total[0] > 0  # a wrap would turn +4 c into a large negative number


def test_secure_aggregation_ring_gives_the_same_sum():
    # production counterpart of the modular sum: the masking protocol over Z_2^64, reduced mod 2^bits
    prm = _params(dim=16, min_clients=3, max_clients=5, bits=20)
    g = np.random.default_rng(5)
    xs = g.normal(size=(5, 16)) * 0.2
    msgs = [dn.ddg_encode(x, params=prm, rng=g) for x in xs]
    via_secagg = dn.ddg_decode(secure_aggregate(msgs, rng=6).total, params=prm)
    assert np.array_equal(via_secagg, dn.ddg_aggregate(np.stack(msgs), params=prm))


def test_rounding_is_unbiased():
    prm = _params(dim=8, bits=40, noise_multiplier=1e-3, min_clients=1, max_clients=1, colluding_clients=0)
    g = np.random.default_rng(8)
    x = np.array([0.3, -0.2, 0.1, 0.05, 0.0, 0.4, -0.5, 0.25])
    est = np.mean([dn.ddg_decode(dn.ddg_encode(x, params=prm, rng=g), params=prm) for _ in range(300)], axis=0)
    # noise std per draw ~ 1e-3, rounding error < gamma ~ 1e-10: the mean is x to within 6 standard errors
    assert np.max(np.abs(est - x)) < 6 * 1e-3 / math.sqrt(300)


def test_randomized_rounding_is_unbiased_on_a_coarse_grid():
    # 8-bit modulus, tiny z: the grid step gamma is ~1 % of S and the noise is ~1 grid step, so a biased
    # rounding (up with probability 1 - frac instead of frac) would show as a 0.5-step shift
    prm = dn.ddg_params(max_update_norm=1.0, noise_multiplier=0.01, dim=16, min_clients=1, max_clients=1,
                        colluding_clients=0, bits=8)
    g = np.random.default_rng(9)
    x = (np.arange(16) - 8 + 0.25) * prm.granularity  # a quarter step above a grid point
    errs = np.concatenate([(dn.ddg_decode(dn.ddg_encode(x, params=prm, rng=g), params=prm) - x) / prm.granularity
                           for _ in range(150)])
    # each error = rounding (mean 0, |.| < 1) + N_Z(0, sigma_c^2): sd <= sqrt(sigma_c^2 + 1/4)
    se = math.sqrt(prm.local_sigma**2 + 0.25) / math.sqrt(errs.size)
    assert 0.5 > 6 * se  # the test can see the bias it is looking for
    assert abs(errs.mean()) < 6 * se  # 6 standard errors: false-failure rate < 2e-9


def test_large_modulus_keeps_rounding_exact_in_float64():
    # at 2^62 the wrap bound alone would allow c / gamma ~ 2^56, beyond float64's integer precision
    prm = _params(bits=62, dim=8, min_clients=1, max_clients=2, colluding_clients=0)
    assert prm.max_update_norm / prm.granularity <= 2.0**50
    x = np.full(8, 0.3)
    scaled = x / prm.granularity
    assert np.all(scaled - np.floor(scaled) > 0)  # a fractional part survives: rounding is still randomized
    total = dn.ddg_aggregate(np.stack([dn.ddg_encode(x, params=prm, rng=g) for g in (1, 2)]), params=prm)
    assert np.allclose(total, 2 * x, atol=10 * prm.guaranteed_noise_std)


def test_rounding_cost_is_reported():
    coarse = _params(bits=16, max_clients=200, dim=650, min_clients=10)
    fine = _params(bits=32, max_clients=200, dim=650, min_clients=10)
    assert coarse.noise_inflation == pytest.approx(1 + coarse.granularity * math.sqrt(650))
    assert coarse.noise_inflation > 1.1 and fine.noise_inflation < 1 + 1e-5


# ------------------------------------------------------------------ accounting


def test_epsilon_is_the_unamplified_gaussian_when_tau_vanishes():
    prm = _params()
    assert dn.ddg_tau(prm) == 0.0  # sigma_c is ~10^7 integer steps
    assert dn.ddg_rho(prm) == pytest.approx(1 / (2 * 1.0**2), rel=1e-12)
    eps = dn.ddg_epsilon(prm, participations=10, delta=1e-5)
    acc = RDPAccountant()
    acc.step(noise_multiplier=1.0, sample_rate=1.0, steps=10)
    assert eps == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert eps == pytest.approx(19.0536, abs=1e-3)  # q = 1, z = 1, 10 participations, delta = 1e-5
    from opacus.accountants import RDPAccountant as OpacusRDP

    op = OpacusRDP()
    for _ in range(10):
        op.step(noise_multiplier=1.0, sample_rate=1.0)
    assert eps == pytest.approx(op.get_epsilon(delta=1e-5), rel=1e-6)


def test_epsilon_follows_the_kls21_formula_when_tau_matters():
    # tiny modulus -> sigma_c of a few integer steps -> tau > 0 adds to rho (KLS21 Prop. 14, third bound)
    prm = dn.ddg_params(max_update_norm=1.0, noise_multiplier=0.03, dim=1, min_clients=3, max_clients=3,
                        colluding_clients=0, bits=8)
    sigma, n, d = prm.local_sigma, prm.honest_clients, prm.dim
    tau = 10 * sum(math.exp(-2 * math.pi**2 * sigma**2 * k / (k + 1)) for k in range(1, n))
    assert tau > 0.05
    rho = 0.5 * (prm.sensitivity / (math.sqrt(n) * sigma) + tau * math.sqrt(d)) ** 2
    assert dn.ddg_tau(prm) == pytest.approx(tau, rel=1e-12)
    assert dn.ddg_rho(prm) == pytest.approx(rho, rel=1e-12)
    acc = RDPAccountant()
    acc.step(noise_multiplier=1 / math.sqrt(2 * rho), sample_rate=1.0, steps=3)
    assert dn.ddg_epsilon(prm, participations=3, delta=1e-6) == pytest.approx(acc.get_epsilon(1e-6), rel=1e-12)
    assert dn.ddg_rho(prm) > 1.005 / (2 * 0.03**2)  # tau only ever costs privacy


def test_epsilon_grows_with_participations_and_is_zero_without():
    prm = _params()
    e = [dn.ddg_epsilon(prm, participations=p, delta=1e-5) for p in (0, 1, 5, 20)]
    assert e[0] == 0.0 and e[1] < e[2] < e[3]


# ------------------------------------------------------------------ bad input, one test per refusal


def test_colluders_must_leave_an_honest_share():
    with pytest.raises(ValueError, match=r"colluding_clients must be < min_clients \(6\).*got 6"):
        _params(colluding_clients=6)


def test_modulus_too_small():
    with pytest.raises(PrecisionError, match="bits must leave room for 40 clients.*got 8"):
        _params(bits=8)


def test_bits_out_of_range():
    with pytest.raises(ValueError, match=r"bits must be an integer in \[8, 62\], got 63"):
        _params(bits=63)


def test_max_clients_below_min_clients():
    with pytest.raises(ValueError, match="max_clients must be an integer >= 6, got 5"):
        _params(max_clients=5)


def test_noise_multiplier_must_be_positive():
    with pytest.raises(ValueError, match="noise_multiplier must be a finite number > 0, got 0.0"):
        _params(noise_multiplier=0.0)


def test_overflow_probability_range():
    with pytest.raises(ValueError, match=r"overflow_probability must be a finite number in \(0, 1\)"):
        _params(overflow_probability=1.0)


def test_unclipped_update_refused():
    with pytest.raises(ValueError, match="update must be clipped to L2 norm <= max_update_norm=1, got norm 2"):
        dn.ddg_encode(np.r_[2.0, np.zeros(63)], params=_params(), rng=0)


def test_wrong_dimension_refused():
    with pytest.raises(ValueError, match="update must have dim=64 coordinates, got 3"):
        dn.ddg_encode(np.zeros(3), params=_params(), rng=0)


def test_params_must_come_from_ddg_params():
    with pytest.raises(TypeError, match="params must be a DDGParams"):
        dn.ddg_encode(np.zeros(3), params={"bits": 32}, rng=0)


def test_too_few_inputs_abort_the_round():
    prm = _params()
    msgs = np.stack([dn.ddg_encode(np.zeros(64), params=prm, rng=1) for _ in range(5)])
    with pytest.raises(DropoutThresholdError, match="needs at least min_clients=6 inputs, got 5"):
        dn.ddg_aggregate(msgs, params=prm)


def test_decode_needs_uint64():
    with pytest.raises(TypeError, match="total must be a uint64 vector of length 64"):
        dn.ddg_decode(np.zeros(64), params=_params())


def test_participations_must_be_non_negative():
    with pytest.raises(ValueError, match="participations must be an integer >= 0, got -1"):
        dn.ddg_epsilon(_params(), participations=-1, delta=1e-5)
