"""Range proofs by bit decomposition: committed integers y_1..y_n each lie in [0, upper].

The prover writes y = sum_i w_i b_i with bits b_i, commits to every bit, C_i = g^{b_i} h^{s_i}, and proves
with an OR-proof that each C_i opens to 0 or 1 (Cramer-Damgaard-Schoenmakers 1994; the construction is
the folklore one analysed in Camenisch, Chaabouni and shelat, ASIACRYPT 2008, Sec. 1.2). The commitment
to y is *derived* by the verifier, C = prod_i C_i^{w_i} = g^y h^{sum w_i s_i}, so it cannot disagree
with the bits. Any upper bound works, not only 2^k - 1: with k = bitlength(upper) the weights are
w_i = 2^i for i < k - 1 and w_{k-1} = upper - (2^{k-1} - 1); the sums of subsets of these weights are
exactly the integers 0..upper (every y <= 2^{k-1} - 1 uses the low bits; every larger y <= upper is
w_{k-1} plus a value in [0, 2^{k-1} - 1]), so no bit pattern exceeds ``upper``.

All n*k OR-proofs share ONE Fiat-Shamir challenge c (each proof's two branch challenges add up to c),
computed over a transcript that binds the group, g, h, upper, n, the context and every bit commitment
before the announcements (``level="safe"``). ``level="raw"`` hashes the announcements only: the weak
transform, forgeable (:func:`ppml_lab.zk.frozen_heart.forge_range_proof_weak`).

Size: k group elements and 3k scalars per value (c1 is c - c0), plus c: 128k + 32 bytes on edwards25519.
Bulletproofs (Buenz et al., IEEE S&P 2018) would be logarithmic; this is the version one can read.

Threat model: as :mod:`ppml_lab.zk.sigma` (malicious prover, honest-but-curious verifier, random oracle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.zk.commitments import PedersenParams, check_int_vector
from ppml_lab.zk.group import Group, check_scalar, random_scalars
from ppml_lab.zk.transcript import Transcript, check_level, weak_challenge

__all__ = ["RangeProof", "range_weights", "decompose", "prove_range", "verify_range", "range_commitments"]

RANGE_DOMAIN = b"ppml_lab/zk/range-bits/v1"
#: Largest accepted upper bound (2^62): bits per value stay <= 63.
MAX_UPPER = 2**62


def _check_upper(upper: Any) -> int:
    if isinstance(upper, bool) or not isinstance(upper, int):
        raise TypeError(f"upper must be an int, got {type(upper).__name__}")
    if not 1 <= upper <= MAX_UPPER:
        raise ValueError(f"upper must be an int in [1, 2^62], got {upper}")
    return upper


def range_weights(upper: int) -> list[int]:
    """Weights w_0..w_{k-1} whose subset sums are exactly 0..upper (k = bitlength(upper))."""
    u = _check_upper(upper)
    k = u.bit_length()
    if k == 1:
        return [1]
    return [1 << i for i in range(k - 1)] + [u - ((1 << (k - 1)) - 1)]  # w_{k-1} = upper - (2^{k-1} - 1)


def decompose(value: int, weights: Sequence[int]) -> list[int]:
    """Bits b with sum_i w_i b_i = value; ValueError if value is outside [0, sum(weights)]."""
    upper = sum(weights)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    if not 0 <= value <= upper:
        raise ValueError(f"value must be in [0, {upper}] to have a bit decomposition, got {value}")
    low = upper - weights[-1]  # 2^{k-1} - 1: the largest value of the low bits
    top = 1 if value > low else 0
    rest = value - top * weights[-1]
    return [(rest >> i) & 1 for i in range(len(weights) - 1)] + [top]


@dataclass(frozen=True)
class RangeProof:
    """Bit commitments (n*k elements, value-major), the shared challenge c, and per bit (c0, z0, z1)."""

    bit_commitments: tuple[Any, ...]
    challenge: int
    c0: tuple[int, ...]
    z0: tuple[int, ...]
    z1: tuple[int, ...]

    def nbytes(self, group: Group) -> int:
        return len(self.bit_commitments) * group.element_bytes + (1 + 3 * len(self.c0)) * group.scalar_bytes

    def to_bytes(self, group: Group) -> bytes:
        enc, es = group.encode, group.encode_scalar
        return (b"".join(enc(c) for c in self.bit_commitments) + es(self.challenge)
                + b"".join(es(a) + es(b) + es(c) for a, b, c in zip(self.c0, self.z0, self.z1)))


def _challenge(params: PedersenParams, *, level: str, upper: int, n: int, context: bytes,
               bit_commitments: Sequence[Any], announcements: Sequence[Any]) -> int:
    grp = params.group
    if level == "raw":
        return weak_challenge(grp, announcements)  # c = H(A)   -- weak: statement left out
    t = Transcript(RANGE_DOMAIN, grp)
    t.append_elements(b"generators", [params.g, params.h])
    t.append_int(b"upper", upper)
    t.append_int(b"n", n)
    t.append(b"context", context)
    t.append_elements(b"bit-commitments", bit_commitments)  # the statement
    t.append_elements(b"announcements", announcements)
    return t.challenge()


def _prove_digits(digits: Sequence[Sequence[int]], *, upper: int, params: PedersenParams, context: bytes,
                  level: str, rng: Any) -> tuple[RangeProof, list[int]]:
    """The prover's algorithm over given digits, WITHOUT checking they are bits (a cheating prover calls it
    with a digit 2 to show the OR-proof then fails). Returns (proof, per-value randomness r_j)."""
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    weights = range_weights(upper)
    k = len(weights)
    flat = [int(b) for row in digits for b in row]
    m = len(flat)
    rand = random_scalars(grp, 4 * m, rng)
    s, c_sim, z_sim, kk = rand[:m], rand[m:2 * m], rand[2 * m:3 * m], rand[3 * m:]
    exp, op, div = grp.exp, grp.op, grp.div
    commitments: list[Any] = []
    ann: list[Any] = []
    for i, b in enumerate(flat):
        hs = exp(h, s[i])
        cm = op(exp(g, b), hs) if b not in (0, 1) else (op(g, hs) if b == 1 else hs)  # C = g^b h^s
        commitments.append(cm)
        y_sim = cm if b == 1 else div(cm, g)  # statement of the branch the prover simulates
        a_sim = op(exp(h, z_sim[i]), exp(y_sim, -c_sim[i]))  # A_sim = h^z Y^-c
        a_real = exp(h, kk[i])  # A_real = h^k
        ann.extend((a_sim, a_real) if b == 1 else (a_real, a_sim))
    c = _challenge(params, level=level, upper=upper, n=len(digits), context=context, bit_commitments=commitments,
                   announcements=ann)
    c0s, z0s, z1s = [], [], []
    for i, b in enumerate(flat):
        c_real = (c - c_sim[i]) % q  # c_b = c - c_{1-b}
        z_real = (kk[i] + c_real * s[i]) % q  # z_b = k + c_b s
        if b == 1:
            c0s.append(c_sim[i])
            z0s.append(z_sim[i])
            z1s.append(z_real)
        else:
            c0s.append(c_real)
            z0s.append(z_real)
            z1s.append(z_sim[i])
    r = [sum(w * s[j * k + i] for i, w in enumerate(weights)) % q for j in range(len(digits))]  # r = sum w_i s_i
    return RangeProof(tuple(commitments), c, tuple(c0s), tuple(z0s), tuple(z1s)), r


def prove_range(values: Sequence[int], *, upper: int, params: PedersenParams, context: bytes = b"",
                level: str = "safe", rng: RNGLike = None, insecure_seeded_keys: bool = False) -> tuple[RangeProof, list[int]]:
    """Prove each y_j in ``values`` lies in [0, upper]. Returns (proof, randomness r_j of the derived
    commitments C_j = g^{y_j} h^{r_j}, see :func:`range_commitments`). Refuses out-of-range values."""
    check_level(level)
    u = _check_upper(upper)
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    weights = range_weights(u)
    digits = [decompose(v, weights) for v in check_int_vector("values", values)]
    if not digits:
        raise ValueError("values must be non-empty, got 0 values")
    return _prove_digits(digits, upper=u, params=params, context=bytes(context), level=level,
                         rng=key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))


def _check_shape(proof: Any, n: int, k: int, grp: Group) -> None:
    if not isinstance(proof, RangeProof):
        raise TypeError(f"proof must be a RangeProof, got {type(proof).__name__}")
    m = n * k
    for name in ("bit_commitments", "c0", "z0", "z1"):
        got = len(getattr(proof, name))
        if got != m:
            raise ValueError(f"proof.{name} must have n*k = {n}*{k} = {m} entries, got {got}")
    check_scalar("proof.challenge", proof.challenge, grp)
    for name in ("c0", "z0", "z1"):
        for i, v in enumerate(getattr(proof, name)):
            check_scalar(f"proof.{name}[{i}]", v, grp)


def verify_range(proof: RangeProof, *, n: int, upper: int, params: PedersenParams, context: bytes = b"",
                 level: str = "safe") -> bool:
    """Accept iff every bit's two recomputed announcements hash (with the statement) to the shared c.

    Raises TypeError/ValueError/InvalidGroupElementError for a malformed proof (wrong lengths, scalars out
    of range, points outside the prime-order group); returns False for a well-formed proof that fails."""
    check_level(level)
    u = _check_upper(upper)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not isinstance(context, (bytes, bytearray)):
        raise TypeError(f"context must be bytes, got {type(context).__name__}")
    grp, g, h = params.group, params.g, params.h
    q = grp.order
    k = len(range_weights(u))
    _check_shape(proof, n, k, grp)
    cms = [grp.check_element(cm, name=f"proof.bit_commitments[{i}]") for i, cm in enumerate(proof.bit_commitments)]
    c = proof.challenge
    exp, op, div = grp.exp, grp.op, grp.div
    ann = []
    for i, cm in enumerate(cms):
        c0 = proof.c0[i]
        c1 = (c - c0) % q  # c0 + c1 = c
        ann.append(op(exp(h, proof.z0[i]), exp(cm, -c0)))  # A0 = h^z0 C^-c0
        ann.append(op(exp(h, proof.z1[i]), exp(div(cm, g), -c1)))  # A1 = h^z1 (C/g)^-c1
    return c == _challenge(params, level=level, upper=u, n=n, context=bytes(context), bit_commitments=cms,
                           announcements=ann)


def range_commitments(proof: RangeProof, *, upper: int, params: PedersenParams) -> list[Any]:
    """The commitments C_j = prod_i C_{j,i}^{w_i} = g^{y_j} h^{r_j} the proof is about (Horner's rule)."""
    grp = params.group
    weights = range_weights(_check_upper(upper))
    k = len(weights)
    cms = [grp.check_element(cm, name=f"proof.bit_commitments[{i}]") for i, cm in enumerate(proof.bit_commitments)]
    if len(cms) % k:
        raise ValueError(f"proof.bit_commitments must have a multiple of k = {k} entries, got {len(cms)}")
    out = []
    for j in range(len(cms) // k):
        row = cms[j * k : (j + 1) * k]
        acc = grp.identity
        for cm in reversed(row[:-1]):  # sum_{i<k-1} 2^i C_i by Horner: acc = acc^2 * C_i
            acc = grp.op(grp.op(acc, acc), cm)
        out.append(grp.op(acc, grp.exp(row[-1], weights[-1])))  # * C_{k-1}^{w_{k-1}}
    return out
