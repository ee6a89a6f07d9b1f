"""ezkl (the field's zkML SNARK) on the same statement as ours: both prove the same fixed-point logits.

Runs ezkl offline on a small linear layer (local SRS, logrows 12): the logits ezkl proves agree with the
ones our linear-relation proof carries (same scale 2^6, up to ezkl's rescaling by 2^6 after the product)."""

from __future__ import annotations

import numpy as np
import pytest

from ppml_lab.zk import pedersen_params
from ppml_lab.zk.ezkl_backend import ezkl_linear_proof
from ppml_lab.zk.inference import commit_model, design_matrix, prove_linear, verify_linear


@pytest.mark.slow
def test_ezkl_and_ours_prove_the_same_logits(tmp_path):
    rng = np.random.default_rng(3)
    f = 6
    w, b, x = rng.normal(size=(2, 4)) * 0.5, rng.normal(size=2) * 0.1, rng.normal(size=4)
    run = ezkl_linear_proof(w, b, x, workdir=tmp_path, scale_bits=f, logrows=12, lookup_range=(-1024, 1024))
    assert run.verified and run.proof_bytes > 0 and run.logrows == 12
    w_int = [int(v) for v in np.rint(np.concatenate([w.ravel(), b]) * 2**f)]
    x_int = [int(v) for v in np.rint(x * 2**f)] + [2**f]
    pp = pedersen_params(vector_length=len(w_int))
    c, r = commit_model(w_int, params=pp)
    a = design_matrix(x_int, n_classes=2)
    y, proof = prove_linear(w_int, randomness=r, matrix=a, params=pp)
    assert verify_linear(proof, commitment=c, matrix=a, outputs=y, params=pp)
    ours = np.array(y) / 4**f  # scale 2^(2f)
    # ezkl rescales the product back to 2^f (rounding): the two agree to within one ezkl unit
    np.testing.assert_allclose(run.outputs, ours, atol=1.0 / 2**f)
