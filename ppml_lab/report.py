"""Privacy reports and the technique-selection table, built from a ledger and a run's measurements.

What it is: the paperwork that goes with a privacy-preserving training run. :func:`build_privacy_report`
takes a :class:`~ppml_lab.dp.ledger.PrivacyLedger` (every DP release, its epsilon and delta) plus what the
run measured and declared (data sites, techniques, threat model, residual risks) and returns a frozen
:class:`PrivacyReport` that renders to markdown and HTML. :func:`technique_table` turns per-technique
measurement records (:class:`TechniqueMeasurement`) into a pandas DataFrame; its numeric columns come only
from the records passed in, its qualitative columns from :data:`TECHNIQUE_PROPERTIES` (cited knowledge).

The report follows the structure NIST SP 800-226 (Near, Darais, Lefkovitz & Howarth 2025, "Guidelines for
Evaluating Differential Privacy Guarantees", Sec. 2-3) asks an evaluator to look for: the unit of privacy,
epsilon and delta per release, the accountant used, and the threat model the guarantee assumes. The unit
is the ledger's (one ledger, one unit: the ledger refuses spends in another unit unless converted by group
privacy), and the report prints it beside the budget, every release and the total; a release converted
from another unit shows what the mechanism guaranteed in its own unit and the group size used.

Threat model: the report is documentation; it is only as true as the ledger and the declared measurements
(it checks consistency, e.g. totals equal the ledger, not that the run did what it claims).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ppml_lab._validation import check_real, check_type
from ppml_lab.dp.ledger import PrivacyLedger, format_spend
from ppml_lab.exceptions import PrivacyUnitError, ReportError

__all__ = [
    "ReportError",
    "SiteInfo",
    "TechniqueMeasurement",
    "PrivacyReport",
    "TECHNIQUE_PROPERTIES",
    "build_privacy_report",
    "technique_table",
]


# ------------------------------------------------------------------------------------------------
# Static knowledge: trust model, what each technique protects against and what it does not.
# Sources: Dwork & Roth 2014 (DP, Sec. 2.3 "what DP promises"); McMahan et al. 2017 (FedAvg);
# Zhu, Liu & Han 2019 and Geiping et al. 2020 (gradient inversion against plain FL); Bonawitz et al.
# CCS 2017 Sec. 3 (secure aggregation, honest-but-curious and active server models); McMahan et al. 2018
# (DP-FedAvg, client-level DP); Paillier 1999 (additive HE, IND-CPA under DCRA); Cheon, Kim, Kim & Song
# 2017 (CKKS, approximate, IND-CPA only, Li & Micciancio 2021 on passive key recovery from decryptions);
# Evans, Kolesnikov & Rosulek 2018 Sec. 2.3 (semi-honest vs malicious MPC, non-collusion assumption).
# ------------------------------------------------------------------------------------------------
TECHNIQUE_PROPERTIES: dict[str, dict[str, str]] = {
    "plaintext": {
        "trust model": "one party holds all the data",
        "protects against": "nothing",
        "does not protect against": "breach, insider, transfer rules, membership inference",
    },
    "DP": {
        "trust model": "trusted curator adds noise (central DP)",
        "protects against": "inference about any one record from the output (Dwork & Roth 2014)",
        "does not protect against": "the curator seeing raw data; population-level inference",
    },
    "FL": {
        "trust model": "server honest-but-curious, sees each update",
        "protects against": "raw data leaving the site (McMahan et al. 2017)",
        "does not protect against": "gradient inversion and membership inference from updates (Zhu et al. 2019)",
    },
    "FL+SecAgg": {
        "trust model": "server + fewer than t clients may collude (Bonawitz et al. 2017)",
        "protects against": "the server seeing an individual site's update",
        "does not protect against": "what the aggregate and the final model reveal",
    },
    "FL+SecAgg+DP": {
        "trust model": "as SecAgg; noise added by the server or distributed among clients",
        "protects against": "individual update exposure and client-level inference from the model",
        "does not protect against": "malicious clients poisoning the model; large epsilon",
    },
    "Paillier": {
        "trust model": "key holder separate from the computing server",
        "protects against": "the server reading inputs (IND-CPA, Paillier 1999)",
        "does not protect against": "key holder collusion; what the decrypted result reveals",
    },
    "CKKS": {
        "trust model": "key holder separate from the computing server",
        "protects against": "the server reading inputs (IND-CPA, Cheon et al. 2017)",
        "does not protect against": "shared decryptions (Li & Micciancio 2021); result leakage",
    },
    "secret sharing": {
        "trust model": "non-colluding parties, semi-honest (Evans et al. 2018)",
        "protects against": "any single party seeing the inputs",
        "does not protect against": "collusion of all share holders; result leakage",
    },
}


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteInfo:
    """One data site: name, jurisdiction and how many records it contributed (never the records)."""

    name: str
    jurisdiction: str
    n_records: int

    def __post_init__(self) -> None:
        for field_name in ("name", "jurisdiction"):
            value = check_type(field_name, getattr(self, field_name), str)
            if not value.strip():
                raise ReportError(f"{field_name} must be a non-empty string, got {value!r}")
        check_type("n_records", self.n_records, int)
        if self.n_records < 1:
            raise ReportError(f"n_records must be an int >= 1, got {self.n_records}")


@dataclass(frozen=True)
class TechniqueMeasurement:
    """What one technique cost on the run, measured against the plaintext baseline.

    ``accuracy`` and ``baseline_accuracy`` in [0, 1]; ``seconds`` and ``baseline_seconds`` for the same
    task (> 0); ``bytes_per_client`` sent by one client (0 if the data never moves); ``technique`` must be
    a key of :data:`TECHNIQUE_PROPERTIES` unless ``properties`` supplies the three qualitative columns.
    """

    technique: str
    task: str
    accuracy: float
    baseline_accuracy: float
    seconds: float
    baseline_seconds: float
    bytes_per_client: float
    properties: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        check_type("technique", self.technique, str)
        check_type("task", self.task, str)
        for name in ("accuracy", "baseline_accuracy"):
            check_real(name, getattr(self, name), low=0.0, high=1.0)
        for name in ("seconds", "baseline_seconds"):
            v = check_real(name, getattr(self, name))
            if not v > 0:
                raise ReportError(f"{name} must be a finite number > 0, got {v}")
        b = check_real("bytes_per_client", self.bytes_per_client)
        if b < 0:
            raise ReportError(f"bytes_per_client must be a finite number >= 0, got {b}")
        if self.properties is not None:
            check_type("properties", self.properties, Mapping, what="a mapping or None")
            missing = [k for k in _QUALITATIVE if k not in self.properties]
            if missing:
                raise ReportError(f"properties must give {list(_QUALITATIVE)}, missing {missing}")
        elif self.technique not in TECHNIQUE_PROPERTIES:
            raise ReportError(
                f"technique must be one of {sorted(TECHNIQUE_PROPERTIES)} or come with properties=, "
                f"got {self.technique!r}"
            )

    @property
    def accuracy_cost(self) -> float:
        """Percentage points lost against the plaintext baseline (negative: it did better)."""
        return 100.0 * (self.baseline_accuracy - self.accuracy)

    @property
    def overhead(self) -> float:
        """Compute time as a multiple of the plaintext baseline's time for the same task."""
        return self.seconds / self.baseline_seconds

    def qualitative(self) -> Mapping[str, str]:
        return self.properties if self.properties is not None else TECHNIQUE_PROPERTIES[self.technique]


_QUALITATIVE = ("trust model", "protects against", "does not protect against")


def technique_table(measurements: Sequence[TechniqueMeasurement]) -> Any:
    """The technique-selection table: one row per measurement, numeric columns computed from it.

    Columns: technique, task, accuracy cost (percentage points), compute overhead (x plaintext),
    bytes per client, then the three qualitative columns. Returns a pandas DataFrame indexed by technique.
    """
    import pandas as pd

    check_type("measurements", measurements, (list, tuple), what="a list or tuple of TechniqueMeasurement")
    if not measurements:
        raise ReportError("measurements must contain at least one TechniqueMeasurement, got an empty sequence")
    for i, m in enumerate(measurements):
        check_type(f"measurements[{i}]", m, TechniqueMeasurement)
    names = [m.technique for m in measurements]
    if len(set(names)) != len(names):
        raise ReportError(f"measurements must name each technique once, got {names}")
    frame = pd.DataFrame({
        "technique": names,
        "task": [m.task for m in measurements],
        "accuracy cost (pp)": [m.accuracy_cost for m in measurements],
        "compute overhead (x)": [m.overhead for m in measurements],
        "bytes per client": [float(m.bytes_per_client) for m in measurements],
        **{col: [m.qualitative()[col] for m in measurements] for col in _QUALITATIVE},
    })
    return frame.set_index("technique")


# ------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReleaseRow:
    """One ledger release as it appears in the report."""

    index: int
    mechanism: str
    purpose: str
    epsilon: float
    delta: float
    accountant: str
    unit: str
    conversion: str = ""  # e.g. "(0.05, 0) per patient x group of 100" when converted by group privacy


@dataclass(frozen=True)
class PrivacyReport:
    """A rendered-on-demand privacy report; build it with :func:`build_privacy_report`."""

    title: str
    sites: tuple[SiteInfo, ...]
    techniques: tuple[str, ...]
    releases: tuple[ReleaseRow, ...]
    epsilon_budget: float
    delta_budget: float
    total_epsilon: float
    total_delta: float
    composition: str
    unit: str
    threat_model: tuple[str, ...]
    residual_risks: tuple[str, ...]
    measurements: tuple[tuple[str, str], ...] = ()

    @property
    def n_records(self) -> int:
        return sum(s.n_records for s in self.sites)

    # -- markdown -----------------------------------------------------------------------------
    def to_markdown(self) -> str:
        def esc(text: str) -> str:  # keep table cells in their cells and markup inert
            return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")

        lines = [f"# {esc(self.title)}", "", "## Data sites", "", "| site | jurisdiction | records |",
                 "|---|---|---:|"]
        lines += [f"| {esc(s.name)} | {esc(s.jurisdiction)} | {s.n_records} |" for s in self.sites]
        lines += [f"| **total** | | {self.n_records} |", "", "## Techniques", ""]
        lines += [f"- {esc(t)}" for t in self.techniques]
        unit = esc(self.unit)
        lines += ["", "## Privacy loss per release", "",
                  f"Privacy unit: **one {unit}**. Every epsilon and delta below bounds what the releases reveal "
                  f"about one {unit}'s data (NIST SP 800-226, unit of privacy).", "",
                  "| # | mechanism | purpose | epsilon | delta | unit | accountant |", "|---:|---|---|---:|---:|---|---|"]
        lines += [f"| {r.index} | {esc(r.mechanism)} | {esc(r.purpose)} | {format_spend(r.epsilon)} | {r.delta:.3g} | "
                  f"{esc(_unit_cell(r))} | {esc(r.accountant)} |" for r in self.releases]
        if not self.releases:
            lines.append("| | (no DP release recorded) | | | | | |")
        lines += ["", f"Total across releases ({esc(self.composition)}): epsilon = {format_spend(self.total_epsilon)}, "
                  f"delta = {self.total_delta:.3g} per {unit}; budget epsilon = {self.epsilon_budget:.4g}, "
                  f"delta = {self.delta_budget:.3g} per {unit}.", ""]
        if self.measurements:
            lines += ["## Measurements", "", "| quantity | value |", "|---|---|"]
            lines += [f"| {esc(k)} | {esc(v)} |" for k, v in self.measurements]
            lines.append("")
        lines += ["## Threat model", ""] + [f"- {esc(t)}" for t in self.threat_model]
        lines += ["", "## Residual risks", ""] + [f"- {esc(r)}" for r in self.residual_risks]
        return "\n".join(lines) + "\n"

    # -- HTML ---------------------------------------------------------------------------------
    def to_html(self) -> str:
        e = html.escape

        def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
            head = "".join(f"<th>{e(str(h))}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
            return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

        parts = [f"<h1>{e(self.title)}</h1>", "<h2>Data sites</h2>",
                 table(["site", "jurisdiction", "records"],
                       [(s.name, s.jurisdiction, s.n_records) for s in self.sites]
                       + [("total", "", self.n_records)]),
                 "<h2>Techniques</h2><ul>" + "".join(f"<li>{e(t)}</li>" for t in self.techniques) + "</ul>",
                 "<h2>Privacy loss per release</h2>",
                 f"<p>Privacy unit: <strong>one {e(self.unit)}</strong>. Every epsilon and delta below bounds what "
                 f"the releases reveal about one {e(self.unit)}'s data.</p>",
                 table(["#", "mechanism", "purpose", "epsilon", "delta", "unit", "accountant"],
                       [(r.index, r.mechanism, r.purpose, format_spend(r.epsilon), f"{r.delta:.3g}", _unit_cell(r),
                         r.accountant) for r in self.releases]),
                 f"<p>Total across releases ({e(self.composition)}): epsilon = {format_spend(self.total_epsilon)}, "
                 f"delta = {self.total_delta:.3g} per {e(self.unit)}; budget epsilon = {self.epsilon_budget:.4g}, "
                 f"delta = {self.delta_budget:.3g} per {e(self.unit)}.</p>"]
        if self.measurements:
            parts += ["<h2>Measurements</h2>", table(["quantity", "value"], self.measurements)]
        parts += ["<h2>Threat model</h2><ul>" + "".join(f"<li>{e(t)}</li>" for t in self.threat_model) + "</ul>",
                  "<h2>Residual risks</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in self.residual_risks)
                  + "</ul>"]
        return "\n".join(parts)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _unit_cell(r: ReleaseRow) -> str:
    return r.unit if not r.conversion else f"{r.unit} (from {r.conversion})"


def _strings(name: str, values: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    check_type(name, values, (list, tuple), what="a list or tuple of strings")
    out = tuple(check_type(f"{name}[{i}]", v, str) for i, v in enumerate(values))
    if not out and not allow_empty:
        raise ReportError(f"{name} must contain at least one entry, got an empty sequence")
    if any(not v.strip() for v in out):
        raise ReportError(f"{name} must not contain empty strings, got {list(out)}")
    return out


def build_privacy_report(
    ledger: PrivacyLedger,
    *,
    sites: Sequence[SiteInfo],
    techniques: Sequence[str],
    threat_model: Sequence[str],
    residual_risks: Sequence[str],
    accountants: Mapping[str, str] | None = None,
    measurements: Mapping[str, Any] | None = None,
    title: str = "Privacy report",
) -> PrivacyReport:
    """Assemble a :class:`PrivacyReport` from a ledger and the run's declared facts and measurements.

    ``accountants`` maps a ledger mechanism name to the accountant that computed its epsilon (e.g.
    ``{"DP-FedAvg": "RDP (Mironov et al. 2019)"}``); unmapped mechanisms are reported as accounted by
    the ledger's basic composition. ``measurements`` is an ordered mapping of quantity -> value shown
    verbatim (floats to 4 significant digits).
    """
    check_type("ledger", ledger, PrivacyLedger)
    check_type("title", title, str)
    check_type("sites", sites, (list, tuple), what="a list or tuple of SiteInfo")
    if not sites:
        raise ReportError("sites must contain at least one SiteInfo, got an empty sequence")
    for i, s in enumerate(sites):
        check_type(f"sites[{i}]", s, SiteInfo)
    site_names = [s.name for s in sites]
    if len(set(site_names)) != len(site_names):
        raise ReportError(f"sites must have unique names, got {site_names}")
    techs = _strings("techniques", techniques)
    threats = _strings("threat_model", threat_model)
    risks = _strings("residual_risks", residual_risks)
    acc = dict(check_type("accountants", accountants, Mapping, what="a mapping or None")) if accountants else {}
    for k, v in acc.items():
        check_type(f"accountants[{k!r}]", v, str)
    meas: list[tuple[str, str]] = []
    if measurements is not None:
        check_type("measurements", measurements, Mapping, what="a mapping or None")
        for k, v in measurements.items():
            check_type("measurement name", k, str)
            if isinstance(v, float):
                if not math.isfinite(v):
                    raise ReportError(f"measurement {k!r} must be finite, got {v}")
                v = f"{v:.4g}"
            meas.append((k, str(v)))
    basic = "ledger: basic composition (Dwork & Roth 2014, Thm 3.16)"
    entries = ledger.entries
    releases = tuple(
        ReleaseRow(e.index, e.mechanism, e.purpose, e.epsilon, e.delta, acc.get(e.mechanism, basic), e.unit,
                   (f"({e.source_epsilon:.4g}, {e.source_delta:.3g}) per {e.source_unit} x group of {e.group_size}"
                    if e.converted else ""))
        for e in entries
    )
    if any(e.unit != ledger.unit for e in entries):  # a ledger holds one unit; refuse a report that mixes
        raise PrivacyUnitError(f"every release must be in the ledger's unit {ledger.unit!r}, got "
                               f"{sorted({e.unit for e in entries})}")
    return PrivacyReport(
        title=title,
        sites=tuple(sites),
        techniques=techs,
        releases=releases,
        epsilon_budget=ledger.epsilon_budget,
        delta_budget=ledger.delta_budget,
        total_epsilon=math.fsum(e.epsilon for e in entries),
        total_delta=math.fsum(e.delta for e in entries),
        composition="basic composition, Dwork & Roth 2014, Thm 3.16",
        unit=ledger.unit,
        threat_model=threats,
        residual_risks=risks,
        measurements=tuple(meas),
    )
