"""Verifiable secure aggregation: bounded-update proofs screened before the sum, the sum checked after.

Secure aggregation (:mod:`ppml_lab.fl.secagg`, Bonawitz et al. CCS 2017) hides each update from the
server, so on its own the server cannot refuse a poisoned or unclipped one. Here (after RoFL, Burkhalter et
al., IEEE S&P 2023, Sec. 4-5):

1. every client sends a bounded-update proof (:mod:`ppml_lab.zk.bounded_update`) for its quantised,
   clipped update; the server verifies each and DROPS the clients whose proof fails, before aggregation;
2. each accepted client appends the blinding r_j of every coordinate's commitment C_j = g^{x_j} h^{r_j},
   in eight 32-bit limbs each, to its quantised update, and the accepted clients run secure aggregation
   over that vector (the server learns only S_j = sum_i x_ij and R_j = sum_i r_ij mod q);
3. the server checks the unmasked sums against the product of the accepted commitments, coordinate by
   coordinate:  prod_i C_ij == g^{S_j} h^{R_j}  (Pedersen commitments add up). The d checks are batched
   with random weights gamma_j that the SERVER draws after the sum is unmasked (batch verification,
   Bellare, Garay and Rabin, EUROCRYPT 1998): prod_j (prod_i C_ij)^{gamma_j} == g^{<gamma, S>} h^{<gamma, R>},
   wrong with probability <= 1/q. The weights must not be known before the masked inputs are fixed: a
   client that knew them could pick a short nonzero shift Delta with <gamma, Delta> = 0 (mod q) by lattice
   reduction and pass the batched check with a shifted update. A client that proves one update and masks
   another would otherwise need log_g h, so a mismatch means cheating: the server refuses to release the sum.

Accountable rejections (``pki``): with a :class:`~ppml_lab.fl.secagg.SigningPKI` of client signing keys
(the one secure aggregation's hardened level uses), every client signs its proof together with its context
(session, round, client id); a proof without a valid signature is refused as unauthenticated, and for every
client dropped because its proof failed the server keeps the signed proof as evidence
(``VerifiedAggregate.evidence``). Anyone holding the PKI can then check a rejection with
:func:`audit_rejection`: it holds only if the client signed a proof that does not verify. A server that
claims an honest client's proof failed cannot show such evidence (the client's real signed proof verifies,
and a failing proof it made up carries no valid signature). Without a PKI (``pki=None``) a rejection is
the server's word: a failing proof is easy to make up in anyone's name.

Threat model: clients may be malicious (poisoning is refused when it breaks the bound; a swap between the
proved and the submitted update is detected, not attributed: the round is aborted); the server is
honest-but-curious about the updates and learns only the sum, the bound and who was dropped; with a PKI,
its claims that a proof failed are checkable. Out of scope: updates that are bounded but still harmful (a
bound limits, it does not detect, poisoning); a server that silently leaves a client out without claiming
anything (nothing here forces it to publish ``included``); and the DP bound: the proof is L-infinity, so a
malicious client's update can have L2 norm up to sqrt(d) B / 2^f
(:func:`ppml_lab.zk.bounded_update.linf_implied_l2_bound`), not the S the DP accounting assumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_int
from ppml_lab.exceptions import AuthenticationError, ProtocolError
from ppml_lab.fl.secagg import SigningPKI, secure_aggregate
from ppml_lab.zk.bounded_update import (
    BoundedUpdateOpening,
    BoundedUpdateProof,
    cheating_prove_bounded_update,
    client_context,
    integer_bound,
    prove_bounded_update,
    quantise_update,
    update_commitments,
    verify_bounded_update,
)
from ppml_lab.zk.commitments import PedersenParams, pedersen_params
from ppml_lab.zk.group import check_scalar, random_scalars
from ppml_lab.zk.range_proof import RangeProof
from ppml_lab.zk.transcript import _frame

if TYPE_CHECKING:
    from ppml_lab.zk.l2_norm import SignedL2Proof

__all__ = [
    "ZKClient",
    "PoisonedZKClient",
    "VerifiedAggregate",
    "SignedProof",
    "proof_payload",
    "audit_rejection",
    "screen_proofs",
    "scalar_to_limbs",
    "limbs_to_scalar",
    "check_aggregate",
    "verifiable_secure_aggregate",
]

#: Domain label of a client's signature on its bounded-update proof.
SIGNED_PROOF_DOMAIN = b"ppml_lab/zk/signed-bounded-update/v1"
LIMBS = 8  # a scalar < 2^256 as 8 limbs of 32 bits: sums of up to 2^32 clients fit a uint64 exactly
LIMB_BITS = 32


def scalar_to_limbs(value: int) -> np.ndarray:
    """A scalar in [0, 2^256) as 8 uint64 limbs of 32 bits (little-endian)."""
    return np.array([(int(value) >> (LIMB_BITS * i)) & 0xFFFFFFFF for i in range(LIMBS)], dtype=np.uint64)


def limbs_to_scalar(limbs: Any, order: int) -> int:
    """sum_i L_i 2^{32 i} mod q for limb sums L_i (each an exact uint64 sum of client limbs)."""
    return sum(int(v) << (LIMB_BITS * i) for i, v in enumerate(np.asarray(limbs, dtype=np.uint64))) % order


def proof_payload(proof: BoundedUpdateProof, *, context: bytes, params: PedersenParams) -> bytes:
    """The bytes a client signs: domain, its context (session, round, client id), bound, dimension, proof."""
    if not isinstance(proof, BoundedUpdateProof):
        raise TypeError(f"proof must be a BoundedUpdateProof, got {type(proof).__name__}")
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    # only canonical proofs have a payload: encode_scalar reduces mod q, so z and z + q would sign alike and a
    # server could turn a client's valid signed proof into a "malformed" one that still carries its signature
    return (_frame(b"domain", SIGNED_PROOF_DOMAIN) + _frame(b"context", bytes(context))
            + _frame(b"bound", int(proof.bound).to_bytes(8, "big"))
            + _frame(b"dimension", int(proof.dimension).to_bytes(8, "big"))
            + _frame(b"proof", canonical_range_bytes(proof.range_proof, name="proof.range_proof", params=params)))


def canonical_range_bytes(rp: Any, *, name: str, params: PedersenParams) -> bytes:
    """``rp.to_bytes`` for a canonical range proof only (every scalar in [0, q), every element valid);
    raises TypeError/ValueError naming ``name`` otherwise (to_bytes reduces mod q, so z and z + q alias)."""
    grp = params.group
    if not isinstance(rp, RangeProof):
        raise TypeError(f"{name} must be a RangeProof, got {type(rp).__name__}")
    check_scalar(f"{name}.challenge", rp.challenge, grp)
    for field_name in ("c0", "z0", "z1"):
        for i, v in enumerate(getattr(rp, field_name)):
            check_scalar(f"{name}.{field_name}[{i}]", v, grp)
    for i, e in enumerate(rp.bit_commitments):
        grp.check_element(e, name=f"{name}.bit_commitments[{i}]")
    return rp.to_bytes(grp)


@dataclass(frozen=True)
class SignedProof:
    """A bounded-update proof with its client's Ed25519 signature over :func:`proof_payload`."""

    proof: BoundedUpdateProof
    signature: bytes


class ZKClient:
    """An honest client: clips, quantises, proves, and later submits (update, rho) to secure aggregation."""

    def __init__(self, client_id: int, update: Any, *, max_update_norm: float, frac_bits: int,
                 params: PedersenParams, session: bytes, round_id: int = 0, rng: RNGLike = None,
                 signing_key: Ed25519PrivateKey | None = None) -> None:
        if signing_key is not None and not isinstance(signing_key, Ed25519PrivateKey):
            raise TypeError(f"signing_key must be an Ed25519PrivateKey (the client's PKI identity) or None, got "
                            f"{type(signing_key).__name__}")
        self.client_id = check_int("client_id", client_id, low=0)
        self._signing_key = signing_key
        self.params = params
        self.bound = integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits)
        self.context = client_context(session=session, round_id=round_id, client_id=self.client_id)
        self._values = self._quantise(update, max_update_norm=max_update_norm, frac_bits=frac_bits)
        self._rng = rng
        self._opening: BoundedUpdateOpening | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id}, dimension={self._values.size}, <secret update>)"

    def _quantise(self, update: Any, *, max_update_norm: float, frac_bits: int) -> np.ndarray:
        return quantise_update(update, max_update_norm=max_update_norm, frac_bits=frac_bits)

    def submit_proof(self) -> BoundedUpdateProof:
        proof, self._opening = prove_bounded_update(self._values, bound=self.bound, params=self.params,
                                                    context=self.context, rng=self._rng)
        return proof

    def sign_proof(self, proof: BoundedUpdateProof) -> bytes | None:
        """This client's signature on ``proof`` in its own context (None without a signing key)."""
        if self._signing_key is None:
            return None
        return self._signing_key.sign(proof_payload(proof, context=self.context, params=self.params))

    def _submitted_values(self) -> np.ndarray:
        return self._values

    def aggregation_input(self) -> np.ndarray:
        """[x_hat (two's complement uint64) || limbs(r_1) || ... || limbs(r_d)]: what secure aggregation sums."""
        if self._opening is None:
            raise ProtocolError(f"client {self.client_id} must send its proof before its aggregation input")
        vals = np.asarray(self._submitted_values(), dtype=np.int64).view(np.uint64)
        return np.concatenate([vals, *(scalar_to_limbs(r) for r in self._opening.randomness)])


class PoisonedZKClient(ZKClient):
    """A malicious client (tests and notebook), ``mode``:

    - ``"unbounded"``: skips clipping and scales its update by ``scale``; its proof cannot verify
      (:func:`ppml_lab.zk.bounded_update.cheating_prove_bounded_update`), so it is dropped before the sum;
    - ``"swap"``: proves its honest, clipped update, then masks the scaled, unclipped one; the aggregate
      check fails and the server refuses the round.
    """

    def __init__(self, client_id: int, update: Any, *, mode: str, scale: float = 50.0, **kwargs: Any) -> None:
        if mode not in ("unbounded", "swap"):
            raise ValueError(f"mode must be 'unbounded' or 'swap', got {mode!r}")
        self.mode, self.scale = mode, float(scale)
        self._raw = np.asarray(update, dtype=np.float64)
        super().__init__(client_id, update, **kwargs)
        self._frac_bits = kwargs["frac_bits"]

    def submit_proof(self) -> BoundedUpdateProof:
        if self.mode == "swap":
            return super().submit_proof()
        poisoned = np.rint(self._raw * self.scale * (1 << self._frac_bits)).astype(np.int64)
        proof, self._opening = cheating_prove_bounded_update(poisoned, bound=self.bound, params=self.params,
                                                             context=self.context, rng=self._rng)
        self._values = poisoned
        return proof

    def _submitted_values(self) -> np.ndarray:
        if self.mode == "swap":
            return np.rint(self._raw * self.scale * (1 << self._frac_bits)).astype(np.int64)
        return self._values


def screen_proofs(proofs: Mapping[int, BoundedUpdateProof], *, bound: int, dimension: int, params: PedersenParams,
                  session: bytes, round_id: int = 0, pki: SigningPKI | None = None,
                  signatures: Mapping[int, bytes | None] | None = None,
                  prescreened: Mapping[int, BoundedUpdateProof] | None = None) -> tuple[list[int], list[int]]:
    """Verify every client's proof in its own context; returns (accepted ids, rejected ids), sorted.

    With ``pki``, a proof counts only with its client's valid signature in ``signatures`` (else rejected).
    ``prescreened``: proofs the CALLER has already verified with these bound, dimension, params, session and
    round (e.g. the L-inf part of a screened L2 proof); a client's proof skips the second verification only if
    it equals its prescreened proof field by field and in canonical bytes; any other proof is verified."""
    pre = _check_prescreened(prescreened)
    accepted: list[int] = []
    rejected: list[int] = []
    sigs = dict(signatures or {})
    for cid in sorted(proofs):
        ctx = client_context(session=session, round_id=round_id, client_id=cid)
        if pki is not None and not _signed_by(pki, cid, sigs.get(cid), proofs[cid], ctx, params):
            rejected.append(cid)  # unauthenticated: not attributable to cid, so not evidence against it
            continue
        if cid in pre and _same_proof(proofs[cid], pre[cid], params) and (pre[cid].bound, pre[cid].dimension) == (
                bound, dimension):
            accepted.append(cid)  # exactly the proof the caller verified: not verified twice
            continue
        try:
            ok = verify_bounded_update(proofs[cid], bound=bound, dimension=dimension, params=params, context=ctx)
        except (TypeError, ValueError):  # malformed proof (wrong length, bad point, scalar out of range)
            ok = False
        (accepted if ok else rejected).append(cid)
    return accepted, rejected


def _check_prescreened(prescreened: Any) -> dict[int, BoundedUpdateProof]:
    if prescreened is None:
        return {}
    if not isinstance(prescreened, Mapping):
        raise TypeError(f"prescreened must be a mapping client id -> BoundedUpdateProof or None, got "
                        f"{type(prescreened).__name__}")
    for cid, proof in prescreened.items():
        if not isinstance(proof, BoundedUpdateProof):
            raise TypeError(f"prescreened[{cid!r}] must be a BoundedUpdateProof, got {type(proof).__name__}")
    return dict(prescreened)


def _same_proof(proof: Any, screened: BoundedUpdateProof, params: PedersenParams) -> bool:
    """True iff ``proof`` is the screened proof: equal fields (a mod-q alias z + q differs) and equal bytes."""
    if not isinstance(proof, BoundedUpdateProof) or proof != screened:
        return False
    try:
        return proof_payload(proof, context=b"", params=params) == proof_payload(screened, context=b"", params=params)
    except (TypeError, ValueError):  # not canonical: verify it the ordinary way
        return False


def _signed_by(pki: SigningPKI, cid: int, signature: Any, proof: Any, context: bytes, params: PedersenParams,
               payload: Callable[..., bytes] | None = None) -> bool:
    """True iff ``signature`` is client ``cid``'s on the canonical payload of ``proof`` in ``context``
    (``payload``: the payload function of the proof's kind; :func:`proof_payload` by default)."""
    to_sign = proof_payload if payload is None else payload
    try:
        pki.verify(cid, signature, to_sign(proof, context=context, params=params))
    except (AuthenticationError, TypeError, ValueError):  # bad signature, or no canonical payload to sign
        return False
    return True


def audit_rejection(evidence: SignedProof, *, client_id: int, pki: SigningPKI, bound: int, dimension: int,
                    params: PedersenParams, session: bytes, round_id: int = 0) -> bool:
    """True iff the server's claim "client ``client_id``'s proof failed" is backed by ``evidence``: the client
    signed that proof in that round's context AND the proof does not verify. Anyone with the PKI can run it."""
    if not isinstance(evidence, SignedProof):
        raise TypeError(f"evidence must be a SignedProof, got {type(evidence).__name__}")
    if not isinstance(pki, SigningPKI):
        raise TypeError(f"pki must be a SigningPKI, got {type(pki).__name__}")
    ctx = client_context(session=session, round_id=round_id, client_id=client_id)
    if not _signed_by(pki, client_id, evidence.signature, evidence.proof, ctx, params):
        return False  # the client never sent this proof: the claim is unsupported
    try:
        ok = verify_bounded_update(evidence.proof, bound=bound, dimension=dimension, params=params, context=ctx)
    except (TypeError, ValueError):
        ok = False  # a malformed proof, signed by the client, is a justified rejection
    return not ok


def check_aggregate(total: Any, *, included: Iterable[int], proofs: Mapping[int, BoundedUpdateProof], dimension: int,
                    bound: int, params: PedersenParams, rng: RNGLike = None) -> tuple[np.ndarray, bool]:
    """Split the unmasked vector into (S, R) and check prod_i C_ij == g^{S_j} h^{R_j} for every coordinate j,
    batched with fresh random weights drawn here, after the sum is fixed. Returns (S as int64, ok)."""
    grp = params.group
    d = check_int("dimension", dimension, low=1)
    arr = np.asarray(total, dtype=np.uint64)
    want = d * (1 + LIMBS)
    if arr.shape != (want,):
        raise ValueError(f"total must have length dimension * (1 + {LIMBS}) = {want}, got shape {arr.shape}")
    sums = arr[:d].view(np.int64)
    limbs = arr[d:].reshape(d, LIMBS)
    r_sums = [limbs_to_scalar(row, grp.order) for row in limbs]  # R_j = sum_i r_ij (mod q)
    per_coord = [grp.identity] * d
    for cid in sorted(included):
        for j, c in enumerate(update_commitments(proofs[cid], bound=bound, params=params)):
            per_coord[j] = grp.op(per_coord[j], c)  # prod_i C_ij = Com(sum_i x_ij; sum_i r_ij)
    gammas = random_scalars(grp, d, key_rng(rng))  # verifier's coins, drawn after S and R are fixed
    lhs = grp.multi_exp(per_coord, gammas)  # prod_j (prod_i C_ij)^{gamma_j}
    s_gamma = sum(g * int(v) for g, v in zip(gammas, sums.tolist())) % grp.order
    r_gamma = sum(g * r for g, r in zip(gammas, r_sums)) % grp.order
    rhs = grp.op(grp.exp(params.g, s_gamma), grp.exp(params.h, r_gamma))  # g^{<gamma, S>} h^{<gamma, R>}
    return sums, lhs == rhs


@dataclass(frozen=True)
class VerifiedAggregate:
    """The released sum (float, after the check), who was dropped for a failing proof, who was summed."""

    total: np.ndarray
    accepted: tuple[int, ...]
    rejected: tuple[int, ...]
    included: tuple[int, ...]
    bound: int
    proof_bytes: dict[int, int] = field(default_factory=dict)
    #: with a PKI: the signed proof of every client rejected because its proof failed (see audit_rejection;
    #: in an L2 round, a SignedL2Proof for a failing L2 proof, see ppml_lab.zk.l2_norm.audit_l2_rejection)
    evidence: dict[int, SignedProof | SignedL2Proof] = field(default_factory=dict)


def verifiable_secure_aggregate(clients: Mapping[int, ZKClient] | Iterable[ZKClient], *, max_update_norm: float,
                                frac_bits: int, dimension: int, session: bytes, round_id: int = 0,
                                params: PedersenParams | None = None, threshold: int | None = None,
                                dropouts: Mapping[str, Iterable[int]] | None = None,
                                rng: RNGLike = None, pki: SigningPKI | None = None,
                                prescreened: Mapping[int, BoundedUpdateProof] | None = None) -> VerifiedAggregate:
    """One round: proofs screened, accepted clients securely aggregated (hardened SecAgg), sum checked.

    ``pki``: the clients' signing keys; each proof then needs its client's signature, and the signed proofs
    of the rejected clients are returned as ``evidence`` (:func:`audit_rejection`). ``prescreened``: proofs
    the caller already verified in this round (see :func:`screen_proofs`); only a proof equal to its
    prescreened one, in fields and canonical bytes, skips verification (signatures are still checked).
    Raises ProtocolError
    when fewer than 2 clients pass, or when the unmasked sum does not match the accepted commitments
    (nothing is released then)."""
    if pki is not None and not isinstance(pki, SigningPKI):
        raise TypeError(f"pki must be a SigningPKI or None, got {type(pki).__name__}")
    p = params if params is not None else pedersen_params()
    cl = dict(clients) if isinstance(clients, Mapping) else {c.client_id: c for c in clients}
    bound = integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits)
    proofs = {cid: c.submit_proof() for cid, c in cl.items()}  # step 1: each client proves (and signs)
    sigs = {cid: cl[cid].sign_proof(proofs[cid]) for cid in cl} if pki is not None else {}
    accepted, rejected = screen_proofs(proofs, bound=bound, dimension=dimension, params=p, session=session,
                                       round_id=round_id, pki=pki, signatures=sigs, prescreened=prescreened)
    evidence: dict[int, SignedProof | SignedL2Proof] = {}
    for cid in rejected:  # keep the signed proofs that failed: evidence anyone can audit
        sig = sigs.get(cid)
        ctx = client_context(session=session, round_id=round_id, client_id=cid)
        if pki is not None and isinstance(sig, bytes) and _signed_by(pki, cid, sig, proofs[cid], ctx, p):
            evidence[cid] = SignedProof(proofs[cid], sig)
    if len(accepted) < 2:
        raise ProtocolError(f"at least 2 clients must pass their bounded-update proof, got {len(accepted)} "
                            f"(rejected: {rejected})")
    inputs = {cid: cl[cid].aggregation_input() for cid in accepted}  # step 2
    result = secure_aggregate(inputs, threshold=threshold, dropouts=dropouts, rng=rng)  # hardened SecAgg
    sums, ok = check_aggregate(result.total, included=result.included, proofs=proofs, dimension=dimension,
                               bound=bound, params=p)  # step 3
    if not ok:
        raise ProtocolError("the unmasked sum does not match the product of the accepted clients' commitments: "
                            "a client submitted a different update than it proved; the sum is not released")
    return VerifiedAggregate(
        total=sums.astype(np.float64) / (1 << frac_bits),
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        included=tuple(result.included),
        bound=bound,
        proof_bytes={cid: proofs[cid].nbytes(p) for cid in proofs},
        evidence=evidence,
    )
