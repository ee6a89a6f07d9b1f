"""Messages, session binding and the signing PKI of the secure-aggregation protocol.

Every message carries the session id (16 random bytes per aggregation) and the round id, and every
signature covers them, so nothing from one session or round can be replayed into another.

The PKI (Bonawitz et al., CCS 2017, ePrint 2017/281, Fig. 4 with the parts it marks for the active-adversary model, Sec. 6: the version secure against an
active adversary): each client u holds a long-term Ed25519 signing key d_u^SK; every client knows every
d_v^PK from a trusted setup *outside* the protocol (here :class:`SigningPKI`, built once and handed to the
clients; in a deployment, certificates). Clients sign their advertised keys (Round 0) and the survivor
set U3 (Round 3, ConsistencyCheck). Threat model of this module: the PKI is trusted; a signature verifies
only under the key the PKI lists for that client id.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ppml_lab._rng import RNGLike, SecureGenerator, key_rng
from ppml_lab.exceptions import AuthenticationError
from ppml_lab.mpc.sharing import Share

__all__ = [
    "AdvertiseKeys",
    "MaskedInput",
    "ConsistencySignature",
    "UnmaskRequest",
    "UnmaskResponse",
    "SigningPKI",
    "make_identities",
    "advertise_payload",
    "consistency_payload",
    "new_session_id",
]

SIGNATURE_BYTES = 64


def new_session_id(rng: RNGLike = None, *, insecure_seeded_keys: bool = False) -> bytes:
    """16 random bytes naming one aggregation; from the OS CSPRNG unless the insecure flag is passed."""
    return key_rng(rng, insecure_seeded_keys=insecure_seeded_keys).bytes(16)


def _head(tag: bytes, session: bytes, round_id: int, sender: int) -> bytes:
    return tag + bytes(session) + struct.pack("<qq", int(round_id), int(sender))


def advertise_payload(session: bytes, round_id: int, sender: int, c_pk: bytes, s_pk: bytes) -> bytes:
    """What u signs in Round 0: c_u^PK || s_u^PK bound to the session, the round and u's id (Fig. 4, active-adversary version)."""
    return _head(b"ppml-lab secagg advertise", session, round_id, sender) + bytes(c_pk) + bytes(s_pk)


def consistency_payload(session: bytes, round_id: int, sender: int, u3: Iterable[int]) -> bytes:
    """What u signs in Round 3: the survivor set U3 it was shown (Fig. 4, Round 3, ConsistencyCheck)."""
    ids = sorted(int(v) for v in u3)
    return (_head(b"ppml-lab secagg consistency", session, round_id, sender)
            + struct.pack(f"<{len(ids) + 1}q", len(ids), *ids))


@dataclass(frozen=True)
class AdvertiseKeys:
    """Round 0: u's two X25519 public keys, signed under u's PKI key (``signature`` None on the raw level)."""

    session: bytes = field(repr=False)
    round_id: int
    sender: int
    c_pk: bytes = field(repr=False)
    s_pk: bytes = field(repr=False)
    signature: bytes | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        return len(self.c_pk) + len(self.s_pk) + (len(self.signature) if self.signature else 0)


@dataclass(frozen=True)
class MaskedInput:
    """Round 2: y_u as bytes (uint64, little endian)."""

    session: bytes = field(repr=False)
    round_id: int
    sender: int
    y: bytes = field(repr=False)

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(self.y, dtype=np.uint64)


@dataclass(frozen=True)
class ConsistencySignature:
    """Round 3: u's signature on the survivor set U3 the server showed it."""

    session: bytes = field(repr=False)
    round_id: int
    sender: int
    u3: tuple[int, ...]
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class UnmaskRequest:
    """Round 4 request. Hardened level: U3 plus the signatures collected on it; the client derives what to
    reveal from the set it signed. Raw level: the server names ``dropped`` and ``survivors`` itself."""

    session: bytes = field(repr=False)
    round_id: int
    u3: tuple[int, ...] = ()
    signatures: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    dropped: tuple[int, ...] = ()
    survivors: tuple[int, ...] = ()


@dataclass(frozen=True)
class UnmaskResponse:
    """Round 4 answer: Shamir shares of s_v^SK for dropped v and of b_v for surviving v (never both)."""

    session: bytes = field(repr=False)
    round_id: int
    sender: int
    sk_shares: Mapping[int, Share] = field(repr=False)
    b_shares: Mapping[int, Share] = field(repr=False)

    @property
    def nbytes(self) -> int:
        # each share: 16 uint32 elements + the peer id (8 bytes)
        return (len(self.sk_shares) + len(self.b_shares)) * (4 * 16 + 8)


class SigningPKI:
    """Client id -> Ed25519 public key, fixed before the protocol starts (trusted setup, Sec. 6)."""

    def __init__(self, public_keys: Mapping[int, Ed25519PublicKey | bytes]) -> None:
        keys: dict[int, Ed25519PublicKey] = {}
        for cid, pk in public_keys.items():
            if isinstance(pk, (bytes, bytearray)):
                if len(pk) != 32:
                    raise ValueError(f"public_keys[{cid}] must be a 32-byte Ed25519 public key, got {len(pk)} bytes")
                pk = Ed25519PublicKey.from_public_bytes(bytes(pk))
            if not isinstance(pk, Ed25519PublicKey):
                raise TypeError(f"public_keys[{cid}] must be an Ed25519 public key or 32 bytes, got {type(pk).__name__}")
            keys[int(cid)] = pk
        self._keys = keys

    def __contains__(self, cid: object) -> bool:
        return cid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"SigningPKI(clients={sorted(self._keys)})"

    def public_bytes(self, cid: int) -> bytes:
        return self._keys[cid].public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def verify(self, cid: int, signature: bytes | None, payload: bytes) -> None:
        """Raise AuthenticationError unless ``signature`` is cid's Ed25519 signature on ``payload``."""
        if cid not in self._keys:
            raise AuthenticationError(f"client {cid} is not in the PKI (known: {sorted(self._keys)}); message refused")
        if not isinstance(signature, (bytes, bytearray)) or len(signature) != SIGNATURE_BYTES:
            got = "none" if signature is None else f"{len(signature) if isinstance(signature, (bytes, bytearray)) else type(signature).__name__}"
            raise AuthenticationError(f"client {cid}: signature must be {SIGNATURE_BYTES} bytes, got {got}; message refused")
        try:
            self._keys[cid].verify(bytes(signature), payload)
        except InvalidSignature:
            raise AuthenticationError(f"client {cid}: signature does not verify under its PKI key; message refused") from None

    def is_valid(self, cid: int, signature: bytes | None, payload: bytes) -> bool:
        try:
            self.verify(cid, signature, payload)
        except AuthenticationError:
            return False
        return True


def _new_signing_key(g: Any) -> Ed25519PrivateKey:
    if isinstance(g, SecureGenerator):
        return Ed25519PrivateKey.generate()  # OS CSPRNG
    return Ed25519PrivateKey.from_private_bytes(g.bytes(32))  # seeded: insecure, teaching/tests only


def make_identities(client_ids: Iterable[int], *, rng: RNGLike = None,
                    insecure_seeded_keys: bool = False) -> tuple[dict[int, Ed25519PrivateKey], SigningPKI]:
    """One Ed25519 signing key per client and the PKI listing their public keys (a simulated trusted setup)."""
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    keys = {int(c): _new_signing_key(g) for c in client_ids}
    return keys, SigningPKI({c: k.public_key() for c, k in keys.items()})
