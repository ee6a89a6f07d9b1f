"""Verifiable secure aggregation: honest rounds match the plain sum, failing proofs are dropped before the
sum, a swapped update aborts the round, replayed proofs are refused."""

from __future__ import annotations

import numpy as np
import pytest

from ppml_lab.exceptions import ProtocolError
from ppml_lab.fl.secagg import secure_aggregate
from ppml_lab.zk import pedersen_params
from ppml_lab.zk.aggregation import (
    PoisonedZKClient,
    ZKClient,
    check_aggregate,
    limbs_to_scalar,
    scalar_to_limbs,
    screen_proofs,
    verifiable_secure_aggregate,
)
from ppml_lab.zk.group import ED25519_ORDER

PP = pedersen_params()
D, S, F = 12, 1.0, 6
SESSION = b"0123456789abcdef"


def _updates(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {i: rng.normal(size=D) * 0.15 for i in range(n)}


def _clients(updates, poison=None, mode="unbounded"):
    kw = dict(max_update_norm=S, frac_bits=F, params=PP, session=SESSION)
    return {i: PoisonedZKClient(i, u, mode=mode, **kw) if i == poison else ZKClient(i, u, **kw)
            for i, u in updates.items()}


def test_limbs_round_trip():
    for v in (0, 1, 2**32 - 1, 2**32, ED25519_ORDER - 1):
        assert limbs_to_scalar(scalar_to_limbs(v), ED25519_ORDER) == v
    # sums of limbs recombine to the sum of the scalars mod q
    a, b = ED25519_ORDER - 5, ED25519_ORDER - 7
    assert limbs_to_scalar(scalar_to_limbs(a) + scalar_to_limbs(b), ED25519_ORDER) == (a + b) % ED25519_ORDER


@pytest.mark.slow
def test_honest_round_matches_plain_quantised_sum():
    ups = _updates()
    res = verifiable_secure_aggregate(_clients(ups), max_update_norm=S, frac_bits=F, dimension=D, session=SESSION)
    assert res.accepted == (0, 1, 2, 3) and res.rejected == ()
    expected = sum(np.rint(u * 2**F) for u in ups.values()) / 2**F  # no clipping needed at this scale
    assert all(np.linalg.norm(u) <= S for u in ups.values())
    np.testing.assert_allclose(res.total, expected, atol=0)


@pytest.mark.slow
@pytest.mark.attack
def test_unbounded_update_is_dropped_before_aggregation():
    ups = _updates(5, seed=1)
    # raw path: plain secure aggregation sums the poisoned update unseen
    poisoned = np.rint(ups[2] * 50 * 2**F).astype(np.int64)
    plain = {i: np.rint(u * 2**F).astype(np.int64).view(np.uint64) for i, u in ups.items()}
    plain[2] = poisoned.view(np.uint64)
    raw = secure_aggregate(plain).total.view(np.int64)
    assert np.max(np.abs(raw)) > 5 * 2**F
    # safe path: the poisoned client's proof fails, it is dropped, the sum is over the other four
    res = verifiable_secure_aggregate(_clients(ups, poison=2), max_update_norm=S, frac_bits=F, dimension=D,
                                      session=SESSION)
    assert res.rejected == (2,) and res.included == (0, 1, 3, 4)
    expected = sum(np.rint(ups[i] * 2**F) for i in (0, 1, 3, 4)) / 2**F
    np.testing.assert_allclose(res.total, expected, atol=0)


@pytest.mark.slow
@pytest.mark.attack
def test_proved_one_update_masked_another_is_refused():
    ups = _updates(4, seed=2)
    with pytest.raises(ProtocolError, match="does not match the product of the accepted clients' commitments"):
        verifiable_secure_aggregate(_clients(ups, poison=1, mode="swap"), max_update_norm=S, frac_bits=F,
                                    dimension=D, session=SESSION)


@pytest.mark.slow
def test_dropout_after_proofs_still_checks():
    ups = _updates(5, seed=3)
    res = verifiable_secure_aggregate(_clients(ups), max_update_norm=S, frac_bits=F, dimension=D, session=SESSION,
                                      dropouts={"unmask": [4]})
    assert res.included == (0, 1, 2, 3, 4)  # its masked input arrived; its mask is reconstructed
    res = verifiable_secure_aggregate(_clients(ups), max_update_norm=S, frac_bits=F, dimension=D, session=SESSION,
                                      dropouts={"share_keys": [4]})
    assert res.included == (0, 1, 2, 3)
    np.testing.assert_allclose(res.total, sum(np.rint(ups[i] * 2**F) for i in range(4)) / 2**F, atol=0)


@pytest.mark.attack
def test_replayed_proof_from_another_client_is_refused():
    ups = _updates(2, seed=4)
    cl = _clients(ups)
    p0 = cl[0].submit_proof()
    accepted, rejected = screen_proofs({0: p0, 1: p0}, bound=64, dimension=D, params=PP, session=SESSION)
    assert accepted == [0] and rejected == [1]  # client 1 copies client 0's proof: bound to client 0's context


def _two_client_total(seed):
    cl = _clients(_updates(2, seed=seed))
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    total = cl[0].aggregation_input() + cl[1].aggregation_input()  # what SecAgg would unmask
    return proofs, total


def test_aggregate_check_detects_a_changed_sum():
    proofs, total = _two_client_total(5)
    sums, ok = check_aggregate(total, included=[0, 1], proofs=proofs, dimension=D, bound=64, params=PP)
    assert ok
    total[3] += np.uint64(1)
    assert not check_aggregate(total, included=[0, 1], proofs=proofs, dimension=D, bound=64, params=PP)[1]


def test_aggregate_check_detects_a_sum_preserving_shift():
    # +1 on one coordinate, -1 on another: the total over coordinates is unchanged, each coordinate is not
    proofs, total = _two_client_total(6)
    total[0] += np.uint64(1)
    total[1] -= np.uint64(1)
    assert not check_aggregate(total, included=[0, 1], proofs=proofs, dimension=D, bound=64, params=PP)[1]


def test_aggregate_check_detects_changed_blinding():
    proofs, total = _two_client_total(7)
    total[D + 2] += np.uint64(1)  # a limb of R_1
    assert not check_aggregate(total, included=[0, 1], proofs=proofs, dimension=D, bound=64, params=PP)[1]


def test_malformed_proof_is_rejected_not_raised():
    ups = _updates(3, seed=6)
    cl = _clients(ups)
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    proofs[1] = "not a proof"
    accepted, rejected = screen_proofs(proofs, bound=64, dimension=D, params=PP, session=SESSION)
    assert accepted == [0, 2] and rejected == [1]


def test_check_aggregate_wrong_length():
    with pytest.raises(ValueError, match=r"dimension \* \(1 \+ 8\) = 108, got shape \(5,\)"):
        check_aggregate(np.zeros(5, dtype=np.uint64), included=[], proofs={}, dimension=12, bound=64, params=PP)


def test_input_before_proof_refused():
    cl = _clients(_updates(2, seed=7))
    with pytest.raises(ProtocolError, match="must send its proof"):
        cl[0].aggregation_input()
