"""Attacks: why any of this matters, each run by a test marked ``attack`` and, where it teaches, by a notebook.

Modules: :mod:`~ppml_lab.attacks.linkage` (quasi-identifier linkage, Sweeney), :mod:`~ppml_lab.attacks.
membership_inference` (loss threshold, LiRA), :mod:`~ppml_lab.attacks.secagg_server` (deviating secure-
aggregation servers), and, imported from their modules because they load torch or TenSEAL,
:mod:`~ppml_lab.attacks.gradient_inversion` (DLG, Inverting Gradients), :mod:`~ppml_lab.attacks.memorisation`
(exposure, extraction) and :mod:`~ppml_lab.attacks.ckks_key_recovery` (Li & Micciancio 2021).
"""

from ppml_lab.attacks.linkage import (
    LinkageResult,
    combined_key,
    link_records,
    release_and_register,
    uniqueness,
    uniqueness_table,
)
from ppml_lab.attacks.membership_inference import (
    AttackResult,
    EmpiricalEpsilon,
    LiRAResult,
    LiRATargetResult,
    clopper_pearson_upper,
    cross_entropy_losses,
    empirical_epsilon,
    epsilon_lower_bound,
    lira_scores,
    logit_confidence,
    logit_confidence_from_logits,
    loss_threshold_attack,
    membership_masks,
    roc_from_scores,
    run_lira,
    run_lira_target,
)
from ppml_lab.attacks.secagg_server import (
    ask_twice_attack,
    false_dropout_attack,
    key_swap_attack,
    late_input_attack,
)

__all__ = [
    "combined_key",
    "uniqueness",
    "uniqueness_table",
    "LinkageResult",
    "link_records",
    "release_and_register",
    "AttackResult",
    "cross_entropy_losses",
    "roc_from_scores",
    "loss_threshold_attack",
    "logit_confidence",
    "logit_confidence_from_logits",
    "membership_masks",
    "lira_scores",
    "LiRAResult",
    "run_lira",
    "LiRATargetResult",
    "run_lira_target",
    "clopper_pearson_upper",
    "EmpiricalEpsilon",
    "empirical_epsilon",
    "epsilon_lower_bound",
    "ask_twice_attack",
    "false_dropout_attack",
    "key_swap_attack",
    "late_input_attack",
]
