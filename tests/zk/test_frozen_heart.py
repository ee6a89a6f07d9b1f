"""Weak Fiat-Shamir ("Frozen Heart") forgeries: accepted by the raw verifier, refused by the safe one."""

from __future__ import annotations

import pytest

from ppml_lab.zk import default_group, pedersen_params, verify_opening
from ppml_lab.zk.frozen_heart import forge_bit_weak, forge_dleq_weak, forge_range_proof_weak
from ppml_lab.zk.range_proof import verify_range
from ppml_lab.zk.sigma import verify_bit, verify_dleq

ED = default_group()
PP = pedersen_params()


@pytest.mark.attack
def test_frozen_heart_dleq_forgery():
    f = forge_dleq_weak(ED)
    # the statement is false: the two logarithms differ (the forger knows both)
    assert f.log1 != f.log2
    assert f.x1 == ED.exp(f.g1, f.log1) and f.x2 == ED.exp(f.g2, f.log2)
    kw = dict(g1=f.g1, x1=f.x1, g2=f.g2, x2=f.x2, group=ED)
    assert verify_dleq(f.proof, level="raw", **kw)  # raw (weak Fiat-Shamir): forgery accepted
    assert not verify_dleq(f.proof, **kw)  # safe (statement in the transcript): refused


@pytest.mark.attack
def test_frozen_heart_bit_forgery():
    f = forge_bit_weak(PP)
    assert f.value not in (0, 1)
    assert verify_opening(f.commitment, f.value, randomness=f.randomness, params=PP)  # C really opens to v
    assert verify_bit(f.proof, commitment=f.commitment, params=PP, level="raw")
    assert not verify_bit(f.proof, commitment=f.commitment, params=PP)


@pytest.mark.attack
def test_frozen_heart_range_proof_forgery():
    # an out-of-range coordinate passes the raw range proof: the poisoned update the proof should refuse
    upper = 10
    proof, value = forge_range_proof_weak([3, 5, 0], upper=upper, params=PP, forged_index=1)
    assert not 0 <= value <= upper
    assert verify_range(proof, n=3, upper=upper, params=PP, level="raw")
    assert not verify_range(proof, n=3, upper=upper, params=PP)
