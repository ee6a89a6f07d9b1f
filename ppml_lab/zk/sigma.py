"""Sigma protocols made non-interactive: Schnorr, Chaum-Pedersen and the OR-proof of a bit.

A Sigma protocol (Cramer, Damgaard and Schoenmakers, CRYPTO 1994; Boneh-Shoup v0.6, Ch. 19) is three
moves: the prover sends an announcement A, the verifier a random challenge c, the prover a response z.
It is *complete* (an honest prover convinces), *special sound* (two accepting transcripts with the same A
and different c give the witness, Boneh-Shoup Thm. 19.1) and *honest-verifier zero knowledge* (a
simulator that picks c and z first and solves for A produces transcripts distributed exactly like real
ones, Sec. 19.2.1). The Fiat-Shamir transcript (:mod:`ppml_lab.zk.transcript`) replaces the verifier.

- Schnorr (J. Cryptology 1991): knowledge of x with X = base^x.
  A = base^k;  z = k + c x;  check base^z = A X^c.
- Chaum-Pedersen (CRYPTO 1992): log_{g1} X1 = log_{g2} X2 (the same x), without revealing x.
  A1 = g1^k, A2 = g2^k;  z = k + c x;  check g1^z = A1 X1^c and g2^z = A2 X2^c.
- OR-proof (Cramer-Damgaard-Schoenmakers 1994): a Pedersen commitment C = g^b h^s opens to b = 0 OR
  b = 1, without saying which: the prover runs the true branch honestly and simulates the other with a
  challenge it picks itself; the two challenges must add up to the verifier's c.

Proofs are sent in the compressed form (c, z): the verifier recomputes A = base^z X^-c and accepts iff
hashing the transcript with that A gives back c. ``level="safe"`` (default) hashes domain, group,
generators, statement, context and announcements; ``level="raw"`` hashes the announcements only (weak
Fiat-Shamir), which :mod:`ppml_lab.zk.frozen_heart` forges.

Threat model: the prover may be malicious (soundness, under discrete log and the random oracle); the
verifier is honest-but-curious about the witness (HVZK; with Fiat-Shamir, zero knowledge in the ROM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.zk.commitments import PedersenParams
from ppml_lab.zk.group import Group, check_scalar, random_scalars
from ppml_lab.zk.transcript import Transcript, check_level, weak_challenge

__all__ = [
    "SchnorrProof",
    "DLEQProof",
    "BitProof",
    "prove_dlog",
    "verify_dlog",
    "simulate_dlog",
    "dlog_transcript",
    "prove_dleq",
    "verify_dleq",
    "prove_bit",
    "verify_bit",
    "simulate_bit",
    "bit_transcript",
]

DLOG_DOMAIN = b"ppml_lab/zk/schnorr/v1"
DLEQ_DOMAIN = b"ppml_lab/zk/chaum-pedersen/v1"
BIT_DOMAIN = b"ppml_lab/zk/bit-or/v1"


@dataclass(frozen=True)
class SchnorrProof:
    """Fiat-Shamir Schnorr proof (c, z). Also the shape of a Chaum-Pedersen proof."""

    challenge: int
    response: int

    def to_bytes(self, group: Group) -> bytes:
        return group.encode_scalar(self.challenge) + group.encode_scalar(self.response)


DLEQProof = SchnorrProof


@dataclass(frozen=True)
class BitProof:
    """CDS OR-proof that a commitment opens to 0 or 1: challenges (c0, c1) and responses (z0, z1)."""

    c0: int
    c1: int
    z0: int
    z1: int

    def to_bytes(self, group: Group) -> bytes:
        return b"".join(group.encode_scalar(v) for v in (self.c0, self.c1, self.z0, self.z1))


def _check_proof_scalars(proof: Any, kind: type, group: Group, names: tuple[str, ...]) -> None:
    if not isinstance(proof, kind):
        raise TypeError(f"proof must be a {kind.__name__}, got {type(proof).__name__}")
    for n in names:
        check_scalar(f"proof.{n}", getattr(proof, n), group)


def _challenge(group: Group, *, level: str, domain: bytes, statement: list[Any], context: bytes,
               announcements: list[Any]) -> int:
    if level == "raw":
        return weak_challenge(group, announcements)  # c = H(A)   -- the weak transform
    t = Transcript(domain, group)  # c = H(domain, group, statement, context, A)   -- strong transform
    t.append_elements(b"statement", statement)
    t.append(b"context", context)
    t.append_elements(b"announcement", announcements)
    return t.challenge()


def _ctx(context: Any) -> bytes:
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes (session/round/client binding), got {type(context).__name__}")
    return bytes(context)


# ---------------------------------------------------------------- Schnorr proof of knowledge of a logarithm

def dlog_transcript(secret: int, *, challenge: int, group: Group, base: Any = None,
                    rng: RNGLike = None, insecure_seeded_keys: bool = False) -> tuple[Any, int, int]:
    """One honest interactive run (A, c, z) with the verifier's ``challenge`` (for the HVZK test)."""
    b = group.generator if base is None else base
    k = random_scalars(group, 1, key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))[0]
    return group.exp(b, k), challenge, (k + challenge * secret) % group.order  # A = b^k; z = k + c x


def simulate_dlog(public: Any, *, challenge: int, group: Group, base: Any = None,
                  rng: RNGLike = None, insecure_seeded_keys: bool = False) -> tuple[Any, int, int]:
    """The HVZK simulator: pick z, solve A = base^z X^-c. Needs no secret (Boneh-Shoup Sec. 19.2.1)."""
    b = group.generator if base is None else base
    z = random_scalars(group, 1, key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))[0]
    return group.op(group.exp(b, z), group.exp(public, -challenge)), challenge, z


def prove_dlog(secret: int, *, group: Group, base: Any = None, context: bytes = b"", level: str = "safe",
               rng: RNGLike = None, insecure_seeded_keys: bool = False) -> SchnorrProof:
    """Prove knowledge of x = ``secret`` with X = base^x (base: the group generator by default)."""
    check_level(level)
    x = check_scalar("secret", secret, group)
    b = group.generator if base is None else group.check_element(base, name="base")
    public = group.exp(b, x)
    k = random_scalars(group, 1, key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))[0]
    a = group.exp(b, k)  # A = b^k
    c = _challenge(group, level=level, domain=DLOG_DOMAIN, statement=[b, public], context=_ctx(context), announcements=[a])
    return SchnorrProof(c, (k + c * x) % group.order)  # z = k + c x (mod q)


def verify_dlog(proof: SchnorrProof, *, public: Any, group: Group, base: Any = None, context: bytes = b"",
                level: str = "safe") -> bool:
    """Accept iff c = H(..., A) with A = base^z X^-c recomputed (Schnorr 1991)."""
    check_level(level)
    _check_proof_scalars(proof, SchnorrProof, group, ("challenge", "response"))
    b = group.generator if base is None else group.check_element(base, name="base")
    x_pub = group.check_element(public, name="public")
    a = group.op(group.exp(b, proof.response), group.exp(x_pub, -proof.challenge))  # A = b^z X^-c
    c = _challenge(group, level=level, domain=DLOG_DOMAIN, statement=[b, x_pub], context=_ctx(context), announcements=[a])
    return c == proof.challenge


# ---------------------------------------------------------------- Chaum-Pedersen equality of logarithms

def prove_dleq(secret: int, *, g1: Any, g2: Any, group: Group, context: bytes = b"", level: str = "safe",
               rng: RNGLike = None, insecure_seeded_keys: bool = False) -> DLEQProof:
    """Prove log_{g1} X1 = log_{g2} X2 = ``secret`` for X1 = g1^x, X2 = g2^x (Chaum-Pedersen 1992)."""
    check_level(level)
    x = check_scalar("secret", secret, group)
    g1 = group.check_element(g1, name="g1")
    g2 = group.check_element(g2, name="g2")
    x1, x2 = group.exp(g1, x), group.exp(g2, x)
    k = random_scalars(group, 1, key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))[0]
    a1, a2 = group.exp(g1, k), group.exp(g2, k)  # A1 = g1^k, A2 = g2^k
    c = _challenge(group, level=level, domain=DLEQ_DOMAIN, statement=[g1, x1, g2, x2], context=_ctx(context),
                   announcements=[a1, a2])
    return SchnorrProof(c, (k + c * x) % group.order)


def verify_dleq(proof: DLEQProof, *, g1: Any, x1: Any, g2: Any, x2: Any, group: Group, context: bytes = b"",
                level: str = "safe") -> bool:
    """Accept iff c = H(..., A1, A2) with A1 = g1^z X1^-c and A2 = g2^z X2^-c recomputed."""
    check_level(level)
    _check_proof_scalars(proof, SchnorrProof, group, ("challenge", "response"))
    g1, x1 = group.check_element(g1, name="g1"), group.check_element(x1, name="x1")
    g2, x2 = group.check_element(g2, name="g2"), group.check_element(x2, name="x2")
    c, z = proof.challenge, proof.response
    a1 = group.op(group.exp(g1, z), group.exp(x1, -c))
    a2 = group.op(group.exp(g2, z), group.exp(x2, -c))
    return c == _challenge(group, level=level, domain=DLEQ_DOMAIN, statement=[g1, x1, g2, x2],
                           context=_ctx(context), announcements=[a1, a2])


# ---------------------------------------------------------------- OR-proof: a committed bit

def _bit_announcements(commitment: Any, c0: int, c1: int, z0: int, z1: int, params: PedersenParams) -> tuple[Any, Any]:
    grp, g, h = params.group, params.g, params.h
    a0 = grp.op(grp.exp(h, z0), grp.exp(commitment, -c0))  # A0 = h^z0 C^-c0        (branch b = 0: C = h^s)
    a1 = grp.op(grp.exp(h, z1), grp.exp(grp.div(commitment, g), -c1))  # A1 = h^z1 (C/g)^-c1  (b = 1: C/g = h^s)
    return a0, a1


def bit_transcript(bit: int, randomness: int, *, challenge: int, params: PedersenParams, rng: Any) -> tuple[Any, ...]:
    """One honest interactive run (A0, A1, c0, c1, z0, z1) of the OR-proof with the verifier's challenge."""
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    c_sim, z_sim, k = random_scalars(grp, 3, rng)
    commitment = grp.op(grp.exp(g, bit), grp.exp(h, randomness))
    y_sim = commitment if bit == 1 else grp.div(commitment, g)  # the false branch's statement
    a_sim = grp.op(grp.exp(h, z_sim), grp.exp(y_sim, -c_sim))  # simulated: A = h^z Y^-c
    a_real = grp.exp(h, k)  # real: A = h^k
    c_real = (challenge - c_sim) % q  # c_b = c - c_{1-b}
    z_real = (k + c_real * randomness) % q
    if bit == 0:
        return a_real, a_sim, c_real, c_sim, z_real, z_sim
    return a_sim, a_real, c_sim, c_real, z_sim, z_real


def simulate_bit(commitment: Any, *, challenge: int, params: PedersenParams, rng: Any) -> tuple[Any, ...]:
    """HVZK simulator of the OR-proof: both branches simulated, c0 random, c1 = c - c0."""
    grp = params.group
    c0, z0, z1 = random_scalars(grp, 3, rng)
    c1 = (challenge - c0) % grp.order
    a0, a1 = _bit_announcements(commitment, c0, c1, z0, z1, params)
    return a0, a1, c0, c1, z0, z1


def prove_bit(bit: int, *, randomness: int, params: PedersenParams, context: bytes = b"", level: str = "safe",
              rng: RNGLike = None, insecure_seeded_keys: bool = False) -> tuple[Any, BitProof]:
    """Commit to ``bit`` in {0, 1} as C = g^b h^s and prove it is a bit. Returns (C, proof)."""
    check_level(level)
    if bit not in (0, 1) or isinstance(bit, bool):
        raise ValueError(f"bit must be 0 or 1, got {bit!r}")
    grp = params.group
    s = check_scalar("randomness", randomness, grp)
    gen = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    q = grp.order
    commitment = grp.op(grp.exp(params.g, bit), grp.exp(params.h, s))  # C = g^b h^s
    c_sim, z_sim, k = random_scalars(grp, 3, gen)
    y_sim = commitment if bit == 1 else grp.div(commitment, params.g)
    a_sim = grp.op(grp.exp(params.h, z_sim), grp.exp(y_sim, -c_sim))
    a_real = grp.exp(params.h, k)
    a0, a1 = (a_real, a_sim) if bit == 0 else (a_sim, a_real)
    c = _challenge(grp, level=level, domain=BIT_DOMAIN, statement=[params.g, params.h, commitment],
                   context=_ctx(context), announcements=[a0, a1])
    c_real = (c - c_sim) % q
    z_real = (k + c_real * s) % q
    if bit == 0:
        return commitment, BitProof(c_real, c_sim, z_real, z_sim)
    return commitment, BitProof(c_sim, c_real, z_sim, z_real)


def verify_bit(proof: BitProof, *, commitment: Any, params: PedersenParams, context: bytes = b"",
               level: str = "safe") -> bool:
    """Accept iff c0 + c1 = H(..., A0, A1) with both announcements recomputed."""
    check_level(level)
    grp = params.group
    _check_proof_scalars(proof, BitProof, grp, ("c0", "c1", "z0", "z1"))
    cm = grp.check_element(commitment, name="commitment")
    a0, a1 = _bit_announcements(cm, proof.c0, proof.c1, proof.z0, proof.z1, params)
    c = _challenge(grp, level=level, domain=BIT_DOMAIN, statement=[params.g, params.h, cm], context=_ctx(context),
                   announcements=[a0, a1])
    return (proof.c0 + proof.c1) % grp.order == c
