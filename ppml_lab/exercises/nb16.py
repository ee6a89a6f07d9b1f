"""Exercise checks for notebook 16 (choosing and combining techniques)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.exercises import (
    CheckResult,
    ChoiceExercise,
    Mistake,
    NumericExercise,
    failed,
    not_answered,
    passed,
)


def check_privacy_unit(answer: Any) -> CheckResult:
    """Whose data does DP-FedAvg across the five hospitals protect as one unit: 'patient' or 'hospital'?"""
    name = "privacy unit of DP-FedAvg"
    if answer is None:
        return not_answered(name, "What does the server clip: one patient's gradient or one site's update?")
    a = str(answer).strip().lower()
    if a in ("hospital", "site", "client"):
        return passed(name, "client-level DP: a whole hospital's data set is the unit, which is why 5 clients "
                            "give a large epsilon")
    if a in ("patient", "record", "example", "sample"):
        return failed(name, "record-level DP is what DP-SGD gives; DP-FedAvg clips whole client updates",
                      "Each round clips Delta_k, the update of hospital k.")
    return failed(name, f"answer 'patient' or 'hospital', got {answer!r}")


#: Total epsilon the ledger reports for several releases about the same hospitals (basic composition).
check_total_epsilon = NumericExercise(
    "ledger total", expected=lambda releases: math.fsum(releases), tol=0.0, rel_tol=1e-9,
    params={"releases": (0.5, 0.5, 1.0)},
    ask="The ledger adds epsilons (basic composition).",
    right="the epsilons of the releases add up to {truth:g}",
    hint="Add the epsilons of all releases.",
    wrong="{value:g} is not the total",
    mistakes=(Mistake("the largest release is not the total", "Every release about the same people counts.",
                      value=lambda releases: max(releases)),))


#: Epsilon per hospital of a pure-DP release at ``epsilon`` per patient, hospitals of at most ``group_size``
#: patients (group privacy: Dwork & Roth 2014, Thm 2.2).
check_group_privacy = NumericExercise(
    "group privacy", expected=lambda epsilon, group_size: epsilon * group_size, tol=0.0, rel_tol=1e-9,
    params={"epsilon": 0.02, "group_size": 50},
    ask="Removing one hospital removes up to group_size patients, one neighbour step each.",
    right="{group_size} x {epsilon:g} = {truth:g} per hospital (group privacy, Dwork & Roth 2014, Thm 2.2)",
    hint="Group privacy multiplies epsilon by the group size k.",
    wrong="{value:g} is not right",
    mistakes=(Mistake("that is the epsilon per patient, a different unit",
                      "One hospital is a group of patients: epsilons grow with the group size.",
                      value=lambda epsilon, group_size: epsilon),))


#: Which threat does secure aggregation WITHOUT DP leave open? (a) the server reading one hospital's update,
#: (b) membership inference against the released model, (c) raw records leaving a hospital.
check_secagg_gap = ChoiceExercise(
    "what secure aggregation does not cover", correct="b", normalise=True,
    ask="SecAgg hides the parts of a sum, not what the sum (the model) reveals.",
    right="the model is the aggregate; only DP bounds what it reveals about anyone",
    reasons={o: f"({o}) is covered: SecAgg hides updates, FL keeps records on site" for o in ("a", "c")},
    hint="Which threat works on the final model alone?")
