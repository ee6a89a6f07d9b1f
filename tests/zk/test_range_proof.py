"""Range and bounded-update proofs: completeness, soundness (out of range, tampering, other statements), bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.exceptions import InvalidGroupElementError
from ppml_lab.zk import (
    default_group,
    integer_bound,
    pedersen_params,
    prove_bounded_update,
    prove_range,
    quantise_update,
    range_commitments,
    update_commitments,
    verify_bounded_update,
    verify_opening,
    verify_range,
)
from ppml_lab.zk.bounded_update import cheating_prove_bounded_update
from ppml_lab.zk.range_proof import decompose, range_weights

ED = default_group()
PP = pedersen_params()


@settings(max_examples=60, deadline=None)
@given(upper=st.integers(1, 5000), data=st.data())
def test_weights_cover_exactly_zero_to_upper(upper, data):
    w = range_weights(upper)
    assert sum(w) == upper and all(x >= 1 for x in w)
    assert len(w) == upper.bit_length()
    y = data.draw(st.integers(0, upper))
    bits = decompose(y, w)
    assert set(bits) <= {0, 1} and sum(a * b for a, b in zip(w, bits)) == y


@pytest.mark.parametrize("upper", [1, 2, 6, 7, 8, 256])
def test_subset_sums_are_exactly_the_range(upper):
    w = range_weights(upper)
    sums = {sum(wi for wi, b in zip(w, format(m, f"0{len(w)}b")[::-1]) if b == "1") for m in range(2 ** len(w))}
    assert sums == set(range(upper + 1))


@pytest.mark.parametrize("values,upper", [([0, 10, 7], 10), ([0, 1], 1), ([255, 0, 128], 255), ([256], 256)])
def test_range_completeness_and_commitments(values, upper):
    proof, r = prove_range(values, upper=upper, params=PP, context=b"x")
    assert verify_range(proof, n=len(values), upper=upper, params=PP, context=b"x")
    for c, v, rj in zip(range_commitments(proof, upper=upper, params=PP), values, r):
        assert verify_opening(c, v, randomness=rj, params=PP)


def test_range_refuses_out_of_range_value():
    with pytest.raises(ValueError, match=r"value must be in \[0, 10\].*got 11"):
        prove_range([11], upper=10, params=PP)


def test_range_proof_for_other_upper_rejected():
    proof, _ = prove_range([3, 4], upper=12, params=PP)  # k = 4 bits for 12 and for 9
    assert not verify_range(proof, n=2, upper=9, params=PP)


def test_range_proof_wrong_context_rejected():
    proof, _ = prove_range([3], upper=12, params=PP, context=b"client=1")
    assert not verify_range(proof, n=1, upper=12, params=PP, context=b"client=2")


@pytest.mark.parametrize("field", ["c0", "z0", "z1"])
def test_range_tampered_scalar_rejected(field):
    proof, _ = prove_range([3, 9], upper=12, params=PP)
    vals = list(getattr(proof, field))
    vals[5] = (vals[5] + 1) % ED.order
    assert not verify_range(dataclasses.replace(proof, **{field: tuple(vals)}), n=2, upper=12, params=PP)


def test_range_swapped_bit_commitment_rejected():
    proof, _ = prove_range([3, 9], upper=12, params=PP)
    cms = list(proof.bit_commitments)
    cms[0], cms[1] = cms[1], cms[0]
    assert not verify_range(dataclasses.replace(proof, bit_commitments=tuple(cms)), n=2, upper=12, params=PP)


def test_range_tampered_challenge_rejected():
    proof, _ = prove_range([3, 9], upper=12, params=PP)
    assert not verify_range(dataclasses.replace(proof, challenge=(proof.challenge + 1) % ED.order), n=2, upper=12,
                            params=PP)


def test_range_wrong_length_refused():
    proof, _ = prove_range([3, 9], upper=12, params=PP)
    with pytest.raises(ValueError, match=r"proof.bit_commitments must have n\*k = 3\*4 = 12 entries, got 8"):
        verify_range(proof, n=3, upper=12, params=PP)


def test_range_non_group_commitment_refused():
    proof, _ = prove_range([3], upper=12, params=PP)
    cms = (bytes([2]) + bytes(31),) + proof.bit_commitments[1:]
    with pytest.raises(InvalidGroupElementError, match=r"proof.bit_commitments\[0\]"):
        verify_range(dataclasses.replace(proof, bit_commitments=cms), n=1, upper=12, params=PP)


def test_range_scalar_out_of_range_refused():
    proof, _ = prove_range([3], upper=12, params=PP)
    with pytest.raises(ValueError, match=r"proof.c0\[0\] must be a scalar"):
        verify_range(dataclasses.replace(proof, c0=(ED.order,) + proof.c0[1:]), n=1, upper=12, params=PP)


def test_range_bad_upper_refused():
    with pytest.raises(ValueError, match=r"upper must be an int in \[1, 2\^62\], got 0"):
        prove_range([0], upper=0, params=PP)


# ---------------------------------------------------------------- bounded updates

BOUND = integer_bound(max_update_norm=1.0, frac_bits=6)


def test_integer_bound_and_quantisation_respect_clipping():
    rng = np.random.default_rng(0)
    u = quantise_update(rng.normal(size=62) * 3.0, max_update_norm=1.0, frac_bits=6)  # norm ~ 24: clipped
    assert BOUND == 64 and u.dtype == np.int64
    assert np.max(np.abs(u)) <= BOUND
    assert np.linalg.norm(u / 64.0) <= 1.0 + 62 * 0.5 / 64


def test_bounded_update_62_parameters():
    rng = np.random.default_rng(1)
    u = quantise_update(rng.normal(size=62) * 0.2, max_update_norm=1.0, frac_bits=6)
    proof, opening = prove_bounded_update(u, bound=BOUND, params=PP, context=b"c")
    assert verify_bounded_update(proof, bound=BOUND, dimension=62, params=PP, context=b"c")
    cms = update_commitments(proof, bound=BOUND, params=PP)
    assert all(verify_opening(c, int(v), randomness=r, params=PP) for c, v, r in zip(cms, u, opening.randomness))
    assert "secret" in repr(opening) and str(int(u[0])) not in repr(opening).replace("62", "")


def test_bounded_update_extremes():
    vals = np.array([-BOUND, BOUND, 0, -1, 1])
    proof, _ = prove_bounded_update(vals, bound=BOUND, params=PP)
    assert verify_bounded_update(proof, bound=BOUND, dimension=5, params=PP)


@pytest.mark.parametrize("bad", [BOUND + 1, -BOUND - 1, 50 * BOUND])
def test_out_of_range_update_cannot_be_proved(bad):
    vals = np.array([1, bad, -3])
    with pytest.raises(ValueError, match=f"max |x_j| = {abs(bad)}"):
        prove_bounded_update(vals, bound=BOUND, params=PP)
    # the cheating prover runs the same algorithm with a non-bit digit: its proof is rejected
    proof, _ = cheating_prove_bounded_update(vals, bound=BOUND, params=PP)
    assert not verify_bounded_update(proof, bound=BOUND, dimension=3, params=PP)


def test_bounded_update_other_dimension_or_bound_rejected():
    proof, _ = prove_bounded_update(np.array([1, 2, 3, 4]), bound=BOUND, params=PP)
    with pytest.raises(ValueError, match="entries"):
        verify_bounded_update(proof, bound=BOUND, dimension=3, params=PP)
    assert not verify_bounded_update(proof, bound=BOUND + 1, dimension=4, params=PP)  # same 8 bits, other bound


def test_bounded_update_refuses_float_values():
    with pytest.raises(TypeError, match="integer vector"):
        prove_bounded_update(np.array([0.5, 0.1]), bound=BOUND, params=PP)


@settings(max_examples=8, deadline=None)
@given(vals=st.lists(st.integers(-BOUND, BOUND), min_size=1, max_size=4), bump=st.integers(1, 1000))
def test_bounded_update_property(vals, bump):
    # completeness for any in-range vector; soundness for the same vector pushed just out of range
    proof, opening = prove_bounded_update(np.array(vals), bound=BOUND, params=PP)
    assert verify_bounded_update(proof, bound=BOUND, dimension=len(vals), params=PP)
    out = np.array(vals)
    out[0] = BOUND + bump if out[0] >= 0 else -BOUND - bump
    bad, _ = cheating_prove_bounded_update(out, bound=BOUND, params=PP)
    assert not verify_bounded_update(bad, bound=BOUND, dimension=len(vals), params=PP)


def test_range_refuses_float_value_instead_of_truncating():
    with pytest.raises(TypeError, match=r"values\[1\] must be an int .*got float 3.7"):
        prove_range([2, 3.7], upper=10, params=PP)
