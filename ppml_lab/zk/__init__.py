"""Zero-knowledge proofs for federated learning: commitments, Sigma protocols, range and bounded-update proofs.

- :mod:`~ppml_lab.zk.group`: prime-order groups (a toy Schnorr group, edwards25519 through libsodium).
- :mod:`~ppml_lab.zk.commitments`: Pedersen commitments (scalar and vector) and their homomorphism.
- :mod:`~ppml_lab.zk.transcript`: Fiat-Shamir, strong (safe) and weak (raw, forgeable).
- :mod:`~ppml_lab.zk.sigma`: Schnorr, Chaum-Pedersen, OR-proof of a bit, with their simulators.
- :mod:`~ppml_lab.zk.frozen_heart`: the weak Fiat-Shamir forgeries (attacks on the raw level).
- :mod:`~ppml_lab.zk.range_proof`: range proofs by bit decomposition.
- :mod:`~ppml_lab.zk.bounded_update`: L-infinity bounded-update proofs for quantised FL updates.
- :mod:`~ppml_lab.zk.l2_norm`: L2 bounded-update proofs (the bound DP-FedAvg's accounting assumes).
- :mod:`~ppml_lab.zk.aggregation`: verifiable secure aggregation (proofs screened, sum checked).
- :mod:`~ppml_lab.zk.inference`: a linear-model prediction proved from a committed model.
"""

from ppml_lab.zk.bounded_update import (
    BoundedUpdateOpening,
    BoundedUpdateProof,
    client_context,
    integer_bound,
    prove_bounded_update,
    quantise_update,
    update_commitments,
    verify_bounded_update,
)
from ppml_lab.zk.commitments import (
    PedersenParams,
    add_commitments,
    commit,
    pedersen_params,
    vector_commit,
    verify_opening,
)
from ppml_lab.zk.group import Ed25519Group, Group, SchnorrGroup, default_group, random_scalar, toy_group
from ppml_lab.zk.l2_norm import (
    L2BoundedUpdateOpening,
    L2BoundedUpdateProof,
    l2_integer_bound,
    prove_l2_bounded_update,
    verify_l2_bounded_update,
)
from ppml_lab.zk.range_proof import RangeProof, prove_range, range_commitments, verify_range
from ppml_lab.zk.sigma import (
    BitProof,
    SchnorrProof,
    prove_bit,
    prove_dleq,
    prove_dlog,
    verify_bit,
    verify_dleq,
    verify_dlog,
)
from ppml_lab.zk.transcript import Transcript, weak_challenge

__all__ = [
    "BitProof",
    "BoundedUpdateOpening",
    "BoundedUpdateProof",
    "Ed25519Group",
    "L2BoundedUpdateOpening",
    "L2BoundedUpdateProof",
    "Group",
    "PedersenParams",
    "RangeProof",
    "SchnorrGroup",
    "SchnorrProof",
    "Transcript",
    "add_commitments",
    "client_context",
    "commit",
    "default_group",
    "integer_bound",
    "l2_integer_bound",
    "pedersen_params",
    "prove_bit",
    "prove_bounded_update",
    "prove_dleq",
    "prove_dlog",
    "prove_l2_bounded_update",
    "prove_range",
    "quantise_update",
    "random_scalar",
    "range_commitments",
    "toy_group",
    "update_commitments",
    "vector_commit",
    "verify_bit",
    "verify_bounded_update",
    "verify_dleq",
    "verify_dlog",
    "verify_l2_bounded_update",
    "verify_opening",
    "verify_range",
    "weak_challenge",
]
