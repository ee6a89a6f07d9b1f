"""One-run auditing (Steinke, Nasr & Jagielski 2023) and the course's privacy-claim gate.

Statistical tests state their false-failure rate: every audit bound holds with probability >= its
confidence, so a correct implementation fails a gate check with probability <= 1 - confidence per audit
(1 % here, union over the grid below: <= 4 %); the seeds are pinned, so each run is deterministic.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ppml_lab.data import load_dataset
from ppml_lab.dp import PLDAccountant
from ppml_lab.dp.one_run_audit import (
    CanaryRun,
    canary_scores,
    default_k_grid,
    dirac_canary_dp_sgd,
    gaussian_audit,
    gdp_epsilon,
    guesses_from_scores,
    one_run_audit,
    one_run_ceiling,
    one_run_epsilon,
    one_run_p_value,
    simulate_claimed_run,
)

DELTA = 1e-5


def paper_p_value(m, r, v, eps, delta):
    """Steinke et al. 2023's p-value code, transcribed loop for loop (the reference implementation)."""
    q = 1 / (1 + math.exp(-eps))
    beta = stats.binom.sf(v - 1, r, q)
    alpha = 0
    total = 0
    for i in range(1, v + 1):
        total = total + stats.binom.pmf(v - i, r, q)
        if total > i * alpha:
            alpha = total / i
    return min(beta + alpha * delta * 2 * m, 1)


@pytest.mark.parametrize("m, r, v, eps, delta", [
    (100, 40, 30, 1.0, 1e-3), (1000, 200, 150, 0.5, 1e-5), (50, 50, 50, 3.0, 0.01),
    (10, 6, 0, 2.0, 0.1), (1000, 100, 95, 4.0, 0.0), (20, 20, 12, 0.0, 0.05),
])
def test_p_value_equals_the_papers_code(m, r, v, eps, delta):
    assert one_run_p_value(m=m, r=r, v=v, epsilon=eps, delta=delta) == pytest.approx(
        paper_p_value(m, r, v, eps, delta), rel=1e-10, abs=1e-300)


def _brute_force_tail(r, eps, delta, v):
    """Exact P[>= v correct] for the auditor facing r canaries each released by an (eps, delta)-DP mechanism
    tight for Theorem 3's two ingredients: with probability delta the bit is revealed, otherwise randomized
    response at eps. Enumerates all 3^r outcome patterns (revealed / RR-correct / RR-wrong)."""
    p_rr = 1 / (1 + math.exp(-eps))
    total = 0.0
    for pattern in itertools.product((0, 1, 2), repeat=r):  # 0: revealed, 1: RR correct, 2: RR wrong
        correct = sum(1 for o in pattern if o in (0, 1))
        if correct >= v:
            prob = 1.0
            for o in pattern:
                prob *= delta if o == 0 else (1 - delta) * (p_rr if o == 1 else 1 - p_rr)
            total += prob
    return total


@pytest.mark.parametrize("r, eps, delta", [(5, 1.0, 0.0), (6, 0.5, 0.02), (7, 2.0, 0.05), (4, 0.0, 0.1)])
def test_theorem_bounds_the_brute_force_tail(r, eps, delta):
    # Theorem 3 must upper-bound P[W >= v] for EVERY (eps, delta)-DP mechanism, and equal it at delta = 0
    # (randomized response is the extremal eps-DP mechanism).
    for v in range(r + 1):
        exact = _brute_force_tail(r, eps, delta, v)
        bound = one_run_p_value(m=r, r=r, v=v, epsilon=eps, delta=delta)
        assert bound >= exact - 1e-12, (v, bound, exact)
        if delta == 0.0:
            assert bound == pytest.approx(exact, rel=1e-9, abs=1e-15)


def test_epsilon_inverts_the_p_value():
    for m, r, v in [(1000, 100, 90), (200, 50, 40), (5000, 300, 280)]:
        eps = one_run_epsilon(m=m, r=r, v=v, delta=DELTA, confidence=0.95)
        assert eps > 0
        assert one_run_p_value(m=m, r=r, v=v, epsilon=eps, delta=DELTA) < 0.05  # refuted
        assert one_run_p_value(m=m, r=r, v=v, epsilon=eps + 1e-6, delta=DELTA) >= 0.05  # the largest such
    assert one_run_epsilon(m=100, r=10, v=5, delta=DELTA) == 0.0  # chance level refutes nothing


def test_ceiling_grows_like_log_r():
    # all r guesses right: q^r = 0.05 at delta = 0, i.e. eps = -log(0.05^(-1/r) - 1)
    for r in (10, 100, 1000):
        assert one_run_ceiling(m=r, r=r, delta=0.0) == pytest.approx(-math.log(0.05 ** (-1 / r) - 1), abs=1e-6)


def test_randomized_response_audit_is_valid_and_tight():
    # m = 4000 canaries through eps = 2 randomized response; the auditor guesses every bit.
    # P[bound > 2] <= 5 % (false-failure rate); the pinned seed makes it deterministic.
    g = np.random.default_rng(5)
    inc = g.random(4000) < 0.5
    flip = g.random(4000) < 1 / (1 + math.e**2)
    scores = np.where(inc ^ flip, 1.0, 0.0) + 1e-9 * g.random(4000)  # ties broken at random
    res = one_run_audit(scores, inc, delta=0.0, k_grid=[(2000, 2000)], claimed_epsilon=2.0)
    assert not res.violation, str(res)
    assert res.epsilon > 1.7, str(res)  # close: 4000 guesses pin a rate of 0.881 to about +-0.01


def test_guesses_from_scores():
    g = guesses_from_scores([0.1, 5.0, -2.0, 3.0, 0.0], k_positive=2, k_negative=1)
    assert g.tolist() == [0, 1, -1, 1, 0]


# ------------------------------------------------------------------------------------------------
# DP-SGD with Dirac canaries: the privacy-claim gate, tightness, broken implementations caught
# ------------------------------------------------------------------------------------------------
_DS = load_dataset("digits", standardize=True)
_X = torch.tensor(_DS.X[:120].astype(np.float32))
_Y = torch.tensor(_DS.y[:120])


def _run(sigma, q, steps, *, seed, m=1000, frac=1.0, batching="poisson"):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    return dirac_canary_dp_sgd(model, (_X, _Y), n_canaries=m, noise_multiplier=sigma, max_grad_norm=1.0,
                               sample_rate=q, steps=steps, lr=0.5, delta=DELTA, batching=batching,
                               actual_noise_fraction=frac, rng=seed)


GATE = [(2.0, 1.0, 16), (1.5, 1.0, 16), (0.8, 0.1, 30), (1.0, 0.05, 40)]


@pytest.mark.attack
@pytest.mark.parametrize("sigma, q, steps", GATE)
def test_privacy_claim_gate_no_audit_exceeds_the_accountant(sigma, q, steps):
    # The course's privacy-claim gate: on correct DP-SGD no audit (at 99 % confidence) exceeds the
    # accountant's epsilon per canary. False-failure rate <= 1 % per audit, <= 4 % over the grid.
    run = _run(sigma, q, steps, seed=int(100 * sigma + steps))
    for score in ("likelihood", "sum"):
        res = one_run_audit(canary_scores(run, score=score), run.included, delta=DELTA, confidence=0.99,
                            claimed_epsilon=run.epsilon)
        assert not res.violation, str(res)
        if score == "likelihood":
            assert res.epsilon > 0.1, str(res)  # and the audit is not vacuous: it finds real leakage
    if q == 1.0:  # the Gaussian-shape audit is valid only for full batches
        ga = gaussian_audit(canary_scores(run, score="sum"), run.included, delta=DELTA, confidence=0.99,
                            claimed_epsilon=run.epsilon)
        assert not ga.violation, str(ga)


@pytest.mark.attack
def test_weakly_private_model_audits_close_to_its_bounds():
    # eps ~ 10 per canary (full batch, sigma 2, 16 steps; mu = 2 GDP). The Gaussian audit reaches >= 80 %
    # of the accountant's epsilon; the one-run audit reaches >= 80 % of what an ideal auditor gets from a
    # mechanism exactly as private as accounted (simulated mu-GDP scores, same m and grid).
    run = _run(2.0, 1.0, 16, seed=7)
    acct = PLDAccountant()
    acct.step(noise_multiplier=2.0, sample_rate=1.0, steps=16)
    assert run.epsilon == acct.get_epsilon(DELTA) and 8 <= run.epsilon <= 16
    ga = gaussian_audit(canary_scores(run, score="sum"), run.included, delta=DELTA)
    assert 0.8 * run.epsilon <= ga.epsilon <= run.epsilon, str(ga)
    one = one_run_audit(canary_scores(run), run.included, delta=DELTA)
    ideal = one_run_audit(canary_scores(simulate_claimed_run(run, rng=8)), run.included, delta=DELTA)
    assert one.epsilon >= 0.8 * ideal.epsilon, (str(one), str(ideal))


def test_simulated_claimed_run_is_the_accounted_mechanism():
    run = _run(2.0, 0.25, 8, seed=4, m=200)
    sim = simulate_claimed_run(run, rng=0)
    assert sim.observations.shape == (200, 8) and (sim.included == run.included).all()
    x = sim.observations[~run.included]  # excluded canaries: pure N(0, sigma^2) noise
    assert abs(x.std() - 2.0) < 0.15  # 800 draws: sd of the sd ~ 0.05, so a 3-sigma tolerance
    shift = sim.observations[run.included].mean() - x.mean()
    assert abs(shift - 0.25) < 0.25  # q = 0.25 per step; sd of the difference ~ 0.1


@pytest.mark.attack
def test_noise_smaller_than_accounted_is_caught():
    # claims sigma = 8 (eps ~ 2.0 per canary) but adds sigma = 2: both audits refute the claim.
    run = _run(8.0, 1.0, 16, seed=11, frac=0.25)
    res = one_run_audit(canary_scores(run), run.included, delta=DELTA, confidence=0.99, claimed_epsilon=run.epsilon)
    assert res.violation, str(res)
    ga = gaussian_audit(canary_scores(run, score="sum"), run.included, delta=DELTA, confidence=0.99,
                        claimed_epsilon=run.epsilon)
    assert ga.violation, str(ga)


@pytest.mark.attack
def test_noise_smaller_than_accounted_is_caught_under_poisson_sampling():
    run = _run(3.0, 0.1, 30, seed=12, frac=0.2)  # claims sigma = 3 at q = 0.1; adds a fifth of the noise
    res = one_run_audit(canary_scores(run), run.included, delta=DELTA, confidence=0.99, claimed_epsilon=run.epsilon)
    assert res.violation, str(res)


@pytest.mark.attack
def test_shuffled_batches_accounted_as_poisson_are_caught():
    # Fixed-size batches in a public shuffled order, charged as Poisson at q = 0.01 (eps ~ 0.72 per canary).
    # An auditor who knows the order reads each canary's one step per epoch: no amplification is left.
    run = _run(1.0, 0.01, 100, seed=13, batching="shuffle")
    res = one_run_audit(canary_scores(run, score="schedule"), run.included, delta=DELTA, confidence=0.99,
                        claimed_epsilon=run.epsilon)
    assert res.violation, str(res)


def test_canary_run_records_what_was_claimed():
    run = _run(1.0, 0.2, 5, seed=3, m=50)
    assert isinstance(run, CanaryRun) and run.observations.shape == (50, 5) and run.schedule is None
    assert run.noise_multiplier == 1.0 and run.sample_rate == 0.2 and run.steps == 5
    shuf = _run(1.0, 0.2, 10, seed=3, m=50, batching="shuffle")
    # each canary slot sits in exactly one batch per epoch (an epoch is 5 batches of 34 of the 170 slots)
    assert (shuf.schedule[:, :5].sum(axis=1) == 1).all() and (shuf.schedule[:, 5:].sum(axis=1) == 1).all()


def test_gaussian_audit_bound_has_its_stated_coverage_on_the_accounted_mechanism():
    # The Gaussian audit is what gets close to the accountant at epsilon 8-16, so its statistics must be
    # valid: on the exact mechanism the accountant was charged for (full batch, sigma = 2, 16 steps: mu = 2
    # GDP, epsilon ~ 10 per canary), its 95 % lower bound may exceed the true epsilon in about 5 % of runs.
    # 400 independent simulated runs (seeded): 20 expected; the window [6, 36] fails a correct audit with
    # probability < 1e-3 (binomial), and catches a bound with no confidence margin (about 50 %).
    sigma, steps, m, reps = 2.0, 16, 1000, 400
    acct = PLDAccountant()
    acct.step(noise_multiplier=sigma, sample_rate=1.0, steps=steps)
    eps = acct.get_epsilon(DELTA)
    g = np.random.default_rng(2023)
    over = 0
    for _ in range(reps):
        inc = g.random(m) < 0.5
        blank = CanaryRun(np.zeros((m, steps)), inc, None, np.zeros((m, steps)), sigma, 1.0, steps, "poisson",
                          1.0, eps, DELTA)
        sim = simulate_claimed_run(blank, rng=g)
        over += gaussian_audit(canary_scores(sim, score="sum"), inc, delta=DELTA).epsilon > eps
    assert 6 <= over <= 36, f"{over} of {reps} bounds above the true epsilon {eps:.3f} (nominal 5 %)"


def test_printed_bounds_round_towards_the_safe_side():
    # a printed lower bound never claims more leakage than measured; a printed claim is never a smaller spend
    from ppml_lab.dp.one_run_audit import GaussianAuditResult, OneRunAuditResult

    one = OneRunAuditResult(1.7739, 0.95, DELTA, 600, 60, 58, 30, 30, 8, claimed_epsilon=7.9931)
    assert "epsilon >= 1.773 " in str(one) and "claimed 7.994 " in str(one)
    ga = GaussianAuditResult(1.9999, 2.1, 8.8839, 0.95, DELTA, 500, 500, claimed_epsilon=9.9971)
    assert "mu >= 1.999 " in str(ga) and "epsilon >= 8.883 " in str(ga) and "claimed 9.998 " in str(ga)


def test_gdp_epsilon_matches_the_accountant_for_a_gaussian():
    acct = PLDAccountant()
    acct.step(noise_multiplier=2.0, sample_rate=1.0, steps=16)  # mu = sqrt(16) / 2 = 2
    assert gdp_epsilon(2.0, delta=DELTA) == pytest.approx(acct.get_epsilon(DELTA), rel=0.01)


# ------------------------------------------------------------------------------------------------
# Bad inputs: typed errors naming the parameter, the bound and the value
# ------------------------------------------------------------------------------------------------
def test_refuses_more_correct_guesses_than_guesses():
    with pytest.raises(ValueError, match=r"v must be an integer in \[0, 5\], got 6"):
        one_run_p_value(m=10, r=5, v=6, epsilon=1.0, delta=0.0)


def test_refuses_more_guesses_than_canaries():
    with pytest.raises(ValueError, match=r"r must be an integer in \[0, 10\], got 11"):
        one_run_epsilon(m=10, r=11, v=3, delta=0.0)


def test_refuses_negative_epsilon():
    with pytest.raises(ValueError, match=r"epsilon must be a finite number >= 0, got -1.0"):
        one_run_p_value(m=10, r=5, v=3, epsilon=-1.0, delta=0.0)


def test_refuses_delta_of_one():
    with pytest.raises(ValueError, match=r"delta must be a finite number in \[0, 1\), got 1.0"):
        one_run_epsilon(m=10, r=5, v=3, delta=1.0)


def test_refuses_confidence_of_one():
    with pytest.raises(ValueError, match=r"confidence must be a finite number in \(0, 1\), got 1.0"):
        one_run_epsilon(m=10, r=5, v=3, delta=0.0, confidence=1.0)


def test_refuses_non_boolean_inclusion():
    with pytest.raises(TypeError, match=r"included must be a boolean array, got dtype int64"):
        one_run_audit([1.0, 2.0], np.array([1, 0]), delta=0.0)


def test_refuses_mismatched_inclusion():
    with pytest.raises(ValueError, match=r"included must have the shape of scores \(2,\), got \(3,\)"):
        one_run_audit([1.0, 2.0], np.array([True, False, True]), delta=0.0)


def test_refuses_too_many_guesses():
    with pytest.raises(ValueError, match=r"k_negative must be an integer in \[0, 1\], got 2"):
        guesses_from_scores([1.0, 2.0, 3.0], k_positive=2, k_negative=2)


def test_refuses_empty_grid():
    with pytest.raises(ValueError, match=r"k_grid must hold at least one"):
        one_run_audit([1.0, 2.0], np.array([True, False]), delta=0.0, k_grid=[])


def test_refuses_schedule_score_under_poisson():
    run = _run(1.0, 0.2, 3, seed=1, m=20)
    with pytest.raises(ValueError, match=r"score='schedule' needs a public batch order"):
        canary_scores(run, score="schedule")


def test_refuses_more_canaries_than_coordinates():
    model = nn.Linear(2, 2)  # 6 parameters
    with pytest.raises(ValueError, match=r"n_canaries must be an integer in \[2, 6\], got 7"):
        dirac_canary_dp_sgd(model, (_X[:, :2], _Y % 2), n_canaries=7, noise_multiplier=1.0, max_grad_norm=1.0,
                            sample_rate=0.5, steps=1, lr=0.1, delta=DELTA, rng=0)


def test_refuses_unknown_batching():
    with pytest.raises(ValueError, match=r"batching must be one of 'poisson', 'shuffle', got 'fixed'"):
        dirac_canary_dp_sgd(nn.Linear(64, 10), (_X, _Y), n_canaries=10, noise_multiplier=1.0, max_grad_norm=1.0,
                            sample_rate=0.5, steps=1, lr=0.1, delta=DELTA, batching="fixed", rng=0)


def test_refuses_a_noise_fraction_above_one():
    with pytest.raises(ValueError, match=r"actual_noise_fraction must be a finite number in \(0, 1\], got 2.0"):
        dirac_canary_dp_sgd(nn.Linear(64, 10), (_X, _Y), n_canaries=10, noise_multiplier=1.0, max_grad_norm=1.0,
                            sample_rate=0.5, steps=1, lr=0.1, delta=DELTA, actual_noise_fraction=2.0, rng=0)


def test_gaussian_audit_needs_both_groups():
    with pytest.raises(ValueError, match=r"needs >= 2 included and >= 2 excluded canaries, got 3 and 1"):
        gaussian_audit([1.0, 2.0, 3.0, 0.0], np.array([True, True, True, False]), delta=DELTA)


def test_default_grid_fits_m():
    assert all(kp + kn <= 50 for kp, kn in default_k_grid(50))


def test_audit_splits_its_confidence_over_the_grid():
    # picking the best (k+, k-) after looking is paid for: each candidate is bounded at 1 - 0.05 / |grid|
    g = np.random.default_rng(2)
    inc = g.random(2000) < 0.5
    scores = g.normal(size=2000) + 1.5 * inc
    grid = default_k_grid(2000)
    res = one_run_audit(scores, inc, delta=DELTA, confidence=0.95)
    best = 0.0
    for kp, kn in grid:
        guess = guesses_from_scores(scores, k_positive=kp, k_negative=kn)
        r, v = int(np.count_nonzero(guess)), int(np.count_nonzero(guess * np.where(inc, 1, -1) == 1))
        best = max(best, one_run_epsilon(m=2000, r=r, v=v, delta=DELTA, confidence=1 - 0.05 / len(grid)))
    assert res.n_candidates == len(grid) and res.epsilon == best
    single = one_run_audit(scores, inc, delta=DELTA, confidence=0.95, k_grid=[(res.k_positive, res.k_negative)])
    assert single.epsilon > res.epsilon  # the uncorrected bound would be larger


def test_gaussian_audit_refuses_mismatched_inclusion():
    with pytest.raises(ValueError, match=r"included must have the shape of scores \(4,\), got \(3,\)"):
        gaussian_audit([1.0, 2.0, 3.0, 0.0], np.array([True, False, True]), delta=DELTA)
