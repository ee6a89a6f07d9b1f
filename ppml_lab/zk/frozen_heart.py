"""Forgeries against the WEAK Fiat-Shamir transform ("Frozen Heart", Trail of Bits 2022): attacks for the raw level.

With c = H(announcements) the statement is not hashed, so a prover can fix the announcements and the
responses first, take c, and then *solve for a statement* that makes the verification equations hold
(Bernhard, Pereira and Warinschi, ASIACRYPT 2012, Sec. 3). Each function below returns a proof that the
raw verifier accepts for a FALSE statement, plus the secrets that show it is false; the same proof is
rejected by the safe verifier, whose transcript hashes the statement before the challenge. Run by
``tests/zk/test_frozen_heart.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.zk.commitments import PedersenParams, check_int_vector, vector_commit
from ppml_lab.zk.group import Group, random_scalars
from ppml_lab.zk.range_proof import RangeProof, range_weights
from ppml_lab.zk.range_proof import _challenge as _range_challenge
from ppml_lab.zk.sigma import BIT_DOMAIN, DLEQ_DOMAIN, BitProof, SchnorrProof
from ppml_lab.zk.sigma import _challenge as _sigma_challenge

__all__ = ["ForgedDLEQ", "ForgedBit", "forge_dleq_weak", "forge_bit_weak", "forge_range_proof_weak",
           "forge_linear_weak"]


@dataclass(frozen=True)
class ForgedDLEQ:
    """A Chaum-Pedersen "proof" that log_g1 x1 = log_g2 x2 although the logarithms differ."""

    g1: Any
    x1: Any
    g2: Any
    x2: Any
    proof: SchnorrProof
    log1: int
    log2: int


@dataclass(frozen=True)
class ForgedBit:
    """An OR-"proof" that ``commitment`` opens to 0 or 1, although it opens to ``value`` (not a bit)."""

    commitment: Any
    proof: BitProof
    value: int
    randomness: int


def forge_dleq_weak(group: Group, *, g2: Any | None = None, level: str = "raw", context: bytes = b"",
                    rng: RNGLike = None) -> ForgedDLEQ:
    """Pick A1 = g1^a1, A2 = g2^a2 (a1 != a2) and z; take c = H(A1, A2); then set X1 = g1^((z-a1)/c) and
    X2 = g2^((z-a2)/c). Both equations g^z = A X^c hold, yet log X1 != log X2.

    ``level`` is the verifier the forger targets: it computes c with that level's own challenge function,
    filling the not-yet-known statement with placeholders (all a forger can do before solving for it)."""
    gen = key_rng(rng)
    q = group.order
    g1 = group.generator
    g2 = group.hash_to_group(b"frozen-heart/g2") if g2 is None else g2
    while True:
        a1, a2, z = random_scalars(group, 3, gen)
        if a1 == a2:
            continue
        ann1, ann2 = group.exp(g1, a1), group.exp(g2, a2)
        c = _sigma_challenge(group, level=level, domain=DLEQ_DOMAIN, statement=[g1, group.identity, g2, group.identity],
                             context=context, announcements=[ann1, ann2])  # raw: c = H(A1, A2), no statement
        if c:
            break
    inv_c = pow(c, -1, q)
    log1, log2 = (z - a1) * inv_c % q, (z - a2) * inv_c % q  # solve g^z = A X^c for X
    return ForgedDLEQ(g1, group.exp(g1, log1), g2, group.exp(g2, log2), SchnorrProof(c, z), log1, log2)


def forge_bit_weak(params: PedersenParams, *, level: str = "raw", context: bytes = b"",
                   rng: RNGLike = None) -> ForgedBit:
    """A0 = g^alpha h^a0, A1 = h^a1, c = H(A0, A1), c0 = c, c1 = 0; then v = -alpha / c and C = g^v h^r
    make both branch equations hold: an accepted bit proof for the non-bit v."""
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    gen = key_rng(rng)
    while True:
        alpha, a0, a1, r = random_scalars(grp, 4, gen)
        ann0 = grp.op(grp.exp(g, alpha), grp.exp(h, a0))
        ann1 = grp.exp(h, a1)
        c = _sigma_challenge(grp, level=level, domain=BIT_DOMAIN, statement=[g, h, grp.identity], context=context,
                             announcements=[ann0, ann1])
        v = (-alpha) * pow(c, -1, q) % q if c else 0
        if c and v not in (0, 1):
            break
    commitment = grp.op(grp.exp(g, v), grp.exp(h, r))  # chosen AFTER the challenge
    return ForgedBit(commitment, BitProof(c, 0, (a0 + r * c) % q, a1), v, r)


def forge_range_proof_weak(values: list[int], *, upper: int, params: PedersenParams, forged_index: int = 0,
                           level: str = "raw", context: bytes = b"", rng: RNGLike = None) -> tuple[RangeProof, int]:
    """A range proof that the raw verifier accepts although value ``forged_index`` is out of range.

    Honest bit proofs for ``values`` (all in range), except that the top bit of value ``forged_index`` is
    replaced by a forged bit commitment to a non-bit v (as in :func:`forge_bit_weak`, with the shared c).
    Returns (proof, committed value of that coordinate), which lies outside [0, upper]."""
    from ppml_lab.zk.range_proof import decompose

    weights = range_weights(upper)
    digits = [decompose(int(v), weights) for v in values]
    if not 0 <= forged_index < len(digits):
        raise ValueError(f"forged_index must be in [0, {len(digits)}), got {forged_index}")
    return _forge_range_with_openings(digits, weights, upper=upper, params=params, forged_index=forged_index,
                                      level=level, context=context, rng=key_rng(rng))


def _forge_range_with_openings(digits: list[list[int]], weights: list[int], *, upper: int, params: PedersenParams,
                               forged_index: int, level: str, context: bytes, rng: Any) -> tuple[RangeProof, int]:
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    k = len(weights)
    flat = [b for row in digits for b in row]
    m = len(flat)
    idx = forged_index * k + (k - 1)
    s = random_scalars(grp, m, rng)
    c_sim = random_scalars(grp, m, rng)
    z_sim = random_scalars(grp, m, rng)
    kk = random_scalars(grp, m, rng)
    alpha, a0, a1, r_forged = random_scalars(grp, 4, rng)
    commitments: list[Any] = []
    ann: list[Any] = []
    for i, b in enumerate(flat):
        if i == idx:  # forged bit: announcements first, commitment after the challenge
            commitments.append(None)
            ann.extend((grp.op(grp.exp(g, alpha), grp.exp(h, a0)), grp.exp(h, a1)))
            continue
        cm = grp.op(grp.exp(g, b), grp.exp(h, s[i]))
        commitments.append(cm)
        y_sim = cm if b == 1 else grp.div(cm, g)
        a_sim = grp.op(grp.exp(h, z_sim[i]), grp.exp(y_sim, -c_sim[i]))
        a_real = grp.exp(h, kk[i])
        ann.extend((a_sim, a_real) if b == 1 else (a_real, a_sim))
    placeholder = [grp.identity if cm is None else cm for cm in commitments]
    c = _range_challenge(params, level=level, upper=upper, n=len(digits), context=context,
                         bit_commitments=placeholder, announcements=ann)  # raw: c = H(A), commitments NOT hashed
    v = (-alpha) * pow(c, -1, q) % q  # the forged "bit"
    commitments[idx] = grp.op(grp.exp(g, v), grp.exp(h, r_forged))
    c0s, z0s, z1s = [], [], []
    for i, b in enumerate(flat):
        if i == idx:
            c0s.append(c)  # c0 = c, c1 = 0
            z0s.append((a0 + r_forged * c) % q)
            z1s.append(a1)
            continue
        c_real = (c - c_sim[i]) % q
        z_real = (kk[i] + c_real * s[i]) % q
        if b == 1:
            c0s.append(c_sim[i])
            z0s.append(z_sim[i])
            z1s.append(z_real)
        else:
            c0s.append(c_real)
            z0s.append(z_real)
            z1s.append(z_sim[i])
    row = digits[forged_index]
    value = (sum(w * b for w, b in zip(weights[:-1], row[:-1])) + weights[-1] * v) % q
    return RangeProof(tuple(commitments), c, tuple(c0s), tuple(z0s), tuple(z1s)), value


def forge_linear_weak(weights_int: list[int], *, randomness: int, matrix: list[list[int]], params: PedersenParams,
                      level: str = "raw", context: bytes = b"", rng: RNGLike = None) -> tuple[list[int], Any]:
    """Outputs y that the committed model w does NOT produce (y != A w), with a proof the raw verifier accepts
    for the REAL commitment C = Com(w; r) (:mod:`ppml_lab.zk.inference`).

    Pick T = h^alpha and a random u first, take c = H(T, u), then answer z = c w, z_r = c r + alpha, so that
    h^{z_r} prod g^z C^-c = T holds, and publish y = A w - u / c, which makes A z - c y = u hold as well.
    Returns (y, proof)."""
    from ppml_lab.zk.inference import LinearProof
    from ppml_lab.zk.inference import _challenge as _linear_challenge

    grp = params.group
    q = grp.order
    w = check_int_vector("weights_int", weights_int)
    commitment = vector_commit(w, randomness=randomness, params=params)  # the real model commitment
    gen = key_rng(rng)
    while True:
        alpha, *u = random_scalars(grp, 1 + len(matrix), gen)
        t_commit = grp.exp(params.h, alpha)  # T = h^alpha, fixed before the challenge
        placeholder = [0] * len(matrix)  # the outputs are not chosen yet; C and A are known and hashed
        c = _linear_challenge(params, level=level, commitment=commitment, matrix=matrix, outputs=placeholder,
                              context=context, t_commit=t_commit, u=u)
        if c:
            break
    inv_c = pow(c, -1, q)
    y = [(sum(a * wi for a, wi in zip(row, w)) - ui * inv_c) % q for row, ui in zip(matrix, u)]  # y = A w - u/c
    y = [v - q if v > q // 2 else v for v in y]  # centred representatives, |y| < q/2 as the verifier requires
    z = tuple(c * wi % q for wi in w)  # z = c w
    return y, LinearProof(c, z, (c * randomness + alpha) % q)  # z_r = c r + alpha
