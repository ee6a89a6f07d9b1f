"""Self-checks for the notebooks' exercises.

Each notebook ``NN_name.ipynb`` has a module ``ppml_lab.exercises.nbNN`` with ``check_<name>(answer)``
functions. A check never raises on a wrong or missing answer: it returns a :class:`CheckResult` that
prints a clear pass/fail line with a hint, so a notebook with unanswered exercises still runs top to
bottom. Tests show that a reference answer passes and typical wrong answers fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["CheckResult", "passed", "failed", "not_answered", "as_number"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one exercise check. ``bool(result)`` is True when the answer is right."""

    exercise: str
    ok: bool
    message: str
    hint: str = ""
    answered: bool = True

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if not self.answered:
            return f"[{self.exercise}] not answered yet. {self.hint}".rstrip()
        mark = "PASS" if self.ok else "FAIL"
        text = f"[{self.exercise}] {mark}: {self.message}"
        if not self.ok and self.hint:
            text += f"\n  Hint: {self.hint}"
        return text

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        if not self.answered:
            return f"**{self.exercise}** — not answered yet. {self.hint}"
        icon = "✅" if self.ok else "❌"
        text = f"{icon} **{self.exercise}**: {self.message}"
        if not self.ok and self.hint:
            text += f"  \n*Hint:* {self.hint}"
        return text


def passed(exercise: str, message: str = "correct") -> CheckResult:
    return CheckResult(exercise, True, message)


def failed(exercise: str, message: str, hint: str = "") -> CheckResult:
    return CheckResult(exercise, False, message, hint)


def not_answered(exercise: str, hint: str = "") -> CheckResult:
    """For an answer that is still ``None`` (the placeholder in the notebook)."""
    return CheckResult(exercise, False, "", hint, answered=False)


def as_number(exercise: str, answer: Any) -> float | CheckResult:
    """``answer`` as a finite float, or a failed :class:`CheckResult` saying what was expected instead."""
    if isinstance(answer, bool):
        return failed(exercise, f"expected a number, got {answer!r}")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return failed(exercise, f"expected a number, got {answer!r}")
    if not math.isfinite(value):
        return failed(exercise, f"expected a finite number, got {value}")
    return value
