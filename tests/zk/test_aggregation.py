"""Verifiable secure aggregation: honest rounds match the plain sum, failing proofs are dropped before the
sum, a swapped update aborts the round, replayed proofs are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ppml_lab.exceptions import ProtocolError
from ppml_lab.fl.secagg import make_identities, secure_aggregate
from ppml_lab.zk import (
    client_context,
    pedersen_params,
    prove_bounded_update,
    quantise_update,
    verify_bounded_update,
)
from ppml_lab.zk.aggregation import (
    PoisonedZKClient,
    SignedProof,
    ZKClient,
    audit_rejection,
    check_aggregate,
    limbs_to_scalar,
    proof_payload,
    scalar_to_limbs,
    screen_proofs,
    verifiable_secure_aggregate,
)
from ppml_lab.zk.bounded_update import cheating_prove_bounded_update, linf_implied_l2_bound
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


# ---------------------------------------------------------------- replay across rounds and sessions

@pytest.mark.attack
def test_replayed_proof_from_another_round_or_session_is_refused():
    ups = _updates(2, seed=8)
    kw = dict(max_update_norm=S, frac_bits=F, params=PP, session=SESSION)
    old = {i: ZKClient(i, u, round_id=3, **kw).submit_proof() for i, u in ups.items()}
    # accepted in the round it was made for
    assert screen_proofs(old, bound=64, dimension=D, params=PP, session=SESSION, round_id=3) == ([0, 1], [])
    # replayed in round 4, or in another session: refused (round and session are in the transcript)
    assert screen_proofs(old, bound=64, dimension=D, params=PP, session=SESSION, round_id=4) == ([], [0, 1])
    assert screen_proofs(old, bound=64, dimension=D, params=PP, session=b"another-session!", round_id=3) == ([], [0, 1])


# ---------------------------------------------------------------- wrap-around modulo q and modulo 2^64

def test_value_that_wraps_mod_q_is_refused_by_the_prover():
    # Com(x) = Com(x + q): the commitment alone cannot tell them apart, the bound check on integers can
    big = np.array([1, 64 + ED25519_ORDER], dtype=object)  # Python ints: exact, no int64 overflow
    with pytest.raises(ValueError, match=rf"\|x_j\| <= bound = 64, got max \|x_j\| = {64 + ED25519_ORDER}"):
        prove_bounded_update(big, bound=64, params=PP)
    # the cheating prover's digits for it are not bits: rejected (the value is not in [-B, B] as an integer)
    proof, _ = cheating_prove_bounded_update(big, bound=64, params=PP)
    assert not verify_bounded_update(proof, bound=64, dimension=2, params=PP)


@pytest.mark.slow
@pytest.mark.attack
def test_submitting_the_proved_value_plus_q_aborts_the_round():
    # client 1 proves x, then masks x + q (mod 2^64): equal mod q, different in Z_2^64 -> the check fails
    ups = _updates(3, seed=9)

    class WrapClient(ZKClient):
        def _submitted_values(self):
            return (self._values.astype(object) + ED25519_ORDER) % 2**64  # as uint64 words

        def aggregation_input(self):
            base = super().aggregation_input()
            base[:D] = np.array(self._submitted_values().tolist(), dtype=np.uint64)
            return base

    kw = dict(max_update_norm=S, frac_bits=F, params=PP, session=SESSION)
    clients = {i: (WrapClient if i == 1 else ZKClient)(i, u, **kw) for i, u in ups.items()}
    with pytest.raises(ProtocolError, match="does not match"):
        verifiable_secure_aggregate(clients, max_update_norm=S, frac_bits=F, dimension=D, session=SESSION)


# ---------------------------------------------------------------- a server lying about failed proofs

def _signed_clients(ups, keys, poison=None):
    kw = dict(max_update_norm=S, frac_bits=F, params=PP, session=SESSION)
    return {i: PoisonedZKClient(i, u, mode="unbounded", signing_key=keys[i], **kw) if i == poison
            else ZKClient(i, u, signing_key=keys[i], **kw) for i, u in ups.items()}


@pytest.mark.slow
@pytest.mark.attack
def test_server_cannot_falsely_claim_an_honest_proof_failed():
    ups = _updates(4, seed=10)
    keys, pki = make_identities(ups)
    res = verifiable_secure_aggregate(_signed_clients(ups, keys, poison=3), max_update_norm=S, frac_bits=F,
                                      dimension=D, session=SESSION, pki=pki)
    audit = dict(client_id=3, pki=pki, bound=64, dimension=D, params=PP, session=SESSION)
    # a genuine rejection is backed by evidence anyone can check
    assert res.rejected == (3,) and audit_rejection(res.evidence[3], **audit)
    # the server claims honest client 1 failed. Raw path (no signatures): a failing proof made up in client
    # 1's name looks exactly like a genuine failure to anyone who re-verifies it
    ctx1 = client_context(session=SESSION, round_id=0, client_id=1)
    made_up, _ = cheating_prove_bounded_update(np.full(D, 200), bound=64, params=PP, context=ctx1)
    assert not verify_bounded_update(made_up, bound=64, dimension=D, params=PP, context=ctx1)
    # safe path: the claim needs client 1's signature; the made-up proof has none that verifies ...
    audit1 = dict(audit, client_id=1)
    forged_sig = keys[3].sign(proof_payload(made_up, context=ctx1, params=PP))  # signed by someone else
    assert not audit_rejection(SignedProof(made_up, forged_sig), **audit1)
    assert not audit_rejection(SignedProof(made_up, bytes(64)), **audit1)
    # ... and client 1's real signed proof verifies, so showing it refutes the claim
    honest = ZKClient(1, ups[1], signing_key=keys[1], max_update_norm=S, frac_bits=F, params=PP, session=SESSION)
    p1 = honest.submit_proof()
    assert not audit_rejection(SignedProof(p1, honest.sign_proof(p1)), **audit1)
    # a signed proof from one round is no evidence in another: client 1's round-0 proof fails in round 1's
    # context, but its signature covers round 0 only
    assert not verify_bounded_update(p1, bound=64, dimension=D, params=PP,
                                     context=client_context(session=SESSION, round_id=1, client_id=1))
    assert not audit_rejection(SignedProof(p1, honest.sign_proof(p1)), **dict(audit1, round_id=1))
    # a server cannot make a signed valid proof "malformed" while keeping its signature: z0[0] + q encodes
    # like z0[0] mod q, but only canonical proofs have a signed payload
    rp = p1.range_proof
    bent = dataclasses.replace(p1, range_proof=dataclasses.replace(rp, z0=(rp.z0[0] + ED25519_ORDER,) + rp.z0[1:]))
    assert not audit_rejection(SignedProof(bent, honest.sign_proof(p1)), **audit1)
    # evidence from one client cannot be pinned on another: client 3's signed failing proof, claimed as 2's
    assert not audit_rejection(res.evidence[3], **dict(audit, client_id=2))


def test_unsigned_proof_is_rejected_with_a_pki():
    ups = _updates(3, seed=11)
    keys, pki = make_identities(ups)
    cl = _signed_clients(ups, keys)
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    sigs = {i: c.sign_proof(proofs[i]) for i, c in cl.items()}
    sigs[2] = keys[0].sign(proof_payload(proofs[2], context=cl[2].context, params=PP))  # wrong signer
    accepted, rejected = screen_proofs(proofs, bound=64, dimension=D, params=PP, session=SESSION, pki=pki,
                                       signatures=sigs)
    assert accepted == [0, 1] and rejected == [2]


def test_signing_key_must_be_ed25519():
    with pytest.raises(TypeError, match="signing_key must be an Ed25519PrivateKey.*got bytes"):
        ZKClient(0, np.zeros(D), max_update_norm=S, frac_bits=F, params=PP, session=SESSION, signing_key=bytes(32))


def test_audit_refuses_non_evidence():
    _, pki = make_identities([0])
    with pytest.raises(TypeError, match="evidence must be a SignedProof, got tuple"):
        audit_rejection((1, 2), client_id=0, pki=pki, bound=64, dimension=D, params=PP, session=SESSION)


# ---------------------------------------------------------------- what the L-infinity proof certifies for DP

def test_linf_proof_certifies_sqrt_d_times_s_not_s():
    # the worst vector that passes the proof (every coordinate at +-B) has L2 norm sqrt(d) B / 2^f
    worst = np.array([64, -64] * (D // 2))
    proof, _ = prove_bounded_update(worst, bound=64, params=PP)
    assert verify_bounded_update(proof, bound=64, dimension=D, params=PP)
    l2 = linf_implied_l2_bound(max_update_norm=S, frac_bits=F, dimension=D)
    assert np.linalg.norm(worst / 2**F) == pytest.approx(l2) == pytest.approx(np.sqrt(D) * S)
    assert l2 > 3 * S  # far above the S the DP accounting assumes (D = 12)
    # an honest client's quantised update exceeds S by at most the rounding, sqrt(d) / 2^(f+1)
    rng = np.random.default_rng(12)
    for _ in range(20):
        q = quantise_update(rng.normal(size=D) * 5, max_update_norm=S, frac_bits=F)
        assert np.linalg.norm(q / 2**F) <= S + np.sqrt(D) / 2 ** (F + 1)


# ---------------------------------------------------------------- prescreened proofs: verified once, not twice

def _counting_verify(monkeypatch):
    import ppml_lab.zk.aggregation as agg

    calls = []
    real = agg.verify_bounded_update

    def counted(proof, **kw):
        calls.append(proof)
        return real(proof, **kw)

    monkeypatch.setattr(agg, "verify_bounded_update", counted)
    return calls


def test_prescreened_proofs_are_not_verified_again(monkeypatch):
    cl = _clients(_updates(3, seed=13))
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    calls = _counting_verify(monkeypatch)
    screen = dict(bound=64, dimension=D, params=PP, session=SESSION)
    assert screen_proofs(proofs, **screen) == ([0, 1, 2], []) and len(calls) == 3
    calls.clear()
    assert screen_proofs(proofs, **screen, prescreened=dict(proofs)) == ([0, 1, 2], []) and calls == []
    # a prescreened proof for another bound or dimension than this screen's is verified, and fails there
    assert screen_proofs(proofs, **dict(screen, bound=32), prescreened=dict(proofs)) == ([], [0, 1, 2])
    assert len(calls) == 3


@pytest.mark.attack
def test_prescreened_skips_only_the_identical_proof(monkeypatch):
    cl = _clients(_updates(3, seed=14))
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    rp = proofs[1].range_proof
    # proof swapped after screening: one response changed (no longer verifies) ...
    tampered = dataclasses.replace(proofs[1], range_proof=dataclasses.replace(
        rp, z0=((rp.z0[0] + 1) % ED25519_ORDER,) + rp.z0[1:]))
    ctx1 = client_context(session=SESSION, round_id=0, client_id=1)
    assert not verify_bounded_update(tampered, bound=64, dimension=D, params=PP, context=ctx1)
    # ... and a mod-q alias of the screened proof (encodes to the same bytes via to_bytes, not canonical)
    rp2 = proofs[2].range_proof
    alias = dataclasses.replace(proofs[2], range_proof=dataclasses.replace(
        rp2, z0=(rp2.z0[0] + ED25519_ORDER,) + rp2.z0[1:]))
    assert alias.range_proof.to_bytes(PP.group) == rp2.to_bytes(PP.group)
    calls = _counting_verify(monkeypatch)
    submitted = {0: proofs[0], 1: tampered, 2: alias}
    acc, rej = screen_proofs(submitted, bound=64, dimension=D, params=PP, session=SESSION, prescreened=dict(proofs))
    # a skip keyed on the client id alone would accept both; only the identical proof 0 skips verification
    assert (acc, rej) == ([0], [1, 2])
    assert calls == [tampered, alias]


def test_prescreened_must_be_a_mapping_of_proofs():
    cl = _clients(_updates(2, seed=15))
    proofs = {i: c.submit_proof() for i, c in cl.items()}
    screen = dict(bound=64, dimension=D, params=PP, session=SESSION)
    with pytest.raises(TypeError, match="prescreened must be a mapping client id -> BoundedUpdateProof or None, "
                                        "got list"):
        screen_proofs(proofs, **screen, prescreened=[proofs[0]])
    with pytest.raises(TypeError, match=r"prescreened\[1\] must be a BoundedUpdateProof, got bytes"):
        screen_proofs(proofs, **screen, prescreened={0: proofs[0], 1: b"proof"})
    with pytest.raises(TypeError, match="prescreened must be a mapping"):
        verifiable_secure_aggregate(cl, max_update_norm=S, frac_bits=F, dimension=D, session=SESSION,
                                    prescreened=(1, 2))
