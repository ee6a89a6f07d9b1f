"""Self-checks for the notebooks' exercises.

Each notebook ``NN_name.ipynb`` has a module ``ppml_lab.exercises.nbNN`` with ``check_<name>(answer)``
checks. A check with a fixed answer is declared in one entry -- :class:`NumericExercise` (expected value,
tolerance, hints, typical mistakes) or :class:`ChoiceExercise` (options, the right one, why each other one
is wrong); a check that needs parameters or runs the student's code is a function. A check never raises on a wrong or missing answer: it returns a :class:`CheckResult` that
prints a clear pass/fail line with a hint, so a notebook with unanswered exercises still runs top to
bottom. Tests show that a reference answer passes and typical wrong answers fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CheckResult", "passed", "failed", "not_answered", "as_number", "Mistake", "NumericExercise",
           "ChoiceExercise"]


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
    """A passing :class:`CheckResult` for ``exercise``."""
    return CheckResult(exercise, True, message)


def failed(exercise: str, message: str, hint: str = "") -> CheckResult:
    """A failing :class:`CheckResult` for ``exercise``, with what was wrong and an optional hint."""
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


Number = float | Callable[..., float]


def _format_spend(x: float) -> str:
    from ppml_lab.dp.ledger import format_spend

    return format_spend(x)


def _value(x: Number, params: Mapping[str, Any]) -> float:
    """A declared number, or a function of the exercise's parameters computing it (so a check can call the
    package lazily and nothing is typed twice)."""
    return float(x(**params) if callable(x) else x)


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: ``value`` (a number or a function of the exercise's parameters, matched within
    the exercise's tolerance unless ``tol`` is given) or ``when`` (a predicate on ``(answer, truth)``), the
    message that explains it, and a hint that points the way without giving the answer."""

    message: str
    hint: str = ""
    value: Number | None = None
    when: Callable[[float, float], bool] | None = None
    tol: float | None = None


@dataclass(frozen=True)
class NumericExercise:
    """A numeric self-check declared in one entry: the expected value, its tolerance and the hints.

    Calling it with the student's answer returns a :class:`CheckResult`; it never raises on an answer.
    ``expected`` is a number or a function of ``params`` (computed from the package when the check runs).
    ``params`` are the exercise's defaults; a notebook may override them by keyword, as with a function
    (an unknown keyword is a TypeError). The tolerance is absolute (``tol``) or relative (``rel_tol``),
    inclusive. ``name``, ``right`` and ``wrong`` and each mistake's message may use ``{truth}``, ``{value}``
    and the parameters as format fields; ``right`` is shown only after a correct answer. ``whole=True``
    accepts only whole numbers.
    """

    name: str
    expected: Number
    ask: str
    right: str
    hint: str
    wrong: str = "{value:g} is not it"
    tol: float = 1e-9
    rel_tol: float = 0.0
    mistakes: tuple[Mistake, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    whole: bool = False

    def _close(self, value: float, target: float, tol: float | None = None) -> bool:
        if tol is not None:
            return abs(value - target) <= tol
        return abs(value - target) <= max(self.tol, self.rel_tol * abs(target))

    def __call__(self, answer: Any, **overrides: Any) -> CheckResult:
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise TypeError(f"check {self.name!r} got unexpected keyword argument(s) {unknown}; "
                            f"it takes {sorted(self.params)}")
        p = {**self.params, **overrides}
        name = self.name.format(**p)
        if answer is None:
            return not_answered(name, self.ask.format(**p))
        if self.whole and (isinstance(answer, bool) or not isinstance(answer, (int, np.integer))):
            return failed(name, f"expected a whole number, got {answer!r}")
        value = as_number(name, answer)
        if isinstance(value, CheckResult):
            return value
        truth = _value(self.expected, p)
        # {spend}: the truth rounded UP to 4 significant digits, for an epsilon (never print a spend smaller)
        fields = {**p, "truth": truth, "value": value, "spend": _format_spend(truth)}
        if self._close(value, truth):
            return passed(name, self.right.format(**fields))
        for m in self.mistakes:
            hit = (m.when(value, truth) if m.when is not None
                   else m.value is not None and self._close(value, _value(m.value, p), m.tol))
            if hit:
                return failed(name, m.message.format(**fields), m.hint.format(**fields))
        return failed(name, self.wrong.format(**fields), self.hint.format(**fields))


@dataclass(frozen=True)
class ChoiceExercise:
    """A multiple-choice self-check in one entry: the options, the right one, why each wrong one is wrong."""

    name: str
    correct: str
    ask: str
    right: str
    reasons: Mapping[str, str] = field(default_factory=dict)
    hint: str = ""
    normalise: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        return (self.correct, *self.reasons)

    def __call__(self, answer: Any) -> CheckResult:
        if answer is None:
            return not_answered(self.name, self.ask)
        choice = answer.strip().lower() if (self.normalise and isinstance(answer, str)) else answer
        if not isinstance(choice, str) or choice not in self.options:
            shown = ", ".join(repr(o) for o in sorted(self.options))
            return failed(self.name, f"expected one of {shown}, got {answer!r}")
        if choice == self.correct:
            return passed(self.name, self.right)
        return failed(self.name, self.reasons[choice], self.hint)
