"""Sigma protocols: completeness, soundness (tampering, wrong statement, wrong context), HVZK, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from ppml_lab.exceptions import InvalidGroupElementError
from ppml_lab.zk import default_group, pedersen_params, random_scalar, toy_group
from ppml_lab.zk.sigma import (
    BitProof,
    SchnorrProof,
    bit_transcript,
    dlog_transcript,
    prove_bit,
    prove_dleq,
    prove_dlog,
    simulate_bit,
    simulate_dlog,
    verify_bit,
    verify_dleq,
    verify_dlog,
)

ED = default_group()
TOY = toy_group()
PP = pedersen_params()
#: false-failure rate of every chi-square HVZK test below (seeded, so the outcome is fixed; the rate is
#: the probability that an exact simulator fails the test for a fresh seed)
ALPHA = 1e-3


@pytest.mark.parametrize("group", [TOY, ED], ids=["toy", "ed25519"])
def test_schnorr_completeness(group):
    x = random_scalar(group)
    proof = prove_dlog(x, group=group, context=b"ctx")
    assert verify_dlog(proof, public=group.exp(group.generator, x), group=group, context=b"ctx")


@settings(max_examples=10, deadline=None)
@given(x=st.integers(1, ED.order - 1))
def test_schnorr_completeness_property(x):
    proof = prove_dlog(x, group=ED)
    assert verify_dlog(proof, public=ED.exp(ED.generator, x), group=ED)


def test_schnorr_wrong_statement_rejected():
    x = random_scalar(ED)
    proof = prove_dlog(x, group=ED)
    assert not verify_dlog(proof, public=ED.exp(ED.generator, x + 1), group=ED)


def test_schnorr_wrong_context_rejected():
    x = random_scalar(ED)
    proof = prove_dlog(x, group=ED, context=b"round=1")
    assert not verify_dlog(proof, public=ED.exp(ED.generator, x), group=ED, context=b"round=2")


@pytest.mark.parametrize("field", ["challenge", "response"])
def test_schnorr_tampered_proof_rejected(field):
    x = random_scalar(ED)
    proof = prove_dlog(x, group=ED)
    bad = dataclasses.replace(proof, **{field: (getattr(proof, field) + 1) % ED.order})
    assert not verify_dlog(bad, public=ED.exp(ED.generator, x), group=ED)


def test_schnorr_other_base_rejected():
    x = random_scalar(ED)
    h = ED.hash_to_group(b"other")
    proof = prove_dlog(x, group=ED, base=h)
    assert verify_dlog(proof, public=ED.exp(h, x), group=ED, base=h)
    assert not verify_dlog(proof, public=ED.exp(h, x), group=ED)  # statement about base g: different


def test_special_soundness_extracts_witness():
    # Two accepting transcripts of the package's prover with the same A (the same nonce: a rewound prover)
    # and different c give x = (z1 - z2) / (c1 - c2)
    x = random_scalar(ED)
    q = ED.order
    big_x = ED.exp(ED.generator, x)
    a1, c1, z1 = dlog_transcript(x, challenge=5, group=ED, rng=np.random.default_rng(7), insecure_seeded_keys=True)
    a2, c2, z2 = dlog_transcript(x, challenge=9, group=ED, rng=np.random.default_rng(7), insecure_seeded_keys=True)
    assert a1 == a2
    for a, c, z in ((a1, c1, z1), (a2, c2, z2)):  # both accepting
        assert ED.exp(ED.generator, z) == ED.op(a, ED.exp(big_x, c))
    assert (z1 - z2) * pow(c1 - c2, -1, q) % q == x


def test_dleq_completeness_and_soundness():
    x = random_scalar(ED)
    h = ED.hash_to_group(b"h")
    proof = prove_dleq(x, g1=ED.generator, g2=h, group=ED)
    x1, x2 = ED.exp(ED.generator, x), ED.exp(h, x)
    assert verify_dleq(proof, g1=ED.generator, x1=x1, g2=h, x2=x2, group=ED)
    assert not verify_dleq(proof, g1=ED.generator, x1=x1, g2=h, x2=ED.exp(h, x + 1), group=ED)  # unequal logs


@pytest.mark.parametrize("bit", [0, 1])
def test_bit_proof_completeness(bit):
    commitment, proof = prove_bit(bit, randomness=random_scalar(ED), params=PP, context=b"c")
    assert verify_bit(proof, commitment=commitment, params=PP, context=b"c")


def test_bit_proof_for_other_commitment_rejected():
    c0, proof = prove_bit(0, randomness=random_scalar(ED), params=PP)
    c1, _ = prove_bit(1, randomness=random_scalar(ED), params=PP)
    assert not verify_bit(proof, commitment=c1, params=PP)


def test_bit_proof_swapped_branches_rejected():
    commitment, proof = prove_bit(1, randomness=random_scalar(ED), params=PP)
    swapped = BitProof(proof.c1, proof.c0, proof.z1, proof.z0)
    assert not verify_bit(swapped, commitment=commitment, params=PP)


def test_non_bit_cannot_be_proved_honestly():
    with pytest.raises(ValueError, match="bit must be 0 or 1, got 2"):
        prove_bit(2, randomness=1, params=PP)


# ---------------------------------------------------------------- honest-verifier zero knowledge

def _table(samples_a, samples_b):
    keys = sorted(set(samples_a) | set(samples_b))
    idx = {k: i for i, k in enumerate(keys)}
    t = np.zeros((2, len(keys)))
    for row, samples in enumerate((samples_a, samples_b)):
        for s in samples:
            t[row, idx[s]] += 1
    return t


def _dlog_samples(real: bool, n: int, seed: int, *, bad_nonce: bool = False):
    rng = np.random.default_rng(seed)
    x = 7
    public = TOY.exp(TOY.generator, x)
    out = []
    for _ in range(n):
        c = int(rng.integers(TOY.order))  # honest verifier: uniform challenge
        if bad_nonce:  # a broken prover whose nonce takes only 3 values
            k = int(rng.integers(3))
            out.append((TOY.exp(TOY.generator, k), c, (k + c * x) % TOY.order))
        elif real:
            out.append(dlog_transcript(x, challenge=c, group=TOY, rng=rng, insecure_seeded_keys=True))
        else:
            out.append(simulate_dlog(public, challenge=c, group=TOY, rng=rng, insecure_seeded_keys=True))
    return out


def test_schnorr_hvzk_simulated_like_real():
    # chi-square test of homogeneity over the 121 possible (A, c, z) transcripts in the p = 23 group
    real = _dlog_samples(True, 6000, seed=1)
    sim = _dlog_samples(False, 6000, seed=2)
    assert all(TOY.exp(TOY.generator, z) == TOY.op(a, TOY.exp(TOY.exp(TOY.generator, 7), c)) for a, c, z in sim)
    _, p, _, _ = chi2_contingency(_table(real, sim))
    assert p > ALPHA


def test_hvzk_test_detects_a_leaky_prover():
    # the same test must be able to fail: a prover with a low-entropy nonce is told apart from the simulator
    leaky = _dlog_samples(True, 6000, seed=3, bad_nonce=True)
    sim = _dlog_samples(False, 6000, seed=4)
    _, p, _, _ = chi2_contingency(_table(leaky, sim))
    assert p < ALPHA


@pytest.mark.parametrize("bit", [0, 1])
def test_bit_proof_hvzk_simulated_like_real(bit):
    pp = pedersen_params(TOY)
    rng = np.random.default_rng(10 + bit)
    r = 3
    commitment = TOY.op(TOY.exp(pp.g, bit), TOY.exp(pp.h, r))
    c = 5  # the simulator works challenge by challenge
    real = [bit_transcript(bit, r, challenge=c, params=pp, rng=rng)[2:] for _ in range(20000)]
    sim = [simulate_bit(commitment, challenge=c, params=pp, rng=rng)[2:] for _ in range(20000)]
    # (c0, c1, z0, z1) determines A0, A1; compare (c0, z0, z1): 1331 cells, about 15 per cell
    _, p, _, _ = chi2_contingency(_table([t[:1] + t[2:] for t in real], [t[:1] + t[2:] for t in sim]))
    assert p > ALPHA


# ---------------------------------------------------------------- bad inputs

def test_verify_refuses_non_group_public():
    proof = prove_dlog(3, group=ED)
    with pytest.raises(InvalidGroupElementError, match="public"):
        verify_dlog(proof, public=bytes([2]) + bytes(31), group=ED)


def test_verify_refuses_out_of_range_response():
    proof = SchnorrProof(1, ED.order)
    with pytest.raises(ValueError, match=r"proof.response must be a scalar in \[0, q\)"):
        verify_dlog(proof, public=ED.generator, group=ED)


def test_verify_refuses_wrong_proof_type():
    with pytest.raises(TypeError, match="proof must be a SchnorrProof"):
        verify_dlog((1, 2), public=ED.generator, group=ED)


def test_prove_refuses_out_of_range_secret():
    with pytest.raises(ValueError, match="secret must be a scalar"):
        prove_dlog(ED.order, group=ED)


def test_unknown_level_refused():
    with pytest.raises(ValueError, match="level"):
        prove_dlog(1, group=ED, level="weak")


def test_context_must_be_bytes():
    with pytest.raises(TypeError, match="context must be bytes"):
        prove_dlog(1, group=ED, context="round 1")
