"""Differential privacy: mechanisms, hardened samplers, accountants, a privacy ledger and a statistical audit.

Modules: :mod:`~ppml_lab.dp.mechanisms` (randomized response, Laplace, Gaussian, geometric, discrete
Gaussian, exponential, clipped queries), :mod:`~ppml_lab.dp.samplers` (textbook vs grid vs exact
samplers), :mod:`~ppml_lab.dp.accounting` (composition, zCDP, RDP and PLD accountants; every accountant answers
``get_epsilon(delta)``),
:mod:`~ppml_lab.dp.ledger` (PrivacyLedger) and :mod:`~ppml_lab.dp.audit` (epsilon lower bounds).
DP-SGD (``dp_sgd``) and synthetic data (``synthetic``) live in their own modules and are imported
explicitly.
"""

from ppml_lab.dp.accounting import (
    DEFAULT_ORDERS,
    PLDAccountant,
    PrivacyAccountant,
    RDPAccountant,
    ZCDPAccountant,
    advanced_composition,
    basic_composition,
    compute_pld_epsilon,
    compute_rdp,
    find_noise_multiplier,
    rdp_to_epsilon,
    zcdp_to_epsilon,
)
from ppml_lab.dp.audit import AuditResult, audit_mechanism
from ppml_lab.dp.ledger import LedgerEntry, PrivacyLedger
from ppml_lab.dp.mechanisms import (
    NoiseStats,
    clipped_count,
    clipped_mean,
    clipped_sum,
    discrete_gaussian_mechanism,
    exponential_mechanism,
    gaussian_mechanism,
    gaussian_sigma_analytic,
    gaussian_sigma_classical,
    geometric_mechanism,
    histogram,
    k_randomized_response,
    laplace_mechanism,
    laplace_mechanism_textbook,
    randomized_response,
    report_noisy_max,
)

__all__ = [
    "DEFAULT_ORDERS",
    "PLDAccountant",
    "PrivacyAccountant",
    "RDPAccountant",
    "ZCDPAccountant",
    "advanced_composition",
    "basic_composition",
    "compute_pld_epsilon",
    "compute_rdp",
    "find_noise_multiplier",
    "rdp_to_epsilon",
    "zcdp_to_epsilon",
    "AuditResult",
    "audit_mechanism",
    "LedgerEntry",
    "PrivacyLedger",
    "NoiseStats",
    "clipped_count",
    "clipped_mean",
    "clipped_sum",
    "discrete_gaussian_mechanism",
    "exponential_mechanism",
    "gaussian_mechanism",
    "gaussian_sigma_analytic",
    "gaussian_sigma_classical",
    "geometric_mechanism",
    "histogram",
    "k_randomized_response",
    "laplace_mechanism",
    "laplace_mechanism_textbook",
    "randomized_response",
    "report_noisy_max",
]
