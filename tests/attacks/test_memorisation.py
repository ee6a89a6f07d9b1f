"""Exposure, extraction and membership inference against the character LM (Carlini et al. 2019, 2021)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from ppml_lab import data
from ppml_lab.attacks import memorisation as mem
from ppml_lab.attacks.membership_inference import roc_from_scores
from ppml_lab.lm.char_lm import CharLM, encode_notes, load_pretrained
from ppml_lab.lm.finetune import finetune


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained()[0]


@pytest.fixture(scope="module")
def trained(pretrained):
    """200 notes, one record-number and one phone canary each repeated 16 times; non-private and DP (eps=1/note)."""
    torch.set_num_threads(1)
    d = data.clinical_notes(200, repetitions=(16,), canaries_per_setting=1, formats=("record_number", "phone"), rng=0)
    X, Y = encode_notes(d.notes)
    raw = finetune(pretrained, X, Y, method="non_private", epochs=10, sample_rate=0.2, lr=1e-2, rng=0)
    dp = finetune(pretrained, X, Y, method="dp_full", epochs=10, sample_rate=0.2, lr=1e-2, target_epsilon=1.0, rng=0)
    return d, X, Y, raw.model, dp


def _tiny():
    torch.manual_seed(0)
    return CharLM(context=6, embed_dim=3, hidden=8)


def test_exposure_from_rank_known_answers():
    assert mem.exposure_from_rank(1, 10**5) == pytest.approx(math.log2(10**5))  # ranked first: log2|R|
    assert mem.exposure_from_rank(10**5, 10**5) == pytest.approx(0.0)
    assert mem.exposure_from_rank(2**10, 2**20) == pytest.approx(10.0)
    with pytest.raises(ValueError, match=r"rank must be in \[1, space_size=100\], got 0"):
        mem.exposure_from_rank(0, 100)
    with pytest.raises(ValueError, match=r"rank must be in \[1, space_size=100\], got 101"):
        mem.exposure_from_rank(101, 100)  # a rank past |R| would give a negative exposure


def test_exact_exposure_equals_brute_force_ranking():
    m = _tiny()
    prefix, pattern = "ID is ", "A##"
    cands = [f"A{i:02d}" for i in range(100)]
    lp = mem.sequence_log2_probs(m, prefix, cands)  # scored one by one, not by the trie
    for secret in ("A07", "A42", "A99"):
        r = mem.exposure_exact(m, prefix, secret, pattern)
        rank = 1 + int(np.sum(lp > lp[int(secret[1:])]))
        assert r.rank == rank and r.method == "exact" and r.space_size == 100
        assert r.exposure == pytest.approx(math.log2(100) - math.log2(rank))
        assert r.log_perplexity == pytest.approx(-lp[int(secret[1:])], abs=1e-6)


def test_trie_enumeration_order_and_values_match_direct_scoring():
    """The trie walk scores every candidate of '#A##' exactly once, in lexicographic order of its digits."""
    m = _tiny()
    lp = mem._enumerate_log2_probs(m, "ID is ", "#A##")  # >= 3 slots: a level's order feeds the next level
    direct = mem.sequence_log2_probs(m, "ID is ", [f"{i // 100}A{i // 10 % 10}{i % 10}" for i in range(1000)])
    assert lp.shape == (1000,) and np.allclose(lp, direct, atol=1e-5)
    # p over the 10 digits after 'A' sums to p('A' | prefix) * P(a digit follows)
    one = np.exp2(mem._enumerate_log2_probs(m, "ID is ", "A#")).sum()
    p_a = np.exp2(mem.sequence_log2_probs(m, "ID is ", ["A"])[0])
    assert 0 < one < p_a


def test_never_inserted_canaries_have_chance_exposure(pretrained):
    """A secret the model never saw is a uniform draw from R, so its rank is uniform: exposure ~ Exp(ln 2) bits.

    The sum of 20 such exposures is Gamma(20, scale 1/ln 2) (up to the rank's discreteness, which only
    lowers it); the test accepts the central 1 - 2e-4 of that law: false-failure rate 2e-4.
    """
    g = np.random.default_rng(2024)
    exps = []
    for _ in range(20):
        prefix = f"Patient {int(g.integers(1000, 10000))}'s record number is "
        exps.append(mem.exposure_exact(pretrained, prefix, data.random_secret("####", rng=g), "####").exposure)
    law = stats.gamma(a=20, scale=1 / math.log(2))
    assert law.ppf(1e-4) < sum(exps) < law.ppf(1 - 1e-4)


@pytest.mark.attack
def test_exposure_high_for_repeated_canary_and_low_under_dp(trained):
    d, _, _, raw, dp = trained
    rec = d.canaries[0]
    e_raw = mem.exposure(raw, rec.prefix, rec.secret, rec.pattern)
    e_dp = mem.exposure(dp.model, rec.prefix, rec.secret, rec.pattern)
    assert e_raw.method == "exact" and e_raw.exposure > 12  # near log2(10^5) = 16.6: among the top ~10 of 100,000
    assert e_dp.exposure < 8  # an exposure of 8 bits has chance 2^-8 for a never-inserted secret


def test_extrapolation_agrees_with_exact_exposure(trained):
    d, _, _, raw, _ = trained
    g = np.random.default_rng(7)
    for i in range(4):
        prefix = f"Patient {1000 + i}'s record number is "
        s = data.random_secret("#####", rng=g)
        exact = mem.exposure_exact(raw, prefix, s, "#####").exposure
        est = mem.exposure_extrapolated(raw, prefix, s, "#####", samples=2000, bootstrap=30, rng=i)
        assert est.method == "extrapolated" and est.std >= 0
        assert abs(est.exposure - exact) < 1.0 + 3 * est.std  # the fit's error, not only its bootstrap spread
    # secrets placed at known exposures 6 and 9 bits (rank |R| 2^-x in the exact ordering)
    prefix = "Patient 1234's record number is "
    lp = mem._enumerate_log2_probs(raw, prefix, "#####")
    order = np.argsort(-lp, kind="stable")
    for x in (6, 9):
        s = f"{order[int(10**5 * 2.0**-x) - 1]:05d}"
        exact = mem.exposure_exact(raw, prefix, s, "#####").exposure
        est = mem.exposure_extrapolated(raw, prefix, s, "#####", samples=2000, bootstrap=30, rng=x)
        assert abs(exact - x) < 0.01 and abs(est.exposure - exact) < 1.0 + 3 * est.std, (x, est)


def test_fit_skewnorm_moments_matches_scipy_mle():
    x = stats.skewnorm.rvs(4.0, loc=1.0, scale=2.0, size=20000, random_state=0)
    a, loc, scale = mem.fit_skewnorm_moments(x)
    a_ref, loc_ref, scale_ref = stats.skewnorm.fit(x)
    assert loc == pytest.approx(loc_ref, abs=0.1) and scale == pytest.approx(scale_ref, rel=0.05)
    q = np.linspace(-1, 8, 10)  # the two fitted CDFs agree where the samples are
    assert np.max(np.abs(stats.skewnorm.cdf(q, a, loc, scale) - stats.skewnorm.cdf(q, a_ref, loc_ref, scale_ref))) < 0.01


@pytest.mark.attack
def test_extraction_of_16x_canary_succeeds_raw_fails_dp(trained):
    d, _, _, raw, dp = trained
    for c in d.canaries:
        assert mem.extract(raw, c.prefix, c.pattern, method="greedy")[0][0] == c.secret
        beam = mem.extract(raw, c.prefix, c.pattern, method="beam", beam_width=5)
        assert beam[0][0] == c.secret and len(beam) == 5
        assert all(a[1] >= b[1] for a, b in zip(beam, beam[1:]))  # most likely first
        assert mem.extract(dp.model, c.prefix, c.pattern, method="beam")[0][0] != c.secret
    assert mem.extraction_rate(raw, d.canaries) == (2, 2)
    assert mem.extraction_rate(dp.model, d.canaries, method="beam") == (0, 2)


@pytest.mark.attack
def test_membership_inference_on_notes(trained, pretrained):
    """Loss and reference-ratio attacks tell training notes from fresh ones on the non-private model.

    Seeded; 200 members vs 200 non-members: an AUC > 0.62 from a chance attack has probability < 1e-4
    (Mann-Whitney normal approximation, sd of AUC = 0.029), so a failure is a real loss of signal.
    """
    d, X, Y, raw, dp = trained
    held = data.clinical_notes(200, canaries_per_setting=0, rng=1)
    Xh, Yh = encode_notes(held.notes)
    loss_auc = roc_from_scores(mem.note_loss_scores(raw, X, Y), mem.note_loss_scores(raw, Xh, Yh)).auc
    ratio_auc = roc_from_scores(mem.reference_ratio_scores(raw, pretrained, X, Y),
                                mem.reference_ratio_scores(raw, pretrained, Xh, Yh)).auc
    dp_auc = roc_from_scores(mem.reference_ratio_scores(dp.model, pretrained, X, Y),
                             mem.reference_ratio_scores(dp.model, pretrained, Xh, Yh)).auc
    assert loss_auc > 0.62 and ratio_auc > 0.62
    assert dp_auc < ratio_auc


def test_memorisation_bad_input(pretrained):
    m = pretrained
    with pytest.raises(ValueError, match="pattern must contain at least one '#' digit slot .*got 'S-A'"):
        mem.exposure(m, "ID is ", "S-A", "S-A")
    with pytest.raises(ValueError, match="pattern must contain at least one '#'"):
        mem.extract(m, "ID is ", "ABC")
    long_prefix = "x" * 33
    with pytest.raises(ValueError, match="prefix must be at most the model's context of 32 characters.*got 33"):
        mem.extract(m, long_prefix, "##")
    with pytest.raises(ValueError, match="prefix must be at most the model's context"):
        mem.exposure(m, long_prefix, "12", "##")
    with pytest.raises(ValueError, match=r"secret must match pattern 'S###' \('#' = a digit\), got 'T123'"):
        mem.exposure(m, "ID ", "T123", "S###")
    with pytest.raises(ValueError, match="secret must match pattern"):
        mem.exposure(m, "ID ", "12", "###")
    with pytest.raises(ValueError, match="more than exact_limit=1000"):
        mem.exposure_exact(m, "ID ", "1234", "####", exact_limit=1000)
    with pytest.raises(ValueError, match="method must be one of 'greedy', 'beam', got 'sample'"):
        mem.extract(m, "ID ", "##", method="sample")
    with pytest.raises(ValueError, match="beam_width must be"):
        mem.extract(m, "ID ", "##", method="beam", beam_width=0)
    with pytest.raises(ValueError, match="samples must be"):
        mem.exposure_extrapolated(m, "ID ", "12", "##", samples=2)
    with pytest.raises(TypeError, match="model must have .context and .next_log_probs"):
        mem.exposure(object(), "ID ", "12", "##")
    with pytest.raises(ValueError, match="x must not be constant"):
        mem.fit_skewnorm_moments(np.ones(10))


def test_null_exposures_match_one_by_one(pretrained):
    prefix = "Patient 5555's record number is "
    e = mem.null_exposures(pretrained, prefix, "####", n=5, rng=3)
    g = np.random.default_rng(3)
    ref = [mem.exposure_exact(pretrained, prefix, data.random_secret("####", rng=g), "####").exposure for _ in range(5)]
    assert np.allclose(e, ref)


def test_canary_epsilon_lower_bound_known_answers():
    # 6 of 6 canaries at >= 10 bits: p_low = 0.05^(1/6) (one-sided Clopper-Pearson), eps >= ln(p_low 2^10)
    lb = mem.canary_epsilon_lower_bound([12, 11, 16, 10, 13, 20], threshold_bits=10, delta=0.0)
    assert lb == pytest.approx(math.log(0.05 ** (1 / 6) * 2**10))
    assert mem.canary_epsilon_lower_bound([1, 2, 0.5], threshold_bits=10, delta=0.0) == 0.0
    # delta eats the rate: nothing shown
    assert mem.canary_epsilon_lower_bound([12], threshold_bits=10, delta=0.9) == 0.0
    with pytest.raises(ValueError, match="threshold_bits must be"):
        mem.canary_epsilon_lower_bound([1.0], threshold_bits=0.0, delta=0.0)
    with pytest.raises(ValueError, match="exposures must not be empty"):
        mem.canary_epsilon_lower_bound([], threshold_bits=1.0, delta=0.0)
    with pytest.raises(ValueError, match=r"exposures must be finite numbers >= 0 \(bits\), got \[nan\]"):
        mem.canary_epsilon_lower_bound([12.0, float("nan")], threshold_bits=10.0, delta=0.0)
    with pytest.raises(ValueError, match=r"confidence must be in \(0.5, 1\), got 0.5"):
        mem.canary_epsilon_lower_bound([12.0], threshold_bits=10.0, delta=0.0, confidence=0.5)
    # 3 of 5 at 90 %: the one-sided bound is the lower end of the two-sided 80 % interval (one home: dp.audit)
    p_low = stats.beta.ppf(0.10, 3, 3)
    lb = mem.canary_epsilon_lower_bound([12, 11, 16, 1, 2], threshold_bits=10, delta=0.0, confidence=0.90)
    assert lb == pytest.approx(math.log(p_low * 2**10))
