"""A secure-aggregation client (Bonawitz et al., CCS 2017, ePrint 2017/281).

Two levels, as python-paillier keeps ``raw_encrypt`` beside ``encrypt``:

* :class:`SecAggClient` (the default, "hardened"): the version secure against an *active* server
  (Fig. 4 with the parts it marks for the active-adversary model; Sec. 6). Round 0 keys are signed under
  a PKI of client signing keys and verified by every peer; Round 3 (ConsistencyCheck) has each client
  sign the survivor set U3 it was shown, and a client unmasks only for the set it signed and only when
  the server shows >= t valid signatures from members of U3 on that same set. Unmasking is answer-once:
  per session and round a client reveals, for each peer, either its share of b_v (v survived) or its
  share of s_v^SK (v dropped), never both, and refuses any second request with
  :class:`~ppml_lab.exceptions.UnmaskRefusedError`.
* :class:`RawSecAggClient` (teaching): the honest-but-curious protocol (Fig. 4 without its
  active-adversary parts) — unsigned keys, no ConsistencyCheck, the server names who dropped, and no
  memory across unmask requests. It refuses only to reveal both shares of a peer *within one* request.
  ``ppml_lab.attacks.secagg_server`` breaks it three ways; notebook 09 shows each.

Threat model (hardened): an actively malicious server, with the PKI trusted and at most c clients
colluding with it, learns nothing beyond the sum of >= t inputs provided t > (n + c) / 2 (two sets each
signed by t clients then share an honest signer, who signs only one). Clients are trusted to keep their
own secrets; robustness against clients sending corrupt shares is out of scope (the round fails).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ppml_lab._rng import RNGLike, SecureGenerator, key_rng
from ppml_lab._validation import check_int
from ppml_lab.exceptions import AuthenticationError, DropoutThresholdError, ProtocolError, UnmaskRefusedError
from ppml_lab.fl.secagg import masks
from ppml_lab.fl.secagg.messages import (
    AdvertiseKeys,
    ConsistencySignature,
    MaskedInput,
    SigningPKI,
    UnmaskRequest,
    UnmaskResponse,
    advertise_payload,
    consistency_payload,
)
from ppml_lab.mpc.sharing import DEFAULT_PRIME, Share, shamir_share

__all__ = ["SecAggClient", "RawSecAggClient", "ShareBundle", "agree", "channel_key", "public_bytes", "share_aad"]

_AEAD_OVERHEAD = 12 + 16  # nonce + tag


def public_bytes(pk: X25519PublicKey) -> bytes:
    return pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _private_bytes(sk: X25519PrivateKey) -> bytes:
    return sk.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def agree(secret_key: bytes | X25519PrivateKey, public_key: bytes) -> bytes:
    """KA.agree: X25519 Diffie-Hellman between a secret key and a peer's public key (Sec. 3.4)."""
    sk = secret_key if isinstance(secret_key, X25519PrivateKey) else X25519PrivateKey.from_private_bytes(secret_key)
    return sk.exchange(X25519PublicKey.from_public_bytes(public_key))


def _new_key(g: Any) -> X25519PrivateKey:
    if isinstance(g, SecureGenerator):
        return X25519PrivateKey.generate()  # OS CSPRNG
    return X25519PrivateKey.from_private_bytes(g.bytes(masks.KEY_BYTES))  # seeded: insecure, teaching only


def share_aad(session: bytes, round_id: int, sender: int, receiver: int) -> bytes:
    """Associated data of a ShareKeys ciphertext: binds it to the session, round, sender and receiver."""
    return b"ppml-lab secagg share_keys" + bytes(session) + struct.pack("<qqq", round_id, sender, receiver)


def channel_key(shared: bytes, u: int, v: int, *, session: bytes, round_id: int) -> bytes:
    """AES-GCM key of the u-v channel from KA(c_u^SK, c_v^PK) (Fig. 4, Round 1: "encrypt ... to v")."""
    lo, hi = sorted((int(u), int(v)))
    return masks.derive_key(shared, purpose=b"ppml-lab secagg channel %d-%d" % (lo, hi), session=session,
                            round_id=round_id)


@dataclass(frozen=True)
class ShareBundle:
    """What u sends v in ShareKeys, encrypted end to end: v's point on the sharings of s_u^SK and b_u."""

    sender: int
    receiver: int
    point: int
    n_shares: int
    threshold: int
    sk_sharing_id: int
    b_sharing_id: int
    sk_share: np.ndarray = field(repr=False)
    b_share: np.ndarray = field(repr=False)

    _HEADER = struct.Struct("<qqqqqQQ")

    def to_bytes(self) -> bytes:
        head = self._HEADER.pack(self.sender, self.receiver, self.point, self.n_shares, self.threshold,
                                 self.sk_sharing_id, self.b_sharing_id)
        return head + np.asarray(self.sk_share, np.uint32).tobytes() + np.asarray(self.b_share, np.uint32).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> ShareBundle:
        h = cls._HEADER.size
        if len(data) != h + 8 * masks.CHUNKS:
            raise ProtocolError(f"malformed share bundle: expected {h + 8 * masks.CHUNKS} bytes, got {len(data)}")
        vals = np.frombuffer(data[h:], dtype=np.uint32).astype(np.uint64)
        sender, receiver, point, n_shares, threshold, sk_id, b_id = cls._HEADER.unpack(data[:h])
        return cls(sender, receiver, point, n_shares, threshold, sk_id, b_id, vals[: masks.CHUNKS], vals[masks.CHUNKS :])

    def share(self, kind: str) -> Share:
        value, sid = (self.sk_share, self.sk_sharing_id) if kind == "sk" else (self.b_share, self.b_sharing_id)
        return Share("shamir", self.point, np.asarray(value, dtype=np.uint64), DEFAULT_PRIME, self.n_shares,
                     self.threshold, sid)


class SecAggClient:
    """One client for one session and round, hardened against an active server (Fig. 4, active version).

    ``repr`` hides secrets.

    ``signing_key``: this client's Ed25519 key (its PKI identity); ``pki``: every client's public signing key.
    ``rng``: key material comes from the OS CSPRNG via :func:`ppml_lab._rng.key_rng`; a seed is used for keys
    only with ``insecure_seeded_keys=True`` (bit-for-bit replays in tests and notebooks, never production).
    """

    hardened = True
    level = "hardened"

    def __init__(self, client_id: int, x: Any, *, threshold: int, session: bytes, round_id: int = 0,
                 signing_key: Ed25519PrivateKey | None = None, pki: SigningPKI | None = None,
                 rng: RNGLike = None, insecure_seeded_keys: bool = False) -> None:
        if isinstance(client_id, bool) or not isinstance(client_id, (int, np.integer)) or client_id < 0:
            raise TypeError(f"client_id must be a non-negative integer, got {client_id!r}")
        arr = np.asarray(x)
        if arr.dtype != np.uint64 or arr.ndim != 1 or arr.size == 0:
            raise TypeError(f"x must be a non-empty 1-D uint64 vector (Z_2^64), got dtype {arr.dtype}, shape {arr.shape}")
        if not isinstance(session, (bytes, bytearray)) or len(session) != masks.SESSION_BYTES:
            raise ValueError(f"session must be {masks.SESSION_BYTES} bytes, got {session!r:.40}")
        self.id = int(client_id)
        self._x = arr.copy()
        self.threshold = check_int("threshold", threshold, low=2)
        self.session = bytes(session)
        self.round_id = check_int("round_id", round_id, low=0)
        if self.hardened:
            if not isinstance(signing_key, Ed25519PrivateKey):
                raise TypeError("signing_key must be this client's Ed25519PrivateKey (its PKI identity) on the "
                                f"hardened level, got {type(signing_key).__name__}; RawSecAggClient is the unsigned teaching level")
            if not isinstance(pki, SigningPKI):
                raise TypeError(f"pki must be a SigningPKI on the hardened level, got {type(pki).__name__}")
            if self.id not in pki:
                raise ValueError(f"client {self.id} is not in the PKI")
            if self.threshold < masks.minimum_threshold(max(len(pki), 2)):
                # two disjoint survivor sets must not both reach t: t > n/2 (and t > (n + c)/2 with c colluders)
                raise ValueError(f"threshold must be a strict majority of the {len(pki)} clients in the PKI "
                                 f"(>= {masks.minimum_threshold(max(len(pki), 2))}), got {self.threshold}")
        self._signing_key = signing_key
        self.pki = pki
        self._rng = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
        self._insecure_seeded_keys = insecure_seeded_keys
        self._c_sk = _new_key(self._rng)  # (c_u^PK, c_u^SK): encrypts shares to peers
        self._s_sk = _new_key(self._rng)  # (s_u^PK, s_u^SK): agrees pair-mask seeds
        self._b = self._rng.bytes(masks.KEY_BYTES)  # self-mask seed b_u
        self._peer_pks: dict[int, tuple[bytes, bytes]] = {}
        self._received: dict[int, ShareBundle] = {}
        self._channel_keys: dict[int, bytes] = {}
        self._u1: list[int] = []
        self._u2: list[int] = []
        self._signed_u3: tuple[int, ...] | None = None
        self._answered = False  # answer-once: at most one unmask response per session and round
        self._revealed: dict[int, str] = {}  # peer -> "b" or "sk": what this client has revealed about it
        self.bytes_sent = 0
        self.bytes_received = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id}, length={self._x.size}, level={self.level!r}, secrets=<hidden>)"

    # ---------------------------------------------------------------------------------------------
    def _check_session(self, session: bytes, round_id: int, what: str) -> None:
        if bytes(session) != self.session or int(round_id) != self.round_id:
            raise ProtocolError(f"client {self.id}: {what} belongs to another session or round "
                                f"(round {round_id}, expected {self.round_id}); refused")

    def _channel_key(self, peer: int) -> bytes:
        if peer not in self._channel_keys:
            shared = agree(self._c_sk, self._peer_pks[peer][0])  # KA(c_u^SK, c_v^PK)
            self._channel_keys[peer] = channel_key(shared, self.id, peer, session=self.session, round_id=self.round_id)
        return self._channel_keys[peer]

    # Round 0 -------------------------------------------------------------------------------------
    def advertise_keys(self) -> AdvertiseKeys:
        """(c_u^PK, s_u^PK), signed with d_u^SK on the hardened level (Fig. 4, Round 0)."""
        c_pk, s_pk = public_bytes(self._c_sk.public_key()), public_bytes(self._s_sk.public_key())
        sig = None
        if self.hardened:
            if self._signing_key is None:  # an invariant of the level, checked even under python -O
                raise ProtocolError("_signing_key is not set: this step came out of protocol order")
            sig = self._signing_key.sign(advertise_payload(self.session, self.round_id, self.id, c_pk, s_pk))
        msg = AdvertiseKeys(self.session, self.round_id, self.id, c_pk, s_pk, sig)
        self.bytes_sent += msg.nbytes
        return msg

    # Round 1 -------------------------------------------------------------------------------------
    def share_keys(self, advertised: Mapping[int, AdvertiseKeys]) -> dict[int, bytes]:
        """Receive U1's keys; verify their signatures (hardened); return one encrypted share bundle per peer."""
        if self._u1:
            raise ProtocolError(f"client {self.id}: ShareKeys already answered this round; refusing to share again")
        self.bytes_received += sum(m.nbytes for m in advertised.values())
        for v, msg in advertised.items():
            if not isinstance(msg, AdvertiseKeys) or msg.sender != v:
                raise ProtocolError(f"client {self.id}: the keys listed for client {v} are not client {v}'s message")
            self._check_session(msg.session, msg.round_id, f"the AdvertiseKeys message of client {v}")
            if len(msg.c_pk) != masks.PK_BYTES or len(msg.s_pk) != masks.PK_BYTES:
                raise ProtocolError(f"client {self.id}: malformed public keys from client {v}")
            if self.hardened:
                if self.pki is None:  # an invariant of the level, checked even under python -O
                    raise ProtocolError("pki is not set: this step came out of protocol order")
                # SIG.ver(d_v^PK, c_v^PK || s_v^PK, sigma_v) for every v in U1, else abort (Fig. 4, Round 1)
                self.pki.verify(v, msg.signature, advertise_payload(msg.session, msg.round_id, v, msg.c_pk, msg.s_pk))
        mine = advertised.get(self.id)
        if mine is None or (mine.c_pk, mine.s_pk) != (public_bytes(self._c_sk.public_key()), public_bytes(self._s_sk.public_key())):
            raise AuthenticationError(f"client {self.id}: the server's key list omits or alters this client's own keys; refused")
        u1 = sorted(advertised)
        if len(u1) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(u1)} clients advertised keys, threshold is {self.threshold}")
        for v, msg in advertised.items():
            self._peer_pks[v] = (msg.c_pk, msg.s_pk)
        points = {v: i + 1 for i, v in enumerate(u1)}
        n1 = len(u1)
        # [s_u^SK] and [b_u]: t-of-|U1| Shamir sharings over GF(2^31 - 1), point i+1 for the i-th client of U1
        sk_sh = shamir_share(masks.secret_to_elements(_private_bytes(self._s_sk)), threshold=self.threshold,
                             n_shares=n1, rng=self._rng, insecure_seeded_keys=self._insecure_seeded_keys)
        b_sh = shamir_share(masks.secret_to_elements(self._b), threshold=self.threshold, n_shares=n1, rng=self._rng,
                            insecure_seeded_keys=self._insecure_seeded_keys)
        out: dict[int, bytes] = {}
        for v in u1:
            p = points[v]
            bundle = ShareBundle(self.id, v, p, n1, self.threshold, sk_sh[0].sharing_id, b_sh[0].sharing_id,
                                  sk_sh[p - 1].value, b_sh[p - 1].value)
            if v == self.id:
                self._received[v] = bundle  # my own point stays with me
                continue
            nonce = self._rng.bytes(12)
            aad = share_aad(self.session, self.round_id, self.id, v)
            out[v] = nonce + AESGCM(self._channel_key(v)).encrypt(nonce, bundle.to_bytes(), aad)
        self._u1 = u1
        self.bytes_sent += sum(len(c) for c in out.values())
        return out

    # Round 2 -------------------------------------------------------------------------------------
    def masked_input(self, ciphertexts: Mapping[int, bytes]) -> MaskedInput:
        """Receive the bundles addressed to me (their senders and I form U2); return y_u."""
        if not self._u1:
            raise ProtocolError(f"client {self.id}: masked_input before share_keys")
        if self._u2:
            # a second y_u over another U2 would differ from the first by pair masks only (b_u cancels)
            raise ProtocolError(f"client {self.id}: masked input already sent this round; refusing a second one")
        self.bytes_received += sum(len(c) for c in ciphertexts.values())
        for v, ct in ciphertexts.items():
            if v not in self._peer_pks or v == self.id or len(ct) < _AEAD_OVERHEAD:
                raise ProtocolError(f"client {self.id}: malformed share message from client {v}")
            try:
                plain = AESGCM(self._channel_key(v)).decrypt(ct[:12], ct[12:], share_aad(self.session, self.round_id, v, self.id))
            except InvalidTag:
                raise ProtocolError(f"client {self.id}: share message from client {v} failed authentication") from None
            bundle = ShareBundle.from_bytes(plain)
            if (bundle.sender, bundle.receiver) != (v, self.id):
                raise ProtocolError(f"client {self.id}: share bundle from {v} is addressed {bundle.sender}->{bundle.receiver}")
            self._received[v] = bundle
        self._u2 = sorted(set(ciphertexts) | {self.id})
        if len(self._u2) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(self._u2)} clients shared keys, threshold is {self.threshold}")
        pair_secrets = {v: agree(self._s_sk, self._peer_pks[v][1]) for v in self._u2 if v != self.id}  # s_uv
        y = masks.mask_input(self._x, client_id=self.id, self_seed=self._b, pair_secrets=pair_secrets,
                             session=self.session, round_id=self.round_id)
        msg = MaskedInput(self.session, self.round_id, self.id, y.tobytes())
        self.bytes_sent += len(msg.y)
        return msg

    # Round 3 -------------------------------------------------------------------------------------
    def consistency_check(self, u3: Sequence[int]) -> ConsistencySignature:
        """Sign the survivor set U3 the server shows me, once per round (Fig. 4, Round 3, ConsistencyCheck).

        Refuses a set that is not a subset of my U2, does not contain me, or is smaller than t, and any
        second, different set: an honest client signs one U3 per round, so two different sets cannot
        both gather t signatures when t > (n + c) / 2.
        """
        if not self.hardened:
            raise ProtocolError("the raw (honest-but-curious) level has no ConsistencyCheck round; use SecAggClient")
        s = self._admit_signature(u3, "U3")
        if len(s) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: U3 has {len(s)} clients, threshold is {self.threshold}")
        if self._signing_key is None:  # an invariant of the level, checked even under python -O
            raise ProtocolError("_signing_key is not set: this step came out of protocol order")
        self._signed_u3 = s
        sig = self._signing_key.sign(consistency_payload(self.session, self.round_id, self.id, s))
        self.bytes_sent += len(sig)
        return ConsistencySignature(self.session, self.round_id, self.id, s, sig)

    # Round 4 -------------------------------------------------------------------------------------
    def _reveal(self, dropped: set[int], survivors: set[int]) -> UnmaskResponse:
        out = UnmaskResponse(self.session, self.round_id, self.id,
                             {v: self._received[v].share("sk") for v in sorted(dropped)},
                             {v: self._received[v].share("b") for v in sorted(survivors)})
        self.bytes_sent += out.nbytes
        return out

    def _admit_signature(self, members: Iterable[int], label: str) -> tuple[int, ...]:
        """The checks before this client signs a survivor set (Bonawitz's U3, SecAgg+'s local view): after
        Round 2, only once per round, only clients it exchanged shares with, and itself among them."""
        if not self._u2:
            raise ProtocolError(f"client {self.id}: consistency_check before masked_input")
        s = tuple(sorted({int(v) for v in members}))
        if self._signed_u3 is not None and s != self._signed_u3:
            raise UnmaskRefusedError(f"client {self.id}: already signed {label} {list(self._signed_u3)} this round; "
                                     f"refusing to sign a second {label} {list(s)}")
        if not set(s) <= set(self._u2):
            raise UnmaskRefusedError(f"client {self.id}: {label} names clients {sorted(set(s) - set(self._u2))} outside my U2")
        if self.id not in s:
            raise UnmaskRefusedError(f"client {self.id}: {label} {list(s)} does not contain this client, whose masked input was sent")
        return s

    def _admit_unmask(self, request: Any, kind: type[Any]) -> tuple[int, ...]:
        """What every unmask request must pass before anything is revealed (Bonawitz and SecAgg+ alike):
        its type, this session and round, a finished Round 2, answer-once, and a signed ConsistencyCheck."""
        if not isinstance(request, kind):
            raise TypeError(f"request must be a {kind.__name__}, got {type(request).__name__}")
        self._check_session(request.session, request.round_id, "the unmask request")
        if not self._u2:
            raise ProtocolError(f"client {self.id}: unmask before masked_input")
        if self._answered:
            # answer-once: one response per session and round, whatever the second request asks
            raise UnmaskRefusedError(f"client {self.id}: already answered an unmask request in round {self.round_id}; "
                                     "a second answer could reveal both shares of a peer")
        if self._signed_u3 is None:
            raise UnmaskRefusedError(f"client {self.id}: asked to unmask without a ConsistencyCheck; refused")
        return self._signed_u3  # the set this client signed, which the answer must be about

    def unmask(self, request: UnmaskRequest) -> UnmaskResponse:
        """Reveal shares of s_v^SK for v in U2 \\ U3 and of b_v for v in U3 — once (Fig. 4, Round 4).

        Hardened: U3 is the set this client signed; the request must carry >= t valid signatures on it from
        members of U3; a second request in the same session and round raises UnmaskRefusedError.
        """
        signed = self._admit_unmask(request, UnmaskRequest)
        u3 = tuple(sorted({int(v) for v in request.u3}))
        if u3 != signed:
            raise UnmaskRefusedError(f"client {self.id}: asked to unmask for U3={list(u3)}, but signed "
                                     f"U3={list(signed)}; refused")
        if self.pki is None:  # an invariant of the level, checked even under python -O
            raise ProtocolError("pki is not set: this step came out of protocol order")
        payload = {v: consistency_payload(self.session, self.round_id, v, u3) for v in u3}
        valid: list[int] = []
        for v, sig in request.signatures.items():  # stop at t: the rule needs t valid signatures, not all of them
            if len(valid) >= self.threshold:
                break
            if v in payload and self.pki.is_valid(v, sig, payload[v]):
                valid.append(v)
        if len(valid) < self.threshold:
            # U4 subset of U3, |U4| >= t, SIG.ver(d_v^PK, U3, sigma'_v) for all v in U4 (Fig. 4, Round 4)
            raise UnmaskRefusedError(f"client {self.id}: only {len(valid)} valid signatures on U3={list(u3)}, "
                                     f"threshold is {self.threshold}; refused")
        survivors, dropped = set(u3), set(self._u2) - set(u3)
        self._check_not_both(dropped, survivors)
        self._answered = True
        return self._reveal(dropped, survivors)

    def _check_not_both(self, dropped: set[int], survivors: set[int]) -> None:
        for v in dropped:
            if self._revealed.get(v, "sk") != "sk":
                raise UnmaskRefusedError(f"client {self.id}: already revealed the b share of client {v}; "
                                         "refusing its key share")
        for v in survivors:
            if self._revealed.get(v, "b") != "b":
                raise UnmaskRefusedError(f"client {self.id}: already revealed the key share of client {v}; "
                                         "refusing its b share")
        self._revealed.update({v: "sk" for v in dropped})
        self._revealed.update({v: "b" for v in survivors})


class RawSecAggClient(SecAggClient):
    """The honest-but-curious client of Bonawitz et al. (Fig. 4 without its active-adversary parts).

    The TEACHING level, not for deployment.

    No signatures, no ConsistencyCheck, no memory across unmask requests: the server says who dropped and
    the client believes it. Within one request it still refuses to reveal both shares of a peer.
    """

    hardened = False
    level = "raw"

    def __init__(self, client_id: int, x: Any, *, threshold: int, session: bytes, round_id: int = 0,
                 rng: RNGLike = None, insecure_seeded_keys: bool = False) -> None:
        super().__init__(client_id, x, threshold=threshold, session=session, round_id=round_id, rng=rng,
                         insecure_seeded_keys=insecure_seeded_keys)

    def unmask(self, request: UnmaskRequest) -> UnmaskResponse:
        """Reveal s^SK shares for ``request.dropped`` and b shares for ``request.survivors`` (Fig. 4, Round 4)."""
        if not isinstance(request, UnmaskRequest):
            raise TypeError(f"request must be an UnmaskRequest, got {type(request).__name__}")
        self._check_session(request.session, request.round_id, "the unmask request")
        if not self._u2:
            raise ProtocolError(f"client {self.id}: unmask before masked_input")
        d, s = {int(v) for v in request.dropped}, {int(v) for v in request.survivors}
        if d & s:
            raise UnmaskRefusedError(f"client {self.id}: asked for both shares of clients {sorted(d & s)}; refusing")
        if not d | s <= set(self._u2):
            raise ProtocolError(f"client {self.id}: asked about clients {sorted((d | s) - set(self._u2))} outside U2")
        if len(s) < self.threshold:
            raise DropoutThresholdError(f"client {self.id}: only {len(s)} masked inputs arrived, threshold is {self.threshold}")
        return self._reveal(d, s)  # no memory: a second request is answered too (the ask-twice attack)
