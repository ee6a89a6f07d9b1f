"""PrivacyLedger: records, refuses over-spends without releasing, and exports markdown and JSON."""

import datetime as dt
import json

import pytest

from ppml_lab.dp import mechanisms as M
from ppml_lab.dp.ledger import PrivacyLedger
from ppml_lab.exceptions import PrivacyBudgetExceeded


def _clock():
    return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def test_spend_records_and_accumulates():
    ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-5, name="study", clock=_clock)
    e1 = ledger.spend(mechanism="laplace", epsilon=0.3, purpose="mean age", parameters={"sensitivity": 1.0})
    e2 = ledger.spend(mechanism="gaussian", epsilon=0.2, delta=1e-6, purpose="histogram")
    assert (e1.index, e2.index) == (1, 2)
    assert e2.cumulative_epsilon == pytest.approx(0.5) and e2.cumulative_delta == pytest.approx(1e-6)
    assert ledger.remaining_epsilon == pytest.approx(0.5)
    assert e1.timestamp == "2026-01-02T03:04:05+00:00"
    assert "releases=2" in repr(ledger)


def test_ten_tenths_fit_a_budget_of_one():
    ledger = PrivacyLedger(epsilon_budget=1.0)
    for _ in range(10):
        ledger.spend(mechanism="laplace", epsilon=0.1, purpose="q")
    assert ledger.spent_epsilon == pytest.approx(1.0)
    with pytest.raises(PrivacyBudgetExceeded):
        ledger.spend(mechanism="laplace", epsilon=1e-3, purpose="one more")


def test_over_spend_is_refused_and_nothing_is_released():
    ledger = PrivacyLedger(epsilon_budget=1.0)
    ledger.spend(mechanism="laplace", epsilon=0.8, purpose="first")
    calls = []

    def mech(value, *, epsilon, **kw):
        calls.append(value)
        return M.laplace_mechanism(value, epsilon=epsilon, sensitivity=1.0, rng=1)

    with pytest.raises(PrivacyBudgetExceeded, match=r"needs epsilon=0.5, delta=0, but only epsilon=0.2, delta=0 remain.*nothing was released"):
        ledger.release(mech, 3.0, epsilon=0.5, purpose="second")
    assert calls == [] and len(ledger.entries) == 1
    out = ledger.release(mech, 3.0, epsilon=0.2, purpose="third")
    assert isinstance(out, float) and calls == [3.0] and len(ledger.entries) == 2


def test_delta_budget_is_enforced():
    ledger = PrivacyLedger(epsilon_budget=10.0, delta_budget=1e-6)
    with pytest.raises(PrivacyBudgetExceeded, match=r"delta=1e-05"):
        ledger.spend(mechanism="gaussian", epsilon=1.0, delta=1e-5, purpose="x")
    pure = PrivacyLedger(epsilon_budget=10.0)
    with pytest.raises(PrivacyBudgetExceeded):
        pure.spend(mechanism="gaussian", epsilon=1.0, delta=1e-9, purpose="x")


def test_reports_round_trip():
    ledger = PrivacyLedger(epsilon_budget=2.0, delta_budget=1e-5, name="capstone", clock=_clock)
    ledger.spend(mechanism="laplace", epsilon=0.5, purpose="count | by site", parameters={"sensitivity": 1})
    md = ledger.report_markdown()
    assert md.startswith("## capstone")
    assert "| 1 | 2026-01-02T03:04:05+00:00 | laplace | count / by site | 0.5 | 0 | 0.5 | sensitivity=1 |" in md
    assert "| remaining | 1.5 |" in md
    data = json.loads(ledger.to_json())
    assert data["spent"]["epsilon"] == 0.5 and data["releases"][0]["purpose"] == "count | by site"
    again = PrivacyLedger.from_json(ledger.to_json())
    assert again.entries == ledger.entries and again.epsilon_budget == 2.0
    assert "(no releases yet)" in PrivacyLedger(epsilon_budget=1.0).report_markdown()


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(epsilon=0.0), ValueError, r"epsilon must be a finite number > 0, got 0.0"),
        (dict(epsilon=float("nan")), ValueError, r"epsilon must be a finite number, got nan"),
        (dict(delta=1.0), ValueError, r"delta must be a finite number in \[0, 1\), got 1.0"),
        (dict(purpose=""), ValueError, r"purpose must be a non-empty description"),
        (dict(purpose=3), TypeError, r"purpose must be str, got int"),
        (dict(mechanism=None), TypeError, r"mechanism must be str, got NoneType"),
        (dict(parameters=[1, 2]), TypeError, r"parameters must be a mapping \(dict\) or None, got list"),
    ],
)
def test_spend_bad_input(kwargs, exc, pattern):
    ledger = PrivacyLedger(epsilon_budget=1.0)
    args = dict(mechanism="laplace", epsilon=0.1, purpose="q") | kwargs
    with pytest.raises(exc, match=pattern):
        ledger.spend(**args)
    assert ledger.entries == ()


def test_ledger_bad_budget():
    with pytest.raises(ValueError, match=r"epsilon_budget must be a finite number > 0, got -1.0"):
        PrivacyLedger(epsilon_budget=-1.0)
    with pytest.raises(ValueError, match=r"delta_budget must be a finite number in \[0, 1\), got 2.0"):
        PrivacyLedger(epsilon_budget=1.0, delta_budget=2.0)
    with pytest.raises(TypeError, match=r"func must be a callable mechanism, got str"):
        PrivacyLedger(epsilon_budget=1.0).release("laplace", 1.0, epsilon=0.1, purpose="q")
