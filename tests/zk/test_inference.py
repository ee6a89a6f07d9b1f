"""Linear-relation proof of a committed model's prediction: completeness, soundness, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ppml_lab.exceptions import InvalidGroupElementError
from ppml_lab.zk import default_group, pedersen_params
from ppml_lab.zk.inference import commit_model, design_matrix, prove_linear, verify_linear

ED = default_group()
F = 7
RNG = np.random.default_rng(0)
W = RNG.normal(size=(2, 30)) * 0.3
B = RNG.normal(size=2) * 0.1
X = RNG.normal(size=30)
W_INT = [int(v) for v in np.rint(np.concatenate([W.ravel(), B]) * 2**F)]
X_INT = [int(v) for v in np.rint(X * 2**F)] + [2**F]
PP = pedersen_params(vector_length=62)
A = design_matrix(X_INT, n_classes=2)


def _prove(**kw):
    c, r = commit_model(W_INT, params=PP)
    y, proof = prove_linear(W_INT, randomness=r, matrix=A, params=PP, **kw)
    return c, y, proof


def test_logits_are_the_fixed_point_model():
    _, y, _ = _prove()
    w_int = np.array(W_INT[:60]).reshape(2, 30)
    expected = w_int @ np.array(X_INT[:30]) + np.array(W_INT[60:]) * 2**F
    assert y == expected.tolist()
    np.testing.assert_allclose(np.array(y) / 4**F, W @ X + B, atol=0.05)


def test_completeness():
    c, y, proof = _prove(context=b"q1")
    assert verify_linear(proof, commitment=c, matrix=A, outputs=y, params=PP, context=b"q1")
    assert proof.nbytes(ED) == 64 * 32


def test_wrong_prediction_rejected():
    c, y, proof = _prove()
    assert not verify_linear(proof, commitment=c, matrix=A, outputs=[y[0] + 1, y[1]], params=PP)


def test_other_input_rejected():
    c, y, proof = _prove()
    other = design_matrix([v + 1 for v in X_INT[:30]] + [2**F], n_classes=2)
    assert not verify_linear(proof, commitment=c, matrix=other, outputs=y, params=PP)


def test_other_model_commitment_rejected():
    _, y, proof = _prove()
    c2, _ = commit_model([w + 1 for w in W_INT], params=PP)
    assert not verify_linear(proof, commitment=c2, matrix=A, outputs=y, params=PP)


def test_tampered_response_rejected():
    c, y, proof = _prove()
    z = list(proof.z)
    z[7] = (z[7] + 1) % ED.order
    assert not verify_linear(dataclasses.replace(proof, z=tuple(z)), commitment=c, matrix=A, outputs=y, params=PP)


def test_wrong_length_refused():
    c, y, proof = _prove()
    with pytest.raises(ValueError, match="proof.z must have length 62, got 61"):
        verify_linear(dataclasses.replace(proof, z=proof.z[:61]), commitment=c, matrix=A, outputs=y, params=PP)


def test_non_group_commitment_refused():
    _, y, proof = _prove()
    with pytest.raises(InvalidGroupElementError, match="commitment"):
        verify_linear(proof, commitment=bytes([2]) + bytes(31), matrix=A, outputs=y, params=PP)


def test_scalar_out_of_range_refused():
    c, y, proof = _prove()
    with pytest.raises(ValueError, match=r"proof.z_r must be a scalar in \[0, q\)"):
        verify_linear(dataclasses.replace(proof, z_r=ED.order), commitment=c, matrix=A, outputs=y, params=PP)


def test_float_weights_refused_instead_of_truncated():
    _, r = commit_model(W_INT, params=PP)
    with pytest.raises(TypeError, match=r"weights_int\[0\] must be an int .*got float"):
        prove_linear([0.4] + W_INT[1:], randomness=r, matrix=A, params=PP)


def test_output_aliased_mod_q_refused():
    # y + q satisfies the relation modulo q like y does: the verifier refuses outputs outside (-q/2, q/2)
    c, y, proof = _prove()
    with pytest.raises(ValueError, match=r"outputs\[0\] must be an integer with \|y\| < q/2 .*got "):
        verify_linear(proof, commitment=c, matrix=A, outputs=[y[0] + ED.order, y[1]], params=PP)
