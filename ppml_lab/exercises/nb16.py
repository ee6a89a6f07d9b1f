"""Exercise checks for notebook 16 (choosing and combining techniques)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.exercises import CheckResult, failed, not_answered, passed


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


def check_total_epsilon(answer: Any, *, releases: tuple[float, ...] = (0.5, 0.5, 1.0)) -> CheckResult:
    """Total epsilon the ledger reports for several releases about the same hospitals (basic composition)."""
    name = "ledger total"
    if answer is None:
        return not_answered(name, "The ledger adds epsilons (basic composition).")
    try:
        v = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a number, got {answer!r}")
    truth = math.fsum(releases)
    if math.isclose(v, truth, rel_tol=1e-9):
        return passed(name, f"{' + '.join(f'{r:g}' for r in releases)} = {truth:g}")
    if math.isclose(v, max(releases), rel_tol=1e-9):
        return failed(name, "the largest release is not the total", "Every release about the same people counts.")
    return failed(name, f"{v:g} is not the total", "Add the epsilons of all releases.")


def check_group_privacy(answer: Any, *, epsilon: float = 0.02, group_size: int = 50) -> CheckResult:
    """Epsilon per hospital of a pure-DP release at ``epsilon`` per patient, hospitals of at most ``group_size`` patients."""
    name = "group privacy"
    if answer is None:
        return not_answered(name, "Removing one hospital removes up to group_size patients, one neighbour step each.")
    try:
        v = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a number, got {answer!r}")
    truth = epsilon * group_size  # Dwork & Roth 2014, Thm 2.2
    if math.isclose(v, truth, rel_tol=1e-9):
        return passed(name, f"{group_size} x {epsilon:g} = {truth:g} per hospital (group privacy, Dwork & Roth 2014, Thm 2.2)")
    if math.isclose(v, epsilon, rel_tol=1e-9):
        return failed(name, "that is the epsilon per patient, a different unit",
                      "One hospital is a group of patients: epsilons grow with the group size.")
    return failed(name, f"{v:g} is not right", "Group privacy multiplies epsilon by the group size k.")


def check_secagg_gap(answer: Any) -> CheckResult:
    """Which threat does secure aggregation WITHOUT DP leave open?

    (a) the server reading one hospital's update, (b) membership inference against the released model,
    (c) raw records leaving a hospital.
    """
    name = "what secure aggregation does not cover"
    if answer is None:
        return not_answered(name, "SecAgg hides the parts of a sum, not what the sum (the model) reveals.")
    a = str(answer).strip().lower()
    if a == "b":
        return passed(name, "the model is the aggregate; only DP bounds what it reveals about anyone")
    if a in ("a", "c"):
        return failed(name, f"({a}) is covered: SecAgg hides updates, FL keeps records on site",
                      "Which threat works on the final model alone?")
    return failed(name, f"answer 'a', 'b' or 'c', got {answer!r}")
