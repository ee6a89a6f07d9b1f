"""Privacy accounting: how much epsilon a sequence of releases spends.

Modules (pure maths; the accountant classes only hold history and call it):
:mod:`~ppml_lab.dp.accounting.rdp` (Renyi DP of the subsampled Gaussian, the Opacus analysis),
:mod:`~ppml_lab.dp.accounting.pld` (privacy loss distributions: tight, what to quote),
:mod:`~ppml_lab.dp.accounting.zcdp` (zero-concentrated DP) and
:mod:`~ppml_lab.dp.accounting.composition` (basic and advanced composition of (epsilon, delta)).

One question, one shape: every accountant answers "what epsilon have I spent?" as
``accountant.get_epsilon(delta)`` (Opacus' ``IAccountant`` shape), and the stateful ones record releases
with ``step(noise_multiplier=..., sample_rate=..., steps=...)``. :class:`PrivacyAccountant` is that
contract as a runtime-checkable protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ppml_lab.dp.accounting.composition import (
    advanced_composition,
    advanced_composition_epsilon_per_step,
    basic_composition,
)
from ppml_lab.dp.accounting.pld import (
    DEFAULT_DISCRETIZATION_INTERVAL,
    DiscretePLD,
    PLDAccountant,
    compose_plds,
    compute_pld_delta,
    compute_pld_epsilon,
    discretize_pld,
    gaussian_hockey_stick,
    laplace_hockey_stick,
    subsampled_hockey_stick,
)
from ppml_lab.dp.accounting.rdp import (
    DEFAULT_ORDERS,
    DP_ACCOUNTING_ORDERS,
    MAX_NOISE_MULTIPLIER,
    OPACUS_ORDERS,
    RDPAccountant,
    compute_rdp,
    find_noise_multiplier,
    rdp_to_epsilon,
)
from ppml_lab.dp.accounting.zcdp import (
    ZCDPAccountant,
    gaussian_zcdp,
    pure_dp_to_zcdp,
    zcdp_to_epsilon,
    zcdp_to_rdp,
)

__all__ = [
    "PrivacyAccountant",
    "DEFAULT_ORDERS",
    "OPACUS_ORDERS",
    "DP_ACCOUNTING_ORDERS",
    "MAX_NOISE_MULTIPLIER",
    "compute_rdp",
    "rdp_to_epsilon",
    "RDPAccountant",
    "find_noise_multiplier",
    "DEFAULT_DISCRETIZATION_INTERVAL",
    "DiscretePLD",
    "PLDAccountant",
    "compose_plds",
    "compute_pld_delta",
    "compute_pld_epsilon",
    "discretize_pld",
    "gaussian_hockey_stick",
    "laplace_hockey_stick",
    "subsampled_hockey_stick",
    "ZCDPAccountant",
    "gaussian_zcdp",
    "pure_dp_to_zcdp",
    "zcdp_to_epsilon",
    "zcdp_to_rdp",
    "basic_composition",
    "advanced_composition",
    "advanced_composition_epsilon_per_step",
]


@runtime_checkable
class PrivacyAccountant(Protocol):
    """Anything that answers ``get_epsilon(delta) -> float``: the epsilon spent so far at ``delta``."""

    def get_epsilon(self, delta: float) -> float: ...
