"""A privacy ledger: records every release, in one privacy unit, and refuses one that would exceed the budget.

What it is: the bookkeeping a data custodian keeps: each release's mechanism, parameters, epsilon and
delta spent, the **privacy unit** they protect (a record, a patient, a hospital, ...), timestamp and
purpose, with the running total under basic (sequential) composition (Dwork & Roth 2014, Thm 3.16;
epsilons and deltas add). Exports a markdown report and JSON (the capstone's compliance notebook uses both).

Rules the ledger enforces (each has a test in ``tests/dp/test_ledger.py``):

* **One unit per ledger.** The budget protects one unit (``PrivacyLedger(unit="patient")``). A spend
  stated in another unit raises :class:`~ppml_lab.exceptions.PrivacyUnitError` unless it is converted
  explicitly with ``group_size=k`` (group privacy, :func:`group_privacy`): an (epsilon, delta) guarantee
  for the source unit is a (k epsilon, k e^{(k-1) epsilon} delta) guarantee for any change that takes at
  most k source-unit neighbour steps (Dwork & Roth 2014, Thm 2.2 for delta = 0; Vadhan 2017, Lemma 2.2).
* **Validate, then charge, then compute — atomically.** Every argument the ledger can check is checked
  before anything is recorded; the budget check and the append happen under one lock, so concurrent
  spends can never exceed the budget together; a release runs its mechanism only after the charge.
* **Never rounded down, never given back.** Epsilons are stored as given; there is no refund API, budgets
  are read-only, and :meth:`PrivacyLedger.from_json` rejects negative, non-finite or inconsistent entries.

If the mechanism raises *after* the charge, the spend stays charged and the entry's ``outcome`` says so.
Reason: once the mechanism has run on the data, the ledger cannot prove that nothing left it (noise may
have been drawn and partial results written or shown in the exception's text), and a ledger must never
understate what was spent. Everything the ledger can check in advance (its own arguments, that the
keyword arguments bind to the mechanism's signature, delta against the mechanism's signature, a
``sensitivity`` > 0) is checked before charging, so a mistyped call costs nothing.

Threat model: the ledger is trusted bookkeeping inside one process; it does not see or store the data
or the outputs. Basic composition is loose for many small releases; for DP-SGD-like loops use the RDP
accountant and spend its epsilon once.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ppml_lab._validation import check_delta, check_int, check_nonnegative, check_positive, check_type
from ppml_lab.exceptions import PrivacyBudgetExceeded, PrivacyUnitError

__all__ = [
    "LedgerEntry",
    "PrivacyLedger",
    "PrivacyBudgetExceeded",
    "PrivacyUnitError",
    "group_privacy",
    "check_unit",
    "format_spend",
]

_SLACK = 1e-12  # relative slack so that 10 x 0.1 fits a budget of 1.0 despite rounding
_OUTCOMES = ("recorded", "released", "failed after charge")


def check_unit(name: str, unit: Any) -> str:
    """A privacy unit: a non-empty string such as 'record', 'patient', 'hospital' (lower-cased, stripped)."""
    check_type(name, unit, str)
    u = " ".join(unit.strip().lower().split())
    if not u:
        raise ValueError(f"{name} must name whose privacy is protected (e.g. 'record', 'patient', 'hospital'), got {unit!r}")
    return u


def group_privacy(*, epsilon: float, delta: float = 0.0, group_size: int) -> tuple[float, float]:
    """Group privacy: an (epsilon, delta)-DP mechanism is (k epsilon, k e^{(k-1) epsilon} delta)-DP for groups of k.

    Pure DP: Dwork & Roth 2014, Thm 2.2 (k epsilon). Approximate DP: chaining the definition along the
    k neighbour steps x_0 ~ x_1 ~ ... ~ x_k gives delta_k = e^epsilon delta_{k-1} + delta
    = delta sum_{i<k} e^{i epsilon} <= k e^{(k-1) epsilon} delta (Vadhan 2017, Lemma 2.2). The delta
    returned may exceed 1, i.e. no guarantee; the ledger then refuses to spend it.
    """
    eps = check_nonnegative("epsilon", epsilon)
    d = check_delta("delta", delta)
    k = check_int("group_size", group_size, low=1)
    eps_k = k * eps  # Dwork & Roth 2014, Thm 2.2
    if d == 0.0:
        return eps_k, 0.0
    try:
        return eps_k, k * math.exp((k - 1) * eps) * d  # k e^{(k-1) eps} delta (Vadhan 2017, Lemma 2.2)
    except OverflowError:
        return eps_k, math.inf


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
    """One recorded release. ``epsilon``/``delta`` are in the ledger's ``unit``.

    When the release was stated in another unit and converted by group privacy, ``source_unit``,
    ``source_epsilon``, ``source_delta`` and ``group_size`` record what the mechanism itself guaranteed.
    """

    index: int
    timestamp: str
    mechanism: str
    purpose: str
    epsilon: float
    delta: float
    unit: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cumulative_epsilon: float = 0.0
    cumulative_delta: float = 0.0
    source_unit: str | None = None
    source_epsilon: float | None = None
    source_delta: float | None = None
    group_size: int | None = None
    outcome: str = "recorded"

    @property
    def converted(self) -> bool:
        return self.source_unit is not None


_ENTRY_FIELDS = tuple(f.name for f in fields(LedgerEntry))


class PrivacyLedger:
    """Records releases against an (epsilon, delta) budget for one privacy unit, under basic composition.

    >>> ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-6, unit="patient")
    >>> ledger.spend(mechanism="laplace", epsilon=0.5, purpose="mean age", unit="patient").cumulative_epsilon
    0.5

    ``unit`` defaults to ``"record"`` (one row of the data); say what a record is (a patient, a visit)
    when it matters. A spend's ``unit`` defaults to the ledger's unit.
    """

    def __init__(self, *, epsilon_budget: float, delta_budget: float = 0.0, unit: str = "record",
                 name: str = "privacy ledger", clock: Callable[[], _dt.datetime] | None = None) -> None:
        self._epsilon_budget = check_positive("epsilon_budget", epsilon_budget)
        self._delta_budget = check_delta("delta_budget", delta_budget)
        self._unit = check_unit("unit", unit)
        self._name = check_type("name", name, str)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning a datetime or None, got {type(clock).__name__}")
        self._clock = clock or (lambda: _dt.datetime.now(_dt.UTC))
        self._entries: list[LedgerEntry] = []
        self._lock = threading.RLock()  # one lock around check-and-append (and entry updates)

    def __repr__(self) -> str:
        return (
            f"PrivacyLedger(name={self.name!r}, unit={self.unit!r}, spent=({self.spent_epsilon:g}, "
            f"{self.spent_delta:g}), budget=({self.epsilon_budget:g}, {self.delta_budget:g}), "
            f"releases={len(self._entries)})"
        )

    # -- read-only state ------------------------------------------------------------------------
    @property
    def epsilon_budget(self) -> float:
        return self._epsilon_budget

    @property
    def delta_budget(self) -> float:
        return self._delta_budget

    @property
    def unit(self) -> str:
        """Whose privacy every epsilon in this ledger protects (e.g. 'patient', 'hospital')."""
        return self._unit

    @property
    def name(self) -> str:
        return self._name

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        with self._lock:
            return tuple(self._entries)

    @property
    def spent_epsilon(self) -> float:
        with self._lock:
            return math.fsum(e.epsilon for e in self._entries)

    @property
    def spent_delta(self) -> float:
        with self._lock:
            return math.fsum(e.delta for e in self._entries)

    @property
    def remaining_epsilon(self) -> float:
        return max(self.epsilon_budget - self.spent_epsilon, 0.0)

    @property
    def remaining_delta(self) -> float:
        return max(self.delta_budget - self.spent_delta, 0.0)

    def _fits(self, eps: float, d: float) -> bool:
        return (self.spent_epsilon + eps <= self.epsilon_budget * (1 + _SLACK)) and (
            self.spent_delta + d <= self.delta_budget * (1 + _SLACK)
        )

    def can_spend(self, *, epsilon: float, delta: float = 0.0, unit: str | None = None,
                  group_size: int | None = None) -> bool:
        """Whether a spend would fit now (a snapshot: another thread may spend before you do)."""
        eps, d, *_ = self._convert(epsilon, delta, unit, group_size)
        with self._lock:
            return self._fits(eps, d)

    # -- validation shared by spend and release ---------------------------------------------------
    def _convert(self, epsilon: Any, delta: Any, unit: Any, group_size: Any
                 ) -> tuple[float, float, str | None, float | None, float | None, int | None]:
        """Validate (epsilon, delta, unit, group_size); return the spend in the ledger's unit + provenance."""
        eps = check_positive("epsilon", epsilon)
        d = check_delta("delta", delta)
        u = self.unit if unit is None else check_unit("unit", unit)
        if u == self.unit:
            if group_size is not None:
                raise ValueError(
                    f"group_size converts between privacy units; the release is already in the ledger's unit "
                    f"{self.unit!r}, so pass group_size=None, got {group_size!r}"
                )
            return eps, d, None, None, None, None
        if group_size is None:
            raise PrivacyUnitError(
                f"unit must be the ledger's privacy unit {self.unit!r}, got {u!r}: epsilons protecting "
                f"different units do not add up. Convert explicitly with group_size=k, the largest number of "
                f"{u!r}-level neighbour steps one {self.unit!r} can span (group privacy, Dwork & Roth 2014, "
                f"Thm 2.2), or keep a separate ledger per unit"
            )
        k = check_int("group_size", group_size, low=1)
        eps_k, d_k = group_privacy(epsilon=eps, delta=d, group_size=k)
        if not math.isfinite(eps_k):
            raise ValueError(f"group_size={k} makes epsilon={eps_k!r} (not finite); no guarantee to record")
        if not d_k < 1.0:
            raise PrivacyBudgetExceeded(
                f"converting ({eps:g}, {d:g}) per {u!r} to groups of {k} gives delta = {k} e^({k - 1} x {eps:g}) "
                f"x {d:g} = {d_k:g} >= 1, i.e. no guarantee per {self.unit!r}; nothing was released"
            )
        return eps_k, d_k, u, eps, d, k

    @staticmethod
    def _check_text(mechanism: Any, purpose: Any, parameters: Any) -> None:
        check_type("mechanism", mechanism, str)
        check_type("purpose", purpose, str)
        if not purpose.strip():
            raise ValueError("purpose must be a non-empty description of why the release is made, got ''")
        if parameters is not None:
            check_type("parameters", parameters, Mapping, what="a mapping (dict) or None")

    def _charge(self, *, mechanism: str, purpose: str, parameters: Mapping[str, Any] | None,
                converted: tuple[float, float, str | None, float | None, float | None, int | None],
                outcome: str) -> LedgerEntry:
        """Check the budget and append, atomically. Arguments are already validated."""
        eps, d, src_unit, src_eps, src_d, k = converted
        params = _jsonable(dict(parameters or {}))
        with self._lock:
            if not self._fits(eps, d):
                what = (f"epsilon={eps:g}, delta={d:g}" if src_unit is None else
                        f"epsilon={eps:g}, delta={d:g} per {self.unit!r} (= group of {k} x ({src_eps:g}, {src_d:g}) "
                        f"per {src_unit!r})")
                raise PrivacyBudgetExceeded(
                    f"releasing {mechanism!r} for {purpose!r} needs {what}, but only "
                    f"epsilon={self.remaining_epsilon:g}, delta={self.remaining_delta:g} remain of the budget "
                    f"({self.epsilon_budget:g}, {self.delta_budget:g}) per {self.unit!r}; nothing was released"
                )
            entry = LedgerEntry(
                index=len(self._entries) + 1,
                timestamp=self._clock().isoformat(timespec="seconds"),
                mechanism=mechanism,
                purpose=purpose,
                epsilon=eps,
                delta=d,
                unit=self.unit,
                parameters=params,
                cumulative_epsilon=self.spent_epsilon + eps,
                cumulative_delta=self.spent_delta + d,
                source_unit=src_unit,
                source_epsilon=src_eps,
                source_delta=src_d,
                group_size=k,
                outcome=outcome,
            )
            self._entries.append(entry)
            return entry

    # -- spending -------------------------------------------------------------------------------
    def spend(
        self,
        *,
        mechanism: str,
        epsilon: float,
        delta: float = 0.0,
        purpose: str,
        parameters: Mapping[str, Any] | None = None,
        unit: str | None = None,
        group_size: int | None = None,
    ) -> LedgerEntry:
        """Record a release of (epsilon, delta) protecting ``unit``; raise (recording nothing) if it does not fit.

        ``unit=None`` means the ledger's unit. Another unit needs ``group_size`` (group privacy); without
        it :class:`PrivacyUnitError` is raised. Raises :class:`PrivacyBudgetExceeded` if over budget.

        ``group_size`` k is the largest number of ``unit``-level neighbour steps that one change of the
        ledger's unit can take, and choosing it is the caller's claim. Examples: a patient-level count
        into a hospital ledger under add/remove neighbours needs k = a public cap on patients per hospital;
        a hospital-level (add/remove one hospital) guarantee into a patient ledger needs k = 2, because
        changing one patient's data replaces that hospital's data (remove it, add it back changed).
        """
        self._check_text(mechanism, purpose, parameters)
        converted = self._convert(epsilon, delta, unit, group_size)
        return self._charge(mechanism=mechanism, purpose=purpose, parameters=parameters, converted=converted,
                            outcome="recorded")

    def release(
        self,
        func: Callable[..., Any],
        value: Any,
        *,
        epsilon: float,
        delta: float = 0.0,
        purpose: str,
        mechanism: str | None = None,
        unit: str | None = None,
        group_size: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Validate, charge, then run ``func(value, epsilon=..., [delta=...], **kwargs)`` and return its output.

        ``func`` receives the mechanism's own epsilon (in ``unit``); the ledger charges it converted to
        its unit. ``delta`` is passed whenever ``func`` takes a ``delta`` parameter (also delta = 0);
        a pure mechanism (no ``delta`` parameter) cannot spend delta > 0, and a mechanism that requires
        ``delta`` cannot run at delta = 0. Both are refused before anything is charged, as are keyword
        arguments ``func`` does not accept and a ``sensitivity`` that is not a finite number > 0.
        """
        if not callable(func):
            raise TypeError(f"func must be a callable mechanism, got {type(func).__name__}")
        name = mechanism if mechanism is not None else getattr(func, "__name__", "mechanism")
        self._check_text(name, purpose, None)
        converted = self._convert(epsilon, delta, unit, group_size)
        eps, d, src_unit, src_eps, src_delta, _ = converted
        # the mechanism runs in its own unit: the source values when a conversion happened
        eps_src: float = src_eps if src_unit is not None and src_eps is not None else eps
        d_src: float = src_delta if src_unit is not None and src_delta is not None else d
        call_kwargs = dict(kwargs)
        call_kwargs["epsilon"] = eps_src
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):  # builtins without a signature: pass delta only if spent
            sig = None
        if sig is not None:
            params = sig.parameters
            takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            if "delta" in params or takes_var_kw:
                p = params.get("delta")
                if p is not None and p.default is inspect.Parameter.empty and d_src == 0.0:
                    raise ValueError(
                        f"delta must be > 0 for {name!r}, which requires delta (an approximate-DP mechanism), "
                        f"got {d_src!r}; nothing was charged"
                    )
                call_kwargs["delta"] = d_src
            elif d_src > 0.0:
                raise ValueError(
                    f"delta must be 0 for {name!r}, which takes no delta (a pure-DP mechanism), got {d_src!r}; "
                    f"nothing was charged"
                )
            try:
                sig.bind(value, **call_kwargs)
            except TypeError as err:
                raise TypeError(f"arguments do not fit {name!r}: {err}; nothing was charged") from None
        elif d_src > 0.0:
            call_kwargs["delta"] = d_src
        if "sensitivity" in call_kwargs:
            check_positive("sensitivity", call_kwargs["sensitivity"])
        recorded = {k: v for k, v in kwargs.items() if k != "rng"}
        entry = self._charge(mechanism=name, purpose=purpose, parameters=recorded, converted=converted,
                             outcome="released")
        try:
            return func(value, **call_kwargs)
        except BaseException:
            self._mark(entry, "failed after charge")  # kept charged: see the module docstring
            raise

    def _mark(self, entry: LedgerEntry, outcome: str) -> None:
        with self._lock:
            i = entry.index - 1
            self._entries[i] = replace(self._entries[i], outcome=outcome)

    # -- reports --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "unit": self.unit,
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
        """Rebuild a ledger (budget, unit and entries) from :meth:`to_json` output, checking every field.

        Raises ``ValueError``/``TypeError`` naming the field for malformed JSON, missing or unknown keys,
        negative or non-finite epsilon/delta, an entry in another unit, inconsistent indices or cumulative
        totals, or entries that together exceed the budget. A ledger that gives budget back is refused.
        """
        check_type("text", text, (str, bytes))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"text must be a JSON ledger from PrivacyLedger.to_json, got invalid JSON: {err}") from None
        check_type("ledger JSON", data, dict, what="a JSON object")
        for key in ("name", "unit", "budget", "releases"):
            if key not in data:
                raise ValueError(f"ledger JSON must have the key {key!r}, got keys {sorted(data)}")
        budget = check_type("budget", data["budget"], dict, what="a JSON object")
        if set(budget) != {"epsilon", "delta"}:
            raise ValueError(f"budget must have exactly the keys ['delta', 'epsilon'], got {sorted(budget)}")
        ledger = cls(epsilon_budget=budget["epsilon"], delta_budget=budget["delta"], unit=data["unit"],
                     name=data["name"])
        releases = check_type("releases", data["releases"], list, what="a JSON list")
        entries: list[LedgerEntry] = []
        eps_total: list[float] = []
        d_total: list[float] = []
        for i, raw in enumerate(releases):
            where = f"releases[{i}]"
            check_type(where, raw, dict, what="a JSON object")
            missing = [k for k in _ENTRY_FIELDS if k not in raw]
            unknown = [k for k in raw if k not in _ENTRY_FIELDS]
            if missing or unknown:
                raise ValueError(f"{where} must have exactly the LedgerEntry fields; missing {missing}, unknown {unknown}")
            if check_int(f"{where}.index", raw["index"]) != i + 1:
                raise ValueError(f"{where}.index must be {i + 1} (entries in order, none removed), got {raw['index']}")
            for key in ("timestamp", "mechanism", "purpose"):
                check_type(f"{where}.{key}", raw[key], str)
            if not raw["purpose"].strip():
                raise ValueError(f"{where}.purpose must be a non-empty description, got ''")
            eps = check_positive(f"{where}.epsilon", raw["epsilon"])
            d = check_delta(f"{where}.delta", raw["delta"])
            if check_unit(f"{where}.unit", raw["unit"]) != ledger.unit:
                raise PrivacyUnitError(f"{where}.unit must be the ledger's unit {ledger.unit!r}, got {raw['unit']!r}")
            check_type(f"{where}.parameters", raw["parameters"], dict, what="a JSON object")
            if raw["outcome"] not in _OUTCOMES:
                raise ValueError(f"{where}.outcome must be one of {list(_OUTCOMES)}, got {raw['outcome']!r}")
            provenance = [raw[k] for k in ("source_unit", "source_epsilon", "source_delta", "group_size")]
            if any(p is not None for p in provenance):
                if any(p is None for p in provenance):
                    raise ValueError(f"{where} must give all of source_unit, source_epsilon, source_delta, group_size or none")
                src_unit = check_unit(f"{where}.source_unit", raw["source_unit"])
                src_eps = check_positive(f"{where}.source_epsilon", raw["source_epsilon"])
                src_d = check_delta(f"{where}.source_delta", raw["source_delta"])
                k = check_int(f"{where}.group_size", raw["group_size"], low=1)
                want_eps, want_d = group_privacy(epsilon=src_eps, delta=src_d, group_size=k)
                if src_unit == ledger.unit or not (math.isclose(eps, want_eps, rel_tol=1e-9)
                                                   and math.isclose(d, want_d, rel_tol=1e-9, abs_tol=0.0)):
                    raise ValueError(
                        f"{where}: epsilon, delta = ({eps!r}, {d!r}) must equal the group-privacy conversion of "
                        f"({src_eps!r}, {src_d!r}) per {src_unit!r} with group_size={k}, i.e. ({want_eps!r}, {want_d!r})"
                    )
            eps_total.append(eps)
            d_total.append(d)
            for key, total in (("cumulative_epsilon", eps_total), ("cumulative_delta", d_total)):
                v = check_nonnegative(f"{where}.{key}", raw[key])
                if not math.isclose(v, math.fsum(total), rel_tol=1e-9, abs_tol=1e-15):
                    raise ValueError(f"{where}.{key} must equal the sum of the entries so far, {math.fsum(total)!r}, got {v!r}")
            entries.append(LedgerEntry(**{**raw, "epsilon": eps, "delta": d, "unit": ledger.unit}))
        if not (math.fsum(eps_total) <= ledger.epsilon_budget * (1 + _SLACK)
                and math.fsum(d_total) <= ledger.delta_budget * (1 + _SLACK)):
            raise PrivacyBudgetExceeded(
                f"releases must fit the budget ({ledger.epsilon_budget:g}, {ledger.delta_budget:g}) per "
                f"{ledger.unit!r}, got a total of ({math.fsum(eps_total):g}, {math.fsum(d_total):g})"
            )
        ledger._entries = entries
        return ledger

    def report_markdown(self) -> str:
        """A human-readable report: unit, budget, spent, remaining, and one table row per release."""
        with self._lock:
            entries = list(self._entries)
            spent_e, spent_d = self.spent_epsilon, self.spent_delta
        lines = [
            f"## {self.name}",
            "",
            f"Privacy unit: **one {self.unit}** (every epsilon below bounds what the releases reveal about "
            f"one {self.unit}). Composition: basic (epsilons and deltas add; Dwork & Roth 2014, Thm 3.16).",
            "",
            f"| per {self.unit} | epsilon | delta |",
            "|---|---:|---:|",
            f"| budget | {self.epsilon_budget:.4g} | {self.delta_budget:.3g} |",
            f"| spent | {format_spend(spent_e)} | {spent_d:.3g} |",
            f"| remaining | {_down(max(self.epsilon_budget - spent_e, 0.0))} | {max(self.delta_budget - spent_d, 0.0):.3g} |",
            "",
            "| # | time (UTC) | mechanism | purpose | epsilon | delta | cumulative epsilon | parameters |",
            "|---:|---|---|---|---:|---:|---:|---|",
        ]
        for e in entries:
            params = ", ".join(f"{k}={v}" for k, v in e.parameters.items())
            if e.converted:
                params = (f"converted from ({e.source_epsilon:.4g}, {e.source_delta:.3g}) per {e.source_unit}, "
                          f"group of {e.group_size}" + (f"; {params}" if params else ""))
            if e.outcome == "failed after charge":
                params = "mechanism failed after the charge (kept charged)" + (f"; {params}" if params else "")
            purpose = e.purpose.replace("|", "/")
            lines.append(
                f"| {e.index} | {e.timestamp} | {e.mechanism} | {purpose} | {format_spend(e.epsilon)} | {e.delta:.3g} | "
                f"{format_spend(e.cumulative_epsilon)} | {params} |"
            )
        if not entries:
            lines.append("| | | (no releases yet) | | | | | |")
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.report_markdown()


def format_spend(x: float) -> str:
    """4 significant digits, rounded UP: a printed spend is never smaller than the true one."""
    return _round_sig(x, up=True)


def _down(x: float) -> str:
    """4 significant digits, rounded DOWN: a printed remaining budget is never larger than the true one."""
    return _round_sig(x, up=False)


def _round_sig(x: float, *, up: bool) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    shown = float(f"{x:.4g}")
    if abs(shown - x) <= _SLACK * abs(x):  # float noise of the sums (3 - 2.7), not a rounding
        return f"{shown:g}"
    if (up and shown < x) or (not up and shown > x):
        step = 10.0 ** (math.floor(math.log10(abs(x))) - 3)
        shown = shown + step if up else shown - step
        shown = float(f"{shown:.4g}")
    return f"{shown:g}"
