"""Bounded-update proofs: a client commits to its quantised model update and proves, without revealing it,
that every coordinate lies in [-B, B] (an L-infinity bound).

This is the check RoFL (Burkhalter et al., "RoFL: Robustness of Secure Federated Learning", IEEE S&P 2023,
arXiv:2107.03311, Sec. 4) and ELSA (Rathee et al., IEEE S&P 2023, ePrint 2022/1695) add to secure
aggregation: the server cannot see an update, so without a proof it cannot refuse a poisoned or
unclipped one. Client-level DP rests on the same bound (the sensitivity of the sum).

Pipeline (one home per concept): the client clips with :func:`ppml_lab.dp.clipping.clip_update` (L2 norm
<= S, hence every |x_j| <= S), quantises with the fixed-point encoder the secure aggregation uses
(:class:`ppml_lab.mpc.fixed_point.FixedPoint`, x_hat = round(x 2^f)), so |x_hat_j| <= B = round(S 2^f)
(rounding is monotone), and proves x_hat_j + B in [0, 2B] with :mod:`ppml_lab.zk.range_proof`. The
commitment to x_hat_j is C_j = C'_j g^-B, where C'_j is the range proof's derived commitment.

What the proof certifies, and what DP-FedAvg assumes: the clipping S is an L2 bound (the sensitivity the
client-level accountant uses); the proof is an L-infinity bound. An accepted proof shows |x_hat_j| <= B
for every j, hence ||x_hat / 2^f||_2 <= sqrt(d) B / 2^f (:func:`linf_implied_l2_bound`; 7.9 S for the
course's 62-parameter model), NOT <= S: a malicious client can pass with an update sqrt(d) times longer
than the accounting's S. An honest client's quantised update has L2 norm <= S + sqrt(d) / 2^(f+1)
(clipped to S, then each coordinate rounded by at most 2^-(f+1)), slightly above S too. An honest
client's own DP guarantee does not need the proof (it clips itself); the proof bounds what a dishonest
client can add. :mod:`ppml_lab.zk.l2_norm` proves the L2 bound itself.

Threat model: the client may be malicious (it cannot get an out-of-range coordinate accepted, except with
probability about 1/q, under discrete log and the random oracle); the server learns nothing about the update
beyond the bound (Pedersen hiding + HVZK). The context bytes bind a proof to a session, round and client,
so a proof cannot be replayed by another client or in another round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_array, check_int, check_positive
from ppml_lab.dp.clipping import clip_update
from ppml_lab.mpc.fixed_point import FixedPoint
from ppml_lab.zk.commitments import PedersenParams, pedersen_params
from ppml_lab.zk.range_proof import (
    RangeProof,
    _prove_digits,
    decompose,
    prove_range,
    range_commitments,
    range_weights,
    verify_range,
)
from ppml_lab.zk.transcript import check_level

__all__ = [
    "BoundedUpdateProof",
    "BoundedUpdateOpening",
    "quantise_update",
    "integer_bound",
    "prove_bounded_update",
    "verify_bounded_update",
    "update_commitments",
    "cheating_prove_bounded_update",
    "client_context",
    "linf_implied_l2_bound",
]

#: Largest accepted integer bound B (so 2B fits the range proof's 2^62 limit).
MAX_BOUND = 2**61


@dataclass(frozen=True)
class BoundedUpdateProof:
    """The public part a client sends: the range proof for x_hat + B, with the bound and dimension."""

    range_proof: RangeProof
    bound: int
    dimension: int

    def nbytes(self, params: PedersenParams) -> int:
        return self.range_proof.nbytes(params.group)


@dataclass(frozen=True)
class BoundedUpdateOpening:
    """What the client keeps secret: the quantised values and the blinding r_j of each C_j."""

    values: tuple[int, ...]
    randomness: tuple[int, ...]

    def __repr__(self) -> str:  # never print the secret update or blinding
        return f"BoundedUpdateOpening(dimension={len(self.values)}, <secret>)"


def client_context(*, session: bytes, round_id: int, client_id: int) -> bytes:
    """Context bytes binding a proof to one aggregation session, round and client (anti-replay)."""
    if not isinstance(session, (bytes, bytearray)):
        raise TypeError(f"session must be bytes, got {type(session).__name__}")
    r = check_int("round_id", round_id, low=0)
    c = check_int("client_id", client_id, low=0)
    return b"session=" + bytes(session) + b"|round=" + str(r).encode() + b"|client=" + str(c).encode()


def _fixed_point(max_update_norm: float, frac_bits: int) -> FixedPoint:
    integer_bits = max(1, math.ceil(math.log2(max_update_norm)) + 1)
    return FixedPoint(frac_bits=frac_bits, integer_bits=integer_bits)


def integer_bound(*, max_update_norm: float, frac_bits: int) -> int:
    """B = round(S 2^f): the L-infinity bound of a clipped update after quantisation."""
    s = check_positive("max_update_norm", max_update_norm)
    f = check_int("frac_bits", frac_bits, low=1, high=30)
    b = int(np.rint(s * (1 << f)))
    if not 1 <= b <= MAX_BOUND:
        raise ValueError(f"max_update_norm * 2^frac_bits must round to an int in [1, 2^61], got {b}")
    return b


def linf_implied_l2_bound(*, max_update_norm: float, frac_bits: int, dimension: int) -> float:
    """sqrt(d) B / 2^f: the largest L2 norm (in update units) of a d-dimensional update that passes the
    L-infinity proof with B = :func:`integer_bound` (every coordinate at +-B). Compare with S."""
    b = integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits)
    d = check_int("dimension", dimension, low=1)
    return math.sqrt(d) * b / (1 << frac_bits)  # ||(B, ..., B)||_2 / 2^f


def quantise_update(update: Any, *, max_update_norm: float, frac_bits: int) -> np.ndarray:
    """Clip to L2 norm <= S (dp.clipping.clip_update), then x_hat = round(x 2^f) (FixedPoint): int64."""
    integer_bound(max_update_norm=max_update_norm, frac_bits=frac_bits)
    clipped, _ = clip_update(update, max_update_norm=max_update_norm)
    return _fixed_point(max_update_norm, frac_bits).encode(clipped, name="update").view(np.int64)


def _check_values(values: Any, bound: int) -> list[int]:
    arr = np.asarray(values)
    exact_ints = arr.dtype == object and all(isinstance(v, int) and not isinstance(v, bool) for v in arr.ravel())
    if arr.ndim != 1 or arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or exact_ints):
        raise TypeError(f"values must be a non-empty 1-D integer vector (quantised update), got dtype {arr.dtype}, "
                        f"shape {arr.shape}")
    worst = int(np.max(np.abs(arr.astype(object))))
    if worst > bound:
        raise ValueError(f"values must satisfy |x_j| <= bound = {bound}, got max |x_j| = {worst}; "
                         "clip the update first (quantise_update)")
    return [int(v) for v in arr]


def prove_bounded_update(values: Any, *, bound: int, params: PedersenParams | None = None, context: bytes = b"",
                         level: str = "safe", rng: RNGLike = None,
                         insecure_seeded_keys: bool = False) -> tuple[BoundedUpdateProof, BoundedUpdateOpening]:
    """Commit to integer ``values`` and prove every |x_j| <= ``bound``. Returns (proof, secret opening)."""
    check_level(level)
    b = check_int("bound", bound, low=1, high=MAX_BOUND)
    vals = _check_values(values, b)
    p = params if params is not None else pedersen_params()
    proof, r = prove_range([v + b for v in vals], upper=2 * b, params=p, context=context, level=level, rng=rng,
                           insecure_seeded_keys=insecure_seeded_keys)  # y_j = x_j + B in [0, 2B]
    return BoundedUpdateProof(proof, b, len(vals)), BoundedUpdateOpening(tuple(vals), tuple(r))


def cheating_prove_bounded_update(values: Any, *, bound: int, params: PedersenParams | None = None,
                                  context: bytes = b"", level: str = "safe",
                                  rng: RNGLike = None) -> tuple[BoundedUpdateProof, BoundedUpdateOpening]:
    """A poisoning client's best honest-algorithm attempt for values OUTSIDE [-B, B] (tests, notebook).

    It runs the prover's algorithm with the top "bit" set to whatever makes the weighted sum come out
    (e.g. 3 instead of 0 or 1); the bit's OR-proof then cannot hold, so verification fails."""
    b = check_int("bound", bound, low=1, high=MAX_BOUND)
    p = params if params is not None else pedersen_params()
    weights = range_weights(2 * b)
    digits = []
    for v in np.asarray(values).tolist():
        y = int(v) + b
        if 0 <= y <= 2 * b:
            digits.append(decompose(y, weights))
        else:  # y = low bits + t * w_top with an integer t outside {0, 1}
            low = (1 << (len(weights) - 1)) - 1
            t, rest = divmod(y, weights[-1])
            while rest > low:
                t, rest = t + 1, rest - weights[-1]
            digits.append([(rest >> i) & 1 for i in range(len(weights) - 1)] + [t])
    proof, r = _prove_digits(digits, upper=2 * b, params=p, context=bytes(context), level=level, rng=key_rng(rng))
    return BoundedUpdateProof(proof, b, len(digits)), BoundedUpdateOpening(tuple(int(v) for v in values), tuple(r))


def verify_bounded_update(proof: BoundedUpdateProof, *, bound: int, dimension: int,
                          params: PedersenParams | None = None, context: bytes = b"", level: str = "safe") -> bool:
    """Accept iff the proof shows ``dimension`` committed coordinates, each within [-bound, bound].

    The verifier uses ITS OWN bound and dimension (not the ones the proof carries) for the statement."""
    if not isinstance(proof, BoundedUpdateProof):
        raise TypeError(f"proof must be a BoundedUpdateProof, got {type(proof).__name__}")
    b = check_int("bound", bound, low=1, high=MAX_BOUND)
    d = check_int("dimension", dimension, low=1)
    p = params if params is not None else pedersen_params()
    return verify_range(proof.range_proof, n=d, upper=2 * b, params=p, context=context, level=level)


def update_commitments(proof: BoundedUpdateProof, *, bound: int, params: PedersenParams | None = None) -> list[Any]:
    """C_j = g^{x_hat_j} h^{r_j} for every coordinate: the range proof's C'_j times g^-B."""
    b = check_int("bound", bound, low=1, high=MAX_BOUND)
    p = params if params is not None else pedersen_params()
    grp = p.group
    shift = grp.exp(p.g, -b)  # g^-B
    return [grp.op(c, shift) for c in range_commitments(proof.range_proof, upper=2 * b, params=p)]


def check_update_vector(update: Any, *, dimension: int) -> np.ndarray:
    """A float update of the expected length (used by the aggregation module)."""
    arr = check_array("update", update, ndim=1)
    if arr.size != dimension:
        raise ValueError(f"update must have length {dimension}, got {arr.size}")
    return arr
