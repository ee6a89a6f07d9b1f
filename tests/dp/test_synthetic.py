"""DP synthetic data (MWEM over marginals): budget accounting, fitting, attacks' inputs, bad input."""

import numpy as np
import pytest

from ppml_lab.data import Table, discretised_population, synthetic_population
from ppml_lab.dp import synthetic as sy
from ppml_lab.dp.ledger import PrivacyLedger
from ppml_lab.exceptions import PrivacyBudgetExceeded


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


def test_mwem_spends_exactly_its_epsilon(table, monkeypatch):
    spent = []
    real_lap, real_exp = sy.laplace_mechanism, sy.exponential_mechanism

    def lap(value, *, epsilon, sensitivity, rng=None):
        spent.append(epsilon)
        assert sensitivity == 1.0
        return real_lap(value, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    def exp(scores, *, epsilon, sensitivity, rng=None):
        spent.append(epsilon)
        assert sensitivity == 1.0
        return real_exp(scores, epsilon=epsilon, sensitivity=sensitivity, rng=rng)

    monkeypatch.setattr(sy, "laplace_mechanism", lap)
    monkeypatch.setattr(sy, "exponential_mechanism", exp)
    res = sy.mwem(table, epsilon=1.5, iterations=3, rng=0)
    # 4 one-way warm-start measurements + 3 x (select + measure); basic composition must give 1.5 exactly
    assert len(spent) == 4 + 6
    assert sum(spent) == pytest.approx(1.5, rel=1e-12)
    assert len(set(res.selected)) == 3  # each marginal at most once


def test_mwem_fits_the_marginals_when_noise_vanishes(table):
    res = sy.mwem(table, epsilon=1e4, iterations=6, update_passes=50, rng=1)
    h = res.histogram
    assert h.min() >= 0 and h.sum() == pytest.approx(table.n)
    real = table.histogram()
    for w in sy.two_way_workload(table):
        tv = 0.5 * np.abs(sy.marginal(h, table, w) - sy.marginal(real, table, w)).sum() / table.n
        assert tv < 0.02, (w, tv)


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
    assert ledger.spent_epsilon == pytest.approx(0.6)
    with pytest.raises(PrivacyBudgetExceeded):
        sy.dp_synthetic_table(table, epsilon=0.6, ledger=ledger, rng=3)
    assert len(ledger.entries) == 1


def test_independent_marginals_lose_correlation(table):
    h = sy.independent_marginals(table, epsilon=1e3, rng=5)
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
