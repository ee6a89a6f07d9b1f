"""Tests for ppml_lab.report: the privacy report and the technique-selection table."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from ppml_lab.dp.ledger import PrivacyLedger
from ppml_lab.report import (
    TECHNIQUE_PROPERTIES,
    PrivacyReport,
    ReportError,
    SiteInfo,
    TechniqueMeasurement,
    build_privacy_report,
    technique_table,
)


def _clock() -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def ledger() -> PrivacyLedger:
    led = PrivacyLedger(epsilon_budget=5.0, delta_budget=1e-4, clock=_clock)
    led.spend(mechanism="DP-FedAvg", epsilon=2.5, delta=1e-5, purpose="train the model",
              parameters={"noise_multiplier": 1.1})
    led.spend(mechanism="laplace", epsilon=0.5, purpose="count of patients per site")
    led.spend(mechanism="gaussian", epsilon=0.25, delta=2e-6, purpose="mean age")
    return led


SITES = [SiteInfo("Singapore", "Singapore (PDPA)", 100), SiteInfo("Malaysia", "Malaysia (PDPA 2010)", 80)]


def _report(ledger: PrivacyLedger, **kw) -> PrivacyReport:
    args = dict(sites=SITES, techniques=["FedAvg", "secure aggregation"], threat_model=["honest-but-curious server"],
                residual_risks=["model poisoning"], accountants={"DP-FedAvg": "RDP (Mironov et al. 2019)"})
    args.update(kw)
    return build_privacy_report(ledger, **args)


# -- report content ---------------------------------------------------------------------------------
def test_report_contains_every_ledger_entry(ledger):
    rep = _report(ledger)
    md, page = rep.to_markdown(), rep.to_html()
    assert len(rep.releases) == len(ledger.entries) == 3
    for e in ledger.entries:
        assert e.purpose in md and e.mechanism in md
        assert e.purpose in page and e.mechanism in page
        assert f"{e.epsilon:.4g}" in md


def test_totals_match_ledger(ledger):
    rep = _report(ledger)
    assert math.isclose(rep.total_epsilon, ledger.spent_epsilon) and math.isclose(rep.total_epsilon, 3.25)
    assert math.isclose(rep.total_delta, ledger.spent_delta)
    assert math.isclose(sum(r.epsilon for r in rep.releases), rep.total_epsilon)
    assert "epsilon = 3.25" in rep.to_markdown()
    assert rep.n_records == 180


def test_accountant_per_release(ledger):
    rep = _report(ledger)
    assert rep.releases[0].accountant == "RDP (Mironov et al. 2019)"
    assert "basic composition" in rep.releases[1].accountant


def test_report_lists_sites_threats_risks_measurements(ledger):
    rep = _report(ledger, measurements={"final accuracy": 0.912345, "rounds": 5})
    md = rep.to_markdown()
    for text in ("Singapore", "Malaysia (PDPA 2010)", "honest-but-curious server", "model poisoning",
                 "final accuracy", "0.9123", "secure aggregation"):
        assert text in md
        assert text in rep.to_html()


def test_empty_ledger_reports_no_release():
    led = PrivacyLedger(epsilon_budget=1.0)
    rep = _report(led)
    assert rep.total_epsilon == 0.0 and "no DP release" in rep.to_markdown()


def test_report_is_frozen(ledger):
    rep = _report(ledger)
    with pytest.raises(AttributeError):
        rep.title = "x"  # type: ignore[misc]


# -- privacy unit ---------------------------------------------------------------------------------
def test_report_states_the_unit_on_every_release_and_total(ledger):
    rep = _report(ledger)
    assert rep.unit == "record" and all(r.unit == "record" for r in rep.releases)
    md = rep.to_markdown()
    assert "Privacy unit: **one record**" in md and "delta = 1.2e-05 per record" in md
    assert "Privacy unit: <strong>one record</strong>" in rep.to_html()


def test_report_of_a_hospital_ledger_with_a_converted_release():
    led = PrivacyLedger(epsilon_budget=25.0, delta_budget=1e-5, unit="hospital", clock=_clock)
    led.spend(mechanism="DP-FedAvg", epsilon=19.0512, delta=1e-5, purpose="model")
    led.spend(mechanism="Laplace", epsilon=0.05, purpose="patients per hospital", unit="patient", group_size=100)
    rep = _report(led)
    md = rep.to_markdown()
    assert rep.unit == "hospital" and math.isclose(rep.total_epsilon, 24.0512)
    assert "| 19.06 |" in md  # a spend is printed rounded up, never down
    assert "hospital (from (0.05, 0) per patient x group of 100)" in md
    assert "epsilon = 24.06, delta = 1e-05 per hospital" in md
    assert "hospital (from (0.05, 0) per patient x group of 100)" in rep.to_html()


# -- escaping ---------------------------------------------------------------------------------------
def test_markdown_escapes_pipes_and_html(ledger):
    ledger.spend(mechanism="laplace", epsilon=0.1, purpose="a|b <script>alert(1)</script>")
    md = _report(ledger).to_markdown()
    assert "a\\|b" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    row = [line for line in md.splitlines() if "alert" in line][0]
    assert row.replace("\\|", "").count("|") == 8  # 7 cells -> 8 separators


def test_html_escapes(ledger):
    rep = _report(ledger, sites=[SiteInfo("<b>S&G</b>", "x", 1)])
    page = rep.to_html()
    assert "<b>S&G</b>" not in page and "&lt;b&gt;S&amp;G&lt;/b&gt;" in page


# -- bad inputs -------------------------------------------------------------------------------------
def test_ledger_wrong_type():
    with pytest.raises(TypeError, match="ledger must be PrivacyLedger"):
        build_privacy_report({"eps": 1}, sites=SITES, techniques=["FL"], threat_model=["t"], residual_risks=["r"])


def test_empty_sites(ledger):
    with pytest.raises(ReportError, match="sites must contain at least one"):
        _report(ledger, sites=[])


def test_sites_wrong_type(ledger):
    with pytest.raises(TypeError, match="sites must be a list or tuple"):
        _report(ledger, sites="Singapore")


def test_site_element_wrong_type(ledger):
    with pytest.raises(TypeError, match=r"sites\[0\] must be SiteInfo"):
        _report(ledger, sites=[("Singapore", "SG", 3)])


def test_duplicate_sites(ledger):
    with pytest.raises(ReportError, match="unique names"):
        _report(ledger, sites=[SITES[0], SITES[0]])


def test_site_bad_records():
    with pytest.raises(ReportError, match="n_records must be an int >= 1, got 0"):
        SiteInfo("A", "B", 0)


def test_site_empty_name():
    with pytest.raises(ReportError, match="name must be a non-empty string"):
        SiteInfo(" ", "B", 1)


def test_empty_techniques(ledger):
    with pytest.raises(ReportError, match="techniques must contain at least one"):
        _report(ledger, techniques=[])


def test_threat_model_not_strings(ledger):
    with pytest.raises(TypeError, match=r"threat_model\[0\] must be str"):
        _report(ledger, threat_model=[1])


def test_residual_risk_empty_string(ledger):
    with pytest.raises(ReportError, match="residual_risks must not contain empty strings"):
        _report(ledger, residual_risks=[""])


def test_nonfinite_measurement(ledger):
    with pytest.raises(ReportError, match="must be finite"):
        _report(ledger, measurements={"accuracy": float("nan")})


# -- technique table --------------------------------------------------------------------------------
def _m(technique="FL", **kw) -> TechniqueMeasurement:
    args = dict(task="train", accuracy=0.9, baseline_accuracy=0.95, seconds=2.0, baseline_seconds=0.5,
                bytes_per_client=1000.0)
    args.update(kw)
    return TechniqueMeasurement(technique, **args)


def test_table_built_from_measurements():
    t = technique_table([_m("FL"), _m("CKKS", seconds=50.0, accuracy=0.95, bytes_per_client=3e5)])
    assert list(t.index) == ["FL", "CKKS"]
    assert math.isclose(t.loc["FL", "accuracy cost (pp)"], 5.0)
    assert math.isclose(t.loc["FL", "compute overhead (x)"], 4.0)
    assert math.isclose(t.loc["CKKS", "compute overhead (x)"], 100.0)
    assert t.loc["CKKS", "bytes per client"] == 3e5
    assert t.loc["CKKS", "trust model"] == TECHNIQUE_PROPERTIES["CKKS"]["trust model"]


def test_changing_a_measurement_changes_the_table():
    a = technique_table([_m(seconds=2.0)])
    b = technique_table([_m(seconds=8.0)])
    c = technique_table([_m(accuracy=0.5)])
    assert a.loc["FL", "compute overhead (x)"] != b.loc["FL", "compute overhead (x)"]
    assert math.isclose(c.loc["FL", "accuracy cost (pp)"], 45.0)


def test_custom_technique_with_properties():
    props = {"trust model": "tm", "protects against": "p", "does not protect against": "n"}
    t = technique_table([_m("TEE", properties=props)])
    assert t.loc["TEE", "protects against"] == "p"


def test_unknown_technique_without_properties():
    with pytest.raises(ReportError, match="technique must be one of"):
        _m("TEE")


def test_properties_missing_column():
    with pytest.raises(ReportError, match="missing"):
        _m("TEE", properties={"trust model": "x"})


def test_measurement_accuracy_out_of_range():
    with pytest.raises(ValueError, match=r"accuracy must be a finite number in \[0, 1\], got 1.5"):
        _m(accuracy=1.5)


def test_measurement_zero_seconds():
    with pytest.raises(ReportError, match="baseline_seconds must be a finite number > 0"):
        _m(baseline_seconds=0.0)


def test_measurement_negative_bytes():
    with pytest.raises(ReportError, match="bytes_per_client must be a finite number >= 0"):
        _m(bytes_per_client=-1)


def test_measurement_wrong_type():
    with pytest.raises(TypeError, match="seconds must be a real number"):
        _m(seconds="fast")


def test_table_empty():
    with pytest.raises(ReportError, match="at least one"):
        technique_table([])


def test_table_wrong_type():
    with pytest.raises(TypeError, match="measurements must be a list or tuple"):
        technique_table(_m())


def test_table_element_wrong_type():
    with pytest.raises(TypeError, match=r"measurements\[1\] must be TechniqueMeasurement"):
        technique_table([_m(), {"technique": "DP"}])


def test_table_duplicate_technique():
    with pytest.raises(ReportError, match="each technique once"):
        technique_table([_m(), _m()])
