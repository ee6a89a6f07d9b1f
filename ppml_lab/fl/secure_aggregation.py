"""Secure aggregation: the server learns the sum of the clients' vectors and nothing else.

The masking protocol of Bonawitz, Ivanov, Kreuter, Marcedone, McMahan, Patel, Ramage, Segal & Seth,
"Practical Secure Aggregation for Privacy-Preserving Machine Learning", CCS 2017 (ePrint 2017/281),
Fig. 4, honest-but-curious variant (no ConsistencyCheck round, no signatures):

* Round 0, AdvertiseKeys: client u makes two X25519 key pairs, (c_u^PK, c_u^SK) to encrypt messages to
  other clients and (s_u^PK, s_u^SK) to agree mask seeds, and sends both public keys.
* Round 1, ShareKeys: u draws a self-mask seed b_u, Shamir-shares s_u^SK and b_u t-of-n, and sends each
  other client v its two shares, encrypted (AES-GCM) under KA(c_u^SK, c_v^PK), through the server.
* Round 2, MaskedInputCollection: u sends y_u = x_u + PRG(b_u) + sum_{v != u} Delta_uv PRG(s_uv)
  (mod 2^64), with s_uv = KA(s_u^SK, s_v^PK) and Delta_uv = +1 if u < v, -1 if u > v, so pair masks cancel
  in the sum.
* Round 4, Unmasking: each surviving client sends, for every client that dropped before round 2 ended,
  its share of that client's s^SK (so the server can recompute and remove the dangling pair masks), and
  for every client whose y arrived, its share of b (so the server can remove the self-masks). A client
  never reveals both shares for the same peer; that is what keeps a late (slow, not dropped) client's x
  hidden.

Any t clients complete the protocol, whichever drop out at whichever phase; with fewer than t at any
phase it fails with :class:`~ppml_lab.exceptions.DropoutThresholdError` — it never returns a wrong sum.
Threat model: honest-but-curious server and clients; the server together with fewer than t clients
learns only the sum of the survivors' inputs (Bonawitz et al., Thm 6.2 for t > n/2 in this setting).
An actively malicious server that lies about who dropped needs the ConsistencyCheck round and
signatures (Sec. 6.3 of the paper), not implemented here.

Real-valued updates are encoded in fixed point in Z_2^64 (:class:`ppml_lab.mpc.fixed_point.FixedPoint`),
so the sum is exact in the ring and equal to the sum of the encoded inputs.

For the cost comparison, :class:`PaillierAggregator` and :class:`CKKSAggregator` aggregate the same
updates with the package's homomorphic-encryption modules, under a different trust model: a key holder,
distinct from the server, decrypts only the aggregate.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ppml_lab._rng import RNGLike, SecureGenerator, resolve_rng
from ppml_lab._validation import check_array, check_int
from ppml_lab.exceptions import DropoutThresholdError, PrecisionError, ProtocolError
from ppml_lab.mpc.fixed_point import FixedPoint
from ppml_lab.mpc.sharing import DEFAULT_PRIME, Share, lagrange_coefficients, shamir_share

__all__ = [
    "PHASES",
    "SecAggResult",
    "SecAggClient",
    "SecAggServer",
    "secure_aggregate",
    "secure_aggregate_floats",
    "secure_fedavg_aggregate",
    "minimum_threshold",
    "prg_mask",
    "AggregationResult",
    "MaskingAggregator",
    "PaillierAggregator",
    "CKKSAggregator",
    "PlaintextAggregator",
]

#: Phases after which a client can drop out (it sent that phase's message, then vanished).
PHASES = ("advertise", "share_keys", "masked_input", "unmask")
_KEY_BYTES = 32
_CHUNKS = _KEY_BYTES // 2  # a 32-byte secret is shared as 16 uint16 elements over GF(2^31 - 1)
_PK_BYTES = 32
_AEAD_OVERHEAD = 12 + 16  # nonce + tag


def minimum_threshold(n_clients: int) -> int:
    """The smallest threshold this implementation accepts: a strict majority, floor(n/2) + 1."""
    return check_int("n_clients", n_clients, low=2) // 2 + 1


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=info).derive(secret)


def prg_mask(seed: bytes, length: int) -> np.ndarray:
    """PRG(seed): AES-256 in counter mode from a zero IV, read as ``length`` uint64 values (Z_2^64)."""
    if len(seed) != _KEY_BYTES:
        raise ValueError(f"seed must be {_KEY_BYTES} bytes, got {len(seed)}")
    enc = Cipher(algorithms.AES(seed), modes.CTR(b"\x00" * 16)).encryptor()
    return np.frombuffer(enc.update(b"\x00" * (8 * length)) + enc.finalize(), dtype=np.uint64).copy()


def _pk_bytes(pk: X25519PublicKey) -> bytes:
    return pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _new_key(rng: Any) -> X25519PrivateKey:
    if isinstance(rng, SecureGenerator):
        return X25519PrivateKey.generate()  # OS CSPRNG
    return X25519PrivateKey.from_private_bytes(rng.bytes(_KEY_BYTES))  # seeded: teaching only


def _secret_to_elements(secret: bytes) -> np.ndarray:
    return np.frombuffer(secret, dtype=np.uint16).astype(np.int64)


def _elements_to_secret(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.uint64).astype(np.uint16).tobytes()


@dataclass(frozen=True)
class _ShareBundle:
    """What client u sends client v in ShareKeys (encrypted end to end through the server)."""

    sender: int
    receiver: int
    sk_sharing_id: int
    b_sharing_id: int
    point: int
    sk_share: np.ndarray = field(repr=False)
    b_share: np.ndarray = field(repr=False)

    _HEADER = struct.Struct("<qqQQq")

    def to_bytes(self) -> bytes:
        head = self._HEADER.pack(self.sender, self.receiver, self.sk_sharing_id, self.b_sharing_id, self.point)
        body = np.asarray(self.sk_share, dtype=np.uint32).tobytes() + np.asarray(self.b_share, dtype=np.uint32).tobytes()
        return head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> _ShareBundle:
        h = cls._HEADER.size
        if len(data) != h + 8 * _CHUNKS:
            raise ProtocolError(f"malformed share bundle: expected {h + 8 * _CHUNKS} bytes, got {len(data)}")
        sender, receiver, sk_id, b_id, point = cls._HEADER.unpack(data[:h])
        vals = np.frombuffer(data[h:], dtype=np.uint32).astype(np.uint64)
        return cls(sender, receiver, sk_id, b_id, point, vals[:_CHUNKS], vals[_CHUNKS:])


class SecAggClient:
    """One client of the protocol. Holds its input and secrets; ``repr`` shows neither."""

    def __init__(self, client_id: int, x: np.ndarray, *, threshold: int, rng: Any) -> None:
        self.id = client_id
        self._x = np.asarray(x, dtype=np.uint64)
        self.threshold = threshold
        self._rng = rng
        self._c_sk = _new_key(rng)  # encryption key pair
        self._s_sk = _new_key(rng)  # mask-agreement key pair
        self._b = rng.bytes(_KEY_BYTES)  # self-mask seed b_u
        self._peer_pks: dict[int, tuple[bytes, bytes]] = {}
        self._received: dict[int, _ShareBundle] = {}
        self._channel_keys: dict[int, bytes] = {}
        self._u2: list[int] = []
        self.bytes_sent = 0
        self.bytes_received = 0

    def __repr__(self) -> str:
        return f"SecAggClient(id={self.id}, length={self._x.size}, secrets=<hidden>)"

    # Round 0
    def advertise_keys(self) -> bytes:
        msg = _pk_bytes(self._c_sk.public_key()) + _pk_bytes(self._s_sk.public_key())
        self.bytes_sent += len(msg)
        return msg

    def _channel_key(self, peer: int) -> bytes:
        if peer not in self._channel_keys:
            c_pk = X25519PublicKey.from_public_bytes(self._peer_pks[peer][0])
            lo, hi = sorted((self.id, peer))
            self._channel_keys[peer] = _hkdf(self._c_sk.exchange(c_pk), b"ppml-lab secagg channel %d-%d" % (lo, hi))
        return self._channel_keys[peer]

    # Round 1
    def share_keys(self, public_keys: Mapping[int, bytes]) -> dict[int, bytes]:
        """Receive every client's public keys (U1); return encrypted share bundles, one per peer."""
        self.bytes_received += sum(len(v) for v in public_keys.values())
        u1 = sorted(public_keys)
        if len(u1) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(u1)} clients advertised keys, threshold is {self.threshold}")
        for v, raw in public_keys.items():
            if len(raw) != 2 * _PK_BYTES:
                raise ProtocolError(f"client {self.id}: malformed public keys from client {v}")
            self._peer_pks[v] = (raw[:_PK_BYTES], raw[_PK_BYTES:])
        points = {v: i + 1 for i, v in enumerate(u1)}
        s_secret = self._s_sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
        # [s_u^SK] and [b_u]: t-of-|U1| Shamir sharings, point i+1 for the i-th client of U1 (Fig. 4, Round 1)
        sk_shares = shamir_share(_secret_to_elements(s_secret), threshold=self.threshold, n_shares=len(u1), rng=self._rng)
        b_shares = shamir_share(_secret_to_elements(self._b), threshold=self.threshold, n_shares=len(u1), rng=self._rng)
        out: dict[int, bytes] = {}
        for v in u1:
            bundle = _ShareBundle(self.id, v, sk_shares[0].sharing_id, b_shares[0].sharing_id, points[v],
                                  sk_shares[points[v] - 1].value, b_shares[points[v] - 1].value)
            if v == self.id:
                self._received[v] = bundle  # my own shares stay with me
                continue
            nonce = self._rng.bytes(12)
            out[v] = nonce + AESGCM(self._channel_key(v)).encrypt(nonce, bundle.to_bytes(), b"share_keys")
        self._points = points
        self._n1 = len(u1)
        self.bytes_sent += sum(len(c) for c in out.values())
        return out

    # Round 2
    def masked_input(self, ciphertexts: Mapping[int, bytes]) -> bytes:
        """Receive the bundles addressed to me (senders form U2); return y_u."""
        self.bytes_received += sum(len(c) for c in ciphertexts.values())
        for v, ct in ciphertexts.items():
            if v not in self._peer_pks or len(ct) < _AEAD_OVERHEAD:
                raise ProtocolError(f"client {self.id}: malformed share message from client {v}")
            try:
                plain = AESGCM(self._channel_key(v)).decrypt(ct[:12], ct[12:], b"share_keys")
            except InvalidTag:
                raise ProtocolError(f"client {self.id}: share message from client {v} failed authentication") from None
            bundle = _ShareBundle.from_bytes(plain)
            if (bundle.sender, bundle.receiver) != (v, self.id):
                raise ProtocolError(f"client {self.id}: share bundle from {v} is addressed {bundle.sender}->{bundle.receiver}")
            self._received[v] = bundle
        self._u2 = sorted(set(ciphertexts) | {self.id})
        if len(self._u2) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(self._u2)} clients shared keys, threshold is {self.threshold}")
        y = self._x + prg_mask(_hkdf(self._b, b"ppml-lab secagg self-mask"), self._x.size)  # x_u + PRG(b_u)
        for v in self._u2:
            if v == self.id:
                continue
            s_uv = self._s_sk.exchange(X25519PublicKey.from_public_bytes(self._peer_pks[v][1]))
            lo, hi = sorted((self.id, v))
            mask = prg_mask(_hkdf(s_uv, b"ppml-lab secagg pair %d-%d" % (lo, hi)), self._x.size)
            y = y + mask if self.id < v else y - mask  # + Delta_uv PRG(s_uv), Delta = +1 iff u < v  (mod 2^64)
        msg = y.tobytes()
        self.bytes_sent += len(msg)
        return msg

    # Round 4
    def unmask(self, dropped: Iterable[int], survivors: Iterable[int]) -> dict[str, dict[int, np.ndarray]]:
        """Reveal shares of s^SK for ``dropped`` (U2 minus U3) and of b for ``survivors`` (U3), never both."""
        d, s = set(dropped), set(survivors)
        if d & s:
            raise ProtocolError(f"client {self.id}: asked for both shares of clients {sorted(d & s)}; refusing")
        if not d | s <= set(self._u2):
            raise ProtocolError(f"client {self.id}: asked about clients {sorted((d | s) - set(self._u2))} outside U2")
        if len(s) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(s)} masked inputs arrived, threshold is {self.threshold}")
        out = {
            "sk": {v: self._received[v].sk_share for v in d},
            "b": {v: self._received[v].b_share for v in s},
        }
        self.bytes_sent += (len(d) + len(s)) * (4 * _CHUNKS + 8)  # uint32 elements + peer id per share
        return out

    def share_meta(self, v: int) -> tuple[int, int, int]:
        b = self._received[v]
        return b.point, b.sk_sharing_id, b.b_sharing_id


@dataclass(frozen=True)
class SecAggResult:
    """Outcome of one round of secure aggregation."""

    total: np.ndarray = field(repr=False)  # sum over the clients whose masked input arrived (mod 2^64)
    included: tuple[int, ...]  # U3: the clients in the sum
    dropped: dict[str, tuple[int, ...]]  # who dropped after which phase
    bytes_sent_per_client: dict[int, int] = field(repr=False)
    plaintext_bytes: int = 0
    seconds: float = 0.0

    @property
    def mean_bytes_sent(self) -> float:
        return float(np.mean(list(self.bytes_sent_per_client.values())))

    @property
    def expansion(self) -> float:
        """Bytes a client sends over the bytes of its plaintext vector (Bonawitz et al. report 1.73x-1.98x)."""
        return self.mean_bytes_sent / self.plaintext_bytes


class SecAggServer:
    """The aggregation server: relays messages, tracks who dropped, and unmasks the sum."""

    def __init__(self, *, threshold: int, length: int) -> None:
        self.threshold = threshold
        self.length = length

    def _need(self, alive: Sequence[int], phase: str) -> None:
        if len(alive) < self.threshold:
            raise DropoutThresholdError(
                f"only {len(alive)} clients remain after the {phase} phase, threshold is {self.threshold}: "
                "the round is aborted and nothing is revealed (never a wrong sum)"
            )

    def collect_keys(self, messages: Sequence[tuple[int, bytes]]) -> dict[int, bytes]:
        """AdvertiseKeys as it arrives on the wire: (client id, c_PK || s_PK) pairs, checked for replays."""
        pks: dict[int, bytes] = {}
        seen_keys: dict[bytes, int] = {}
        for cid, msg in messages:
            if len(msg) != 2 * _PK_BYTES:
                raise ProtocolError(f"malformed AdvertiseKeys message from client {cid}: {len(msg)} bytes")
            if cid in pks:
                raise ProtocolError(f"client id {cid} advertised keys twice (duplicate or replayed id); round aborted")
            for half in (msg[:_PK_BYTES], msg[_PK_BYTES:]):
                if half in seen_keys:
                    raise ProtocolError(
                        f"client {cid} advertised a public key already used by client {seen_keys[half]} "
                        "(replayed keys); round aborted")
                seen_keys[half] = cid
            pks[cid] = msg
        self._need(list(pks), "advertise")
        self.pks = pks
        return self.pks

    def route_shares(self, messages: Mapping[int, Mapping[int, bytes]]) -> dict[int, dict[int, bytes]]:
        self._need(list(messages), "share_keys")
        self.u2 = sorted(messages)
        inbox: dict[int, dict[int, bytes]] = {v: {} for v in self.u2}
        for u, per_peer in messages.items():
            for v, ct in per_peer.items():
                if v in inbox:
                    inbox[v][u] = ct
        return inbox

    def collect_masked(self, messages: Mapping[int, bytes]) -> list[int]:
        for cid, msg in messages.items():
            if len(msg) != 8 * self.length:
                raise ProtocolError(f"masked input of client {cid} has {len(msg)} bytes, expected {8 * self.length}")
        self._need(list(messages), "masked_input")
        self.u3 = sorted(messages)
        self.ys = {u: np.frombuffer(m, dtype=np.uint64) for u, m in messages.items()}
        return self.u3

    def unmask(self, responses: Mapping[int, Mapping[str, Mapping[int, np.ndarray]]],
               meta: Mapping[int, Mapping[int, tuple[int, int, int]]]) -> np.ndarray:
        self._need(list(responses), "unmask")
        n1 = len(self.pks)
        dropped = [v for v in self.u2 if v not in self.u3]
        total = np.zeros(self.length, dtype=np.uint64)
        for u in self.u3:
            total += self.ys[u]  # sum_u y_u  (mod 2^64)
        responders = sorted(responses)
        b_all = self._reconstruct(responses, meta, responders, self.u3, "b", n1)
        for b_v in b_all:
            total -= prg_mask(_hkdf(b_v, b"ppml-lab secagg self-mask"), self.length)  # remove PRG(b_v)
        sk_all = self._reconstruct(responses, meta, responders, dropped, "sk", n1) if dropped else []
        for v, sk_bytes in zip(dropped, sk_all):
            s_sk = X25519PrivateKey.from_private_bytes(sk_bytes)
            for u in self.u3:
                s_uv = s_sk.exchange(X25519PublicKey.from_public_bytes(self.pks[u][_PK_BYTES:]))
                lo, hi = sorted((u, v))
                mask = prg_mask(_hkdf(s_uv, b"ppml-lab secagg pair %d-%d" % (lo, hi)), self.length)
                # u added Delta_uv PRG(s_uv) for the dropped v: subtract it
                total = total - mask if u < v else total + mask
        return total

    def _reconstruct(self, responses: Any, meta: Any, responders: list[int], targets: Sequence[int],
                     kind: str, n1: int) -> list[bytes]:
        """Shamir reconstruction of many secrets shared to the same responders, in one vectorised pass.

        Checks every share as :func:`shamir_reconstruct` would (one sharing per target, right point),
        then x_v = sum_w lambda_w y_{w,v} mod p with the Lagrange weights of the responders' points.
        """
        shares = [[self._share(responses, meta, w, v, kind, n1) for v in targets] for w in responders]
        for j, v in enumerate(targets):
            ids = {row[j].sharing_id for row in shares}
            if len(ids) != 1:
                raise ProtocolError(f"the {kind} shares of client {v} come from different sharings")
        points = [row[0].index for row in shares]
        p = DEFAULT_PRIME
        lam = np.asarray(lagrange_coefficients(points, prime=p), dtype=np.uint64).reshape(-1, 1, 1)
        values = np.stack([np.stack([s.value for s in row]) for row in shares])  # (responders, targets, chunks)
        secrets_ = ((lam * values) % np.uint64(p)).sum(axis=0) % np.uint64(p)  # f(0) = sum_w lambda_w f(x_w)
        if np.any(secrets_ >= 2**16):
            raise ProtocolError(f"reconstructed {kind} secret is out of range: a share was corrupted")
        return [_elements_to_secret(row) for row in secrets_]

    def _share(self, responses: Any, meta: Any, w: int, v: int, kind: str, n1: int) -> Share:
        try:
            value = np.asarray(responses[w][kind][v], dtype=np.uint64)
        except KeyError:
            raise ProtocolError(f"client {w} did not send its {kind} share of client {v}") from None
        if value.shape != (_CHUNKS,) or np.any(value >= DEFAULT_PRIME):
            raise ProtocolError(f"client {w} sent a malformed {kind} share of client {v}")
        point, sk_id, b_id = meta[w][v]
        return Share("shamir", point, value, DEFAULT_PRIME, n1, self.threshold, sk_id if kind == "sk" else b_id)


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


def secure_aggregate(
    inputs: Mapping[int, Any] | Sequence[Any],
    *,
    threshold: int | None = None,
    dropouts: Mapping[str, Iterable[int]] | None = None,
    rng: RNGLike = None,
) -> SecAggResult:
    """Run one round of the masking protocol over integer vectors in Z_2^64.

    ``inputs``: {client_id: uint64 vector} (or a list, ids 0..n-1). ``threshold``: clients needed at every
    phase (default and minimum: a strict majority). ``dropouts``: {phase: client ids} — each listed client
    sends that phase's message and then disappears (``"advertise"`` means it never sends shares).
    Returns the exact sum over the clients whose masked input arrived.
    """
    start = time.perf_counter()
    items = dict(enumerate(inputs)) if not isinstance(inputs, Mapping) else dict(inputs)
    if len(items) < 2:
        raise ValueError(f"inputs must come from at least 2 clients, got {len(items)}")
    ids = list(items)
    if len(set(ids)) != len(ids):
        raise ValueError(f"client ids must be unique, got {ids}")
    for cid in ids:
        if isinstance(cid, bool) or not isinstance(cid, (int, np.integer)) or cid < 0:
            raise TypeError(f"client ids must be non-negative integers, got {cid!r}")
    vectors = {}
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
    n = len(vectors)
    t = minimum_threshold(n) if threshold is None else check_int("threshold", threshold, low=1)
    if t > n:
        raise ValueError(f"threshold must be <= the number of clients ({n}), got {t}")
    if t < minimum_threshold(n):
        raise ValueError(f"threshold must be a strict majority of the {n} clients (>= {minimum_threshold(n)}), got {t}")
    drops = _check_dropouts(dropouts, list(vectors))
    g = resolve_rng(rng)
    clients = {cid: SecAggClient(cid, x, threshold=t, rng=g) for cid, x in vectors.items()}
    server = SecAggServer(threshold=t, length=int(length))

    alive = set(clients)
    pks = server.collect_keys([(u, clients[u].advertise_keys()) for u in sorted(alive)])
    alive -= drops["advertise"]
    # the server forwards all of U1's keys (Fig. 4); a client that vanished now simply sends no shares
    share_msgs = {u: clients[u].share_keys(pks) for u in sorted(alive)}
    alive -= drops["share_keys"]
    inbox = server.route_shares(share_msgs)
    masked = {u: clients[u].masked_input(inbox[u]) for u in sorted(alive) if u in inbox}
    alive -= drops["masked_input"]
    u3 = server.collect_masked(masked)
    dropped_before_input = [v for v in server.u2 if v not in u3]
    alive -= drops["unmask"]  # these vanish before answering
    responses = {u: clients[u].unmask(dropped_before_input, u3) for u in sorted(alive)}
    meta = {u: {v: clients[u].share_meta(v) for v in server.u2} for u in responses}
    total = server.unmask(responses, meta)
    return SecAggResult(
        total=total,
        included=tuple(u3),
        dropped={p: tuple(sorted(s)) for p, s in drops.items()},
        bytes_sent_per_client={u: c.bytes_sent for u, c in clients.items()},
        plaintext_bytes=8 * int(length),
        seconds=time.perf_counter() - start,
    )


def secure_aggregate_floats(
    updates: Mapping[int, Any] | Sequence[Any],
    *,
    threshold: int | None = None,
    dropouts: Mapping[str, Iterable[int]] | None = None,
    fixed_point: FixedPoint | None = None,
    rng: RNGLike = None,
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
    result = secure_aggregate(encoded, threshold=threshold, dropouts=dropouts, rng=rng)
    return fp.decode(result.total), result


def secure_fedavg_aggregate(
    updates: Sequence[Sequence[np.ndarray]],
    weights: Sequence[float],
    *,
    threshold: int | None = None,
    rng: RNGLike = None,
) -> list[np.ndarray]:
    """FedAvg's weighted mean sum_k (n_k / n) w_k, with the sum computed by secure aggregation.

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
    shapes = [np.shape(a) for a in updates[0]]
    flat = [np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in u]) * f for u, f in zip(updates, frac)]
    total, _ = secure_aggregate_floats(flat, threshold=threshold, rng=rng)
    out, i = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(total[i : i + size].reshape(shape))
        i += size
    return out


# ------------------------------------------------------------------------------------------------
# The same job under other techniques, for the cost comparison
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AggregationResult:
    """Sum of float updates plus its cost: seconds (all parties, one process) and bytes per client."""

    method: str
    total: np.ndarray = field(repr=False)
    seconds: float
    bytes_per_client: float
    plaintext_bytes: int
    trust: str

    @property
    def expansion(self) -> float:
        return self.bytes_per_client / self.plaintext_bytes


class PlaintextAggregator:
    """The limit: clients send their float64 vectors in the clear; the server adds them."""

    method = "plaintext"
    trust = "the server sees every update"

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        total = np.sum(np.stack([np.asarray(u, dtype=np.float64) for u in updates]), axis=0)
        size = int(np.asarray(updates[0]).size)
        return AggregationResult(self.method, total, time.perf_counter() - start, 8.0 * size, 8 * size, self.trust)


class MaskingAggregator:
    """Bonawitz et al. masking (this module), float updates via fixed point."""

    method = "masking (Bonawitz et al.)"
    trust = "no single party sees an update; t colluding clients + server could"

    def __init__(self, *, threshold: int | None = None, rng: RNGLike = None) -> None:
        self.threshold, self.rng = threshold, rng

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        total, res = secure_aggregate_floats(list(updates), threshold=self.threshold, rng=self.rng)
        size = int(np.asarray(updates[0]).size)
        return AggregationResult(self.method, total, time.perf_counter() - start, res.mean_bytes_sent, 8 * size, self.trust)


class PaillierAggregator:
    """Clients encrypt under a key holder's Paillier public key; the server multiplies ciphertexts.

    Uses :mod:`ppml_lab.he.paillier` with packing (many bounded values per plaintext, headroom for the
    number of clients). Trust: the key holder must not collude with the server.
    """

    method = "Paillier (packed)"
    trust = "a key holder, separate from the server, decrypts only the sum"

    def __init__(self, *, key_bits: int = 2048, bound: float = 8.0, precision: int = 20, rng: RNGLike = None,
                 allow_insecure: bool = False) -> None:
        from ppml_lab.he import paillier

        self._p = paillier
        self.public_key, self._private_key = paillier.generate_paillier_keypair(
            key_bits=key_bits, rng=rng, allow_insecure=allow_insecure)
        self.bound, self.precision, self.rng = bound, precision, rng

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        p = self._p
        start = time.perf_counter()
        scheme = p.packing_scheme(self.public_key, bound=self.bound, max_additions=len(updates), precision=self.precision)
        cts = [p.encrypt_packed(self.public_key, np.asarray(u, dtype=np.float64), scheme, rng=self.rng) for u in updates]
        acc = cts[0]
        for c in cts[1:]:
            acc = acc + c  # Enc(a) Enc(b) mod n^2 = Enc(a + b), slot by slot
        total = np.asarray(self._private_key.decrypt_packed(acc), dtype=np.float64)
        size = int(np.asarray(updates[0]).size)
        nbytes = cts[0].n_ciphertexts * 2 * self.public_key.key_bits / 8  # each ciphertext lives mod n^2
        return AggregationResult(self.method, total, time.perf_counter() - start, nbytes, 8 * size, self.trust)


class CKKSAggregator:
    """Clients encrypt under a public CKKS context; the server adds ciphertexts; the key owner decrypts."""

    method = "CKKS (TenSEAL)"
    trust = "a key holder, separate from the server, decrypts only the sum; approximate arithmetic"

    def __init__(self, *, preset: str = "depth1-n4096") -> None:
        from ppml_lab.he import ckks

        self._ckks = ckks
        self.owner = ckks.CKKSContext(ckks.preset(preset))
        self.public = self.owner.make_public(galois_keys=False)

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        slots = self.public.params.slots
        size = int(np.asarray(updates[0]).size)
        chunks = [slice(i, min(i + slots, size)) for i in range(0, size, slots)]
        # each client encrypts its update in ceil(size / slots) ciphertexts
        cts = [[self.public.encrypt(np.asarray(u, dtype=np.float64)[c]) for c in chunks] for u in updates]
        sums = cts[0]
        for client in cts[1:]:
            sums = [a + b for a, b in zip(sums, client)]  # ciphertext addition, no level used
        total = np.concatenate([
            self.owner.load_vector(s.serialize(), c.stop - c.start).decrypt() for s, c in zip(sums, chunks)
        ])
        nbytes = float(sum(ct.nbytes for ct in cts[0]))
        return AggregationResult(self.method, total, time.perf_counter() - start, nbytes, 8 * size, self.trust)
