"""L2 bounded-update proofs: completeness, soundness (over-norm, a lied square, tampering, other statements,
other contexts), HVZK of the multiplication proof, the cross-check with numpy and DP clipping, bad inputs,
and the L2 screen in front of verifiable secure aggregation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from ppml_lab.dp.clipping import clip_update
from ppml_lab.exceptions import InvalidGroupElementError, PrecisionError, ProtocolError
from ppml_lab.zk import (
    default_group,
    integer_bound,
    pedersen_params,
    quantise_update,
    toy_group,
    update_commitments,
    verify_bounded_update,
    verify_opening,
)
from ppml_lab.zk.aggregation import ZKClient, verifiable_secure_aggregate
from ppml_lab.zk.bounded_update import client_context
from ppml_lab.zk.l2_norm import (
    L2ZKClient,
    cheating_prove_l2_bounded_update,
    check_no_wrap,
    l2_integer_bound,
    l2_verifiable_secure_aggregate,
    prove_l2_bounded_update,
    simulate_square,
    square_transcript,
    verify_l2_bounded_update,
)
from ppml_lab.zk.range_proof import verify_range

ED = default_group()
TOY = toy_group()
PP = pedersen_params()
#: false-failure rate of the chi-square HVZK test (seeded, so the outcome is fixed; the rate is the
#: probability that an exact simulator fails the test for a fresh seed)
ALPHA = 1e-3
B, B2 = 8, 10  # small bounds for fast tests: |x_j| <= 8, ||x||_2 <= 10


def _prove(vals, *, b=B, b2=B2, ctx=b"ctx"):
    return prove_l2_bounded_update(np.array(vals), linf_bound=b, l2_bound=b2, params=PP, context=ctx)


def _verify(proof, *, d, b=B, b2=B2, ctx=b"ctx"):
    return verify_l2_bounded_update(proof, linf_bound=b, l2_bound=b2, dimension=d, params=PP, context=ctx)


# ---------------------------------------------------------------- completeness

@pytest.mark.parametrize("vals", [[6, 8], [-6, -8], [0, 0, 0], [8, 0, -6], [1, -1, 2, -2, 3], [10 - 10]])
def test_l2_completeness_and_openings(vals):
    proof, opening = _prove(vals)
    assert _verify(proof, d=len(vals))
    cms = update_commitments(proof.linf, bound=B, params=PP)  # the C_j the aggregation checks
    assert all(verify_opening(c, v, randomness=r, params=PP) for c, v, r in zip(cms, vals, opening.randomness))
    assert "secret" in repr(opening) and "8" not in repr(opening).replace(str(len(vals)), "")


def test_norm_exactly_at_the_bound_proves_and_one_above_does_not():
    proof, _ = _prove([6, 8])  # 36 + 64 = 100 = B2^2
    assert _verify(proof, d=2)
    with pytest.raises(ValueError, match=r"\|\|x\|\|_2 <= l2_bound = 10, got .*sum x_j\^2 = 101 > 100"):
        _prove([1, 6, 8])
    bad, _ = cheating_prove_l2_bounded_update(np.array([1, 6, 8]), linf_bound=B, l2_bound=B2, params=PP,
                                              context=b"ctx")
    assert not _verify(bad, d=3)


@settings(max_examples=6, deadline=None)
@given(vals=st.lists(st.integers(-B, B), min_size=1, max_size=4))
def test_l2_property_accepts_iff_within_norm(vals):
    # completeness under the bound; the honest algorithm without the check is rejected above it
    sq = sum(v * v for v in vals)
    if sq <= B2 * B2:
        proof, _ = _prove(vals)
    else:
        proof, _ = cheating_prove_l2_bounded_update(np.array(vals), linf_bound=B, l2_bound=B2, params=PP,
                                                    context=b"ctx")
    assert _verify(proof, d=len(vals)) == (sq <= B2 * B2)


# ---------------------------------------------------------------- soundness

@pytest.mark.attack
def test_linf_bounded_but_over_norm_update_passes_linf_and_fails_l2():
    # every coordinate at the L-inf bound: ||x|| = sqrt(d) B. The L-inf proof accepts it (the gap),
    # the L2 proof refuses it: the honest prover will not make it, the unchecked algorithm is rejected
    vals = np.full(6, B)
    bad, _ = cheating_prove_l2_bounded_update(vals, linf_bound=B, l2_bound=B2, params=PP, context=b"ctx")
    assert verify_bounded_update(bad.linf, bound=B, dimension=6, params=PP, context=b"ctx")  # attack on L-inf: passes
    assert not _verify(bad, d=6)  # L2: refused
    with pytest.raises(ValueError, match="l2_bound = 10"):
        _prove(vals)


@pytest.mark.attack
def test_lying_about_one_square_is_rejected():
    # x = (8, 6, 3): sum x^2 = 109 > 100; committing x_0^2 as 0 leaves 45 <= 100, so the norm range proof
    # and the link verify; only the multiplication proof of coordinate 0 can catch the lie
    vals = np.array([8, 6, 3])
    bad, _ = cheating_prove_l2_bounded_update(vals, linf_bound=B, l2_bound=B2, params=PP, context=b"ctx", lie_square=0)
    assert verify_bounded_update(bad.linf, bound=B, dimension=3, params=PP, context=b"ctx")
    from ppml_lab.zk.l2_norm import _statement_digest

    cms = update_commitments(bad.linf, bound=B, params=PP)
    ctx_norm = _statement_digest(PP, linf_bound=B, l2_bound=B2, context=b"ctx", commitments=cms,
                                 squares=list(bad.square_commitments))
    assert verify_range(bad.norm_range, n=1, upper=B2 * B2, params=PP, context=ctx_norm)
    assert not _verify(bad, d=3)


def test_lie_square_control_honest_cheater_path_verifies():
    # the cheating prover's code path with no lie and an in-norm vector gives a valid proof: the rejection
    # above is caused by the lie, not by the cheating helper being broken
    proof, _ = cheating_prove_l2_bounded_update(np.array([2, 6, 3]), linf_bound=B, l2_bound=B2, params=PP,
                                                context=b"ctx")
    assert _verify(proof, d=3)


@pytest.fixture(scope="module")
def honest():
    return _prove([3, -4, 5, 0])


@pytest.mark.parametrize("field", ["challenge", "z_link", "z_x", "z_r", "z_s"])
def test_tampered_scalar_rejected(honest, field):
    proof, _ = honest
    val = getattr(proof, field)
    if isinstance(val, tuple):
        val = (val[0], (val[1] + 1) % ED.order) + val[2:]
    else:
        val = (val + 1) % ED.order
    assert not _verify(dataclasses.replace(proof, **{field: val}), d=4)


def test_swapped_square_commitments_rejected(honest):
    proof, _ = honest
    sq = list(proof.square_commitments)
    sq[0], sq[2] = sq[2], sq[0]
    assert not _verify(dataclasses.replace(proof, square_commitments=tuple(sq)), d=4)


def test_square_commitment_shifted_by_g_rejected(honest):
    # D_1 * g commits to x_1^2 + 1: same norm range proof, wrong squares
    proof, _ = honest
    sq = list(proof.square_commitments)
    sq[1] = ED.op(sq[1], PP.g)
    assert not _verify(dataclasses.replace(proof, square_commitments=tuple(sq)), d=4)


def test_parts_from_another_proof_rejected(honest):
    proof, _ = honest
    other, _ = _prove([3, -4, 5, 0])  # same vector, fresh randomness
    assert _verify(other, d=4)
    for field in ("linf", "norm_range", "square_commitments"):
        assert not _verify(dataclasses.replace(proof, **{field: getattr(other, field)}), d=4), field


def test_other_statement_rejected(honest):
    proof, _ = honest
    assert not _verify(proof, d=4, b2=B2 + 1)  # a bound it was not proved for (bitlength(121) = bitlength(100))
    assert not _verify(proof, d=4, b2=B2 - 1)
    assert not _verify(proof, d=4, b=B + 1)
    with pytest.raises(ValueError, match="entries"):
        _verify(proof, d=3)


def test_bound_to_context(honest):
    proof, _ = honest
    assert not _verify(proof, d=4, ctx=b"ctx2")
    c1 = client_context(session=b"s", round_id=3, client_id=1)
    p1, _ = _prove([1, 2], ctx=c1)
    assert _verify(p1, d=2, ctx=c1)
    assert not _verify(p1, d=2, ctx=client_context(session=b"s", round_id=3, client_id=2))  # replay by client 2
    assert not _verify(p1, d=2, ctx=client_context(session=b"s", round_id=4, client_id=1))  # replay next round


def test_special_soundness_extracts_the_square():
    # two accepting multiplication transcripts with one announcement and challenges c != c' give (x, r, s)
    # with C = g^x h^r and D = C^x h^s, so D = g^{x^2} h^{x r + s}: D commits to the square of C's value
    q = ED.order
    x, r, s = 7, 12345, 999
    k1, k2, k3 = 11, 22, 33
    c, c2 = 5, 9
    z = [(k + c * w) % q for k, w in ((k1, x), (k2, r), (k3, s))]
    z2 = [(k + c2 * w) % q for k, w in ((k1, x), (k2, r), (k3, s))]
    inv = pow(c - c2, -1, q)
    xe, re, se = ((a - b) * inv % q for a, b in zip(z, z2))
    assert (xe, re, se) == (x, r, s)
    cm = ED.op(ED.exp(PP.g, x), ED.exp(PP.h, r))
    d = ED.op(ED.exp(cm, x), ED.exp(PP.h, s))
    assert d == ED.op(ED.exp(PP.g, x * x), ED.exp(PP.h, x * r + s))


# ---------------------------------------------------------------- HVZK of the multiplication proof

def _table(samples_a, samples_b):
    keys = sorted(set(samples_a) | set(samples_b))
    idx = {k: i for i, k in enumerate(keys)}
    t = np.zeros((2, len(keys)))
    for row, samples in enumerate((samples_a, samples_b)):
        for smp in samples:
            t[row, idx[smp]] += 1
    return t


def _square_samples(kind, n, seed):
    pp = pedersen_params(TOY)
    rng = np.random.default_rng(seed)
    x, r, s, c = 3, 2, 5, 4
    cm = TOY.op(TOY.exp(pp.g, x), TOY.exp(pp.h, r))
    d = TOY.op(TOY.exp(cm, x), TOY.exp(pp.h, s))
    out = []
    for _ in range(n):
        if kind == "real":
            t = square_transcript(x, r, s, challenge=c, params=pp, rng=rng)
        elif kind == "sim":
            t = simulate_square(cm, d, challenge=c, params=pp, rng=rng)
            a1, a2, _, z1, z2, z3 = t  # every simulated transcript is accepting
            assert TOY.op(TOY.exp(pp.g, z1), TOY.exp(pp.h, z2)) == TOY.op(a1, TOY.exp(cm, c))
            assert TOY.op(TOY.exp(cm, z1), TOY.exp(pp.h, z3)) == TOY.op(a2, TOY.exp(d, c))
        else:  # a leaky prover whose first nonce takes only 3 values
            k1 = int(rng.integers(3))
            k2, k3 = (int(v) for v in rng.integers(TOY.order, size=2))
            q = TOY.order
            t = (None, None, c, (k1 + c * x) % q, (k2 + c * r) % q, (k3 + c * s) % q)
        out.append(tuple(t[3:]))  # (z1, z2, z3) determines (A1, A2) given c: 1331 cells, ~15 per cell
    return out


def test_square_proof_hvzk_simulated_like_real():
    _, p, _, _ = chi2_contingency(_table(_square_samples("real", 20000, 1), _square_samples("sim", 20000, 2)))
    assert p > ALPHA


def test_hvzk_test_detects_a_leaky_square_prover():
    _, p, _, _ = chi2_contingency(_table(_square_samples("leaky", 20000, 3), _square_samples("sim", 20000, 4)))
    assert p < ALPHA


# ---------------------------------------------------------------- cross-check: numpy and DP clipping

@pytest.mark.parametrize("scale,seed", [(0.05, 0), (0.3, 1), (3.0, 2), (50.0, 3)])
def test_clipped_update_always_proves_under_the_quantised_bound(scale, seed):
    s, f, d = 1.0, 6, 62
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=d) * scale
    clipped, _ = clip_update(raw, max_update_norm=s)
    assert np.linalg.norm(clipped) <= s * (1 + 1e-12)  # the package's clip (numpy's norm)
    u = quantise_update(raw, max_update_norm=s, frac_bits=f)
    assert np.array_equal(u, np.rint(clipped * 2**f).astype(np.int64))  # documented scale: round(x 2^f)
    b2 = l2_integer_bound(max_update_norm=s, frac_bits=f, dimension=d)
    assert b2 == math.ceil(64 + math.sqrt(62) / 2) + 1 == 69
    assert float(np.linalg.norm(u.astype(np.float64))) <= 64 + math.sqrt(d) / 2 <= b2  # numpy: slack bound
    assert int(np.sum(u.astype(object) ** 2)) == round(float(np.sum(u.astype(np.float64) ** 2)))
    bound = integer_bound(max_update_norm=s, frac_bits=f)
    proof, _ = prove_l2_bounded_update(u, linf_bound=bound, l2_bound=b2, params=PP, context=b"dp")
    assert verify_l2_bounded_update(proof, linf_bound=bound, l2_bound=b2, dimension=d, params=PP, context=b"dp")


def test_quantisation_slack_is_needed():
    # every coordinate at 1.5 / 2^f rounds up to 2 (half to even): the quantised norm 2 sqrt(62) = 15.75
    # exceeds S 2^f = 12.16, so a bound without slack would refuse an honestly clipped update
    s, f, d = 0.19, 6, 62
    raw = np.full(d, 1.5 / 2**f)
    assert np.linalg.norm(raw) <= s  # already clipped: clip_update leaves it alone
    u = quantise_update(raw, max_update_norm=s, frac_bits=f)
    assert np.all(u == 2) and np.linalg.norm(u) > s * 2**f
    b2 = l2_integer_bound(max_update_norm=s, frac_bits=f, dimension=d)
    assert b2 == 18 and np.linalg.norm(u) <= b2
    with pytest.raises(ValueError, match="l2_bound = 13"):
        prove_l2_bounded_update(u, linf_bound=13, l2_bound=13, params=PP)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("name,kw", [("linf_bound", {"linf_bound": 0}), ("l2_bound", {"l2_bound": 0}),
                                     ("linf_bound", {"linf_bound": -3}), ("l2_bound", {"l2_bound": 2**31 + 1})])
def test_bad_bounds_refused(name, kw):
    args = {"linf_bound": B, "l2_bound": B2, **kw}
    with pytest.raises(ValueError, match=f"{name} must be"):
        prove_l2_bounded_update(np.array([1, 2]), params=PP, **args)


def test_non_integer_bound_refused():
    with pytest.raises(TypeError, match="l2_bound must be an integer, got float"):
        prove_l2_bounded_update(np.array([1, 2]), linf_bound=B, l2_bound=10.0, params=PP)


def test_wrap_mod_q_refused():
    # in the p = 23 group (q = 11), d B_inf^2 = 3 * 2^2 = 12 >= q/2: sum x_j^2 could wrap
    with pytest.raises(PrecisionError, match=r"dimension \* linf_bound\^2 must be < q/2 \(q = 11\), got 3 \* 2\^2 = 12"):
        check_no_wrap(linf_bound=2, l2_bound=1, dimension=3, group=TOY)
    with pytest.raises(PrecisionError, match=r"got 1 \* 3\^2 = 9"):  # q/2 <= 9 < q: the factor 2 matters
        check_no_wrap(linf_bound=3, l2_bound=1, dimension=1, group=TOY)
    check_no_wrap(linf_bound=2, l2_bound=2, dimension=1, group=TOY)  # 4 < 5.5 and 4 < 5.5: accepted
    with pytest.raises(PrecisionError, match=r"l2_bound\^2 must be < q/2 \(q = 11\), got 3\^2 = 9"):
        check_no_wrap(linf_bound=1, l2_bound=3, dimension=1, group=TOY)
    with pytest.raises(PrecisionError, match=r"l2_bound\^2 must be < q/2 \(q = 11\), got 4\^2 = 16"):
        check_no_wrap(linf_bound=1, l2_bound=4, dimension=1, group=TOY)
    with pytest.raises(PrecisionError, match="dimension"):
        prove_l2_bounded_update(np.array([1, 1, 1]), linf_bound=2, l2_bound=2, params=pedersen_params(TOY))
    check_no_wrap(linf_bound=2**33, l2_bound=2**31 - 1, dimension=10**6, group=ED)  # fine on edwards25519


def test_l2_integer_bound_too_large_refused():
    with pytest.raises(PrecisionError, match=r"<= 2\^31 - 2 .* got B2 = "):
        l2_integer_bound(max_update_norm=2.0**26, frac_bits=6, dimension=10)


def test_over_linf_values_refused():
    with pytest.raises(ValueError, match=r"\|x_j\| <= bound = 8, got max \|x_j\| = 9"):
        _prove([9, 0])


def test_float_values_refused():
    with pytest.raises(TypeError, match="integer vector"):
        prove_l2_bounded_update(np.array([0.5, 1.0]), linf_bound=B, l2_bound=B2, params=PP)


def test_wrong_length_refused(honest):
    proof, _ = honest
    short = dataclasses.replace(proof, z_s=proof.z_s[:3])
    with pytest.raises(ValueError, match=r"proof.z_s must have dimension = 4 entries, got 3"):
        _verify(short, d=4)


def test_non_group_square_commitment_refused(honest):
    proof, _ = honest
    bad = (bytes([2]) + bytes(31),) + proof.square_commitments[1:]
    with pytest.raises(InvalidGroupElementError, match=r"proof.square_commitments\[0\]"):
        _verify(dataclasses.replace(proof, square_commitments=bad), d=4)


def test_scalar_out_of_range_refused(honest):
    proof, _ = honest
    with pytest.raises(ValueError, match=r"proof.z_x\[0\] must be a scalar in \[0, q\)"):
        _verify(dataclasses.replace(proof, z_x=(ED.order,) + proof.z_x[1:]), d=4)


def test_wrong_proof_type_refused(honest):
    proof, _ = honest
    with pytest.raises(TypeError, match="proof must be an L2BoundedUpdateProof, got BoundedUpdateProof"):
        _verify(proof.linf, d=4)


def test_context_must_be_bytes():
    with pytest.raises(TypeError, match="context must be bytes"):
        prove_l2_bounded_update(np.array([1]), linf_bound=B, l2_bound=B2, params=PP, context="round 1")


# ---------------------------------------------------------------- with verifiable secure aggregation

def _clients(cls, updates, cheat_id=None, **extra):
    kw = {"max_update_norm": 1.0, "frac_bits": 6, "params": PP, "session": b"l2", "round_id": 0}
    out = {}
    for cid, u in enumerate(updates):
        if cls is L2ZKClient:
            out[cid] = L2ZKClient(cid, u, l2_cheat=extra.get("cheat", "") if cid == cheat_id else "", **kw)
        else:
            out[cid] = ZKClient(cid, u, **kw)
    return out


@pytest.mark.attack
@pytest.mark.parametrize("cheat", ["skip-l2", "lie-square"])
def test_l2_screen_drops_unclipped_client_before_aggregation(cheat):
    d = 12
    rng = np.random.default_rng(5)
    updates = [rng.normal(size=d) * 0.1 for _ in range(4)]
    updates.append(np.full(d, 0.9))  # ||u|| = 3.1 > S = 1, but every |u_j| <= S
    # attack on the L-inf-only round: the client clips per coordinate only, and its update is summed
    linf_only = _clients(ZKClient, updates)
    b = integer_bound(max_update_norm=1.0, frac_bits=6)
    linf_only[4]._values = np.clip(np.rint(updates[4] * 64).astype(np.int64), -b, b)
    res = verifiable_secure_aggregate(linf_only, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"l2",
                                      params=PP)
    assert 4 in res.included
    # with the L2 screen: dropped before aggregation, the rest summed exactly
    cl = _clients(L2ZKClient, updates, cheat_id=4, cheat=cheat)
    out = l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"l2", params=PP)
    assert out.rejected == (4,) and out.included == (0, 1, 2, 3)
    want = sum(quantise_update(u, max_update_norm=1.0, frac_bits=6) for u in updates[:4]) / 64.0
    np.testing.assert_array_equal(out.total, want)
    assert set(out.proof_bytes) == {0, 1, 2, 3, 4}


# ---------------------------------------------------------------- the composite statement and its transcript

@pytest.mark.attack
def test_l2_small_but_linf_broken_is_rejected():
    # x = (9, 0): ||x||_2 = 9 <= B2 = 10, but |x_0| = 9 > B_inf = 8. Without the L-inf part nothing keeps the
    # x_j small, and sum x_j^2 could wrap mod q; the verifier must check it
    vals = np.array([9, 0])
    bad, _ = cheating_prove_l2_bounded_update(vals, linf_bound=B, l2_bound=B2, params=PP, context=b"ctx")
    assert not verify_bounded_update(bad.linf, bound=B, dimension=2, params=PP, context=b"ctx")
    assert not _verify(bad, d=2)


def test_challenge_binds_every_part_of_the_statement():
    from ppml_lab.zk.l2_norm import _challenge

    a, b = ED.hash_to_group(b"a"), ED.hash_to_group(b"b")
    base = dict(linf_bound=B, l2_bound=B2, context=b"ctx", commitments=[a, b], squares=[b, a], norm_bits=(a,),
                announcements=[a])
    c0 = _challenge(PP, **base)
    changes = {"linf_bound": B + 1, "l2_bound": B2 + 1, "context": b"ctx2", "commitments": [b, a],
               "squares": [a, b], "norm_bits": (b,), "announcements": [b]}
    for key, val in changes.items():
        assert _challenge(PP, **{**base, key: val}) != c0, key


def test_screen_rejects_malformed_proof_without_raising():
    from ppml_lab.zk.l2_norm import screen_l2_proofs

    ctx = {cid: client_context(session=b"s", round_id=0, client_id=cid) for cid in (0, 1)}
    good, _ = _prove([1, 2], ctx=ctx[0])
    other, _ = _prove([2, 1], ctx=ctx[1])
    malformed = dataclasses.replace(other, z_x=other.z_x[:1])
    acc, rej = screen_l2_proofs({0: good, 1: malformed}, linf_bound=B, l2_bound=B2, dimension=2, params=PP,
                                session=b"s")
    assert (acc, rej) == ([0], [1])


class _SwitchingClient(L2ZKClient):
    """Proves L2 for its clipped update, then switches to a 5x update (per-coordinate clipped) with a fresh
    L-inf proof, and feeds that update to secure aggregation."""

    _switched = None

    def _switch(self):
        from ppml_lab.zk.bounded_update import prove_bounded_update

        if self._switched is None:
            self._values = np.clip(self._values * 5, -self.bound, self.bound)
            self._switched, self._opening = prove_bounded_update(self._values, bound=self.bound, params=self.params,
                                                                 context=self.context)
        return self._switched

    def submit_proof(self):
        return self._switch()

    def aggregation_input(self):
        self._switch()
        return super().aggregation_input()


@pytest.mark.attack
def test_switching_to_another_linf_proof_after_l2_screening_is_refused():
    d = 8
    rng = np.random.default_rng(7)
    updates = [rng.normal(size=d) * 0.3 for _ in range(4)]
    kw = {"max_update_norm": 1.0, "frac_bits": 6, "params": PP, "session": b"sw"}
    cl = {cid: (_SwitchingClient if cid == 3 else L2ZKClient)(cid, u, **kw) for cid, u in enumerate(updates)}
    # attack on a server that asks the client again: the 5x update passes L-inf and is summed
    for c in cl.values():
        c.submit_l2_proof()
    res = verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"sw", params=PP)
    assert 3 in res.included
    # the L2 round checks the sum against the screened proofs' commitments: the swap is caught
    cl = {cid: (_SwitchingClient if cid == 3 else L2ZKClient)(cid, u, **kw) for cid, u in enumerate(updates)}
    with pytest.raises(ProtocolError, match="does not match"):
        l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"sw", params=PP)


# ---------------------------------------------------------------- accountable L2 rejections (signed proofs)

def _signed_l2(updates, keys, cheat_id=None, session=b"acct", round_id=0):
    kw = {"max_update_norm": 1.0, "frac_bits": 6, "params": PP, "session": session, "round_id": round_id}
    return {cid: L2ZKClient(cid, u, l2_cheat="skip-l2" if cid == cheat_id else "", signing_key=keys.get(cid), **kw)
            for cid, u in enumerate(updates)}


def _acct_updates(d=8, n=4, seed=21):
    rng = np.random.default_rng(seed)
    ups = [rng.normal(size=d) * 0.1 for _ in range(n - 1)]
    return ups + [np.full(d, 0.9)]  # the last: every |u_j| <= S, ||u||_2 > S


@pytest.mark.attack
def test_server_cannot_falsely_claim_an_honest_l2_proof_failed():
    from ppml_lab.fl.secagg import make_identities
    from ppml_lab.zk.aggregation import proof_payload
    from ppml_lab.zk.l2_norm import SignedL2Proof, audit_l2_rejection, l2_proof_payload, screen_l2_proofs

    d = 8
    ups = _acct_updates(d)
    keys, pki = make_identities(range(len(ups)))
    res = l2_verifiable_secure_aggregate(_signed_l2(ups, keys, cheat_id=3), max_update_norm=1.0, frac_bits=6,
                                         dimension=d, session=b"acct", params=PP, pki=pki)
    b = integer_bound(max_update_norm=1.0, frac_bits=6)
    b2 = l2_integer_bound(max_update_norm=1.0, frac_bits=6, dimension=d)
    audit = dict(client_id=3, pki=pki, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct")
    # a genuine L2 rejection is backed by the client's signed failing proof
    assert res.rejected == (3,) and isinstance(res.evidence[3], SignedL2Proof)
    assert audit_l2_rejection(res.evidence[3], **audit)
    # the server claims honest client 1's L2 proof failed. Raw path (no signatures): a failing L2 proof made up
    # in client 1's name looks exactly like a genuine failure to anyone who re-verifies it
    ctx1 = client_context(session=b"acct", round_id=0, client_id=1)
    made_up, _ = cheating_prove_l2_bounded_update(np.full(d, b), linf_bound=b, l2_bound=b2, params=PP, context=ctx1)
    assert not verify_l2_bounded_update(made_up, linf_bound=b, l2_bound=b2, dimension=d, params=PP, context=ctx1)
    # with the PKI it is no evidence: signed by someone else, unsigned, or carrying client 1's signature on
    # its real proof, the screen refuses it as unauthenticated and the audit refutes the claim
    audit1 = dict(audit, client_id=1)
    honest = _signed_l2(ups, keys)[1]
    p1 = honest.submit_l2_proof()
    sig1 = honest.sign_l2_proof(p1)
    for sig in (keys[3].sign(l2_proof_payload(made_up, context=ctx1, params=PP)), bytes(64), sig1):
        assert not audit_l2_rejection(SignedL2Proof(made_up, sig), **audit1)
    assert screen_l2_proofs({1: made_up}, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct",
                            pki=pki, signatures={1: sig1}) == ([], [1])
    # client 1's real signed proof verifies: showing it disproves the claim
    assert screen_l2_proofs({1: p1}, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct",
                            pki=pki, signatures={1: sig1}) == ([1], [])
    assert not audit_l2_rejection(SignedL2Proof(p1, sig1), **audit1)
    # evidence from one client cannot be pinned on another
    assert not audit_l2_rejection(res.evidence[3], **dict(audit, client_id=2))
    # a signature on the L-inf part only (the aggregation's payload) is no signature on the L2 proof: client 3's
    # failing L2 proof carried with that signature is refused (the L2-specific parts must be signed too)
    ctx3 = client_context(session=b"acct", round_id=0, client_id=3)
    p3 = res.evidence[3].proof
    linf_sig = keys[3].sign(proof_payload(p3.linf, context=ctx3, params=PP))
    assert not audit_l2_rejection(SignedL2Proof(p3, linf_sig), **audit)


@pytest.mark.attack
def test_signed_l2_proof_from_another_round_or_client_is_no_evidence():
    from ppml_lab.fl.secagg import make_identities
    from ppml_lab.zk.l2_norm import SignedL2Proof, audit_l2_rejection

    d = 6
    ups = _acct_updates(d, n=3, seed=22)
    keys, pki = make_identities(range(3))
    b = integer_bound(max_update_norm=1.0, frac_bits=6)
    b2 = l2_integer_bound(max_update_norm=1.0, frac_bits=6, dimension=d)
    old = _signed_l2(ups, keys, round_id=0)[1]
    p_old = old.submit_l2_proof()
    ev = SignedL2Proof(p_old, old.sign_l2_proof(p_old))
    audit = dict(pki=pki, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct")
    # replayed into round 1 the round-0 proof fails (its context is round 0): raw re-verification says "failed"
    ctx_r1 = client_context(session=b"acct", round_id=1, client_id=1)
    assert not verify_l2_bounded_update(p_old, linf_bound=b, l2_bound=b2, dimension=d, params=PP, context=ctx_r1)
    # but the signature covers round 0 only, so it is no evidence for round 1, nor for client 0
    assert not audit_l2_rejection(ev, client_id=1, round_id=1, **audit)
    assert not audit_l2_rejection(ev, client_id=0, round_id=0, **audit)
    assert not audit_l2_rejection(ev, client_id=1, round_id=0, **dict(audit, session=b"other"))
    assert not audit_l2_rejection(ev, client_id=1, round_id=0, **audit)  # in its own round it verifies


@pytest.mark.attack
@pytest.mark.parametrize("part", ["z_x", "norm_range", "linf", "challenge"])
def test_mod_q_reencoded_signed_l2_proof_is_not_evidence(part):
    from ppml_lab.fl.secagg import make_identities
    from ppml_lab.zk.l2_norm import SignedL2Proof, audit_l2_rejection, l2_proof_payload

    d = 6
    keys, pki = make_identities([0])
    c = _signed_l2([np.full(d, 0.1)], keys)[0]
    p = c.submit_l2_proof()
    q = ED.order
    if part == "z_x":
        bent = dataclasses.replace(p, z_x=(p.z_x[0] + q,) + p.z_x[1:])
    elif part == "challenge":
        bent = dataclasses.replace(p, challenge=p.challenge + q)
    else:
        rp = p.norm_range if part == "norm_range" else p.linf.range_proof
        brp = dataclasses.replace(rp, z1=(rp.z1[0] + q,) + rp.z1[1:])
        bent = (dataclasses.replace(p, norm_range=brp) if part == "norm_range"
                else dataclasses.replace(p, linf=dataclasses.replace(p.linf, range_proof=brp)))
    b = integer_bound(max_update_norm=1.0, frac_bits=6)
    b2 = l2_integer_bound(max_update_norm=1.0, frac_bits=6, dimension=d)
    # the re-encoded proof "fails" (a scalar >= q is malformed): were its signature accepted, the server could
    # turn a valid signed proof into signed evidence of a failure
    with pytest.raises(ValueError, match="must be a scalar in"):
        verify_l2_bounded_update(bent, linf_bound=b, l2_bound=b2, dimension=d, params=PP, context=c.context)
    with pytest.raises(ValueError, match="must be a scalar in"):
        l2_proof_payload(bent, context=c.context, params=PP)  # only canonical proofs have a payload to sign
    audit = dict(client_id=0, pki=pki, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct")
    assert not audit_l2_rejection(SignedL2Proof(bent, c.sign_l2_proof(p)), **audit)


def test_unsigned_l2_proof_is_refused_with_a_pki():
    from ppml_lab.fl.secagg import make_identities

    d = 6
    ups = _acct_updates(d, n=4, seed=23)[:3] + [np.full(d, 0.05)]
    keys, pki = make_identities(range(4))
    cl = _signed_l2(ups, {k: v for k, v in keys.items() if k != 2})  # client 2 has no signing key
    res = l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"acct",
                                         params=PP, pki=pki)
    assert res.rejected == (2,) and res.included == (0, 1, 3) and res.evidence == {}


def test_l2_round_verifies_the_linf_part_once(monkeypatch):
    import ppml_lab.zk.aggregation as agg
    import ppml_lab.zk.l2_norm as l2

    counts = {"agg": 0, "l2": 0}
    for mod, key in ((agg, "agg"), (l2, "l2")):
        real = mod.verify_bounded_update

        def counted(*a, _real=real, _key=key, **kw):
            counts[_key] += 1
            return _real(*a, **kw)

        monkeypatch.setattr(mod, "verify_bounded_update", counted)
    d = 6
    ups = [np.full(d, 0.05 * (i + 1)) for i in range(3)]
    cl = _clients(L2ZKClient, ups)
    out = l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=d, session=b"l2", params=PP)
    assert out.included == (0, 1, 2)
    assert counts == {"l2": 3, "agg": 0}  # once per client in the L2 screen, not again in the aggregation


def test_l2_accountability_refusals(honest):
    from ppml_lab.fl.secagg import make_identities
    from ppml_lab.zk.l2_norm import SignedL2Proof, audit_l2_rejection, l2_proof_payload, screen_l2_proofs

    proof, _ = honest
    _, pki = make_identities([0])
    kw = dict(linf_bound=B, l2_bound=B2, dimension=4, params=PP, session=b"s")
    with pytest.raises(TypeError, match="evidence must be a SignedL2Proof, got L2BoundedUpdateProof"):
        audit_l2_rejection(proof, client_id=0, pki=pki, **kw)
    with pytest.raises(TypeError, match="pki must be a SigningPKI, got dict"):
        audit_l2_rejection(SignedL2Proof(proof, bytes(64)), client_id=0, pki={}, **kw)
    with pytest.raises(TypeError, match="pki must be a SigningPKI or None, got str"):
        screen_l2_proofs({0: proof}, pki="keys", **kw)
    with pytest.raises(TypeError, match="proof must be an L2BoundedUpdateProof, got BoundedUpdateProof"):
        l2_proof_payload(proof.linf, context=b"c", params=PP)
    with pytest.raises(TypeError, match="context must be bytes, got str"):
        l2_proof_payload(proof, context="c", params=PP)
    cl = _clients(L2ZKClient, [np.zeros(4)] * 2)
    with pytest.raises(TypeError, match="pki must be a SigningPKI or None, got int"):
        l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=4, session=b"l2", pki=1)
    with pytest.raises(TypeError, match="prescreened is set by l2_verifiable_secure_aggregate"):
        l2_verifiable_secure_aggregate(cl, max_update_norm=1.0, frac_bits=6, dimension=4, session=b"l2",
                                       prescreened={})


@pytest.mark.attack
@pytest.mark.parametrize("part", ["square_commitments", "z_link", "z_s", "norm_range"])
def test_l2_specific_part_changed_under_a_valid_signature_is_no_evidence(part):
    from ppml_lab.fl.secagg import make_identities
    from ppml_lab.zk.l2_norm import SignedL2Proof, audit_l2_rejection

    d = 6
    keys, pki = make_identities([0])
    c = _signed_l2([np.full(d, 0.1)], keys)[0]
    p = c.submit_l2_proof()
    q = ED.order
    if part == "square_commitments":
        bent = dataclasses.replace(p, square_commitments=p.square_commitments[::-1])
    elif part == "norm_range":
        bits = p.norm_range.bit_commitments
        bent = dataclasses.replace(p, norm_range=dataclasses.replace(p.norm_range, bit_commitments=bits[::-1]))
    else:
        vals = getattr(p, part)
        bent = dataclasses.replace(p, **{part: (vals + 1) % q if part == "z_link" else ((vals[0] + 1) % q,) + vals[1:]})
    b = integer_bound(max_update_norm=1.0, frac_bits=6)
    b2 = l2_integer_bound(max_update_norm=1.0, frac_bits=6, dimension=d)
    # the server changes an L2-specific part of client 0's valid proof: it now fails, and would be "signed"
    # if the signature covered only the L-inf part
    assert not verify_l2_bounded_update(bent, linf_bound=b, l2_bound=b2, dimension=d, params=PP, context=c.context)
    audit = dict(client_id=0, pki=pki, linf_bound=b, l2_bound=b2, dimension=d, params=PP, session=b"acct")
    assert not audit_l2_rejection(SignedL2Proof(bent, c.sign_l2_proof(p)), **audit)
