"""SecAgg+: secure aggregation on a sparse random graph (Bell, Bonawitz, Gascón, Lepoint, Raykova,
"Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020, ePrint 2020/704).

Bonawitz et al. (:mod:`ppml_lab.fl.secagg`) have every client agree a pair mask with, and Shamir-share its
secrets to, all n - 1 others: O(n) work and bytes per client. Bell et al. replace the complete graph by a
k-regular graph with k = O(log n) (their abstract and construction): client u masks only with its
neighbours N(u) and shares b_u and s_u^SK t-of-(k + 1) among its closed neighbourhood N[u] = N(u) + {u}.
Pair masks still cancel edge by edge, so the masked sum over U3 is still sum_u x_u + sum_u PRG(b_u) plus
the dangling pair masks of dropped clients, and the unmasking of :func:`masks.remove_masks` is unchanged.

The graph is a Harary graph H_{k,n} (the circulant C_n(1..k/2)) laid over a pseudo-random permutation of
the client ids, the same family Flower's ``SecAggPlusWorkflow`` uses (``flwr`` 1.42,
``server/workflow/secure_aggregation/secaggplus_workflow.py``). A node's k neighbours are then a uniformly
random k-subset of the other clients, which gives the hypergeometric bounds of
:func:`neighbourhood_risk`; H_{k,n} is k-connected, and after removing a set S the rest stays connected
unless S holds two runs of >= k/2 consecutive ring positions (:func:`disconnection_bound`).

What is reused from the Bonawitz package, unchanged: the PRG, HKDF key derivation, masking and unmasking
(:mod:`~ppml_lab.fl.secagg.masks`), X25519 agreement, AES-GCM share channels and share bundles, signed
Round-0 keys, session binding (:mod:`~ppml_lab.fl.secagg.client`, :mod:`~ppml_lab.fl.secagg.messages`),
Shamir sharing over GF(2^31 - 1) (:mod:`ppml_lab.mpc`) and answer-once unmasking.

What changes, and why (hardened level; there is no raw SecAgg+ level):

* the graph is derived by every client from the session id and U1 (never sent by the server), so a server
  cannot hand a victim a neighbourhood of its accomplices; it can only re-sample the graph by changing the
  session or U1 (grinding), which multiplies :func:`neighbourhood_risk` by the number of tries.
* the ConsistencyCheck is local: u signs its *view* U3 ∩ N[u] (O(k) ids, not U3), and reveals anything
  about a neighbour v only when the request carries >= t valid signatures from members of N[v] whose views
  agree with u's own verdict on v. Each honest client signs one view, so two contradictory verdicts on v
  both reach t only if 2t > k + 1 + c_v fails, c_v being the colluders in N[v]. A global signature on U3
  would cost O(n) per client and undo the point of the graph.
* the threshold t is relative to the neighbourhood (k + 1 parties), not to n.

Threat model: an actively malicious server colluding with c clients, PKI trusted (as in the hardened
Bonawitz level). The threshold must satisfy 2t > k + 2: otherwise a server withholds from victim v the
share messages of all but t - 1 neighbours R (so v masks with R only), declares R dropped consistently, and
the k + 2 - t >= t remaining members of N[v] attest "v survived": it gets b_v and every s_r^SK, hence x_v
(test ``test_reduced_peer_set_then_consistent_dropout_is_refused``). An honest client's input stays hidden
in the sum provided, for every honest v, c_v < 2t - (k + 2) -- which implies c_v < t (secrecy of the
shares) and that contradictory views of v cannot both gather t signatures -- and the honest survivors'
subgraph is connected; both hold except with the probabilities bounded by
:func:`neighbourhood_risk` and :func:`disconnection_bound`. Bell et al. prove security for the
semi-honest and semi-malicious settings (abstract); the signed views above are this package's extension of
Bonawitz's active-server checks to the sparse graph, tested by attack tests, not a proof.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_int
from ppml_lab.exceptions import AuthenticationError, DropoutThresholdError, ProtocolError, UnmaskRefusedError
from ppml_lab.fl.secagg import masks
from ppml_lab.fl.secagg.client import (
    SecAggClient,
    ShareBundle,
    _new_key,
    _private_bytes,
    agree,
    public_bytes,
    share_aad,
)
from ppml_lab.fl.secagg.messages import (
    AdvertiseKeys,
    ConsistencySignature,
    MaskedInput,
    SigningPKI,
    UnmaskResponse,
    advertise_payload,
    consistency_payload,
    make_identities,
    new_session_id,
)
from ppml_lab.fl.secagg.protocol import SecAggResult, _check_dropouts, _check_inputs
from ppml_lab.fl.secagg.server import SecAggServer, reconstruct_secret
from ppml_lab.mpc.sharing import shamir_share

__all__ = [
    "NeighbourGraph",
    "PlusUnmaskRequest",
    "SecAggPlusClient",
    "SecAggPlusServer",
    "default_threshold",
    "degree_for_risk",
    "disconnection_bound",
    "graph_seed",
    "harary_graph",
    "make_plus_round",
    "neighbourhood_risk",
    "recommended_degree",
    "DEFAULT_COLLUDING_FRACTION",
    "DEFAULT_MAX_RISK",
    "secaggplus_aggregate",
]


#: Default assumption for choosing the graph degree: up to 5 % of the clients collude with the server, and the
#: chance that some neighbourhood holds too many of them stays below 2^-40 (the package's statistical bar).
DEFAULT_COLLUDING_FRACTION = 0.05
DEFAULT_MAX_RISK = 2.0**-40


# --- the graph (pure) ---------------------------------------------------------------------------------
def recommended_degree(n_clients: int) -> int:
    """k = 2 * ceil(log2 n) (even, so H_{k,n} is regular), capped at n - 1 (then the graph is complete).

    O(log n) as in Bell et al.; the constant 2 is this package's choice -- check the resulting risk with
    :func:`neighbourhood_risk` for your n and number of colluders.
    """
    n = check_int("n_clients", n_clients, low=2)
    return min(2 * math.ceil(math.log2(n)), n - 1)


def default_threshold(degree: int) -> int:
    """t = ceil(2 (k + 1) / 3): tolerates about (k + 1) / 3 drop-outs and (k + 1) / 3 - 1 colluders per neighbourhood."""
    k = check_int("degree", degree, low=1)
    return max(math.ceil(2 * (k + 1) / 3), (k + 2) // 2 + 1)  # and at least 2t > k + 2


def _check_degree(degree: Any, n: int) -> int:
    k = check_int("degree", degree, low=2, high=n - 1) if n > 2 else check_int("degree", degree, low=1, high=1)
    if k != n - 1 and k % 2:
        raise ValueError(f"degree must be even (H_(k,n) links k/2 ring neighbours each side) or n - 1 = {n - 1} "
                         f"(complete graph), got {k}")
    return k


def _effective_degree(degree: int, n1: int) -> int:
    """k on U1: the requested degree, capped at |U1| - 1 and kept even unless the graph is complete."""
    k = min(degree, n1 - 1)
    return k - 1 if (k != n1 - 1 and k % 2) else k


def _check_plus_threshold(threshold: Any, degree: int) -> int:
    low = (degree + 2) // 2 + 1  # 2t > k + 2: see the reduced-peer-set attack in the module docstring
    t = check_int("threshold", threshold, low=1)
    if not low <= t <= degree + 1:
        raise ValueError(f"threshold must satisfy 2t > k + 2 = {degree + 2} and t <= k + 1 for degree k = {degree}: "
                         f"between {low} and {degree + 1}, got {t}")
    return t


def graph_seed(session: bytes, u1: Iterable[int]) -> bytes:
    """SHA-256(tag || session || sorted U1): public, computed by every client and by the server alike."""
    ids = sorted(int(v) for v in u1)
    return hashlib.sha256(b"ppml-lab secagg+ graph" + bytes(session)
                          + struct.pack(f"<{len(ids) + 1}q", len(ids), *ids)).digest()


@dataclass(frozen=True)
class NeighbourGraph:
    """H_{k,n} over a permutation of the ids: u ~ v iff their ring positions are within k/2 of each other."""

    order: tuple[int, ...]  # the ids in ring order
    degree: int
    position: Mapping[int, int] = field(repr=False, compare=False)

    @classmethod
    def build(cls, ids: Iterable[int], *, degree: int, seed: bytes) -> NeighbourGraph:
        ids = sorted({int(v) for v in ids})
        if len(ids) < 2:
            raise ValueError(f"ids must name at least 2 clients, got {len(ids)}")
        k = _check_degree(degree, len(ids))
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {seed!r:.40}")
        # a public permutation: the seed is public, so a seeded (non-crypto) generator is the right tool here
        perm = np.random.Generator(np.random.PCG64(int.from_bytes(bytes(seed), "little"))).permutation(len(ids))
        order = tuple(ids[i] for i in perm)
        return cls(order, k, {v: i for i, v in enumerate(order)})

    def neighbours(self, u: int) -> frozenset[int]:
        """N(u): the k clients within k/2 ring positions of u (all others when k = n - 1)."""
        n, i = len(self.order), self.position[int(u)]
        if self.degree >= n - 1:
            return frozenset(v for v in self.order if v != u)
        h = self.degree // 2
        return frozenset(self.order[(i + o) % n] for o in range(-h, h + 1) if o)

    def closed(self, u: int) -> frozenset[int]:
        """N[u] = N(u) + {u}: the k + 1 holders of u's shares."""
        return self.neighbours(u) | {int(u)}

    def as_dict(self) -> dict[int, frozenset[int]]:
        return {u: self.neighbours(u) for u in self.order}


def harary_graph(ids: Iterable[int], *, degree: int, seed: bytes) -> dict[int, frozenset[int]]:
    """{u: N(u)} for H_{degree,n} over the permutation drawn from ``seed`` (pure)."""
    return NeighbourGraph.build(ids, degree=degree, seed=seed).as_dict()


def _log_hypergeom_pmf(x: int, population: int, successes: int, draws: int) -> float:
    return (math.lgamma(successes + 1) - math.lgamma(x + 1) - math.lgamma(successes - x + 1)
            + math.lgamma(population - successes + 1) - math.lgamma(draws - x + 1)
            - math.lgamma(population - successes - draws + x + 1)
            - (math.lgamma(population + 1) - math.lgamma(draws + 1) - math.lgamma(population - draws + 1)))


def neighbourhood_risk(n_clients: int, *, degree: int, threshold: int, colluders: int) -> float:
    """Union bound on Pr[some honest client v has c_v >= 2t - (k + 2) colluding neighbours].

    N(v) is a uniform k-subset of the other n - 1 clients (random permutation), so c_v is
    Hypergeometric(n - 1, c, k). At c_v >= 2t - (k + 2) the reduced-peer-set attack goes through (the
    server withholds from v the shares of t - 1 - c_v honest neighbours R, declares R dropped, and still
    finds t members of N[v] attesting "v survived"); the same bound covers two contradictory views of v
    both gathering t signatures (c_v >= 2t - k - 1) and c_v >= t (colluders alone rebuild b_v, s_v^SK).
    Returns min(1, (n - c) * Pr[c_v >= 2t - k - 2]).
    """
    n = check_int("n_clients", n_clients, low=2)
    k = _check_degree(degree, n)
    t = _check_plus_threshold(threshold, k)
    c = check_int("colluders", colluders, low=0, high=n - 1)
    bad = 2 * t - (k + 2)
    tail = sum(math.exp(_log_hypergeom_pmf(x, n - 1, c, k)) for x in range(max(bad, 0), min(c, k) + 1)
               if k - x <= n - 1 - c)
    return min(1.0, (n - c) * tail)


def degree_for_risk(n_clients: int, *, colluders: int, max_risk: float = 2.0**-40) -> int:
    """The smallest admissible k (with :func:`default_threshold`) whose :func:`neighbourhood_risk` <= max_risk.

    The cost-oriented default :func:`recommended_degree` (2 ceil(log2 n)) is NOT enough against a
    constant fraction of colluders: at n = 1,000 with 50 colluders its risk bound is about 2e-2. Bell et
    al. report the same effect: with 10^4 clients, 5% corrupt and 5% drop-outs, each client talks to about
    3% of the others (abstract). Returns n - 1 (complete graph) when no smaller degree reaches max_risk.
    """
    n = check_int("n_clients", n_clients, low=2)
    c = check_int("colluders", colluders, low=0, high=n - 1)
    if not (isinstance(max_risk, float) and 0.0 < max_risk < 1.0):
        raise ValueError(f"max_risk must be a float in (0, 1), got {max_risk!r}")
    for k in range(2, n - 1, 2):
        if neighbourhood_risk(n, degree=k, threshold=min(default_threshold(k), k + 1), colluders=c) <= max_risk:
            return k
    return n - 1


def disconnection_bound(n_clients: int, *, degree: int, removed: int) -> float:
    """Union bound on Pr[the graph minus a uniformly random set of ``removed`` clients is disconnected].

    ``removed``: colluders (the server knows their pair masks) plus drop-outs. The circulant C_n(1..k/2)
    minus S is disconnected iff S holds two disjoint runs of >= k/2 consecutive ring positions, so
    Pr <= C(n, 2) * C(n - k, m - k) / C(n, m) for m = |S| (two given disjoint windows of k/2 all removed).
    """
    n = check_int("n_clients", n_clients, low=2)
    k = _check_degree(degree, n)
    m = check_int("removed", removed, low=0, high=n)
    if k >= n - 1:
        return 0.0  # the complete graph minus S is complete
    if m < k:
        return 0.0  # H_{k,n} is k-connected (Harary 1962)
    log_p = (math.lgamma(n - k + 1) - math.lgamma(m - k + 1) - math.lgamma(n - m + 1)
             - (math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)))
    return min(1.0, n * (n - 1) / 2 * math.exp(log_p))


# --- messages ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlusUnmaskRequest:
    """Round 4 request of SecAgg+: every signed view {w: U3 ∩ N[w]} and its signature."""

    session: bytes = field(repr=False)
    round_id: int
    views: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    signatures: Mapping[int, bytes] = field(default_factory=dict, repr=False)


# --- client --------------------------------------------------------------------------------------------
class SecAggPlusClient(SecAggClient):
    """A SecAgg+ client: Bonawitz's hardened client restricted to its neighbourhood in H_{k,n}.

    Inherits key generation, Round 0 (signed keys), the share channels, Round 2 masking (pair masks with
    the peers in U2, which here are neighbours only) and the answer-once bookkeeping of
    :class:`~ppml_lab.fl.secagg.client.SecAggClient`. ``repr`` hides secrets.
    """

    level = "secagg+"

    def __init__(self, client_id: int, x: Any, *, degree: int, threshold: int, session: bytes, round_id: int = 0,
                 signing_key: Ed25519PrivateKey | None = None, pki: SigningPKI | None = None,
                 rng: RNGLike = None, insecure_seeded_keys: bool = False) -> None:
        if isinstance(client_id, bool) or not isinstance(client_id, (int, np.integer)) or client_id < 0:
            raise TypeError(f"client_id must be a non-negative integer, got {client_id!r}")
        arr = np.asarray(x)
        if arr.dtype != np.uint64 or arr.ndim != 1 or arr.size == 0:
            raise TypeError(f"x must be a non-empty 1-D uint64 vector (Z_2^64), got dtype {arr.dtype}, shape {arr.shape}")
        if not isinstance(session, (bytes, bytearray)) or len(session) != masks.SESSION_BYTES:
            raise ValueError(f"session must be {masks.SESSION_BYTES} bytes, got {session!r:.40}")
        if not isinstance(signing_key, Ed25519PrivateKey):
            raise TypeError(f"signing_key must be this client's Ed25519PrivateKey (its PKI identity), got {type(signing_key).__name__}")
        if not isinstance(pki, SigningPKI):
            raise TypeError(f"pki must be a SigningPKI, got {type(pki).__name__}")
        if int(client_id) not in pki:
            raise ValueError(f"client {client_id} is not in the PKI")
        self.id = int(client_id)
        self._x = arr  # not copied (1,000 in-process clients x 10^5 values); do not modify x before masked_input
        self.degree = _check_degree(degree, max(len(pki), 2))
        self.threshold = _check_plus_threshold(threshold, self.degree)
        self.session = bytes(session)
        self.round_id = check_int("round_id", round_id, low=0)
        self._signing_key, self.pki = signing_key, pki
        self._rng = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
        self._insecure_seeded_keys = insecure_seeded_keys
        self._c_sk = _new_key(self._rng)  # (c_u^PK, c_u^SK): encrypts shares to neighbours
        self._s_sk = _new_key(self._rng)  # (s_u^PK, s_u^SK): agrees pair-mask seeds with neighbours
        self._b = self._rng.bytes(masks.KEY_BYTES)  # self-mask seed b_u
        self._peer_pks: dict[int, tuple[bytes, bytes]] = {}
        self._received: dict[int, ShareBundle] = {}
        self._channel_keys: dict[int, bytes] = {}
        self._u1: list[int] = []
        self._u2: list[int] = []
        self._signed_u3: tuple[int, ...] | None = None  # here: the signed view U3 ∩ N[u]
        self._answered = False
        self._revealed: dict[int, str] = {}
        self.graph: NeighbourGraph | None = None
        self.bytes_sent = 0
        self.bytes_received = 0

    # Round 1 -------------------------------------------------------------------------------------
    def share_keys(self, advertised: Mapping[int, AdvertiseKeys], u1: Sequence[int] = ()) -> dict[int, bytes]:
        """Derive H_{k,n} from (session, U1); verify the neighbours' signed keys; share to N[u] only."""
        if self._u1:
            raise ProtocolError(f"client {self.id}: ShareKeys already answered this round; refusing to share again")
        ids = sorted({int(v) for v in u1})
        if self.id not in ids:
            raise AuthenticationError(f"client {self.id}: U1 omits this client; refused")
        if len(ids) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(ids)} clients in U1, threshold is {self.threshold}")
        k = _effective_degree(self.degree, len(ids))
        if k + 1 < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: {len(ids)} clients in U1 leave neighbourhoods of {k + 1}, "
                                        f"threshold is {self.threshold}")
        self.graph = NeighbourGraph.build(ids, degree=k, seed=graph_seed(self.session, ids))  # my own graph
        mine = self.graph.neighbours(self.id)
        if set(advertised) != mine | {self.id}:
            # the server may not choose my neighbours: they follow from the public seed
            raise AuthenticationError(f"client {self.id}: the server sent keys of {sorted(advertised)}, but my "
                                      f"neighbourhood in H_(k,n) is {sorted(mine | {self.id})}; refused")
        self.bytes_received += sum(m.nbytes for m in advertised.values()) + 8 * len(ids)
        for v, msg in advertised.items():
            if not isinstance(msg, AdvertiseKeys) or msg.sender != v:
                raise ProtocolError(f"client {self.id}: the keys listed for client {v} are not client {v}'s message")
            self._check_session(msg.session, msg.round_id, f"the AdvertiseKeys message of client {v}")
            if len(msg.c_pk) != masks.PK_BYTES or len(msg.s_pk) != masks.PK_BYTES:
                raise ProtocolError(f"client {self.id}: malformed public keys from client {v}")
            # SIG.ver(d_v^PK, c_v^PK || s_v^PK, sigma_v) for every neighbour v, else abort
            self.pki.verify(v, msg.signature, advertise_payload(msg.session, msg.round_id, v, msg.c_pk, msg.s_pk))  # type: ignore[union-attr]
        own = advertised[self.id]
        if (own.c_pk, own.s_pk) != (self.advertise_keys_bytes()):
            raise AuthenticationError(f"client {self.id}: the server's key list alters this client's own keys; refused")
        for v, msg in advertised.items():
            self._peer_pks[v] = (msg.c_pk, msg.s_pk)
        holders = sorted(mine | {self.id})  # N[u], k + 1 parties; point i + 1 for the i-th
        m = len(holders)
        # [s_u^SK] and [b_u]: t-of-(k + 1) Shamir sharings over GF(2^31 - 1) among N[u]
        sk_sh = shamir_share(masks.secret_to_elements(_private_bytes(self._s_sk)), threshold=self.threshold,
                             n_shares=m, rng=self._rng, insecure_seeded_keys=self._insecure_seeded_keys)
        b_sh = shamir_share(masks.secret_to_elements(self._b), threshold=self.threshold, n_shares=m, rng=self._rng,
                            insecure_seeded_keys=self._insecure_seeded_keys)
        out: dict[int, bytes] = {}
        for p, v in enumerate(holders, start=1):
            bundle = ShareBundle(self.id, v, p, m, self.threshold, sk_sh[0].sharing_id, b_sh[0].sharing_id,
                                 sk_sh[p - 1].value, b_sh[p - 1].value)
            if v == self.id:
                self._received[v] = bundle
                continue
            nonce = self._rng.bytes(12)
            out[v] = nonce + AESGCM(self._channel_key(v)).encrypt(nonce, bundle.to_bytes(),
                                                                  share_aad(self.session, self.round_id, self.id, v))
        self._u1 = holders
        self.bytes_sent += sum(len(c) for c in out.values())
        return out

    def advertise_keys_bytes(self) -> tuple[bytes, bytes]:
        return public_bytes(self._c_sk.public_key()), public_bytes(self._s_sk.public_key())

    # Round 2: inherited masked_input (pair masks with the neighbours in U2 only; U2 subset of N[u])

    # Round 3 -------------------------------------------------------------------------------------
    def consistency_check(self, view: Sequence[int]) -> ConsistencySignature:
        """Sign the view U3 ∩ N[u] the server shows me, once per round (local ConsistencyCheck)."""
        s = self._admit_signature(view, "view")  # the same checks as Bonawitz's U3
        self._signed_u3 = s
        sig = self._signing_key.sign(consistency_payload(self.session, self.round_id, self.id, s))  # type: ignore[union-attr]
        self.bytes_sent += len(sig)
        return ConsistencySignature(self.session, self.round_id, self.id, s, sig)

    # Round 4 -------------------------------------------------------------------------------------
    def unmask(self, request: PlusUnmaskRequest) -> UnmaskResponse:  # type: ignore[override]
        """Reveal b_v (v in my view) or s_v^SK (v in U2 \\ view) for v in my U2 -- once, and only for a verdict
        on v that >= t members of N[v] signed (their signed views agree with mine on v)."""
        mine = self._admit_unmask(request, PlusUnmaskRequest)  # type, session, answer-once, signed view: as Bonawitz
        if self.graph is None or self.pki is None:
            raise ProtocolError(f"client {self.id}: unmask before share_keys built the neighbour graph")
        valid: dict[int, tuple[int, ...] | None] = {}

        def attested(w: int) -> tuple[int, ...] | None:
            if w not in valid:
                view = request.views.get(w)
                ok = view is not None and self.pki.is_valid(  # type: ignore[union-attr]
                    w, request.signatures.get(w), consistency_payload(self.session, self.round_id, w, tuple(view)))
                valid[w] = tuple(view) if ok else None  # type: ignore[arg-type]
            return valid[w]

        for v in self._u2:
            verdict = v in mine
            agree_count = 0
            for w in sorted(self.graph.closed(v)):  # >= t signers of N[v] must share my verdict on v
                view = attested(w)
                if view is not None and (v in view) == verdict:
                    agree_count += 1
                    if agree_count >= self.threshold:
                        break
            if agree_count < self.threshold:
                raise UnmaskRefusedError(f"client {self.id}: only {agree_count} signed views of N[{v}] say client {v} "
                                         f"{'survived' if verdict else 'dropped'}, threshold is {self.threshold}; refused")
        survivors, dropped = set(mine), set(self._u2) - set(mine)
        self._check_not_both(dropped, survivors)
        self._answered = True
        return self._reveal(dropped, survivors)


# --- server --------------------------------------------------------------------------------------------
class SecAggPlusServer(SecAggServer):
    """The SecAgg+ server: routes each client only its neighbours' keys and shares; unmasks per neighbourhood."""

    level = "secagg+"

    def __init__(self, *, degree: int, threshold: int, length: int, session: bytes, round_id: int = 0,
                 pki: SigningPKI | None = None) -> None:
        super().__init__(threshold=threshold, length=length, session=session, round_id=round_id, pki=pki)
        self.degree = check_int("degree", degree, low=1)
        self.graph: NeighbourGraph | None = None
        self.views: dict[int, tuple[int, ...]] = {}
        self.masked_total = np.zeros(self.length, dtype=np.uint64)

    def collect_masked(self, messages: Iterable[MaskedInput]) -> list[int]:
        """Add each y_u to a running sum as it arrives (the server needs only sum_u y_u); the senders form U3."""
        total = np.zeros(self.length, dtype=np.uint64)
        u3: set[int] = set()
        u2 = set(self.u2)
        for msg in messages:
            self._check(msg, MaskedInput, "a masked input")
            if len(msg.y) != 8 * self.length:
                raise ProtocolError(f"masked input of client {msg.sender} has {len(msg.y)} bytes, expected {8 * self.length}")
            if msg.sender not in u2 or msg.sender in u3:
                raise ProtocolError(f"masked input from client {msg.sender}, which is not in U2 or sent twice")
            total += msg.vector  # sum_u y_u  (mod 2^64)
            u3.add(msg.sender)
        self._need(u3, "masked_input")
        self.u3 = sorted(u3)
        self.masked_total = total
        return list(self.u3)

    def collect_keys(self, messages: Iterable[AdvertiseKeys]) -> dict[int, AdvertiseKeys]:
        keys = super().collect_keys(messages)
        ids = sorted(keys)
        k = _effective_degree(self.degree, len(ids))
        if k + 1 < self.threshold:
            raise DropoutThresholdError(f"{len(ids)} clients in U1 leave neighbourhoods of {k + 1}, threshold is {self.threshold}")
        self.graph = NeighbourGraph.build(ids, degree=k, seed=graph_seed(self.session, ids))
        return keys

    def keys_for(self, u: int) -> dict[int, AdvertiseKeys]:
        """What u receives in Round 1: the signed keys of N[u] (and U1's ids)."""
        if self.graph is None:  # an invariant of the level, checked even under python -O
            raise ProtocolError("graph is not set: this step came out of protocol order")
        return {v: self.keys[v] for v in self.graph.closed(u)}

    @property
    def u1(self) -> list[int]:
        return sorted(self.keys)

    def view_for(self, u: int) -> list[int]:
        """U3 ∩ N[u]: what u is asked to sign in the local ConsistencyCheck."""
        if self.graph is None:  # an invariant of the level, checked even under python -O
            raise ProtocolError("graph is not set: this step came out of protocol order")
        return sorted(set(self.u3) & self.graph.closed(u))

    def collect_signatures(self, messages: Iterable[ConsistencySignature]) -> dict[int, bytes]:
        sigs: dict[int, bytes] = {}
        for msg in messages:
            self._check(msg, ConsistencySignature, "a ConsistencyCheck signature")
            view = tuple(self.view_for(msg.sender))
            if tuple(msg.u3) != view:
                raise ProtocolError(f"client {msg.sender} signed the view {list(msg.u3)}, not the {list(view)} sent")
            if self.pki is not None:
                self.pki.verify(msg.sender, msg.signature, consistency_payload(self.session, self.round_id, msg.sender, view))
            sigs[msg.sender] = msg.signature
            self.views[msg.sender] = view
        self._need(sigs, "consistency")
        self.signatures = sigs
        return dict(sigs)

    def unmask_request(self) -> PlusUnmaskRequest:  # type: ignore[override]
        return PlusUnmaskRequest(self.session, self.round_id, dict(self.views), dict(self.signatures))

    def unmask(self, responses: Mapping[int, UnmaskResponse]) -> np.ndarray:
        """sum_{u in U3} x_u = sum y_u - sum PRG(b_u) - dangling pair masks (mod 2^64); shares come from N[v]."""
        if self.graph is None:  # an invariant of the level, checked even under python -O
            raise ProtocolError("graph is not set: this step came out of protocol order")
        for w, r in responses.items():
            self._check(r, UnmaskResponse, f"the unmask response of client {w}")

        def shares(kind: str, v: int) -> list[Any]:
            out = []
            for w in sorted(self.graph.closed(v) & set(responses)):  # type: ignore[union-attr]
                table = responses[w].b_shares if kind == "b" else responses[w].sk_shares
                if v in table:
                    out.append(table[v])
            return out

        total = self.masked_total  # sum_{u in U3} y_u  (mod 2^64)
        self_seeds = {u: reconstruct_secret(shares("b", u), threshold=self.threshold, what=f"b_{u}") for u in self.u3}
        dangling: dict[tuple[int, int], bytes] = {}
        u3 = set(self.u3)
        for v in (v for v in self.u2 if v not in u3):
            s_v_sk = reconstruct_secret(shares("sk", v), threshold=self.threshold, what=f"s_{v}^SK")
            for u in sorted(self.graph.neighbours(v) & u3):  # only neighbours ever held a pair mask with v
                dangling[(u, v)] = agree(s_v_sk, self.keys[u].s_pk)  # s_uv = KA(s_v^SK, s_u^PK)
        return masks.remove_masks(total, self_seeds=self_seeds, dangling=dangling,
                                  session=self.session, round_id=self.round_id)


# --- one round in-process ------------------------------------------------------------------------------
def make_plus_round(inputs: Mapping[int, np.ndarray], *, degree: int, threshold: int, round_id: int = 0,
                    rng: RNGLike = None, insecure_seeded_keys: bool = False
                    ) -> tuple[dict[int, SecAggPlusClient], SecAggPlusServer]:
    """Clients and server for one SecAgg+ session: a fresh session id, PKI identities, fresh keys."""
    rng = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    session = new_session_id(rng, insecure_seeded_keys=insecure_seeded_keys)
    length = int(np.asarray(next(iter(inputs.values()))).size)
    keys, pki = make_identities(inputs, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
    clients = {cid: SecAggPlusClient(cid, x, degree=degree, threshold=threshold, session=session, round_id=round_id,
                                     signing_key=keys[cid], pki=pki, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
               for cid, x in inputs.items()}
    server = SecAggPlusServer(degree=degree, threshold=threshold, length=length, session=session, round_id=round_id,
                              pki=pki)
    return clients, server


def secaggplus_aggregate(
    inputs: Mapping[int, Any] | Sequence[Any],
    *,
    degree: int | None = None,
    threshold: int | None = None,
    dropouts: Mapping[str, Iterable[int]] | None = None,
    rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
    colluding_fraction: float = DEFAULT_COLLUDING_FRACTION,
    max_risk: float = DEFAULT_MAX_RISK,
) -> SecAggResult:
    """One SecAgg+ round over uint64 vectors (Z_2^64); same contract as :func:`protocol.secure_aggregate`.

    ``degree``: k, even or n - 1. Secure by default: :func:`degree_for_risk` picks the smallest k whose
    neighbourhood-compromise bound stays <= ``max_risk`` (2^-40) when ``colluding_fraction`` of the clients
    (5 %) collude with the server. The cheaper :func:`recommended_degree` (2 ceil(log2 n), Flower's choice)
    must be asked for explicitly: at n = 1,000 with 5 % colluders its bound is about 0.25. ``threshold``: shares needed per
    neighbourhood, a strict majority of k + 1 (default :func:`default_threshold`). ``dropouts``: {phase:
    client ids}, phases as in :data:`ppml_lab.fl.secagg.protocol.PHASES`. Raises DropoutThresholdError when a
    survivor's neighbourhood (or a dropped client's) keeps fewer than t responders: never a wrong sum.
    """
    start = time.perf_counter()
    vectors = _check_inputs(inputs)
    n = len(vectors)
    if not (isinstance(colluding_fraction, (int, float)) and 0.0 <= colluding_fraction < 0.5):
        raise ValueError(f"colluding_fraction must be a number in [0, 0.5), got {colluding_fraction!r}")
    k = (degree_for_risk(n, colluders=min(math.ceil(colluding_fraction * n), n - 1), max_risk=max_risk)
         if degree is None else _check_degree(degree, n))
    t = default_threshold(k) if threshold is None else _check_plus_threshold(threshold, k)
    t = min(t, k + 1)
    drops = _check_dropouts(dropouts, list(vectors))
    clients, server = make_plus_round(vectors, degree=k, threshold=t, rng=rng, insecure_seeded_keys=insecure_seeded_keys)

    alive = set(clients)
    server.collect_keys([clients[u].advertise_keys() for u in sorted(alive)])  # Round 0
    alive -= drops["advertise"]
    u1 = server.u1
    outboxes = {u: clients[u].share_keys(server.keys_for(u), u1) for u in sorted(alive)}  # Round 1
    alive -= drops["share_keys"]
    inbox = server.route_shares(outboxes)
    u3 = server.collect_masked(clients[u].masked_input(inbox[u]) for u in sorted(alive) if u in inbox)  # Round 2, streamed
    alive -= drops["masked_input"]
    server.collect_signatures([clients[u].consistency_check(server.view_for(u)) for u in sorted(alive) if u in u3])
    alive -= drops["unmask"]
    request = server.unmask_request()
    total = server.unmask({u: clients[u].unmask(request) for u in sorted(alive) if u in u3})  # Round 4
    return SecAggResult(
        total=total,
        included=tuple(u3),
        dropped={p: tuple(sorted(s)) for p, s in drops.items()},
        bytes_sent_per_client={u: c.bytes_sent for u, c in clients.items()},
        plaintext_bytes=8 * int(server.length),
        seconds=time.perf_counter() - start,
        level="secagg+",
    )

