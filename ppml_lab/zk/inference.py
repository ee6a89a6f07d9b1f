"""A published prediction came from a committed model: a linear-relation Sigma proof over a Pedersen vector
commitment (the statement ezkl proves with a Halo2 SNARK, here in a few dozen group operations).

The model owner publishes C = h^r prod_j g_j^{w_j}, a commitment to the quantised parameters w (the logistic
model's weights and biases, flattened). For a public quantised input, the public design matrix A (m rows,
one per output logit) maps w to the logits, and the owner publishes y = A w. The proof shows knowledge of
(w, r) opening C with A w = y (a Schnorr proof of a linear relation, Maurer, "Unifying zero-knowledge
proofs of knowledge", AFRICACRYPT 2009, Sec. 4; Boneh-Shoup v0.6, Sec. 19.5.3):

    prover: t <- Z_q^n, rho <- Z_q;  T = h^rho prod g_j^{t_j},  u = A t;  c = H(statement, T, u)
            z = t + c w,  z_r = rho + c r
    verify: h^{z_r} prod g_j^{z_j} == T C^c   and   A z == u + c y   (mod q)

Sent compressed as (c, z, z_r): n + 2 scalars. The sigmoid (and the argmax) are public post-processing of
the proved logits. Integers are exact mod q, so the prediction is the fixed-point logit round(w 2^f) .
round(x 2^f) with no approximation inside the proof.

Threat model: the model owner may be malicious (soundness: it cannot publish a logit its committed model
does not produce); the verifier learns nothing about w beyond the published logits (HVZK, Pedersen hiding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab.zk.commitments import PedersenParams, check_int_vector, vector_commit
from ppml_lab.zk.group import Group, check_scalar, random_scalars
from ppml_lab.zk.transcript import Transcript, check_level, weak_challenge

__all__ = ["LinearProof", "design_matrix", "commit_model", "prove_linear", "verify_linear"]

LINEAR_DOMAIN = b"ppml_lab/zk/linear-relation/v1"


@dataclass(frozen=True)
class LinearProof:
    """(c, z_1..z_n, z_r) for the statement C opens to w with A w = y."""

    challenge: int
    z: tuple[int, ...]
    z_r: int

    def nbytes(self, group: Group) -> int:
        return (len(self.z) + 2) * group.scalar_bytes


def design_matrix(x_int: Sequence[int], *, n_classes: int) -> list[list[int]]:
    """Rows of A for a linear layer with weights (n_classes x d) then biases (n_classes), flattened row-major:
    logit_k = sum_i W[k, i] x_i + b_k * 2^f is row k of A applied to w (the bias row entry is ``bias_scale``).

    ``x_int`` must already include the bias scale as its last entry (x_int = [round(x 2^f)..., 2^f])."""
    x = check_int_vector("x_int", x_int)
    d = len(x) - 1
    n = n_classes * d + n_classes
    rows = []
    for k in range(n_classes):
        row = [0] * n
        row[k * d : (k + 1) * d] = x[:d]
        row[n_classes * d + k] = x[d]
        rows.append(row)
    return rows


def commit_model(weights_int: Sequence[int], *, params: PedersenParams, rng: RNGLike = None,
                 insecure_seeded_keys: bool = False) -> tuple[Any, int]:
    """(C, r): a vector commitment to the quantised parameters."""
    r = random_scalars(params.group, 1, key_rng(rng, insecure_seeded_keys=insecure_seeded_keys))[0]
    return vector_commit(check_int_vector("weights_int", weights_int), randomness=r, params=params), r


def _challenge(params: PedersenParams, *, level: str, commitment: Any, matrix: list[list[int]], outputs: list[int],
               context: bytes, t_commit: Any, u: list[int]) -> int:
    grp = params.group
    if level == "raw":
        return weak_challenge(grp, [t_commit], scalar_announcements=u)  # c = H(T, u): announcements only
    t = Transcript(LINEAR_DOMAIN, grp)
    t.append(b"params", params.params_bytes())
    t.append_elements(b"generators", params.gs)
    t.append_elements(b"commitment", [commitment])
    t.append(b"matrix", b"".join(grp.encode_scalar(a) for row in matrix for a in row))
    t.append(b"outputs", b"".join(grp.encode_scalar(v) for v in outputs))
    t.append(b"context", context)
    t.append_elements(b"T", [t_commit])
    t.append(b"u", b"".join(grp.encode_scalar(v) for v in u))
    return t.challenge()


def _check_matrix(matrix: Any, n: int) -> list[list[int]]:
    rows = [check_int_vector(f"matrix[{i}]", row) for i, row in enumerate(matrix)]
    if not rows or any(len(row) != n for row in rows):
        raise ValueError(f"matrix must have at least one row, each of length {n} (the number of parameters), "
                         f"got {len(rows)} rows of lengths {sorted({len(row) for row in rows})}")
    return rows


def prove_linear(weights_int: Sequence[int], *, randomness: int, matrix: Any, params: PedersenParams,
                 context: bytes = b"", level: str = "safe", rng: RNGLike = None,
                 insecure_seeded_keys: bool = False) -> tuple[list[int], LinearProof]:
    """Prove the committed ``weights_int`` give outputs y = A w. Returns (y as ints, proof)."""
    check_level(level)
    grp = params.group
    q = grp.order
    w = check_int_vector("weights_int", weights_int)
    n = len(params.gs)
    if len(w) != n:
        raise ValueError(f"weights_int must have length {n} (the commitment's generators), got {len(w)}")
    r = check_scalar("randomness", randomness, grp)
    a = _check_matrix(matrix, n)
    commitment = vector_commit(w, randomness=r, params=params)
    y = [sum(ai * wi for ai, wi in zip(row, w)) for row in a]  # y = A w over the integers
    gen = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    t = random_scalars(grp, n, gen)
    rho = random_scalars(grp, 1, gen)[0]
    t_commit = grp.op(grp.exp(params.h, rho), grp.multi_exp(params.gs, t))  # T = h^rho prod g_j^{t_j}
    u = [sum(ai * ti for ai, ti in zip(row, t)) % q for row in a]  # u = A t
    c = _challenge(params, level=level, commitment=commitment, matrix=a, outputs=[v % q for v in y],
                   context=bytes(context), t_commit=t_commit, u=u)
    z = tuple((ti + c * wi) % q for ti, wi in zip(t, w))  # z = t + c w
    return y, LinearProof(c, z, (rho + c * r) % q)  # z_r = rho + c r


def verify_linear(proof: LinearProof, *, commitment: Any, matrix: Any, outputs: Sequence[int], params: PedersenParams,
                  context: bytes = b"", level: str = "safe") -> bool:
    """Accept iff c = H(statement, T, u) with T = h^{z_r} prod g_j^{z_j} C^-c and u = A z - c y recomputed."""
    check_level(level)
    grp = params.group
    q = grp.order
    n = len(params.gs)
    if not isinstance(proof, LinearProof):
        raise TypeError(f"proof must be a LinearProof, got {type(proof).__name__}")
    if len(proof.z) != n:
        raise ValueError(f"proof.z must have length {n}, got {len(proof.z)}")
    check_scalar("proof.challenge", proof.challenge, grp)
    check_scalar("proof.z_r", proof.z_r, grp)
    for i, v in enumerate(proof.z):
        check_scalar(f"proof.z[{i}]", v, grp)
    cm = grp.check_element(commitment, name="commitment")
    a = _check_matrix(matrix, n)
    y_int = check_int_vector("outputs", np.asarray(outputs, dtype=object).tolist())
    for i, v in enumerate(y_int):  # the relation holds mod q: y and y + q would verify alike
        if not -(q // 2) < v < q // 2:
            raise ValueError(f"outputs[{i}] must be an integer with |y| < q/2 = {q // 2} (the proof is modulo q), "
                             f"got {v}")
    y = [v % q for v in y_int]
    if len(y) != len(a):
        raise ValueError(f"outputs must have one value per matrix row ({len(a)}), got {len(y)}")
    c = proof.challenge
    t_commit = grp.op(grp.op(grp.exp(params.h, proof.z_r), grp.multi_exp(params.gs, proof.z)), grp.exp(cm, -c))
    u = [(sum(ai * zi for ai, zi in zip(row, proof.z)) - c * yi) % q for row, yi in zip(a, y)]  # u = A z - c y
    return c == _challenge(params, level=level, commitment=cm, matrix=a, outputs=y, context=bytes(context),
                           t_commit=t_commit, u=u)
