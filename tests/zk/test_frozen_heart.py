"""Weak Fiat-Shamir ("Frozen Heart") forgeries: accepted by the raw verifier, refused by the safe one.

Each attack is run twice: against the raw verifier (weak transform: it succeeds) and against the safe
verifier, with the forger using the safe level's own challenge function and placeholders for the statement
it has not chosen yet (it fails, because the safe transcript hashes the statement before the challenge).
"""

from __future__ import annotations

import pytest

from ppml_lab.zk import default_group, pedersen_params, verify_opening
from ppml_lab.zk.frozen_heart import forge_bit_weak, forge_dleq_weak, forge_range_proof_weak
from ppml_lab.zk.range_proof import verify_range
from ppml_lab.zk.sigma import verify_dleq

ED = default_group()
PP = pedersen_params()


@pytest.mark.attack
@pytest.mark.parametrize("level", ["raw", "safe"])
def test_frozen_heart_dleq_forgery(level):
    f = forge_dleq_weak(ED, level=level)
    # the statement is false: the two logarithms differ (the forger knows both)
    assert f.log1 != f.log2
    assert f.x1 == ED.exp(f.g1, f.log1) and f.x2 == ED.exp(f.g2, f.log2)
    accepted = verify_dleq(f.proof, g1=f.g1, x1=f.x1, g2=f.g2, x2=f.x2, group=ED, level=level)
    assert accepted is (level == "raw")  # raw: forgery accepted; safe: refused


@pytest.mark.attack
@pytest.mark.parametrize("level", ["raw", "safe"])
def test_frozen_heart_bit_forgery(level):
    from ppml_lab.zk.sigma import verify_bit

    f = forge_bit_weak(PP, level=level)
    assert f.value not in (0, 1)
    assert verify_opening(f.commitment, f.value, randomness=f.randomness, params=PP)  # C really opens to v
    assert verify_bit(f.proof, commitment=f.commitment, params=PP, level=level) is (level == "raw")


@pytest.mark.attack
@pytest.mark.parametrize("level", ["raw", "safe"])
def test_frozen_heart_range_proof_forgery(level):
    # an out-of-range coordinate passes the raw range proof: the poisoned update the proof should refuse
    upper = 10
    proof, value = forge_range_proof_weak([3, 5, 0], upper=upper, params=PP, forged_index=1, level=level)
    assert not 0 <= value <= upper
    assert verify_range(proof, n=3, upper=upper, params=PP, level=level) is (level == "raw")


@pytest.mark.attack
def test_raw_forgery_does_not_transfer_to_safe():
    f = forge_dleq_weak(ED, level="raw")
    assert not verify_dleq(f.proof, g1=f.g1, x1=f.x1, g2=f.g2, x2=f.x2, group=ED)


@pytest.mark.attack
@pytest.mark.parametrize("level", ["raw", "safe"])
def test_frozen_heart_linear_inference_forgery(level):
    # a published prediction that the committed model does not make, "proved" for the real commitment
    from ppml_lab.zk.frozen_heart import forge_linear_weak
    from ppml_lab.zk.inference import commit_model, design_matrix, verify_linear

    w_int = [3, -2, 5, 1, 0, 7]  # Linear(2, 2): weights (2 x 2) then biases (2)
    pp = pedersen_params(vector_length=6)
    commitment, r = commit_model(w_int, params=pp)
    a = design_matrix([4, -1, 8], n_classes=2)
    y, proof = forge_linear_weak(w_int, randomness=r, matrix=a, params=pp, level=level)
    true_logits = [sum(x * w for x, w in zip(row, w_int)) for row in a]
    assert y != true_logits  # a false statement about the real committed model
    accepted = verify_linear(proof, commitment=commitment, matrix=a, outputs=y, params=pp, level=level)
    assert accepted is (level == "raw")
