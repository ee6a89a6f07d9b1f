"""Pure mask derivation for secure aggregation (Bonawitz et al., CCS 2017, ePrint 2017/281, Sec. 4-5).

Everything here is a pure function of its arguments: no keys are generated, no state is kept, nothing is
sent. The client (:mod:`ppml_lab.fl.secagg.client`) and the server (:mod:`ppml_lab.fl.secagg.server`)
call these with the secrets they hold, so the maths lives once:

* ``PRG(seed)``: AES-256 in counter mode, read as uint64 values in the ring Z_2^64 (Sec. 4, "PRG").
* self mask ``PRG(b_u)`` and pair mask ``PRG(s_uv)``, keys derived with HKDF-SHA256 from the seed, the
  session id and the round id, so the same seed never masks two rounds alike.
* the masked input ``y_u = x_u + PRG(b_u) + sum_{v != u} Delta_uv PRG(s_uv)`` (mod 2^64), Delta_uv = +1
  if u < v and -1 if u > v, so pair masks cancel in the sum (Sec. 4, Round 2).
* the unmasking ``sum_u y_u - sum_{u in U3} PRG(b_u) - sum_{v dropped} sum_{u in U3} Delta_uv PRG(s_uv)``
  (Sec. 4, Round 4).

Threat model: none by itself (pure arithmetic); the secrecy of y_u rests on b_u and s_uv staying secret,
which is the protocol's job.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ppml_lab._validation import check_int

__all__ = [
    "KEY_BYTES",
    "PK_BYTES",
    "CHUNKS",
    "SESSION_BYTES",
    "minimum_threshold",
    "prg_mask",
    "derive_key",
    "self_mask",
    "pair_mask",
    "pair_sign",
    "mask_input",
    "remove_masks",
    "secret_to_elements",
    "elements_to_secret",
]

#: Bytes of every seed and secret key (X25519 and AES-256 keys are 32 bytes).
KEY_BYTES = 32
#: Bytes of an X25519 public key.
PK_BYTES = 32
#: A 32-byte secret is Shamir-shared as 16 uint16 elements over GF(2^31 - 1).
CHUNKS = KEY_BYTES // 2
#: Bytes of a session id (random per aggregation, bound into every message and every mask).
SESSION_BYTES = 16


def minimum_threshold(n_clients: int) -> int:
    """The smallest threshold this implementation accepts: a strict majority, floor(n/2) + 1."""
    return check_int("n_clients", n_clients, low=2) // 2 + 1


def prg_mask(seed: bytes, length: int) -> np.ndarray:
    """PRG(seed): AES-256 in counter mode from a zero IV, read as ``length`` uint64 values (Z_2^64)."""
    if not isinstance(seed, (bytes, bytearray)):
        raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
    if len(seed) != KEY_BYTES:
        raise ValueError(f"seed must be {KEY_BYTES} bytes, got {len(seed)}")
    n = check_int("length", length, low=0)
    enc = Cipher(algorithms.AES(bytes(seed)), modes.CTR(b"\x00" * 16)).encryptor()
    return np.frombuffer(enc.update(b"\x00" * (8 * n)) + enc.finalize(), dtype=np.uint64).copy()


def derive_key(secret: bytes, *, purpose: bytes, session: bytes, round_id: int) -> bytes:
    """HKDF-SHA256(secret; salt = session id, info = purpose || round id): a fresh key per use and round."""
    info = purpose + struct.pack("<q", int(round_id))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=bytes(session), info=info).derive(secret)


def self_mask(b_seed: bytes, length: int, *, session: bytes, round_id: int) -> np.ndarray:
    """PRG(b_u): the self mask that hides x_u even from someone who learns all of u's pair masks."""
    return prg_mask(derive_key(b_seed, purpose=b"ppml-lab secagg self-mask", session=session, round_id=round_id), length)


def pair_sign(u: int, v: int) -> int:
    """Delta_uv = +1 if u < v, -1 if u > v (Bonawitz et al., Sec. 4): the pair masks of u and v cancel."""
    if u == v:
        raise ValueError(f"a client has no pair mask with itself, got u = v = {u}")
    return 1 if u < v else -1


def pair_mask(shared_secret: bytes, u: int, v: int, length: int, *, session: bytes, round_id: int) -> np.ndarray:
    """PRG(s_uv) for the agreed secret s_uv = KA(s_u^SK, s_v^PK); symmetric in (u, v)."""
    lo, hi = sorted((int(u), int(v)))
    purpose = b"ppml-lab secagg pair %d-%d" % (lo, hi)
    return prg_mask(derive_key(shared_secret, purpose=purpose, session=session, round_id=round_id), length)


def mask_input(x: np.ndarray, *, client_id: int, self_seed: bytes, pair_secrets: Mapping[int, bytes],
               session: bytes, round_id: int) -> np.ndarray:
    """y_u = x_u + PRG(b_u) + sum_{v in pair_secrets} Delta_uv PRG(s_uv)  (mod 2^64)  (Sec. 4, Round 2)."""
    x = np.asarray(x, dtype=np.uint64)
    y = x + self_mask(self_seed, x.size, session=session, round_id=round_id)  # x_u + PRG(b_u)
    for v, s_uv in sorted(pair_secrets.items()):
        m = pair_mask(s_uv, client_id, v, x.size, session=session, round_id=round_id)
        y = y + m if pair_sign(client_id, v) > 0 else y - m  # + Delta_uv PRG(s_uv)  (mod 2^64)
    return y


def remove_masks(masked_sum: np.ndarray, *, self_seeds: Mapping[int, bytes],
                 dangling: Mapping[tuple[int, int], bytes], session: bytes, round_id: int) -> np.ndarray:
    """Strip the self masks of the included clients and the pair masks that did not cancel.

    ``self_seeds``: {u: b_u} for u in U3. ``dangling``: {(u, v): s_uv} for u in U3 and v dropped after
    sharing keys (v in U2 \\ U3): u added Delta_uv PRG(s_uv) and v never added the opposite term.
    Returns sum_{u in U3} x_u (mod 2^64)  (Sec. 4, Round 4).
    """
    total = np.asarray(masked_sum, dtype=np.uint64).copy()
    for b in self_seeds.values():
        total -= self_mask(b, total.size, session=session, round_id=round_id)  # - PRG(b_u)
    for (u, v), s_uv in dangling.items():
        m = pair_mask(s_uv, u, v, total.size, session=session, round_id=round_id)
        total = total - m if pair_sign(u, v) > 0 else total + m  # - Delta_uv PRG(s_uv)
    return total


def secret_to_elements(secret: bytes) -> np.ndarray:
    """A 32-byte secret as 16 uint16 elements (each < 2^16 < the sharing prime 2^31 - 1)."""
    if len(secret) != KEY_BYTES:
        raise ValueError(f"secret must be {KEY_BYTES} bytes, got {len(secret)}")
    return np.frombuffer(bytes(secret), dtype=np.uint16).astype(np.int64)


def elements_to_secret(values: np.ndarray) -> bytes:
    """Inverse of :func:`secret_to_elements`; refuses elements >= 2^16 (a corrupted share)."""
    v = np.asarray(values)
    if v.shape != (CHUNKS,) or np.any(v < 0) or np.any(v >= 2**16):
        raise ValueError(f"a reconstructed secret must be {CHUNKS} elements in [0, 2^16): a share was corrupted")
    return v.astype(np.uint64).astype(np.uint16).tobytes()
