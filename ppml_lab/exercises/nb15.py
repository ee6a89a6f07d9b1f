"""Exercise checks for notebook 15 (memorisation: language models that remember canaries)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ppml_lab.exercises import CheckResult, ChoiceExercise, failed, not_answered, passed


def check_exposure_function(fn: Callable[[int, int], float] | None) -> CheckResult:
    """The student's ``exposure(rank, space_size)`` against the package's (Carlini et al. 2019, Def. 4)."""
    name = "exposure function"
    if fn is None:
        return not_answered(name, "exposure = log2|R| - log2 rank, with rank 1 the most likely candidate.")
    if not callable(fn):
        return failed(name, f"expected a function exposure(rank, space_size), got {type(fn).__name__}")
    from ppml_lab.attacks.memorisation import exposure_from_rank

    cases = [(1, 10**5), (10**5, 10**5), (1024, 2**20), (3, 10), (777, 10**8)]
    for rank, size in cases:
        try:
            out = fn(rank, size)
            if out is None:
                return not_answered(name, "Your function returns None: exposure = log2|R| - log2 rank.")
            got = float(out)
        except Exception as exc:  # noqa: BLE001  (a student's bug must not crash the notebook)
            return failed(name, f"exposure({rank}, {size}) raised {type(exc).__name__}: {exc}")
        want = float(exposure_from_rank(rank, size))
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
            hint = "Use log base 2." if math.isclose(got, want * math.log(2), rel_tol=1e-6) else (
                "Rank 1 (the most likely candidate) must give the maximum, log2|R|.")
            return failed(name, f"exposure({rank}, {size}) = {got:g}, expected {want:g}", hint)
    return passed(name, "matches ppml_lab.attacks.memorisation.exposure_from_rank on 5 cases")


def check_group_epsilon(answer: Any, *, epsilon: float, repetitions: int = 16) -> CheckResult:
    """epsilon protecting a patient whose identifier sits in ``repetitions`` notes, given ``epsilon`` per note."""
    name = "group epsilon of a repeated canary"
    if answer is None:
        return not_answered(name, "DP-SGD protects one note; a patient in r notes is a group of r.")
    try:
        v = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a number, got {answer!r}")
    truth = repetitions * epsilon  # Dwork & Roth 2014, Thm 2.2
    if math.isclose(v, truth, rel_tol=1e-6):
        return passed(name, f"{repetitions} x {epsilon:.4g} = {truth:.4g} for the {repetitions}-note group")
    if math.isclose(v, epsilon, rel_tol=1e-6):
        return failed(name, "that is the per-note epsilon, a different unit", "Group privacy scales with the group size.")
    return failed(name, f"{v:g} is not right", "Group privacy multiplies epsilon by the number of notes.")


#: Which change lowers the 16-times canary's exposure most without any noise? a/b/c.
check_dedup = ChoiceExercise(
    "deduplication", correct="b", normalise=True,
    ask="Look at the exposure-vs-repetitions plot.",
    right="deduplicating notes turns the 16-times canary into a once-seen one, whose exposure the plot shows is "
          "near chance (Kandpal et al. 2022)",
    reasons={o: "that does not change how often the model sees the secret" for o in ("a", "c")},
    hint="What separates the 1-times canaries from the 16-times ones?")
