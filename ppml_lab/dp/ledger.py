"""A privacy ledger: records every release and refuses one that would exceed the budget.

What it is: the bookkeeping a data custodian keeps: each release's mechanism, parameters, epsilon and
delta spent, timestamp and purpose, with the running total under basic (sequential) composition
(Dwork & Roth 2014, Thm 3.16; epsilons and deltas add). A spend that would exceed the budget raises
:class:`~ppml_lab.exceptions.PrivacyBudgetExceeded` **before** anything is computed or recorded.
Exports a markdown report and JSON (the capstone's compliance notebook uses both).

Threat model: the ledger is trusted bookkeeping; it does not see or store the data or the outputs.
Basic composition is loose for many small releases; for DP-SGD-like loops use the RDP accountant and
spend its epsilon once.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ppml_lab._validation import check_delta, check_nonnegative, check_positive, check_type
from ppml_lab.exceptions import PrivacyBudgetExceeded

__all__ = ["LedgerEntry", "PrivacyLedger", "PrivacyBudgetExceeded"]

_SLACK = 1e-12  # relative slack so that 10 x 0.1 fits a budget of 1.0 despite rounding


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return repr(value)


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded release."""

    index: int
    timestamp: str
    mechanism: str
    purpose: str
    epsilon: float
    delta: float
    parameters: dict[str, Any] = field(default_factory=dict)
    cumulative_epsilon: float = 0.0
    cumulative_delta: float = 0.0


class PrivacyLedger:
    """Records releases against an (epsilon, delta) budget under basic composition.

    >>> ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-6)
    >>> ledger.spend(mechanism="laplace", epsilon=0.5, purpose="mean age").cumulative_epsilon
    0.5
    """

    def __init__(self, *, epsilon_budget: float, delta_budget: float = 0.0, name: str = "privacy ledger",
                 clock: Callable[[], _dt.datetime] | None = None) -> None:
        self.epsilon_budget = check_positive("epsilon_budget", epsilon_budget)
        self.delta_budget = check_delta("delta_budget", delta_budget)
        self.name = check_type("name", name, str)
        self._clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self._entries: list[LedgerEntry] = []

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger(name={self.name!r}, spent=({self.spent_epsilon:g}, {self.spent_delta:g}), "
            f"budget=({self.epsilon_budget:g}, {self.delta_budget:g}), releases={len(self._entries)})"
        )

    # -- state ----------------------------------------------------------------------------------
    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(self._entries)

    @property
    def spent_epsilon(self) -> float:
        return math.fsum(e.epsilon for e in self._entries)

    @property
    def spent_delta(self) -> float:
        return math.fsum(e.delta for e in self._entries)

    @property
    def remaining_epsilon(self) -> float:
        return max(self.epsilon_budget - self.spent_epsilon, 0.0)

    @property
    def remaining_delta(self) -> float:
        return max(self.delta_budget - self.spent_delta, 0.0)

    def can_spend(self, *, epsilon: float, delta: float = 0.0) -> bool:
        eps = check_nonnegative("epsilon", epsilon)
        d = check_delta("delta", delta)
        return (self.spent_epsilon + eps <= self.epsilon_budget * (1 + _SLACK)) and (
            self.spent_delta + d <= self.delta_budget * (1 + _SLACK)
        )

    # -- spending -------------------------------------------------------------------------------
    def spend(
        self,
        *,
        mechanism: str,
        epsilon: float,
        delta: float = 0.0,
        purpose: str,
        parameters: Mapping[str, Any] | None = None,
    ) -> LedgerEntry:
        """Record a release of (epsilon, delta); raise PrivacyBudgetExceeded (recording nothing) if over."""
        check_type("mechanism", mechanism, str)
        check_type("purpose", purpose, str)
        if not purpose.strip():
            raise ValueError("purpose must be a non-empty description of why the release is made, got ''")
        eps = check_positive("epsilon", epsilon)
        d = check_delta("delta", delta)
        if parameters is not None:
            check_type("parameters", parameters, Mapping, what="a mapping (dict) or None")
        if not self.can_spend(epsilon=eps, delta=d):
            raise PrivacyBudgetExceeded(
                f"releasing {mechanism!r} for {purpose!r} needs epsilon={eps:g}, delta={d:g}, but only "
                f"epsilon={self.remaining_epsilon:g}, delta={self.remaining_delta:g} remain of the budget "
                f"({self.epsilon_budget:g}, {self.delta_budget:g}); nothing was released"
            )
        entry = LedgerEntry(
            index=len(self._entries) + 1,
            timestamp=self._clock().isoformat(timespec="seconds"),
            mechanism=mechanism,
            purpose=purpose,
            epsilon=eps,
            delta=d,
            parameters=_jsonable(dict(parameters or {})),
            cumulative_epsilon=self.spent_epsilon + eps,
            cumulative_delta=self.spent_delta + d,
        )
        self._entries.append(entry)
        return entry

    def release(
        self,
        func: Callable[..., Any],
        value: Any,
        *,
        epsilon: float,
        delta: float = 0.0,
        purpose: str,
        mechanism: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Check and record the spend, then run ``func(value, epsilon=..., [delta=...], **kwargs)``.

        The budget check happens first, so an over-budget request computes nothing.
        """
        if not callable(func):
            raise TypeError(f"func must be a callable mechanism, got {type(func).__name__}")
        params = {k: v for k, v in kwargs.items() if k != "rng"}
        self.spend(mechanism=mechanism or getattr(func, "__name__", "mechanism"), epsilon=epsilon, delta=delta,
                   purpose=purpose, parameters=params)
        if delta:
            return func(value, epsilon=epsilon, delta=delta, **kwargs)
        return func(value, epsilon=epsilon, **kwargs)

    # -- reports --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "composition": "basic (Dwork & Roth 2014, Thm 3.16)",
            "budget": {"epsilon": self.epsilon_budget, "delta": self.delta_budget},
            "spent": {"epsilon": self.spent_epsilon, "delta": self.spent_delta},
            "remaining": {"epsilon": self.remaining_epsilon, "delta": self.remaining_delta},
            "releases": [asdict(e) for e in self._entries],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> PrivacyLedger:
        """Rebuild a ledger (budget and entries) from :meth:`to_json` output."""
        data = json.loads(text)
        ledger = cls(epsilon_budget=data["budget"]["epsilon"], delta_budget=data["budget"]["delta"], name=data["name"])
        ledger._entries = [LedgerEntry(**e) for e in data["releases"]]
        return ledger

    def report_markdown(self) -> str:
        """A human-readable report: budget, spent, remaining, and one table row per release."""
        lines = [
            f"## {self.name}",
            "",
            "Composition: basic (epsilons and deltas add; Dwork & Roth 2014, Thm 3.16).",
            "",
            "| | epsilon | delta |",
            "|---|---:|---:|",
            f"| budget | {self.epsilon_budget:.4g} | {self.delta_budget:.3g} |",
            f"| spent | {self.spent_epsilon:.4g} | {self.spent_delta:.3g} |",
            f"| remaining | {self.remaining_epsilon:.4g} | {self.remaining_delta:.3g} |",
            "",
            "| # | time (UTC) | mechanism | purpose | epsilon | delta | cumulative epsilon | parameters |",
            "|---:|---|---|---|---:|---:|---:|---|",
        ]
        for e in self._entries:
            params = ", ".join(f"{k}={v}" for k, v in e.parameters.items())
            purpose = e.purpose.replace("|", "/")
            lines.append(
                f"| {e.index} | {e.timestamp} | {e.mechanism} | {purpose} | {e.epsilon:.4g} | {e.delta:.3g} | "
                f"{e.cumulative_epsilon:.4g} | {params} |"
            )
        if not self._entries:
            lines.append("| | | (no releases yet) | | | | | |")
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.report_markdown()
