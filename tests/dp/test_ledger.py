"""PrivacyLedger: records, refuses over-spends without releasing, and exports markdown and JSON."""

import datetime as dt
import json

import numpy as np
import pytest

from ppml_lab.dp import mechanisms as M
from ppml_lab.dp.ledger import PrivacyLedger
from ppml_lab.exceptions import PrivacyBudgetExceeded


def _clock():
    return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


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


# ------------------------------------------------------------------------------------------------
# Privacy units: every entry carries one; different units never add up silently
# ------------------------------------------------------------------------------------------------
import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from ppml_lab.dp.ledger import format_spend, group_privacy  # noqa: E402
from ppml_lab.exceptions import PrivacyUnitError  # noqa: E402


def test_every_entry_and_report_carries_the_unit():
    ledger = PrivacyLedger(epsilon_budget=2.0, unit=" Patient ")
    e = ledger.spend(mechanism="laplace", epsilon=0.5, purpose="count")
    assert ledger.unit == "patient" and e.unit == "patient" and not e.converted
    assert PrivacyLedger(epsilon_budget=1.0).unit == "record"  # the default: one row of the data
    md = ledger.report_markdown()
    assert "Privacy unit: **one patient**" in md and "| per patient | epsilon | delta |" in md
    assert json.loads(ledger.to_json())["unit"] == "patient"
    assert "unit='patient'" in repr(ledger)


def test_spend_in_another_unit_is_refused_and_records_nothing():
    ledger = PrivacyLedger(epsilon_budget=25.0, delta_budget=1e-5, unit="hospital")
    ledger.spend(mechanism="DP-FedAvg", epsilon=19.05, delta=1e-5, purpose="model", unit="hospital")
    with pytest.raises(PrivacyUnitError, match=r"unit must be the ledger's privacy unit 'hospital', got 'patient'"):
        ledger.spend(mechanism="laplace", epsilon=0.5, purpose="patients per hospital", unit="patient")
    calls = []
    with pytest.raises(PrivacyUnitError):
        ledger.release(lambda v, *, epsilon: calls.append(v), 1.0, epsilon=0.5, purpose="x", unit="patient")
    assert calls == [] and len(ledger.entries) == 1 and ledger.spent_epsilon == 19.05
    with pytest.raises(PrivacyUnitError):
        ledger.can_spend(epsilon=0.1, unit="record")


def test_group_privacy_bound_known_values_and_chaining():
    assert group_privacy(epsilon=0.5, group_size=100) == (50.0, 0.0)  # Dwork & Roth 2014, Thm 2.2
    eps, d = group_privacy(epsilon=0.5, delta=1e-6, group_size=3)
    assert eps == 1.5 and math.isclose(d, 3 * math.exp(1.0) * 1e-6, rel_tol=1e-12)
    # the bound covers the exact chaining delta_k = e^eps delta_{k-1} + delta
    for e0, d0, k in [(0.1, 1e-5, 7), (1.0, 1e-8, 4), (2.0, 1e-9, 2)]:
        chained = 0.0
        for _ in range(k):
            chained = math.exp(e0) * chained + d0
        assert group_privacy(epsilon=e0, delta=d0, group_size=k)[1] >= chained * (1 - 1e-12)
    assert group_privacy(epsilon=0.3, delta=1e-7, group_size=1) == (0.3, 1e-7)
    assert group_privacy(epsilon=50.0, delta=1e-5, group_size=100)[1] == math.inf


def test_group_privacy_matches_the_exact_laplace_loss():
    # Laplace(b = 1/eps) on a count: datasets k records apart shift the count by k; the worst-case
    # log-density ratio |x| - |x - k| over x is exactly k, so the exact epsilon is k * eps = the bound.
    eps, k = 0.7, 5
    x = np.linspace(-20, 25, 20001)
    loss = eps * (np.abs(x - k) - np.abs(x))  # log p_0(x) - log p_k(x)
    assert math.isclose(loss.max(), group_privacy(epsilon=eps, group_size=k)[0], rel_tol=1e-9)


def test_explicit_conversion_is_charged_in_the_ledger_unit():
    ledger = PrivacyLedger(epsilon_budget=25.0, delta_budget=1e-5, unit="hospital")
    seen = {}

    def mech(value, *, epsilon, sensitivity, rng=None):
        seen["epsilon"] = epsilon
        return M.laplace_mechanism(value, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    ledger.release(mech, [86.0, 85.0], epsilon=0.05, sensitivity=1.0, purpose="patients per hospital",
                   unit="patient", group_size=100, rng=1)
    (e,) = ledger.entries
    assert seen["epsilon"] == 0.05  # the mechanism runs at its own (patient-level) epsilon
    assert (e.epsilon, e.unit, e.source_unit, e.source_epsilon, e.group_size) == (5.0, "hospital", "patient", 0.05, 100)
    assert "converted from (0.05, 0) per patient, group of 100" in ledger.report_markdown()
    with pytest.raises(PrivacyBudgetExceeded, match=r"per 'hospital' \(= group of 100 x \(0.5, 0\) per 'patient'\)"):
        ledger.spend(mechanism="laplace", epsilon=0.5, purpose="more", unit="patient", group_size=100)
    assert len(ledger.entries) == 1


def test_conversion_whose_delta_explodes_is_refused():
    ledger = PrivacyLedger(epsilon_budget=1e6, delta_budget=0.5, unit="hospital")
    with pytest.raises(PrivacyBudgetExceeded, match=r"no guarantee per 'hospital'"):
        ledger.spend(mechanism="gaussian", epsilon=1.0, delta=1e-5, purpose="x", unit="patient", group_size=100)
    assert ledger.entries == ()


def test_group_size_needs_two_units():
    ledger = PrivacyLedger(epsilon_budget=1.0, unit="patient")
    with pytest.raises(ValueError, match=r"group_size converts between privacy units.*got 3"):
        ledger.spend(mechanism="laplace", epsilon=0.1, purpose="q", group_size=3)
    with pytest.raises(ValueError, match=r"group_size must be an integer >= 1, got 0"):
        ledger.spend(mechanism="laplace", epsilon=0.1, purpose="q", unit="record", group_size=0)
    with pytest.raises(ValueError, match=r"unit must name whose privacy is protected"):
        PrivacyLedger(epsilon_budget=1.0, unit="  ")
    with pytest.raises(TypeError, match=r"unit must be str, got int"):
        ledger.spend(mechanism="laplace", epsilon=0.1, purpose="q", unit=3)
    assert ledger.entries == ()


# ------------------------------------------------------------------------------------------------
# Atomic spending: check-and-append under one lock
# ------------------------------------------------------------------------------------------------
def _slow_clock():
    time.sleep(0.01)  # widens the window between the budget check and the append
    return dt.datetime(2026, 1, 2, tzinfo=dt.UTC)


@pytest.mark.attack
@pytest.mark.parametrize("via", ["spend", "release"])
def test_concurrent_spends_never_exceed_the_budget(via):
    # 8 threads race to spend 0.5 each on a budget of 1.0: exactly two may succeed
    ledger = PrivacyLedger(epsilon_budget=1.0, clock=_slow_clock)
    barrier = threading.Barrier(8)
    outcomes = []

    def worker(i):
        barrier.wait()
        try:
            if via == "spend":
                ledger.spend(mechanism="laplace", epsilon=0.5, purpose=f"q{i}")
            else:
                ledger.release(M.laplace_mechanism, 1.0, epsilon=0.5, sensitivity=1.0, purpose=f"q{i}", rng=i)
            outcomes.append("ok")
        except PrivacyBudgetExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 2 and outcomes.count("refused") == 6
    assert ledger.spent_epsilon == 1.0 and [e.index for e in ledger.entries] == [1, 2]
    assert ledger.entries[-1].cumulative_epsilon == 1.0


# ------------------------------------------------------------------------------------------------
# Budgets are read-only; nothing gives budget back
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attr, value", [("epsilon_budget", 100.0), ("delta_budget", 0.5), ("unit", "hospital"),
                                         ("name", "x"), ("entries", ())])
def test_budget_and_unit_are_read_only(attr, value):
    ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-6)
    ledger.spend(mechanism="laplace", epsilon=1.0, purpose="q")
    with pytest.raises(AttributeError):
        setattr(ledger, attr, value)
    with pytest.raises(PrivacyBudgetExceeded):
        ledger.spend(mechanism="laplace", epsilon=0.1, purpose="more")


def _ledger_dict():
    ledger = PrivacyLedger(epsilon_budget=2.0, delta_budget=1e-5, unit="hospital", name="l", clock=_clock)
    ledger.spend(mechanism="laplace", epsilon=0.5, purpose="a")
    ledger.spend(mechanism="laplace", epsilon=0.02, purpose="b", unit="patient", group_size=50)
    return json.loads(ledger.to_json())


def _set(path, value):
    def edit(d):
        obj = d
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
        return d
    return edit


def _drop(path):
    def edit(d):
        obj = d
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]
        return d
    return edit


@pytest.mark.parametrize(
    "edit, exc, pattern",
    [
        (_set(("releases", 0, "epsilon"), -0.5), ValueError, r"releases\[0\]\.epsilon must be a finite number > 0, got -0.5"),
        (_set(("releases", 0, "epsilon"), float("nan")), ValueError, r"releases\[0\]\.epsilon must be a finite number"),
        (_set(("releases", 0, "delta"), -1e-6), ValueError, r"releases\[0\]\.delta must be a finite number in \[0, 1\)"),
        (_set(("releases", 0, "epsilon"), "0.5"), TypeError, r"releases\[0\]\.epsilon must be a real number, got str"),
        (_set(("releases", 0, "unit"), "patient"), PrivacyUnitError, r"releases\[0\]\.unit must be the ledger's unit 'hospital'"),
        (_set(("releases", 0, "index"), 2), ValueError, r"releases\[0\]\.index must be 1"),
        (_set(("releases", 1, "cumulative_epsilon"), 0.5), ValueError, r"releases\[1\]\.cumulative_epsilon must equal the sum"),
        (_set(("releases", 1, "epsilon"), 0.02), ValueError, r"must equal the group-privacy conversion"),
        (_set(("releases", 1, "group_size"), None), ValueError, r"must give all of source_unit"),
        (_set(("releases", 0, "outcome"), "refunded"), ValueError, r"outcome must be one of"),
        (_set(("releases", 0, "bonus"), 1.0), ValueError, r"unknown \['bonus'\]"),
        (_drop(("releases", 0, "purpose")), ValueError, r"missing \['purpose'\]"),
        (_set(("budget", "epsilon"), 1.0), PrivacyBudgetExceeded, r"releases must fit the budget"),
        (_set(("budget", "epsilon"), -2.0), ValueError, r"epsilon_budget must be a finite number > 0"),
        (_set(("budget", "extra"), 1.0), ValueError, r"budget must have exactly the keys"),
        (_drop(("unit",)), ValueError, r"must have the key 'unit'"),
        (_set(("releases",), {"0": 1}), TypeError, r"releases must be a JSON list"),
    ],
)
def test_from_json_rejects_malformed_ledgers(edit, exc, pattern):
    text = json.dumps(edit(_ledger_dict()))
    with pytest.raises(exc, match=pattern):
        PrivacyLedger.from_json(text)


def test_from_json_rejects_a_negative_entry_that_gives_budget_back():
    data = _ledger_dict()
    refund = dict(data["releases"][0], index=3, epsilon=-1.0, purpose="refund", cumulative_epsilon=0.0)
    data["releases"].append(refund)
    with pytest.raises(ValueError, match=r"releases\[2\]\.epsilon must be a finite number > 0, got -1.0"):
        PrivacyLedger.from_json(json.dumps(data))
    with pytest.raises(ValueError, match=r"invalid JSON"):
        PrivacyLedger.from_json("{not json")
    again = PrivacyLedger.from_json(json.dumps(_ledger_dict()))
    assert again.unit == "hospital" and again.spent_epsilon == pytest.approx(1.5)
    assert again.entries[1].converted and again.entries[1].source_unit == "patient"


# ------------------------------------------------------------------------------------------------
# release: validate, then charge, then compute
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "func, kwargs, exc, pattern",
    [
        (M.laplace_mechanism, dict(sensitivity=-1.0), ValueError, r"sensitivity must be a finite number > 0, got -1.0"),
        (M.laplace_mechanism, dict(sensitivity=float("inf")), ValueError, r"sensitivity must be a finite number"),
        (M.laplace_mechanism, dict(sensitivty=1.0), TypeError, r"arguments do not fit 'laplace_mechanism'.*nothing was charged"),
        (M.laplace_mechanism, dict(), TypeError, r"arguments do not fit 'laplace_mechanism'"),
        (M.laplace_mechanism, dict(sensitivity=1.0, delta=1e-6), ValueError, r"delta must be 0 for 'laplace_mechanism'"),
        (M.gaussian_mechanism, dict(sensitivity=1.0), ValueError, r"delta must be > 0 for 'gaussian_mechanism'"),
    ],
)
def test_release_validates_before_charging(func, kwargs, exc, pattern):
    ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-5)
    kw = dict(kwargs)
    delta = kw.pop("delta", 0.0)
    with pytest.raises(exc, match=pattern):
        ledger.release(func, 3.0, epsilon=0.5, delta=delta, purpose="q", rng=1, **kw)
    assert ledger.entries == () and ledger.spent_epsilon == 0.0


def test_release_passes_delta_zero_to_mechanisms_that_take_delta():
    # a mechanism with a default delta must run at the delta the ledger records, also at delta = 0
    seen = []

    def mech(value, *, epsilon, delta=1e-3):
        seen.append(delta)
        return value

    ledger = PrivacyLedger(epsilon_budget=1.0, delta_budget=1e-5)
    ledger.release(mech, 1.0, epsilon=0.1, delta=0.0, purpose="pure run")
    ledger.release(mech, 1.0, epsilon=0.1, delta=1e-6, purpose="approximate run")
    assert seen == [0.0, 1e-6]
    out = ledger.release(M.gaussian_mechanism, 36.0, epsilon=0.5, delta=1e-6, sensitivity=0.01, purpose="mean", rng=2)
    assert isinstance(out, float) and ledger.entries[-1].delta == 1e-6


def test_a_mechanism_failing_after_the_charge_stays_charged():
    ledger = PrivacyLedger(epsilon_budget=1.0)

    def broken(value, *, epsilon, rng=None):
        raise RuntimeError("noise source unavailable")

    with pytest.raises(RuntimeError, match="noise source unavailable"):
        ledger.release(broken, 1.0, epsilon=0.4, purpose="q")
    (e,) = ledger.entries
    assert e.outcome == "failed after charge" and ledger.spent_epsilon == 0.4
    assert "mechanism failed after the charge (kept charged)" in ledger.report_markdown()
    ok = ledger.release(M.laplace_mechanism, 1.0, epsilon=0.4, sensitivity=1.0, purpose="r", rng=1)
    assert isinstance(ok, float) and ledger.entries[-1].outcome == "released"


def test_printed_spends_are_never_rounded_down():
    assert format_spend(19.0512) == "19.06" and format_spend(0.5) == "0.5" and format_spend(1.2236) == "1.224"
    assert format_spend(1.22301) == "1.224"
    ledger3 = PrivacyLedger(epsilon_budget=3.0)
    for e in (0.5, 1.0, 1.2):
        ledger3.spend(mechanism="laplace", epsilon=e, purpose="q")
    assert "| remaining | 0.3 |" in ledger3.report_markdown()  # 3 - 2.7 in floats is not a rounding
    ledger = PrivacyLedger(epsilon_budget=25.0, delta_budget=1e-5, unit="hospital")
    ledger.spend(mechanism="DP-FedAvg", epsilon=19.0512, delta=1e-5, purpose="model")
    md = ledger.report_markdown()
    assert "| spent | 19.06 |" in md and "| remaining | 5.948 |" in md  # remaining 5.9488 shown down


def test_basic_composition_matches_diffprivlib_budget_accountant():
    # production counterpart: diffprivlib's BudgetAccountant (slack 0) on the same sequence of spends
    from diffprivlib.accountant import BudgetAccountant
    from diffprivlib.utils import BudgetError

    rng = np.random.default_rng(7)
    ours = PrivacyLedger(epsilon_budget=3.0, delta_budget=1e-4)
    ref = BudgetAccountant(epsilon=3.0, delta=1e-4)
    decisions = []
    for i in range(40):
        eps = float(rng.choice([0.05, 0.1, 0.25, 0.5]))
        delta = float(rng.choice([0.0, 0.0, 1e-6, 5e-6]))
        try:
            ours.spend(mechanism="m", epsilon=eps, delta=delta, purpose=f"q{i}")
            mine = True
        except PrivacyBudgetExceeded:
            mine = False
        try:
            ref.spend(eps, delta)
            theirs = True
        except BudgetError:
            theirs = False
        decisions.append((mine, theirs))
    assert all(m == t for m, t in decisions) and any(not m for m, _ in decisions)
    total = ref.total()
    ref_eps, ref_delta = total
    assert math.isclose(ours.spent_epsilon, ref_eps, rel_tol=1e-12)
    # deltas: we add them (Dwork & Roth Thm 3.16); diffprivlib uses 1 - prod(1 - delta_i) <= the sum
    assert ref_delta <= ours.spent_delta <= ref_delta * (1 + 1e-3)
