"""Pedersen commitments, scalar and vector form, and their homomorphism.

Pedersen (CRYPTO 1991, "Non-interactive and information-theoretically secure verifiable secret sharing",
Sec. 3): Com(x; r) = g^x h^r in a group of prime order q where nobody knows log_g h. Hiding is perfect
(for uniform r, Com(x; r) is a uniform element whatever x is); binding is computational (two openings of
one commitment give log_g h). The vector form Com(x_1..x_n; r) = h^r prod_j g_j^{x_j} (Bootle et al.,
EUROCRYPT 2016, Sec. 2.2) commits to a whole model in one element. Both are additively homomorphic:
Com(x; r) * Com(x'; r') = Com(x + x'; r + r'), which is what lets a server check an aggregate
(:mod:`ppml_lab.zk.aggregation`).

Threat model: the committer may be malicious (binding holds under the discrete-logarithm assumption);
the receiver may be malicious (hiding is unconditional). All generators come from hash-to-group with a
public label, so none has a known logarithm to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ppml_lab.zk.group import Group, check_scalar, default_group

__all__ = ["PedersenParams", "pedersen_params", "commit", "vector_commit", "add_commitments", "verify_opening",
           "check_int_vector"]


def check_int_vector(name: str, values: Any) -> list[int]:
    """Exact integers (Python or numpy ints) as a list; TypeError naming the first entry that is not one
    (a float would otherwise be truncated silently by int())."""
    import numpy as np

    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__}") from None
    out = []
    for i, v in enumerate(items):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name}[{i}] must be an int (values are committed exactly), got "
                            f"{type(v).__name__} {v!r}")
        out.append(int(v))
    return out


@dataclass(frozen=True)
class PedersenParams:
    """Public parameters: the group, the value generator ``g``, the blinding generator ``h`` and, for
    vector commitments, one generator per coordinate in ``gs``. ``h`` is the group's generator (its
    fixed-base table makes the blinding term the cheap one); ``g`` and ``gs`` come from hash-to-group."""

    group: Group
    g: Any
    h: Any
    gs: tuple[Any, ...] = field(default=())

    def params_bytes(self) -> bytes:
        enc = self.group.encode
        return enc(self.g) + enc(self.h) + len(self.gs).to_bytes(4, "big")


def pedersen_params(group: Group | None = None, *, vector_length: int = 0, label: bytes = b"ppml_lab/zk/pedersen") -> PedersenParams:
    """Generators for Pedersen commitments in ``group`` (default: edwards25519), nothing up the sleeve."""
    grp = group if group is not None else default_group()
    if isinstance(vector_length, bool) or not isinstance(vector_length, int) or vector_length < 0:
        raise ValueError(f"vector_length must be an int >= 0, got {vector_length!r}")
    g = grp.hash_to_group(label + b"/g")
    gs = tuple(grp.hash_to_group(label + b"/g/" + str(j).encode()) for j in range(vector_length))
    return PedersenParams(group=grp, g=g, h=grp.generator, gs=gs)


def commit(value: int, *, randomness: int, params: PedersenParams) -> Any:
    """Com(x; r) = g^x h^r. ``value`` may be negative (it is reduced mod q); ``randomness`` in [0, q)."""
    grp = params.group
    r = check_scalar("randomness", randomness, grp)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    return grp.op(grp.exp(params.g, value), grp.exp(params.h, r))  # g^x h^r   (Pedersen 1991, Sec. 3)


def vector_commit(values: Sequence[int], *, randomness: int, params: PedersenParams) -> Any:
    """Com(x_1..x_n; r) = h^r prod_j g_j^{x_j}; ``len(values)`` must equal ``len(params.gs)``."""
    grp = params.group
    r = check_scalar("randomness", randomness, grp)
    vals = check_int_vector("values", values)
    if len(vals) != len(params.gs):
        raise ValueError(f"values must have length {len(params.gs)} (the number of generators), got {len(vals)}")
    return grp.op(grp.exp(params.h, r), grp.multi_exp(params.gs, vals))  # h^r prod g_j^{x_j}


def add_commitments(commitments: Sequence[Any], *, params: PedersenParams) -> Any:
    """prod_i C_i = Com(sum_i x_i; sum_i r_i): the homomorphism."""
    grp = params.group
    acc = grp.identity
    for i, c in enumerate(commitments):
        acc = grp.op(acc, grp.check_element(c, name=f"commitments[{i}]"))
    return acc


def verify_opening(commitment: Any, value: int, *, randomness: int, params: PedersenParams) -> bool:
    """True iff ``commitment`` = g^value h^randomness.

    Binding is modulo q: ``value`` and ``value + q`` open the same commitment. A caller that reads the opened
    value as an integer must bound it (as the range and bounded-update proofs do, |x| <= B << q)."""
    c = params.group.check_element(commitment, name="commitment")
    return c == commit(value, randomness=randomness, params=params)
