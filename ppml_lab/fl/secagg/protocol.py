"""One round of secure aggregation, all parties simulated in this process (Bonawitz et al., CCS 2017).

:func:`secure_aggregate` builds the clients and the server for a session and runs the rounds, with
drop-outs injected at any phase. ``level="hardened"`` (default) runs the version secure against an active
server (ePrint 2017/281, Fig. 4 with the parts it marks for the active-adversary model; Sec. 6): Round 0 AdvertiseKeys signed under a PKI, Round 1 ShareKeys,
Round 2 MaskedInputCollection, Round 3 ConsistencyCheck, Round 4 Unmasking (answer-once).
``level="raw"`` runs the honest-but-curious protocol (Fig. 4 without its active-adversary parts) (Rounds 0, 1, 2, 4), the teaching level.

Any t clients complete the protocol, whichever drop out at whichever phase; with fewer than t at any
phase it fails with :class:`~ppml_lab.exceptions.DropoutThresholdError` — it never returns a wrong sum.
Real-valued updates are encoded in fixed point in Z_2^64 (:class:`ppml_lab.mpc.fixed_point.FixedPoint`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_array, check_int
from ppml_lab.exceptions import PrecisionError
from ppml_lab.fl.models import flatten_params, unflatten_params
from ppml_lab.fl.secagg.client import RawSecAggClient, SecAggClient
from ppml_lab.fl.secagg.masks import minimum_threshold
from ppml_lab.fl.secagg.messages import make_identities, new_session_id
from ppml_lab.fl.secagg.server import RawSecAggServer, SecAggServer
from ppml_lab.mpc.fixed_point import FixedPoint

__all__ = [
    "PHASES",
    "LEVELS",
    "SecAggResult",
    "make_round",
    "secure_aggregate",
    "secure_aggregate_floats",
    "secure_fedavg_aggregate",
]

#: Phases after which a client can drop out (it sent that phase's message, then vanished). On the hardened
#: level a client listed under "masked_input" vanishes before signing U3; under "unmask" it signs U3 and
#: vanishes before answering the unmask request.
PHASES = ("advertise", "share_keys", "masked_input", "unmask")
#: "hardened": secure against an active server (default); "raw": honest-but-curious, for teaching.
LEVELS = ("hardened", "raw")


@dataclass(frozen=True)
class SecAggResult:
    """Outcome of one round of secure aggregation."""

    total: np.ndarray = field(repr=False)  # sum over the clients whose masked input arrived (mod 2^64)
    included: tuple[int, ...]  # U3: the clients in the sum
    dropped: dict[str, tuple[int, ...]]  # who dropped after which phase
    bytes_sent_per_client: dict[int, int] = field(repr=False)
    plaintext_bytes: int = 0
    seconds: float = 0.0
    level: str = "hardened"

    @property
    def mean_bytes_sent(self) -> float:
        return float(np.mean(list(self.bytes_sent_per_client.values())))

    @property
    def expansion(self) -> float:
        """Bytes a client sends over ``plaintext_bytes`` (the same vector sent in the clear, 8 bytes a value)."""
        return self.mean_bytes_sent / self.plaintext_bytes


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(map(repr, LEVELS))}, got {level!r}")
    return level


def make_round(inputs: Mapping[int, np.ndarray], *, threshold: int, level: str = "hardened", round_id: int = 0,
               rng: RNGLike = None, insecure_seeded_keys: bool = False) -> tuple[dict[int, SecAggClient], SecAggServer]:
    """Clients and server for one session: a fresh session id, PKI identities (hardened), fresh keys.

    The PKI stands in for a trusted setup done once, outside the protocol (Sec. 6).
    """
    _check_level(level)
    rng = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)  # resolve once: one stream for all parties
    session = new_session_id(rng, insecure_seeded_keys=insecure_seeded_keys)
    length = int(np.asarray(next(iter(inputs.values()))).size)
    if level == "raw":
        raw = {cid: RawSecAggClient(cid, x, threshold=threshold, session=session, round_id=round_id, rng=rng,
                                    insecure_seeded_keys=insecure_seeded_keys) for cid, x in inputs.items()}
        return dict(raw), RawSecAggServer(threshold=threshold, length=length, session=session, round_id=round_id)
    keys, pki = make_identities(inputs, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
    clients = {cid: SecAggClient(cid, x, threshold=threshold, session=session, round_id=round_id,
                                 signing_key=keys[cid], pki=pki, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
               for cid, x in inputs.items()}
    return clients, SecAggServer(threshold=threshold, length=length, session=session, round_id=round_id, pki=pki)


def _check_dropouts(dropouts: Mapping[str, Iterable[int]] | None, ids: Sequence[int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {p: set() for p in PHASES}
    if dropouts is None:
        return out
    if not isinstance(dropouts, Mapping):
        raise TypeError(f"dropouts must map a phase name to client ids, got {type(dropouts).__name__}")
    seen: set[int] = set()
    for phase, who in dropouts.items():
        if phase not in PHASES:
            raise ValueError(f"dropouts phase must be one of {', '.join(map(repr, PHASES))}, got {phase!r}")
        members = {int(c) for c in who}
        unknown = members - set(ids)
        if unknown:
            raise ValueError(f"dropouts[{phase!r}] names unknown client ids {sorted(unknown)}")
        if members & seen:
            raise ValueError(f"a client can drop out only once, got {sorted(members & seen)} twice")
        seen |= members
        out[phase] = members
    return out


def _check_inputs(inputs: Mapping[int, Any] | Sequence[Any]) -> dict[int, np.ndarray]:
    items = dict(enumerate(inputs)) if not isinstance(inputs, Mapping) else dict(inputs)
    if len(items) < 2:
        raise ValueError(f"inputs must come from at least 2 clients, got {len(items)}")
    for cid in items:
        if isinstance(cid, bool) or not isinstance(cid, (int, np.integer)) or cid < 0:
            raise TypeError(f"client ids must be non-negative integers, got {cid!r}")
    vectors: dict[int, np.ndarray] = {}
    length = None
    for cid, x in items.items():
        arr = np.asarray(x)
        if arr.dtype != np.uint64:
            raise TypeError(f"inputs[{cid}] must be a uint64 vector (Z_2^64), got dtype {arr.dtype}; "
                            "use secure_aggregate_floats for real-valued updates")
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"inputs[{cid}] must be a non-empty 1-D vector, got shape {arr.shape}")
        if length is None:
            length = arr.size
        elif arr.size != length:
            raise ValueError(f"inputs[{cid}] has length {arr.size}, expected {length} like the others")
        vectors[int(cid)] = arr
    return vectors


def secure_aggregate(
    inputs: Mapping[int, Any] | Sequence[Any],
    *,
    threshold: int | None = None,
    dropouts: Mapping[str, Iterable[int]] | None = None,
    level: str = "hardened",
    rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> SecAggResult:
    """Run one round of the masking protocol over integer vectors in Z_2^64.

    ``inputs``: {client_id: uint64 vector} (or a list, ids 0..n-1). ``threshold``: clients needed at every
    phase (default and minimum: a strict majority). ``dropouts``: {phase: client ids} — each listed client
    sends that phase's message and then disappears (``"advertise"`` means it never sends shares).
    ``level``: "hardened" (default, active-server version) or "raw" (honest-but-curious, teaching).
    ``rng``: keys, masks and shares come from the OS CSPRNG; a seed drives them only with
    ``insecure_seeded_keys=True``. Returns the exact sum over the clients whose masked input arrived.
    """
    start = time.perf_counter()
    _check_level(level)
    vectors = _check_inputs(inputs)
    n = len(vectors)
    t = minimum_threshold(n) if threshold is None else check_int("threshold", threshold, low=1)
    if t > n:
        raise ValueError(f"threshold must be <= the number of clients ({n}), got {t}")
    if t < minimum_threshold(n):
        raise ValueError(f"threshold must be a strict majority of the {n} clients (>= {minimum_threshold(n)}), got {t}")
    drops = _check_dropouts(dropouts, list(vectors))
    clients, server = make_round(vectors, threshold=t, level=level, rng=rng, insecure_seeded_keys=insecure_seeded_keys)

    alive = set(clients)
    keys = server.collect_keys([clients[u].advertise_keys() for u in sorted(alive)])  # Round 0
    alive -= drops["advertise"]
    outboxes = {u: clients[u].share_keys(keys) for u in sorted(alive)}  # Round 1
    alive -= drops["share_keys"]
    inbox = server.route_shares(outboxes)
    u3 = server.collect_masked([clients[u].masked_input(inbox[u]) for u in sorted(alive) if u in inbox])  # Round 2
    alive -= drops["masked_input"]
    if server.hardened:  # Round 3: ConsistencyCheck
        server.collect_signatures([clients[u].consistency_check(u3) for u in sorted(alive) if u in u3])
    alive -= drops["unmask"]  # these vanish before answering
    request = server.unmask_request()
    total = server.unmask({u: clients[u].unmask(request) for u in sorted(alive) if u in u3})  # Round 4
    return SecAggResult(
        total=total,
        included=tuple(u3),
        dropped={p: tuple(sorted(s)) for p, s in drops.items()},
        bytes_sent_per_client={u: c.bytes_sent for u, c in clients.items()},
        plaintext_bytes=8 * int(server.length),
        seconds=time.perf_counter() - start,
        level=level,
    )


def secure_aggregate_floats(
    updates: Mapping[int, Any] | Sequence[Any],
    *,
    threshold: int | None = None,
    dropouts: Mapping[str, Iterable[int]] | None = None,
    fixed_point: FixedPoint | None = None,
    level: str = "hardened",
    rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> tuple[np.ndarray, SecAggResult]:
    """Secure sum of real-valued vectors through fixed point; returns (float sum, protocol result).

    The float sum equals the sum of the fixed-point encodings exactly (resolution 2^-frac_bits per
    client). Raises PrecisionError up front when n * max|x| could overflow the signed ring.
    """
    items = dict(enumerate(updates)) if not isinstance(updates, Mapping) else dict(updates)
    fp = fixed_point or FixedPoint(frac_bits=20, integer_bits=11)
    encoded = {}
    for cid, x in items.items():
        arr = check_array(f"updates[{cid}]", x, ndim=1)
        encoded[cid] = fp.encode(arr, name=f"updates[{cid}]")
    n = len(items)
    if n * fp.max_abs * fp.scale >= 2.0**63:
        raise PrecisionError(f"{n} clients times |x| < {fp.max_abs:g} with {fp.frac_bits} fractional bits can overflow Z_2^64")
    result = secure_aggregate(encoded, threshold=threshold, dropouts=dropouts, level=level, rng=rng,
                              insecure_seeded_keys=insecure_seeded_keys)
    return fp.decode(result.total), result


def secure_fedavg_aggregate(
    updates: Sequence[Sequence[np.ndarray]],
    weights: Sequence[float],
    *,
    threshold: int | None = None,
    rng: RNGLike = None,
) -> list[np.ndarray]:
    """FedAvg's weighted mean sum_k (n_k / n) w_k, with the sum computed by secure aggregation (hardened).

    A drop-in ``aggregate=`` for :class:`ppml_lab.fl.fedavg.FedAvgServer` with numpy parameter lists.
    The weights n_k are public (the server must know them to schedule the round); each client scales its
    own parameters by n_k / n before masking, so the server learns only the weighted sum.
    """
    if len(updates) != len(weights):
        raise ValueError(f"updates and weights must have the same length, got {len(updates)} and {len(weights)}")
    w = check_array("weights", weights, ndim=1)
    if np.any(w <= 0):
        raise ValueError(f"weights must be > 0, got {w.tolist()}")
    frac = w / w.sum()
    shapes = flatten_params(updates[0])[1]
    flat = [flatten_params(u)[0] * f for u, f in zip(updates, frac)]
    total, _ = secure_aggregate_floats(flat, threshold=threshold, rng=rng)
    return unflatten_params(total, shapes)
