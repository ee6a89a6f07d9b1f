"""DP synthetic data (MWEM over marginals): budget accounting, fitting, attacks' inputs, bad input."""

import numpy as np
import pytest

from ppml_lab.data import Table, discretised_population, synthetic_population
from ppml_lab.dp import synthetic as sy
from ppml_lab.dp.ledger import PrivacyLedger
from ppml_lab.exceptions import PrivacyBudgetExceeded, PrivacyUnitError  # noqa: F401


@pytest.fixture(scope="module")
def table():
    tab, _ = discretised_population(synthetic_population(3000, rng=4))
    return tab


def test_discretised_population_round_trips_labels():
    pop = synthetic_population(500, rng=1)
    tab, labels = discretised_population(pop)
    assert tab.columns == ("postcode", "birth_year", "sex", "diagnosis") and tab.n == 500
    assert np.array_equal(np.asarray(labels["diagnosis"])[tab.column("diagnosis")], pop["diagnosis"])
    assert np.array_equal(np.asarray(labels["sex"])[tab.column("sex")], pop["sex"])
    assert np.array_equal(np.asarray(labels["postcode"]).astype(int)[tab.column("postcode")], pop["postcode"])


def test_histogram_and_marginals(table):
    h = table.histogram()
    assert h.shape == table.sizes and h.sum() == table.n
    m = sy.marginal(h, table, ("sex", "diagnosis"))
    ref = np.zeros((2, 7))
    np.add.at(ref, (table.column("sex"), table.column("diagnosis")), 1)
    assert np.array_equal(m, ref)


def _spy(monkeypatch):
    calls = []
    real_lap, real_exp = sy.laplace_mechanism, sy.exponential_mechanism

    def lap(value, *, epsilon, sensitivity, rng=None):
        calls.append(("laplace", epsilon, sensitivity, np.asarray(value, dtype=float)))
        return real_lap(value, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    def exp(scores, *, epsilon, sensitivity, rng=None):
        calls.append(("exponential", epsilon, sensitivity, np.asarray(scores, dtype=float)))
        return real_exp(scores, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    monkeypatch.setattr(sy, "laplace_mechanism", lap)
    monkeypatch.setattr(sy, "exponential_mechanism", exp)
    return calls


@pytest.mark.parametrize("neighbours, n_count", [("add_remove", 1), ("replace", 0)])
def test_mwem_spends_exactly_its_epsilon(table, monkeypatch, neighbours, n_count):
    calls = _spy(monkeypatch)
    res = sy.mwem(table, epsilon=1.5, iterations=3, neighbours=neighbours, rng=0)
    # [noisy count] + 4 one-way warm-start measurements + 3 x (select + measure); basic composition
    assert len(calls) == n_count + 4 + 6
    assert sum(c[1] for c in calls) == pytest.approx(1.5, rel=1e-12)
    assert sum(e for _, e in res.budget) == pytest.approx(1.5, rel=1e-12)
    assert len(set(res.selected)) == 3  # each marginal at most once


def _neighbours_of(table, relation):
    """A few worst-case neighbours of ``table`` under the relation (the first record changed everywhere)."""
    rows = table.data
    other = (rows[0] + 1) % np.asarray(table.sizes)
    if relation == "replace":
        return [Table(table.columns, table.sizes, np.vstack([other[None, :], rows[1:]])),
                Table(table.columns, table.sizes, np.vstack([rows[1:2], rows[1:]]))]
    return [Table(table.columns, table.sizes, rows[1:]),
            Table(table.columns, table.sizes, np.vstack([rows, other[None, :]]))]


@pytest.mark.parametrize("neighbours", ["add_remove", "replace"])
def test_mwem_calibration_covers_the_declared_neighbour_relation(table, monkeypatch, neighbours):
    # The sensitivity every mechanism call declares must be at least the L1 change of its query between
    # the table and a neighbour under the declared relation, computed here by brute force. (Sensitivity 1
    # under replace-one neighbours made MWEM 2x less private than claimed.)
    real = table.histogram()
    queries = [(c,) for c in table.columns] + sy.two_way_workload(table)
    worst = 0.0
    for nb in _neighbours_of(table, neighbours):
        h = nb.histogram()
        worst = max(worst, abs(nb.n - table.n),
                    *(np.abs(sy.marginal(h, table, w) - sy.marginal(real, table, w)).sum() for w in queries))
    assert worst == (1.0 if neighbours == "add_remove" else 2.0)
    calls = _spy(monkeypatch)
    sy.mwem(table, epsilon=1.0, iterations=3, neighbours=neighbours, rng=1)
    assert calls and all(sens >= worst for _, _, sens, _ in calls)
    assert sy.sensitivity_for(neighbours) == worst


@pytest.mark.attack
def test_row_count_does_not_reveal_membership():
    # Attack: D' = D + one target record; the attacker sees only how many rows were released and says
    # "member" when there are more than n. Releasing exactly n rows (the old behaviour) makes this attack
    # perfect; with a noisy count (5 % of epsilon = 1, i.e. Lap(20)) its audited epsilon lower bound
    # (Clopper-Pearson, 95 %) must stay below the claimed epsilon.
    from ppml_lab.dp.audit import clopper_pearson

    rng = np.random.default_rng(0)
    base = Table(("a", "b"), (2, 3), rng.integers(0, [2, 3], size=(40, 2)))
    plus = Table(base.columns, base.sizes, np.vstack([base.data, [[1, 2]]]))
    trials = 300
    rows_out = np.array([sy.dp_synthetic_table(base, epsilon=1.0, iterations=1, rng=s).n for s in range(trials)])
    rows_in = np.array([sy.dp_synthetic_table(plus, epsilon=1.0, iterations=1, rng=10_000 + s).n for s in range(trials)])
    assert len(set(rows_out.tolist())) > 10  # the row count is noisy, not n
    tp, fp = int((rows_in > base.n).sum()), int((rows_out > base.n).sum())
    tpr_lo, _ = clopper_pearson(tp, trials, confidence=0.95)
    _, fpr_hi = clopper_pearson(fp, trials, confidence=0.95)
    fnr_hi = 1 - tpr_lo
    eps_lb = max(np.log(max(float(tpr_lo), 1e-12) / float(fpr_hi)), np.log((1 - float(fpr_hi)) / max(float(fnr_hi), 1e-12)))
    assert eps_lb < 1.0, (tp, fp, eps_lb)
    # replace-one neighbours: n is public, so exactly n rows is what the relation allows
    assert sy.dp_synthetic_table(base, epsilon=1.0, iterations=1, neighbours="replace", rng=1).n == base.n


def test_mwem_releases_a_noisy_count_under_add_remove(table):
    counts = [sy.mwem(table, epsilon=1.0, iterations=1, rng=s).count for s in range(20)]
    assert len(set(counts)) == 20 and abs(np.mean(counts) - table.n) < 4 * 20 / np.sqrt(20) + 1
    res = sy.mwem(table, epsilon=1.0, iterations=1, rng=0)
    assert res.histogram.sum() == pytest.approx(res.count) and res.budget[0] == ("count", 0.05)
    rep = sy.mwem(table, epsilon=1.0, iterations=1, neighbours="replace", rng=0)
    assert rep.count == table.n and rep.histogram.sum() == pytest.approx(table.n)


def test_mwem_fits_the_marginals_when_noise_vanishes(table):
    res = sy.mwem(table, epsilon=1e4, iterations=6, update_passes=50, rng=1)
    h = res.histogram
    assert h.min() >= 0 and h.sum() == pytest.approx(table.n)
    real = table.histogram()
    for w in sy.two_way_workload(table):
        tv = 0.5 * np.abs(sy.marginal(h, table, w) - sy.marginal(real, table, w)).sum() / table.n
        assert tv < 0.02, (w, tv)


def test_mwem_matches_a_production_marginal_count(table):
    # reference: pandas crosstab counts the same 2-way marginal the MWEM measurement perturbs
    import pandas as pd

    frame = pd.DataFrame(table.data, columns=table.columns)
    ref = pd.crosstab(frame["sex"], frame["diagnosis"]).reindex(index=range(2), columns=range(7), fill_value=0)
    assert np.array_equal(sy.marginal(table.histogram(), table, ("sex", "diagnosis")), ref.to_numpy())


def test_more_epsilon_gives_smaller_error(table):
    def err(eps):
        return np.mean([sy.marginal_error(table, sy.dp_synthetic_table(table, epsilon=eps, rng=s)) for s in range(3)])

    assert err(10.0) < err(0.2)


def test_empirical_sampler_copies_real_rows_and_leaks(table):
    syn = sy.empirical_sampler(table, 500, rng=2)
    real_rows = {tuple(r) for r in table.data}
    assert all(tuple(r) in real_rows for r in syn.data)
    scores = sy.cell_match_scores(table, syn)
    assert scores.sum() >= 500  # every synthetic row matches at least one real record


def test_ledger_is_charged_and_refuses_overspend(table):
    ledger = PrivacyLedger(epsilon_budget=1.0)
    sy.dp_synthetic_table(table, epsilon=0.6, ledger=ledger, rng=3)
    assert ledger.spent_epsilon == pytest.approx(0.6) and ledger.entries[0].unit == "record"
    assert ledger.entries[0].parameters["neighbours"] == "add_remove"
    with pytest.raises(PrivacyBudgetExceeded):
        sy.dp_synthetic_table(table, epsilon=0.6, ledger=ledger, rng=3)
    assert len(ledger.entries) == 1


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"iterations": 7}, ValueError, "iterations must be <= the 6 marginals"),
        ({"iterations": 0}, ValueError, "iterations must be an integer >= 1"),
        ({"init_fraction": 1.0}, ValueError, r"init_fraction must be a finite number in \[0, 1\)"),
        ({"neighbours": "swap"}, ValueError, "neighbours must be one of 'add_remove', 'replace'"),
        ({"neighbours": "replace", "count_fraction": 0.1}, ValueError, "count_fraction must be 0 with neighbours='replace'"),
        ({"method": "independent", "count_fraction": 0.0}, ValueError, r"count_fraction must be a finite number in \(0, 1\)"),
        ({"n": 0}, ValueError, "n must be an integer >= 1"),
        ({"unit": "hospital"}, ValueError, "unit must be the ledger's privacy unit 'patient', got 'hospital'"),
    ],
)
def test_synthetic_release_validates_before_charging(table, kwargs, exc, pattern):
    # a bad MWEM argument used to leave epsilon 1.0 charged for a release that never happened
    ledger = PrivacyLedger(epsilon_budget=2.0, unit="patient")
    args = dict(epsilon=1.0, ledger=ledger, unit="patient", rng=0) | kwargs
    with pytest.raises(exc, match=pattern):
        sy.dp_synthetic_table(table, **args)
    assert ledger.entries == () and ledger.spent_epsilon == 0.0


def test_independent_marginals_lose_correlation(table):
    h = sy.independent_marginals(table, epsilon=1e3, rng=5)
    assert h.sum() == pytest.approx(1.0)  # a distribution: the private record count is not used
    m = sy.marginal(h, table, ("birth_year", "diagnosis"))
    outer = np.outer(m.sum(axis=1), m.sum(axis=0)) / m.sum()
    assert np.allclose(m, outer, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"epsilon": 0.0}, ValueError, "epsilon must be a finite number > 0"),
        ({"epsilon": float("nan")}, ValueError, "epsilon must be a finite number"),
        ({"epsilon": 1.0, "iterations": 0}, ValueError, "iterations must be an integer >= 1"),
        ({"epsilon": 1.0, "iterations": 7}, ValueError, "iterations must be <= the 6 marginals"),
        ({"epsilon": 1.0, "workload": [("zip",)]}, ValueError, r"attributes \['zip'\] are not columns"),
        ({"epsilon": 1.0, "init_fraction": 1.0}, ValueError, r"init_fraction must be a finite number in \[0, 1\)"),
        ({"epsilon": 1.0, "neighbours": "swap"}, ValueError, "neighbours must be one of"),
        ({"epsilon": 1.0, "count_fraction": 0.0}, ValueError, r"count_fraction must be a finite number in \(0, 1\)"),
        ({"epsilon": 1.0, "neighbours": "replace", "count_fraction": 0.1}, ValueError, "count_fraction must be 0"),
        ({"epsilon": 1.0, "init_fraction": 0.5, "count_fraction": 0.5}, ValueError, "init_fraction \\+ count_fraction must be < 1"),
        ({"epsilon": 1.0, "count_fraction": "0.1"}, TypeError, "count_fraction must be a real number or None"),
        ({"epsilon": 1.0, "update_passes": 0}, ValueError, "update_passes must be an integer >= 1"),
    ],
)
def test_mwem_bad_input(table, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        sy.mwem(table, **kwargs)


def test_table_and_helper_bad_input(table):
    with pytest.raises(ValueError, match="data codes must lie in"):
        Table(("a",), (2,), np.array([[2]]))
    with pytest.raises(ValueError, match="data must have 2 columns"):
        Table(("a", "b"), (2, 2), np.array([[1]]))
    with pytest.raises(ValueError, match="method must be one of 'mwem', 'independent'"):
        sy.dp_synthetic_table(table, epsilon=1.0, method="gan")
    with pytest.raises(ValueError, match="hist must have positive mass"):
        sy.sample_from_histogram(np.zeros(table.sizes), table, 10)
    other = Table(("a",), (2,), np.array([[1]]))
    with pytest.raises(ValueError, match="share columns and sizes"):
        sy.marginal_error(table, other)
    with pytest.raises(TypeError, match="population must be a Population"):
        discretised_population({"postcode": [1]})
