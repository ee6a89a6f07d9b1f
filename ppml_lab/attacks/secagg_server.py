"""Deviating secure-aggregation servers: how an active server breaks the honest-but-curious protocol.

Each function plays the server of one round against real :mod:`ppml_lab.fl.secagg` clients, deviating
from the protocol, and returns the victim's input x_v if it recovered it. It uses only what a server
sees: the messages clients send it and its own keys — never a client's internal state. Against the raw
level (Bonawitz et al., CCS 2017, ePrint 2017/281: Fig. 4 without its active-adversary parts,
honest-but-curious) each attack succeeds; against the default hardened level (Fig. 4 with its
active-adversary parts, Sec. 6: signed keys under a PKI, ConsistencyCheck, answer-once unmasking) the
clients refuse and the client's exception propagates.

* :func:`ask_twice_attack` — unmasking has no memory: request 1 collects the victim's b_v shares
  ("it survived"), request 2 its s_v^SK shares ("it dropped"). Refused by answer-once + ConsistencyCheck.
* :func:`false_dropout_attack` — one request per client, but the victim is shown a reduced peer set R in
  Round 2 and each other client a survivor set tailored so that, together, they reveal b_v and every
  s_r^SK (r in R). Refused by the ConsistencyCheck: no tailored set gathers t signatures.
* :func:`key_swap_attack` — the server replaces the victim's view of its peers' public keys by its own
  (unauthenticated Round 0), decrypts the victim's b_v shares and knows every pair mask. Refused by
  signature verification under the PKI.
* :func:`late_input_attack` — *allowed* by both levels: the server treats the victim as dropped after its
  y_v arrived (a "late" client) and legitimately learns s_v^SK. What protects x_v is the self mask b_v,
  which is then never revealed; the function returns what the server can compute, y_v minus the pair
  masks = x_v + PRG(b_v), which must look uniform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.fl.secagg import masks
from ppml_lab.fl.secagg.client import (
    SecAggClient,
    ShareBundle,
    _new_key,
    agree,
    channel_key,
    public_bytes,
    share_aad,
)
from ppml_lab.fl.secagg.messages import AdvertiseKeys, UnmaskRequest, UnmaskResponse
from ppml_lab.fl.secagg.protocol import _check_inputs, _check_level, make_round
from ppml_lab.fl.secagg.server import SecAggServer, reconstruct_secret

__all__ = ["ask_twice_attack", "false_dropout_attack", "key_swap_attack", "late_input_attack"]


def _setup(inputs: Any, victim: int, threshold: int | None, level: str, rng: RNGLike,
           insecure_seeded_keys: bool) -> tuple[dict[int, SecAggClient], SecAggServer]:
    _check_level(level)
    vectors = _check_inputs(inputs)
    if victim not in vectors:
        raise ValueError(f"victim must be one of the client ids {sorted(vectors)}, got {victim!r}")
    t = masks.minimum_threshold(len(vectors)) if threshold is None else threshold
    return make_round(vectors, threshold=t, level=level, rng=rng, insecure_seeded_keys=insecure_seeded_keys)


def _strip(y_v: np.ndarray, *, victim: int, b_v: bytes | None, pair_secrets: Mapping[int, bytes],
           server: SecAggServer) -> np.ndarray:
    """y_v - PRG(b_v) - sum_w Delta_vw PRG(s_vw): x_v when every mask is known."""
    self_seeds = {victim: b_v} if b_v is not None else {}
    return masks.remove_masks(y_v, self_seeds=self_seeds, dangling={(victim, w): s for w, s in pair_secrets.items()},
                              session=server.session, round_id=server.round_id)


def _shares(responses: Mapping[int, UnmaskResponse], kind: str, target: int) -> list[Any]:
    table = [(r.b_shares if kind == "b" else r.sk_shares) for r in responses.values()]
    return [t[target] for t in table if target in t]


def _request(server: SecAggServer, *, u3: Sequence[int], signatures: Mapping[int, bytes], dropped: Sequence[int],
             survivors: Sequence[int]) -> UnmaskRequest:
    return UnmaskRequest(server.session, server.round_id, tuple(sorted(u3)), dict(signatures),
                         tuple(sorted(dropped)), tuple(sorted(survivors)))


def _honest_rounds_0_to_2(clients: Mapping[int, SecAggClient], server: SecAggServer) -> dict[int, AdvertiseKeys]:
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    server.collect_masked([clients[u].masked_input(inbox[u]) for u in sorted(clients)])
    return keys


def ask_twice_attack(inputs: Any, *, victim: int, threshold: int | None = None, level: str = "hardened",
                     rng: RNGLike = None, insecure_seeded_keys: bool = False) -> np.ndarray:
    """Issue #2 of the review: ask for b_v ("v survived"), then again for s_v^SK ("v dropped")."""
    clients, server = _setup(inputs, victim, threshold, level, rng, insecure_seeded_keys)
    keys = _honest_rounds_0_to_2(clients, server)
    u3 = list(server.u3)
    others = [u for u in u3 if u != victim]
    if server.hardened:
        server.collect_signatures([clients[u].consistency_check(u3) for u in u3])
    first = server.unmask_request()  # the honest request: b shares of everyone in U3
    r1 = {u: clients[u].unmask(first) for u in others}
    b_v = reconstruct_secret(_shares(r1, "b", victim), threshold=server.threshold, what=f"b_{victim}")
    # the lie: "the victim dropped" — a second request for its key shares
    second = _request(server, u3=others, signatures=server.signatures, dropped=[victim], survivors=others)
    r2 = {u: clients[u].unmask(second) for u in others}
    s_v = reconstruct_secret(_shares(r2, "sk", victim), threshold=server.threshold, what=f"s_{victim}^SK")
    pairs = {w: agree(s_v, keys[w].s_pk) for w in server.u2 if w != victim}  # s_vw = KA(s_v^SK, s_w^PK)
    return _strip(server.ys[victim], victim=victim, b_v=b_v, pair_secrets=pairs, server=server)


def false_dropout_attack(inputs: Any, *, victim: int, threshold: int | None = None, level: str = "hardened",
                         rng: RNGLike = None, insecure_seeded_keys: bool = False) -> np.ndarray:
    """Reduced peer set for the victim + tailored drop-out reports, one unmask request per client.

    Needs n + 1 >= 2t and t >= 3 (e.g. n = 5, t = 3): R = t - 1 peers are all the victim sees in Round 2;
    H = the other n - t clients are told "R dropped" (revealing s_r^SK shares and b_v), each r in R is
    told "R \\ {r} dropped" (revealing the remaining s_r'^SK shares).
    """
    clients, server = _setup(inputs, victim, threshold, level, rng, insecure_seeded_keys)
    t = server.threshold
    others = sorted(u for u in clients if u != victim)
    if len(clients) + 1 < 2 * t or t < 3:
        raise ValueError(f"false_dropout_attack needs n + 1 >= 2t and t >= 3, got n={len(clients)}, t={t}")
    reduced, rest = others[: t - 1], others[t - 1 :]
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    inbox[victim] = {r: inbox[victim][r] for r in reduced}  # the victim sees only R: its U2 = {v} + R
    server.collect_masked([clients[u].masked_input(inbox[u]) for u in sorted(clients)])
    plan: dict[int, tuple[list[int], list[int]]] = {}  # client -> (dropped, survivors) it is told
    for h in rest:
        plan[h] = (reduced, [victim, *rest])
    for r in reduced:
        plan[r] = ([q for q in reduced if q != r], [victim, r, *rest])
    signatures: dict[tuple[int, ...], dict[int, bytes]] = {}
    if server.hardened:
        for u, (_, surv) in plan.items():
            sig = clients[u].consistency_check(surv)
            signatures.setdefault(sig.u3, {})[u] = sig.signature
    responses = {}
    for u, (drop, surv) in plan.items():
        key = tuple(sorted(surv))
        responses[u] = clients[u].unmask(_request(server, u3=key, signatures=signatures.get(key, {}),
                                                  dropped=drop, survivors=surv))
    b_v = reconstruct_secret(_shares(responses, "b", victim), threshold=server.threshold, what=f"b_{victim}")
    pairs = {}
    for r in reduced:
        s_r = reconstruct_secret(_shares(responses, "sk", r), threshold=server.threshold, what=f"s_{r}^SK")
        pairs[r] = agree(s_r, keys[victim].s_pk)  # s_vr = KA(s_r^SK, s_v^PK)
    return _strip(server.ys[victim], victim=victim, b_v=b_v, pair_secrets=pairs, server=server)


def key_swap_attack(inputs: Any, *, victim: int, threshold: int | None = None, level: str = "hardened",
                    rng: RNGLike = None, insecure_seeded_keys: bool = False) -> np.ndarray:
    """Show the victim server-made public keys for every peer; read its shares; know its pair masks."""
    clients, server = _setup(inputs, victim, threshold, level, rng, insecure_seeded_keys)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    g = key_rng(None)
    fake = {w: (_new_key(g), _new_key(g)) for w in keys if w != victim}  # the server's own (c, s) key pairs
    view = dict(keys)
    for w, (c_sk, s_sk) in fake.items():
        m = keys[w]
        # same sender, session and (now invalid) signature; the keys are the server's
        view[w] = AdvertiseKeys(m.session, m.round_id, w, public_bytes(c_sk.public_key()),
                                public_bytes(s_sk.public_key()), m.signature)
    out = clients[victim].share_keys(view)  # hardened: AuthenticationError here
    v_c_pk, v_s_pk = keys[victim].c_pk, keys[victim].s_pk
    chans = {w: channel_key(agree(c_sk, v_c_pk), victim, w, session=server.session, round_id=server.round_id)
             for w, (c_sk, _) in fake.items()}
    b_shares = []
    for w, ct in out.items():
        plain = AESGCM(chans[w]).decrypt(ct[:12], ct[12:], share_aad(server.session, server.round_id, victim, w))
        b_shares.append(ShareBundle.from_bytes(plain).share("b"))
    b_v = reconstruct_secret(b_shares, threshold=server.threshold, what=f"b_{victim}")
    # forge well-formed bundles "from" the fake peers so the victim goes on to Round 2
    forged = {}
    for w in fake:
        junk = ShareBundle(w, victim, 1, len(view), server.threshold, 1, 1, np.zeros(masks.CHUNKS, np.uint64),
                           np.zeros(masks.CHUNKS, np.uint64))
        nonce = g.bytes(12)
        forged[w] = nonce + AESGCM(chans[w]).encrypt(nonce, junk.to_bytes(), share_aad(server.session, server.round_id, w, victim))
    y_v = clients[victim].masked_input(forged).vector
    pairs = {w: agree(s_sk, v_s_pk) for w, (_, s_sk) in fake.items()}  # s_vw = KA(fake s_w^SK, s_v^PK)
    return _strip(y_v, victim=victim, b_v=b_v, pair_secrets=pairs, server=server)


def late_input_attack(inputs: Any, *, victim: int, threshold: int | None = None, level: str = "hardened",
                      rng: RNGLike = None, insecure_seeded_keys: bool = False) -> np.ndarray:
    """Treat the victim as dropped after its y_v arrived; return y_v minus every pair mask (= x_v + PRG(b_v)).

    This deviation is consistent (every other client signs the same U3), so both levels answer; the
    self mask is what keeps x_v hidden. Returns what the server learns about x_v.
    """
    clients, server = _setup(inputs, victim, threshold, level, rng, insecure_seeded_keys)
    keys = _honest_rounds_0_to_2(clients, server)
    y_v = server.ys[victim]
    others = [u for u in server.u3 if u != victim]
    server.u3 = others  # "the victim's masked input arrived too late"
    if server.hardened:
        server.collect_signatures([clients[u].consistency_check(others) for u in others])
    request = server.unmask_request()
    responses = {u: clients[u].unmask(request) for u in others}
    s_v = reconstruct_secret(_shares(responses, "sk", victim), threshold=server.threshold, what=f"s_{victim}^SK")
    pairs = {w: agree(s_v, keys[w].s_pk) for w in server.u2 if w != victim}
    return _strip(y_v, victim=victim, b_v=None, pair_secrets=pairs, server=server)
