"""L2 bounded-update proofs: a client proves ||x_hat||_2 <= B2 for its committed, quantised update.

DP-FedAvg clips each client's update in the L2 norm (McMahan et al. 2018, arXiv:1710.06963, Alg. 1) and
its Gaussian-noise accounting assumes that L2 sensitivity; an L-infinity proof
(:mod:`ppml_lab.zk.bounded_update`) only shows ||x||_2 <= sqrt(d) * B_inf, a factor sqrt(d) looser. This
proof closes the gap, with the approach of RoFL's L2-norm bound (Burkhalter et al., IEEE S&P 2023,
arXiv:2107.03311: commit to the squares, prove each square, range-prove the bound minus their sum; PINE,
Chen and Patton, IETF draft-chen-cfrg-vdaf-pine, enforces the same L2 bound in a VDAF instead).

The statement, for public bounds B_inf, B2, dimension d and context bytes:

1. C_j = g^{x_j} h^{r_j} with |x_j| <= B_inf for every j: the L-infinity proof, reused unchanged (its
   range proofs are what keeps every x_j a small integer, so nothing below wraps mod the order q);
2. D_j = C_j^{x_j} h^{s_j} = g^{x_j^2} h^{x_j r_j + s_j}: a commitment to the square, with the
   multiplication proof of knowledge of (x, r, s) such that C = g^x h^r and D = C^x h^s (Camenisch and
   Stadler, "Proof systems for general statements about discrete logarithms", ETH TR 260, 1997, Sec. 4;
   Cramer and Damgaard, CRYPTO 1998, "Zero-knowledge proofs for finite field arithmetic", Sec. 3):
       A1 = g^{k1} h^{k2},  A2 = C^{k1} h^{k3};  z1 = k1 + c x,  z2 = k2 + c r,  z3 = k3 + c s;
       check g^{z1} h^{z2} = A1 C^c  and  C^{z1} h^{z3} = A2 D^c.
   Special soundness extracts x (the same x in both equations), so D opens to x^2 mod q;
3. D = prod_j D_j commits to Q = sum_j x_j^2 (homomorphism); a range proof shows E = g^e h^t with
   e in [0, B2^2] (:mod:`ppml_lab.zk.range_proof`, k = bitlength(B2^2) bits), and a Schnorr proof in base h
   that E * D * g^{-B2^2} = h^w shows e + Q = B2^2 (mod q).

No wrap: |x_j| <= B_inf gives 0 <= Q <= d B_inf^2 as an integer, and 0 <= e <= B2^2; we require
d B_inf^2 < q/2 and B2^2 < q/2 (:func:`check_no_wrap`), so e + Q < q and e + Q = B2^2 (mod q) holds over
the integers: Q <= B2^2, i.e. ||x_hat||_2 <= B2. On edwards25519 (q ~ 2^252) this allows d up to ~2^185
at B_inf = 2^33; the range proof's own limit B2^2 <= 2^62 (B2 <= 2^31) binds first.

All d multiplication proofs and the link share ONE Fiat-Shamir challenge over a transcript binding the
domain, the group, g, h, B_inf, B2, d, the context, every C_j, every D_j and the norm range proof's bit
commitments (strong Fiat-Shamir, Bernhard et al. ASIACRYPT 2012); the norm range proof's own context is a
hash of that statement. There is no raw (weak) level here: the L-infinity module demonstrates that pitfall.

Quantisation slack (:func:`l2_integer_bound`): clipping to ||x||_2 <= S (ppml_lab.dp.clipping) and rounding
x_hat = round(x 2^f) adds at most 1/2 per coordinate, so ||x_hat||_2 <= S 2^f + sqrt(d)/2; the proved
bound B2 = ceil(S 2^f + sqrt(d)/2) + 1 (the +1 absorbs floating-point error of the clip), and the L2
sensitivity a DP accountant may rely on is B2 / 2^f (not S).

Threat model: a malicious client cannot get an update with ||x_hat||_2 > B2 accepted except with
probability about 1/q (discrete log, random oracle); the server learns the commitments and the bound only
(Pedersen hiding; HVZK of each Sigma protocol, test: ``tests/zk/test_l2_norm.py``).

Accountable L2 rejections (``pki=`` of :func:`l2_verifiable_secure_aggregate`): every client signs its WHOLE
L2 proof (:func:`l2_proof_payload`: the L-inf part, every D_j, the challenge, all responses, the norm range
proof, in canonical encoding only, bound to its context: session, round, client id); the screen refuses
unsigned or wrongly signed proofs as unauthenticated, keeps the signed failing ones as
``VerifiedAggregate.evidence`` (:class:`SignedL2Proof`), and :func:`audit_l2_rejection` confirms a claimed
rejection only if the client signed a proof that fails. Without a PKI a rejection is the server's word.
The L-inf parts of the accepted proofs go to the aggregation as ``prescreened``: verified once, here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_int, check_positive
from ppml_lab.exceptions import PrecisionError, ProtocolError
from ppml_lab.fl.secagg import SigningPKI
from ppml_lab.zk.aggregation import (
    VerifiedAggregate,
    ZKClient,
    _signed_by,
    canonical_range_bytes,
    proof_payload,
    verifiable_secure_aggregate,
)
from ppml_lab.zk.bounded_update import (
    MAX_BOUND,
    BoundedUpdateOpening,
    BoundedUpdateProof,
    _check_values,
    cheating_prove_bounded_update,
    client_context,
    integer_bound,
    prove_bounded_update,
    update_commitments,
    verify_bounded_update,
)
from ppml_lab.zk.commitments import PedersenParams, pedersen_params
from ppml_lab.zk.group import Group, check_scalar, random_scalars
from ppml_lab.zk.range_proof import (
    MAX_UPPER,
    RangeProof,
    _prove_digits,
    decompose,
    range_commitments,
    range_weights,
    verify_range,
)
from ppml_lab.zk.sigma import _ctx
from ppml_lab.zk.transcript import Transcript, _frame

__all__ = [
    "L2BoundedUpdateProof",
    "L2BoundedUpdateOpening",
    "MAX_L2_BOUND",
    "l2_integer_bound",
    "check_no_wrap",
    "prove_l2_bounded_update",
    "verify_l2_bounded_update",
    "cheating_prove_l2_bounded_update",
    "square_transcript",
    "simulate_square",
    "screen_l2_proofs",
    "SignedL2Proof",
    "l2_proof_payload",
    "audit_l2_rejection",
    "L2ZKClient",
    "l2_verifiable_secure_aggregate",
]

L2_DOMAIN = b"ppml_lab/zk/l2-norm/v1"
#: Domain label of a client's signature on its whole L2 proof.
SIGNED_L2_PROOF_DOMAIN = b"ppml_lab/zk/signed-l2-bounded-update/v1"
#: Largest B2 with B2^2 <= 2^62, the range proof's limit.
MAX_L2_BOUND = math.isqrt(MAX_UPPER)


def l2_integer_bound(*, max_update_norm: float, frac_bits: int, dimension: int) -> int:
    """B2 = ceil(S 2^f + sqrt(d)/2) + 1: the L2 bound of an update clipped to S, then rounded to f bits."""
    s = check_positive("max_update_norm", max_update_norm)
    f = check_int("frac_bits", frac_bits, low=1, high=30)
    d = check_int("dimension", dimension, low=1)
    b2 = math.ceil(s * (1 << f) + math.sqrt(d) / 2) + 1  # ||round(x 2^f)|| <= ||x|| 2^f + ||e||, |e_j| <= 1/2
    if b2 > MAX_L2_BOUND:
        raise PrecisionError(f"max_update_norm * 2^frac_bits + sqrt(dimension)/2 must be <= 2^31 - 2 (so B2^2 fits "
                             f"the range proof's 2^62), got B2 = {b2}")
    return b2


def check_no_wrap(*, linf_bound: int, l2_bound: int, dimension: int, group: Group) -> None:
    """Refuse parameters for which sum_j x_j^2 or B2^2 could wrap mod q (soundness needs d B_inf^2 < q/2)."""
    b = check_int("linf_bound", linf_bound, low=1, high=MAX_BOUND)
    b2 = check_int("l2_bound", l2_bound, low=1, high=MAX_L2_BOUND)
    d = check_int("dimension", dimension, low=1)
    q = group.order
    if 2 * d * b * b >= q:  # d B_inf^2 < q/2
        raise PrecisionError(f"dimension * linf_bound^2 must be < q/2 (q = {q}), got {d} * {b}^2 = {d * b * b}: "
                             "sum x_j^2 could wrap mod q; lower the dimension or the bound")
    if 2 * b2 * b2 >= q:
        raise PrecisionError(f"l2_bound^2 must be < q/2 (q = {q}), got {b2}^2 = {b2 * b2}")


@dataclass(frozen=True)
class L2BoundedUpdateProof:
    """What a client sends: the L-inf proof, the square commitments D_j, one challenge c, per coordinate
    (z1, z2, z3) of the multiplication proof, the range proof of B2^2 - sum x_j^2, and the link response."""

    linf: BoundedUpdateProof
    square_commitments: tuple[Any, ...]
    challenge: int
    z_x: tuple[int, ...]
    z_r: tuple[int, ...]
    z_s: tuple[int, ...]
    norm_range: RangeProof
    z_link: int

    def nbytes(self, params: PedersenParams) -> int:
        grp = params.group
        return (self.linf.nbytes(params) + len(self.square_commitments) * grp.element_bytes
                + (2 + 3 * len(self.z_x)) * grp.scalar_bytes + self.norm_range.nbytes(grp))


@dataclass(frozen=True)
class L2BoundedUpdateOpening:
    """The client's secret: values x_j, blindings r_j of C_j (what secure aggregation needs)."""

    values: tuple[int, ...]
    randomness: tuple[int, ...]

    def __repr__(self) -> str:
        return f"L2BoundedUpdateOpening(dimension={len(self.values)}, <secret>)"

    def linf(self) -> BoundedUpdateOpening:
        return BoundedUpdateOpening(self.values, self.randomness)


def _statement_digest(params: PedersenParams, *, linf_bound: int, l2_bound: int, context: bytes,
                      commitments: list[Any], squares: list[Any]) -> bytes:
    """Context of the norm range proof: a hash of the whole L2 statement (binds it to this proof)."""
    enc = params.group.encode
    h = hashlib.sha512(L2_DOMAIN + b"/norm-range|")
    h.update(params.params_bytes() + linf_bound.to_bytes(8, "big") + l2_bound.to_bytes(8, "big"))
    h.update(len(context).to_bytes(8, "big") + context + len(commitments).to_bytes(8, "big"))
    for c in commitments:
        h.update(enc(c))
    for c in squares:
        h.update(enc(c))
    return h.digest()


def _challenge(params: PedersenParams, *, linf_bound: int, l2_bound: int, context: bytes, commitments: list[Any],
               squares: list[Any], norm_bits: tuple[Any, ...], announcements: list[Any]) -> int:
    t = Transcript(L2_DOMAIN, params.group)  # c = H(domain, group, g, h, bounds, d, ctx, C, D, E_bits, A)
    t.append_elements(b"generators", [params.g, params.h])
    t.append_int(b"linf-bound", linf_bound)
    t.append_int(b"l2-bound", l2_bound)
    t.append_int(b"dimension", len(commitments))
    t.append(b"context", context)
    t.append_elements(b"commitments", commitments)
    t.append_elements(b"square-commitments", squares)
    t.append_elements(b"norm-range-bits", norm_bits)
    t.append_elements(b"announcements", announcements)
    return t.challenge()


def _prove(values: list[int], *, linf_bound: int, l2_bound: int, params: PedersenParams, context: bytes, rng: Any,
           lie_square: int | None = None) -> tuple[L2BoundedUpdateProof, L2BoundedUpdateOpening]:
    """The prover's algorithm. ``lie_square=j`` (cheating prover only) commits D_j to 0 instead of x_j^2, and
    a negative B2^2 - sum is forced through the range prover with a non-bit digit; both must fail to verify."""
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    d = len(values)
    arr = np.array(values, dtype=np.int64)
    if int(np.max(np.abs(arr))) <= linf_bound:
        linf, lo = prove_bounded_update(arr, bound=linf_bound, params=params, context=context, rng=rng)
    else:  # cheating only: a coordinate outside [-B_inf, B_inf] goes through the L-inf prover unchecked
        linf, lo = cheating_prove_bounded_update(arr, bound=linf_bound, params=params, context=context, rng=rng)
    cms = update_commitments(linf, bound=linf_bound, params=params)  # C_j = g^{x_j} h^{r_j}
    r = list(lo.randomness)
    s = random_scalars(grp, d, rng)
    squares: list[Any] = []
    for j, x in enumerate(values):
        if j == lie_square:
            squares.append(grp.exp(h, s[j]))  # the lie: D_j = h^s commits to 0, not x_j^2
        else:
            squares.append(grp.op(grp.exp(cms[j], x), grp.exp(h, s[j])))  # D_j = C_j^{x_j} h^{s_j}
    total = sum(x * x for x in values)
    if lie_square is not None:
        total -= values[lie_square] ** 2
    b2sq = l2_bound * l2_bound
    ctx_norm = _statement_digest(params, linf_bound=linf_bound, l2_bound=l2_bound, context=context, commitments=cms,
                                 squares=squares)
    weights = range_weights(b2sq)
    e = b2sq - total
    if 0 <= e <= b2sq:
        digits = [decompose(e, weights)]
    else:  # cheating only: e = low + t w_top with t outside {0, 1}
        low = (1 << (len(weights) - 1)) - 1
        t, rest = divmod(e, weights[-1])
        while rest > low:
            t, rest = t + 1, rest - weights[-1]
        digits = [[(rest >> i) & 1 for i in range(len(weights) - 1)] + [t]]
    norm_range, (t_rand,) = _prove_digits(digits, upper=b2sq, params=params, context=ctx_norm, level="safe", rng=rng)
    # w: E * D * g^{-B2^2} = h^w with w = t + sum_j (x_j r_j + s_j)   (D_j's blinding is x_j r_j + s_j)
    w = (t_rand + sum((0 if j == lie_square else x * rj) + sj for j, (x, rj, sj) in enumerate(zip(values, r, s)))) % q
    k1, k2, k3 = random_scalars(grp, d, rng), random_scalars(grp, d, rng), random_scalars(grp, d, rng)
    k_link = random_scalars(grp, 1, rng)[0]
    ann: list[Any] = []
    for j in range(d):
        ann.append(grp.op(grp.exp(g, k1[j]), grp.exp(h, k2[j])))  # A1 = g^{k1} h^{k2}
        ann.append(grp.op(grp.exp(cms[j], k1[j]), grp.exp(h, k3[j])))  # A2 = C^{k1} h^{k3}
    ann.append(grp.exp(h, k_link))  # A_link = h^{k}
    c = _challenge(params, linf_bound=linf_bound, l2_bound=l2_bound, context=context, commitments=cms,
                   squares=squares, norm_bits=norm_range.bit_commitments, announcements=ann)
    z_x = tuple((k1[j] + c * values[j]) % q for j in range(d))  # z1 = k1 + c x
    z_r = tuple((k2[j] + c * r[j]) % q for j in range(d))  # z2 = k2 + c r
    z_s = tuple((k3[j] + c * s[j]) % q for j in range(d))  # z3 = k3 + c s
    z_link = (k_link + c * w) % q  # z = k + c w
    proof = L2BoundedUpdateProof(linf, tuple(squares), c, z_x, z_r, z_s, norm_range, z_link)
    return proof, L2BoundedUpdateOpening(tuple(values), tuple(r))


def prove_l2_bounded_update(values: Any, *, linf_bound: int, l2_bound: int, params: PedersenParams | None = None,
                            context: bytes = b"", rng: RNGLike = None,
                            insecure_seeded_keys: bool = False) -> tuple[L2BoundedUpdateProof, L2BoundedUpdateOpening]:
    """Commit to integer ``values`` and prove |x_j| <= ``linf_bound`` for all j and ||x||_2 <= ``l2_bound``.

    Refuses (ValueError naming the bound) a vector that breaks either bound: an honest prover never
    produces a proof for a false statement. Returns (proof, secret opening)."""
    p = params if params is not None else pedersen_params()
    b = check_int("linf_bound", linf_bound, low=1, high=MAX_BOUND)
    b2 = check_int("l2_bound", l2_bound, low=1, high=MAX_L2_BOUND)
    ctx = _ctx(context)
    vals = _check_values(values, b)
    check_no_wrap(linf_bound=b, l2_bound=b2, dimension=len(vals), group=p.group)
    sq = sum(v * v for v in vals)
    if sq > b2 * b2:
        raise ValueError(f"values must satisfy ||x||_2 <= l2_bound = {b2}, got ||x||_2 = {math.sqrt(sq):.4f} "
                         f"(sum x_j^2 = {sq} > {b2 * b2}); clip the update in L2 first (quantise_update)")
    return _prove(vals, linf_bound=b, l2_bound=b2, params=p, context=ctx,
                  rng=key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))


def cheating_prove_l2_bounded_update(values: Any, *, linf_bound: int, l2_bound: int,
                                     params: PedersenParams | None = None, context: bytes = b"",
                                     lie_square: int | None = None,
                                     rng: RNGLike = None) -> tuple[L2BoundedUpdateProof, L2BoundedUpdateOpening]:
    """A poisoning client (tests, notebook): runs the prover's algorithm WITHOUT the L2 and L-inf checks.

    With ``lie_square=None`` an over-norm vector forces a non-bit digit into the norm range proof; with
    ``lie_square=j`` the client commits D_j to 0 instead of x_j^2 (hiding that coordinate's energy) and runs
    the multiplication prover as if it were honest. Both proofs are rejected by the verifier."""
    p = params if params is not None else pedersen_params()
    b = check_int("linf_bound", linf_bound, low=1, high=MAX_BOUND)
    b2 = check_int("l2_bound", l2_bound, low=1, high=MAX_L2_BOUND)
    vals = _check_values(values, MAX_BOUND)  # may break the L-inf bound too (then the L-inf part fails)
    return _prove(vals, linf_bound=b, l2_bound=b2, params=p, context=_ctx(context), rng=key_rng(rng),
                  lie_square=lie_square)


def _check_shape(proof: Any, d: int, grp: Group) -> None:
    if not isinstance(proof, L2BoundedUpdateProof):
        raise TypeError(f"proof must be an L2BoundedUpdateProof, got {type(proof).__name__}")
    for name in ("square_commitments", "z_x", "z_r", "z_s"):
        got = len(getattr(proof, name))
        if got != d:
            raise ValueError(f"proof.{name} must have dimension = {d} entries, got {got}")
    check_scalar("proof.challenge", proof.challenge, grp)
    check_scalar("proof.z_link", proof.z_link, grp)
    for name in ("z_x", "z_r", "z_s"):
        for i, v in enumerate(getattr(proof, name)):
            check_scalar(f"proof.{name}[{i}]", v, grp)


def verify_l2_bounded_update(proof: L2BoundedUpdateProof, *, linf_bound: int, l2_bound: int, dimension: int,
                             params: PedersenParams | None = None, context: bytes = b"") -> bool:
    """Accept iff the proof shows ``dimension`` committed integers with |x_j| <= linf_bound, ||x||_2 <= l2_bound.

    The verifier uses its own bounds, dimension and context. Raises TypeError/ValueError/
    InvalidGroupElementError/PrecisionError for malformed proofs or parameters; False for a proof that fails."""
    p = params if params is not None else pedersen_params()
    grp, g, h = p.group, p.g, p.h
    b = check_int("linf_bound", linf_bound, low=1, high=MAX_BOUND)
    b2 = check_int("l2_bound", l2_bound, low=1, high=MAX_L2_BOUND)
    d = check_int("dimension", dimension, low=1)
    ctx = _ctx(context)
    check_no_wrap(linf_bound=b, l2_bound=b2, dimension=d, group=grp)
    _check_shape(proof, d, grp)
    squares = [grp.check_element(x, name=f"proof.square_commitments[{j}]")
               for j, x in enumerate(proof.square_commitments)]
    if not verify_bounded_update(proof.linf, bound=b, dimension=d, params=p, context=ctx):  # 1. |x_j| <= B_inf
        return False
    cms = update_commitments(proof.linf, bound=b, params=p)
    b2sq = b2 * b2
    ctx_norm = _statement_digest(p, linf_bound=b, l2_bound=b2, context=ctx, commitments=cms, squares=squares)
    if not verify_range(proof.norm_range, n=1, upper=b2sq, params=p, context=ctx_norm):  # 3. e in [0, B2^2]
        return False
    (e_cm,) = range_commitments(proof.norm_range, upper=b2sq, params=p)
    d_all = grp.identity
    for x in squares:
        d_all = grp.op(d_all, x)  # D = prod_j D_j = Com(sum x_j^2)
    link = grp.op(grp.op(e_cm, d_all), grp.exp(g, -b2sq))  # W = E D g^{-B2^2} = h^w iff e + Q = B2^2
    c = proof.challenge
    ann: list[Any] = []
    for j in range(d):
        cj, dj = cms[j], squares[j]
        ann.append(grp.op(grp.op(grp.exp(g, proof.z_x[j]), grp.exp(h, proof.z_r[j])), grp.exp(cj, -c)))
        # A1 = g^{z1} h^{z2} C^{-c}
        ann.append(grp.op(grp.op(grp.exp(cj, proof.z_x[j]), grp.exp(h, proof.z_s[j])), grp.exp(dj, -c)))
        # A2 = C^{z1} h^{z3} D^{-c}
    ann.append(grp.op(grp.exp(h, proof.z_link), grp.exp(link, -c)))  # A_link = h^z W^{-c}
    return c == _challenge(p, linf_bound=b, l2_bound=b2, context=ctx, commitments=cms, squares=squares,
                           norm_bits=tuple(proof.norm_range.bit_commitments), announcements=ann)


# ---------------------------------------------------------------- HVZK of the multiplication proof

def square_transcript(x: int, r: int, s: int, *, challenge: int, params: PedersenParams,
                      rng: Any) -> tuple[Any, Any, int, int, int, int]:
    """One honest interactive run (A1, A2, c, z1, z2, z3) of the multiplication proof for C = g^x h^r,
    D = C^x h^s, with the verifier's ``challenge`` (for the HVZK test)."""
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    cm = grp.op(grp.exp(g, x), grp.exp(h, r))
    k1, k2, k3 = random_scalars(grp, 3, rng)
    a1 = grp.op(grp.exp(g, k1), grp.exp(h, k2))
    a2 = grp.op(grp.exp(cm, k1), grp.exp(h, k3))
    return a1, a2, challenge, (k1 + challenge * x) % q, (k2 + challenge * r) % q, (k3 + challenge * s) % q


def simulate_square(commitment: Any, square: Any, *, challenge: int, params: PedersenParams,
                    rng: Any) -> tuple[Any, Any, int, int, int, int]:
    """The HVZK simulator: pick z1, z2, z3, solve A1 = g^{z1} h^{z2} C^{-c}, A2 = C^{z1} h^{z3} D^{-c}."""
    grp, g, h = params.group, params.g, params.h
    z1, z2, z3 = random_scalars(grp, 3, rng)
    a1 = grp.op(grp.op(grp.exp(g, z1), grp.exp(h, z2)), grp.exp(commitment, -challenge))
    a2 = grp.op(grp.op(grp.exp(commitment, z1), grp.exp(h, z3)), grp.exp(square, -challenge))
    return a1, a2, challenge, z1, z2, z3


# ---------------------------------------------------------------- with verifiable secure aggregation

def l2_proof_payload(proof: L2BoundedUpdateProof, *, context: bytes, params: PedersenParams) -> bytes:
    """The bytes a client signs for its WHOLE L2 proof: domain, context (session, round, client id), then every
    part (the L-inf proof's payload, D_j, c, z1, z2, z3, the norm range proof, z_link), canonical only.

    Raises TypeError/ValueError naming the part for a non-canonical proof (a scalar outside [0, q) would encode
    like its residue mod q, so a server could bend a client's valid signed proof into a failing one)."""
    if not isinstance(proof, L2BoundedUpdateProof):
        raise TypeError(f"proof must be an L2BoundedUpdateProof, got {type(proof).__name__}")
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    grp = params.group
    d = len(proof.z_x)
    _check_shape(proof, d, grp)  # equal lengths, every scalar canonical
    squares = b"".join(grp.encode(grp.check_element(x, name=f"proof.square_commitments[{j}]"))
                       for j, x in enumerate(proof.square_commitments))
    es = grp.encode_scalar
    zs = b"".join(es(a) + es(b) + es(c) for a, b, c in zip(proof.z_x, proof.z_r, proof.z_s))
    return (_frame(b"domain", SIGNED_L2_PROOF_DOMAIN) + _frame(b"context", bytes(context))
            + _frame(b"linf", proof_payload(proof.linf, context=context, params=params))
            + _frame(b"dimension", d.to_bytes(8, "big")) + _frame(b"square-commitments", squares)
            + _frame(b"challenge", es(proof.challenge)) + _frame(b"responses", zs)
            + _frame(b"norm-range", canonical_range_bytes(proof.norm_range, name="proof.norm_range", params=params))
            + _frame(b"link", es(proof.z_link)))


@dataclass(frozen=True)
class SignedL2Proof:
    """An L2 proof with its client's Ed25519 signature over :func:`l2_proof_payload`."""

    proof: L2BoundedUpdateProof
    signature: bytes


def _l2_signed_by(pki: SigningPKI, cid: int, signature: Any, proof: Any, context: bytes,
                  params: PedersenParams) -> bool:
    return _signed_by(pki, cid, signature, proof, context, params, payload=l2_proof_payload)


def _l2_ok(proof: Any, *, linf_bound: int, l2_bound: int, dimension: int, params: PedersenParams,
           context: bytes) -> bool:
    try:
        return verify_l2_bounded_update(proof, linf_bound=linf_bound, l2_bound=l2_bound, dimension=dimension,
                                        params=params, context=context)
    except (TypeError, ValueError):  # malformed proof; PrecisionError for bad bounds is also a ValueError
        return False


def screen_l2_proofs(proofs: Mapping[int, L2BoundedUpdateProof], *, linf_bound: int, l2_bound: int, dimension: int,
                     params: PedersenParams, session: bytes, round_id: int = 0, pki: SigningPKI | None = None,
                     signatures: Mapping[int, bytes | None] | None = None) -> tuple[list[int], list[int]]:
    """Verify every client's L2 proof in its own context; returns (accepted ids, rejected ids), sorted.

    With ``pki``, a proof counts only with its client's valid signature over :func:`l2_proof_payload` in
    ``signatures`` (else rejected, and not evidence against the client)."""
    if pki is not None and not isinstance(pki, SigningPKI):
        raise TypeError(f"pki must be a SigningPKI or None, got {type(pki).__name__}")
    accepted: list[int] = []
    rejected: list[int] = []
    sigs = dict(signatures or {})
    for cid in sorted(proofs):
        ctx = client_context(session=session, round_id=round_id, client_id=cid)
        if pki is not None and not _l2_signed_by(pki, cid, sigs.get(cid), proofs[cid], ctx, params):
            rejected.append(cid)  # unauthenticated: not attributable to cid
            continue
        ok = _l2_ok(proofs[cid], linf_bound=linf_bound, l2_bound=l2_bound, dimension=dimension, params=params,
                    context=ctx)
        (accepted if ok else rejected).append(cid)
    return accepted, rejected


def audit_l2_rejection(evidence: SignedL2Proof, *, client_id: int, pki: SigningPKI, linf_bound: int, l2_bound: int,
                       dimension: int, params: PedersenParams, session: bytes, round_id: int = 0) -> bool:
    """True iff the server's claim "client ``client_id``'s L2 proof failed" is backed by ``evidence``: the
    client signed that whole L2 proof in that round's context AND it does not verify. Anyone with the PKI
    can run it."""
    if not isinstance(evidence, SignedL2Proof):
        raise TypeError(f"evidence must be a SignedL2Proof, got {type(evidence).__name__}")
    if not isinstance(pki, SigningPKI):
        raise TypeError(f"pki must be a SigningPKI, got {type(pki).__name__}")
    ctx = client_context(session=session, round_id=round_id, client_id=client_id)
    if not _l2_signed_by(pki, client_id, evidence.signature, evidence.proof, ctx, params):
        return False  # the client never sent this proof: the claim is unsupported
    return not _l2_ok(evidence.proof, linf_bound=linf_bound, l2_bound=l2_bound, dimension=dimension, params=params,
                      context=ctx)


class L2ZKClient(ZKClient):
    """A client of :func:`l2_verifiable_secure_aggregate`: proves L-inf AND L2 once; the aggregation then
    reuses the L-inf part of that same proof, so the aggregated update is the one whose norm was proved.

    ``l2_cheat`` (tests, notebook): ``"skip-l2"`` quantises WITHOUT L2 clipping, only each coordinate to
    [-S, S] (passes the L-inf proof, fails the L2 one); ``"lie-square"`` does the same and also commits its
    largest coordinate's square as 0."""

    def __init__(self, client_id: int, update: Any, *, max_update_norm: float, frac_bits: int, l2_cheat: str = "",
                 **kwargs: Any) -> None:
        if l2_cheat not in ("", "skip-l2", "lie-square"):
            raise ValueError(f"l2_cheat must be '', 'skip-l2' or 'lie-square', got {l2_cheat!r}")
        self.l2_cheat = l2_cheat
        self._s, self._f = float(max_update_norm), int(frac_bits)
        super().__init__(client_id, update, max_update_norm=max_update_norm, frac_bits=frac_bits, **kwargs)
        self.l2_bound = l2_integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits,
                                         dimension=int(self._values.size))
        self._l2_proof: L2BoundedUpdateProof | None = None

    def _quantise(self, update: Any, *, max_update_norm: float, frac_bits: int) -> np.ndarray:
        if getattr(self, "l2_cheat", ""):
            b = round(max_update_norm * (1 << frac_bits))
            x = np.rint(np.asarray(update, dtype=np.float64) * (1 << frac_bits)).astype(np.int64)
            return np.clip(x, -b, b)  # per-coordinate clipping only
        return super()._quantise(update, max_update_norm=max_update_norm, frac_bits=frac_bits)

    def submit_l2_proof(self) -> L2BoundedUpdateProof:
        if self.l2_cheat:
            lie = int(np.argmax(np.abs(self._values))) if self.l2_cheat == "lie-square" else None
            proof, opening = cheating_prove_l2_bounded_update(self._values, linf_bound=self.bound,
                                                              l2_bound=self.l2_bound, params=self.params,
                                                              context=self.context, lie_square=lie, rng=self._rng)
        else:
            proof, opening = prove_l2_bounded_update(self._values, linf_bound=self.bound, l2_bound=self.l2_bound,
                                                     params=self.params, context=self.context, rng=self._rng)
        self._l2_proof, self._opening = proof, opening.linf()
        return proof

    def sign_l2_proof(self, proof: L2BoundedUpdateProof) -> bytes | None:
        """This client's signature on its whole L2 ``proof`` in its own context (None without a signing key)."""
        if self._signing_key is None:
            return None
        return self._signing_key.sign(l2_proof_payload(proof, context=self.context, params=self.params))

    @property
    def l2_proof(self) -> L2BoundedUpdateProof | None:
        """The L2 proof this client sent last (public: it is what the server received)."""
        return self._l2_proof

    def submit_proof(self) -> BoundedUpdateProof:
        """The L-inf part of the already sent L2 proof (same commitments C_j for the aggregate check)."""
        if self._l2_proof is None:
            raise ProtocolError(f"client {self.client_id} must send its L2 proof first (submit_l2_proof)")
        return self._l2_proof.linf


class _ScreenedClient:
    """The server's view of an accepted client: the L-inf proof is the one inside the L2 proof the server
    screened (whatever the client object would send now); everything else goes to the client."""

    def __init__(self, client: L2ZKClient, linf: BoundedUpdateProof) -> None:
        self._client, self._linf = client, linf

    def submit_proof(self) -> BoundedUpdateProof:
        return self._linf

    def sign_proof(self, proof: BoundedUpdateProof) -> bytes | None:
        return self._client.sign_proof(proof)

    def aggregation_input(self) -> np.ndarray:
        return self._client.aggregation_input()


def l2_verifiable_secure_aggregate(clients: Mapping[int, L2ZKClient], *, max_update_norm: float, frac_bits: int,
                                   dimension: int, session: bytes, round_id: int = 0,
                                   params: PedersenParams | None = None, rng: RNGLike = None,
                                   pki: SigningPKI | None = None, **kwargs: Any) -> VerifiedAggregate:
    """One round of :func:`ppml_lab.zk.aggregation.verifiable_secure_aggregate` with L2 screening first:
    clients whose L2 proof fails are dropped before aggregation (listed in ``rejected``); the accepted ones
    are aggregated and checked against the commitments of the very proofs that were screened (the server
    holds those proofs; a client that sends another L-inf proof later is not asked for one). Their L-inf parts
    are passed as ``prescreened``, so they are not verified a second time.

    ``pki``: every client signs its whole L2 proof (:meth:`L2ZKClient.sign_l2_proof`); an unsigned or wrongly
    signed proof is refused, and the signed proof of every client whose L2 proof fails is returned in
    ``evidence`` as a :class:`SignedL2Proof` (check it with :func:`audit_l2_rejection`)."""
    if pki is not None and not isinstance(pki, SigningPKI):
        raise TypeError(f"pki must be a SigningPKI or None, got {type(pki).__name__}")
    if "prescreened" in kwargs:
        raise TypeError("prescreened is set by l2_verifiable_secure_aggregate itself (the L2-screened proofs)")
    p = params if params is not None else pedersen_params()
    b = integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits)
    b2 = l2_integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits, dimension=dimension)
    proofs = {cid: c.submit_l2_proof() for cid, c in clients.items()}
    sigs = {cid: clients[cid].sign_l2_proof(proofs[cid]) for cid in clients} if pki is not None else {}
    accepted, rejected = screen_l2_proofs(proofs, linf_bound=b, l2_bound=b2, dimension=dimension, params=p,
                                          session=session, round_id=round_id, pki=pki, signatures=sigs)
    evidence: dict[int, SignedL2Proof] = {}
    for cid in rejected:  # the signed L2 proofs that failed: evidence anyone with the PKI can audit
        sig = sigs.get(cid)
        ctx = client_context(session=session, round_id=round_id, client_id=cid)
        if pki is not None and isinstance(sig, bytes) and _l2_signed_by(pki, cid, sig, proofs[cid], ctx, p):
            evidence[cid] = SignedL2Proof(proofs[cid], sig)
    if len(accepted) < 2:
        raise ProtocolError(f"at least 2 clients must pass their L2 bounded-update proof, got {len(accepted)} "
                            f"(rejected: {rejected})")
    screened = {cid: _ScreenedClient(clients[cid], proofs[cid].linf) for cid in accepted}
    out = verifiable_secure_aggregate(screened, max_update_norm=max_update_norm,  # type: ignore[arg-type]
                                      frac_bits=frac_bits, dimension=dimension, session=session, round_id=round_id,
                                      params=p, rng=rng, pki=pki,
                                      prescreened={cid: proofs[cid].linf for cid in accepted}, **kwargs)
    sizes = {cid: proofs[cid].nbytes(p) for cid in proofs}
    return replace(out, rejected=tuple(sorted(set(out.rejected) | set(rejected))), proof_bytes=sizes,
                   evidence={**out.evidence, **evidence})
