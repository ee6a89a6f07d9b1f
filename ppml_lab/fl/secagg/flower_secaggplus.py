"""Flower's SecAgg+ run in-process, as the production counterpart of :mod:`ppml_lab.fl.secagg.secaggplus`.

Drives the four client stages of ``flwr.client.mod.secure_aggregation.secaggplus_mod`` (``_setup``,
``_share_keys``, ``_collect_masked_vectors``, ``_unmask``: Flower's own code, called directly, no gRPC,
no simulation engine) with a minimal server that does what ``SecAggPlusWorkflow`` (flwr 1.42,
``server/workflow/secure_aggregation/secaggplus_workflow.py``) does: the same shuffled ring of
``num_shares`` (= k + 1) nodes, the same routing, and its unmask loop (``combine_shares``,
``pseudo_rand_gen``, pair masks of dead nodes) restated here because it is inlined in the workflow.

Inputs are integer vectors already quantised to [0, target_range): they are handed to Flower as the floats
x = q * 2 c / R - c, on its quantisation grid, with weight ``num_examples = max_weight`` (factor 1), so
Flower's stochastic quantiser returns exactly q and the sum it unmasks is sum_i q_i (mod ``mod_range``),
directly comparable with ours. Requires ``flwr`` (imported lazily); tests and benchmarks only.

Observed in that code (reported, not changed): the PRG ``pseudo_rand_gen`` seeds numpy's MT19937 with the
XOR of the 32-byte key's eight 32-bit words, so every mask has at most 2^32 possible values; and
``_unmask`` does not check that ``active`` and ``dead`` lists are disjoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, renamed_keywords, resolve_rng
from ppml_lab.exceptions import ProtocolError

__all__ = ["FlowerSecAggPlusResult", "flower_secaggplus_sum"]


@dataclass(frozen=True)
class FlowerSecAggPlusResult:
    total: np.ndarray = field(repr=False)  # sum over the survivors of the quantised vectors (mod mod_range)
    survivors: tuple[int, ...]
    client_seconds: dict[int, float] = field(repr=False)  # CPU time (process_time) in Flower's client stages, per client
    bytes_sent_per_client: dict[int, int] = field(repr=False)
    server_seconds: float = 0.0


@renamed_keywords(seed="rng")
def flower_secaggplus_sum(vectors: Mapping[int, np.ndarray], *, num_shares: int, threshold: int,
                          target_range: int = 2**22, mod_range: int = 2**32, clipping_range: float = 8.0,
                          drop_after_share_keys: Iterable[int] = (), rng: RNGLike = 0) -> FlowerSecAggPlusResult:
    """Sum ``vectors`` (ints in [0, target_range)) with Flower's SecAgg+ client code; node ids are the keys + 1.

    ``rng`` only orders the simulated message routing (public, not key material; Flower draws its own keys),
    so it defaults to the seed 0 for replayable harness runs. ``clipping_range`` is Flower's quantisation
    range per coordinate (its name), not an L2 clipping norm."""
    import importlib

    mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")  # the module, not the function
    from flwr.common import bytes_to_ndarray, ndarrays_to_parameters
    from flwr.common.secure_aggregation.crypto.shamir import combine_shares
    from flwr.common.secure_aggregation.crypto.symmetric_encryption import generate_shared_key
    from flwr.common.secure_aggregation.ndarrays_arithmetic import (
        factor_extract,
        get_parameters_shape,
        parameters_addition,
        parameters_mod,
        parameters_subtraction,
    )
    from flwr.common.secure_aggregation.secaggplus_constants import Key
    from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
    from flwr.supercore.primitives.asymmetric import bytes_to_private_key, bytes_to_public_key

    ids = {int(c) + 1: np.asarray(v) for c, v in vectors.items()}  # Flower node ids, > 0
    n = len(ids)
    max_weight = 1000.0
    quantizer = target_range / (2 * clipping_range)
    states = {nid: mod.SecAggPlusState(nid=nid) for nid in ids}
    secs = {nid: 0.0 for nid in ids}
    sent = {nid: 0 for nid in ids}
    t_server = 0.0

    def timed(nid: int, fn: Any, *args: Any) -> Any:
        start = time.process_time()
        out = fn(*args)
        secs[nid] += time.process_time() - start
        return out

    # the workflow's graph: shuffled ring, each node with num_shares // 2 nodes each side and itself
    order = [int(v) for v in resolve_rng(rng).permutation(np.asarray(sorted(ids)))]  # public routing order, not key material
    half = num_shares >> 1
    neighbours = {nid: {order[(i + o) % n] for o in range(-half, half + 1)} for i, nid in enumerate(order)}
    cfg = {Key.SAMPLE_NUMBER: n, Key.SHARE_NUMBER: num_shares, Key.THRESHOLD: threshold,
           Key.CLIPPING_RANGE: clipping_range, Key.TARGET_RANGE: target_range, Key.MOD_RANGE: mod_range,
           Key.MAX_WEIGHT: max_weight}
    pks = {}
    for nid in ids:  # stage 0: setup
        out = timed(nid, mod._setup, states[nid], dict(cfg))
        pks[nid] = [out[Key.PUBLIC_KEY_1], out[Key.PUBLIC_KEY_2]]
        sent[nid] += len(pks[nid][0]) + len(pks[nid][1])
    fwd: dict[int, tuple[list[int], list[bytes]]] = {nid: ([], []) for nid in ids}
    for nid in ids:  # stage 1: share keys with the neighbours
        out = timed(nid, mod._share_keys, states[nid], {str(v): pks[v] for v in neighbours[nid]})
        for dst, ct in zip(out[Key.DESTINATION_LIST], out[Key.CIPHERTEXT_LIST], strict=True):
            fwd[dst][0].append(nid)
            fwd[dst][1].append(ct)
            sent[nid] += len(ct)
    dropped = {int(c) + 1 for c in drop_after_share_keys}
    active = [nid for nid in ids if nid not in dropped]
    masked = None
    for nid in active:  # stage 2: masked vectors (the dropped still sent their shares)
        x = ids[nid].astype(np.float64) / quantizer - clipping_range  # on the grid: Flower quantises it back to q
        params = ndarrays_to_parameters([x])
        conf = {Key.CIPHERTEXT_LIST: fwd[nid][1], Key.SOURCE_LIST: fwd[nid][0]}
        out = timed(nid, mod._collect_masked_vectors, states[nid], conf, int(max_weight), params)
        sent[nid] += sum(len(b) for b in out[Key.MASKED_PARAMETERS])
        start = time.process_time()
        vec = [bytes_to_ndarray(b) for b in out[Key.MASKED_PARAMETERS]]
        masked = vec if masked is None else parameters_addition(masked, vec)
        t_server += time.process_time() - start
    if masked is None:
        raise ProtocolError("no client sent a masked vector: every client dropped before stage 2")
    masked = parameters_mod(masked, mod_range)
    collected: dict[int, list[bytes]] = {nid: [] for nid in ids}
    act, dead = set(active), set(dropped)
    for nid in active:  # stage 3: unmask
        conf = {Key.ACTIVE_NODE_ID_LIST: sorted(neighbours[nid] & act), Key.DEAD_NODE_ID_LIST: sorted(neighbours[nid] & dead)}
        out = timed(nid, mod._unmask, states[nid], conf)
        sent[nid] += sum(len(s) for s in out[Key.SHARE_LIST])
        for owner, share in zip(out[Key.NODE_ID_LIST], out[Key.SHARE_LIST], strict=True):
            collected[owner].append(share)
    start = time.process_time()
    for nid, shares in collected.items():  # the workflow's unmask loop
        if len(shares) < threshold:
            raise RuntimeError(f"Flower SecAgg+: only {len(shares)} shares for node {nid}, threshold {threshold}")
        secret = combine_shares(shares)
        if nid in act:
            masked = parameters_subtraction(masked, pseudo_rand_gen(secret, mod_range, get_parameters_shape(masked)))
        else:
            for v in neighbours[nid] - {nid}:
                key = generate_shared_key(bytes_to_private_key(secret), bytes_to_public_key(pks[v][0]))
                pair = pseudo_rand_gen(key, mod_range, get_parameters_shape(masked))
                masked = (parameters_addition(masked, pair) if nid > v else parameters_subtraction(masked, pair))
    masked = parameters_mod(masked, mod_range)
    factor, rest = factor_extract(masked)
    t_server += time.process_time() - start
    if int(factor) != (len(active) * target_range) % mod_range:
        raise RuntimeError(f"Flower SecAgg+: weight factor {factor} != {len(active)} x {target_range}")
    return FlowerSecAggPlusResult(np.asarray(rest[0], dtype=np.int64), tuple(sorted(c - 1 for c in active)),
                                  {c - 1: s for c, s in secs.items()}, {c - 1: b for c, b in sent.items()}, t_server)
