"""Offline data: bundled sets, stratified splits, site partitions and the synthetic population."""

import numpy as np
import pytest

from ppml_lab import data


@pytest.mark.parametrize("name, shape, classes", [("breast_cancer", (569, 30), 2), ("digits", (1797, 64), 10), ("wine", (178, 13), 3)])
def test_load_dataset(name, shape, classes):
    ds = data.load_dataset(name)
    assert ds.X.shape == shape and ds.y.shape == (shape[0],)
    assert ds.n_classes == classes and ds.X.dtype == np.float64 and ds.y.dtype == np.int64
    z = data.load_dataset(name, standardize=True).X
    assert np.allclose(z.mean(axis=0), 0, atol=1e-9)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="name must be one of 'breast_cancer', 'digits', 'wine', got 'mnist'"):
        data.load_dataset("mnist")


def test_train_test_split_stratified_and_disjoint():
    ds = data.load_dataset("breast_cancer")
    Xtr, Xte, ytr, yte = data.train_test_split(ds.X, ds.y, test_fraction=0.25, rng=0)
    assert len(ytr) + len(yte) == 569
    assert abs(yte.mean() - ds.y.mean()) < 0.01  # stratified
    rows = {tuple(r) for r in Xtr}
    assert not any(tuple(r) in rows for r in Xte)


def test_train_test_split_standardizes_on_train_only():
    ds = data.load_dataset("wine")
    Xtr, Xte, _, _ = data.train_test_split(ds.X, ds.y, rng=1, standardize=True)
    assert np.allclose(Xtr.mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(Xte.mean(axis=0), 0, atol=1e-3)


@pytest.mark.parametrize("frac", [0.0, 1.0, 1.5, float("nan")])
def test_train_test_split_bad_fraction(frac):
    with pytest.raises(ValueError, match="test_fraction must be a finite number"):
        data.train_test_split(np.zeros((10, 2)), np.arange(10) % 2, test_fraction=frac)


def test_xy_mismatch_and_empty():
    with pytest.raises(ValueError, match="X and y must have the same number of rows, got 3 and 2"):
        data.split_sites(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="X must not be empty"):
        data.split_sites(np.zeros((0, 2)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="X must contain only finite numbers"):
        data.split_sites(np.array([[np.inf, 1.0]]), [0], sites=1)


@pytest.mark.parametrize("scheme, alpha", [("iid", None), ("dirichlet", 0.3), ("dirichlet", 100.0)])
def test_partition_covers_every_sample_once(scheme, alpha):
    y = data.load_dataset("digits").y
    parts = data.partition_indices(y, 5, scheme=scheme, alpha=alpha, rng=3, min_size=10)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(y) and len(np.unique(allidx)) == len(y)
    assert min(len(p) for p in parts) >= 10


def test_dirichlet_small_alpha_skews_labels():
    y = data.load_dataset("digits").y

    def mean_tv(alpha):
        parts = data.partition_indices(y, 5, scheme="dirichlet", alpha=alpha, rng=4)
        glob = np.bincount(y, minlength=10) / len(y)
        return np.mean([0.5 * np.abs(np.bincount(y[p], minlength=10) / len(p) - glob).sum() for p in parts])

    assert mean_tv(0.1) > 0.4 > 0.1 > mean_tv(1000.0)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"n_parts": 0}, ValueError, "n_parts must be an integer >= 1, got 0"),
        ({"n_parts": 11}, ValueError, r"n_parts must be <= the number of samples \(10\), got 11"),
        ({"n_parts": 2.0}, TypeError, "n_parts must be an integer"),
        ({"n_parts": 2, "scheme": "skew"}, ValueError, "scheme must be one of"),
        ({"n_parts": 2, "scheme": "dirichlet", "alpha": 0.0}, ValueError, "alpha must be a finite number > 0, got 0.0"),
        ({"n_parts": 2, "scheme": "dirichlet", "alpha": -1.0}, ValueError, "alpha must be a finite number > 0"),
        ({"n_parts": 2, "scheme": "dirichlet"}, ValueError, "alpha is required"),
        ({"n_parts": 2, "alpha": 1.0}, ValueError, "alpha applies only to scheme='dirichlet'"),
        ({"n_parts": 4, "min_size": 3}, ValueError, "min_size \\* n_parts must be <="),
    ],
)
def test_partition_bad_input(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        data.partition_indices(np.arange(10) % 2, **kwargs)


def test_split_sites_names_and_reproducibility():
    ds = data.load_dataset("breast_cancer")
    a = data.split_sites(ds.X, ds.y, rng=5)
    b = data.split_sites(ds.X, ds.y, rng=5)
    assert list(a) == list(data.SITES)
    assert all(np.array_equal(a[s].y, b[s].y) for s in a)
    assert sum(s.n_samples for s in a.values()) == 569
    assert list(data.split_sites(ds.X, ds.y, sites=3, rng=0)) == ["site_0", "site_1", "site_2"]


@pytest.mark.parametrize(
    "sites, exc, pattern",
    [
        (0, ValueError, "sites must be an integer >= 1, got 0"),
        ([], ValueError, "sites must name at least 1 site"),
        (["A", "A"], ValueError, "sites must be unique names"),
        ("Singapore", TypeError, "sites must be a sequence of names or an int"),
    ],
)
def test_split_sites_bad_sites(sites, exc, pattern):
    with pytest.raises(exc, match=pattern):
        data.split_sites(np.zeros((10, 2)), np.arange(10) % 2, sites=sites)


def test_synthetic_population_marginals():
    pop = data.synthetic_population(20_000, rng=0)
    assert pop.n == 20_000
    assert 0.48 < np.mean(pop["sex"] == "F") < 0.54
    assert set(np.unique(pop["diagnosis"])) <= set(data._DIAGNOSES)
    age = (np.datetime64("2026-01-01") - pop["birth_date"]).astype(int) / 365.25
    assert 0 <= age.min() and age.max() < 96
    assert np.all((pop["postcode"] >= 10_000) & (pop["postcode"] <= 99_999))
    # prevalence of hypertension rises with age
    old, young = age > 60, age < 30
    assert np.mean(pop["diagnosis"][old] == "hypertension") > 2 * np.mean(pop["diagnosis"][young] == "hypertension")
    assert np.array_equal(data.synthetic_population(100, rng=1)["name"], data.synthetic_population(100, rng=1)["name"])


def test_synthetic_population_bad_input():
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        data.synthetic_population(0)
    with pytest.raises(TypeError, match="n_postcodes must be an integer"):
        data.synthetic_population(10, n_postcodes=2.5)


# ---------------------------------------------------------------------------------------------
# Synthetic clinical notes with canaries
# ---------------------------------------------------------------------------------------------


def test_clinical_notes_canaries_inserted_as_requested():
    d = data.clinical_notes(300, repetitions=(1, 4, 16), canaries_per_setting=2, rng=0)
    assert len(d) == 300 and len(d.sites) == 300 and set(d.sites) <= set(data.SITES)
    assert len(d.canaries) == 2 * 3 * len(data.SECRET_FORMATS)
    all_idx = [i for idx in d.canary_notes for i in idx]
    assert len(all_idx) == len(set(all_idx)) == 2 * 21 * 3  # every canary note is a distinct note
    for c, idx in zip(d.canaries, d.canary_notes):
        assert len(idx) == c.repetitions
        assert all(c.text in d.notes[i] for i in idx)
        assert sum(c.text in n for n in d.notes) == c.repetitions  # nowhere else
        assert c.prefix == data.SECRET_FORMATS[c.secret_format][1].format(pid=c.patient_id)
        assert len(c.secret) == len(c.pattern) and all(p == "#" and s.isdigit() or p == s for s, p in zip(c.secret, c.pattern))
    assert len({c.patient_id for c in d.canaries}) == len(d.canaries)
    assert d.canaries[0].secret not in repr(d.canaries[0])  # repr does not print the secret


def test_clinical_notes_seeded():
    a, b = data.clinical_notes(200, rng=3), data.clinical_notes(200, rng=3)
    assert a.notes == b.notes and a.canaries == b.canaries
    assert data.clinical_notes(200, rng=4).notes != a.notes


def test_random_secret_uniform_digits():
    g = np.random.default_rng(0)
    s = [data.random_secret("S####", rng=g) for _ in range(2000)]
    assert all(x[0] == "S" and x[1:].isdigit() for x in s)
    counts = np.bincount([int(ch) for x in s for ch in x[1:]], minlength=10)
    # chi-square, 9 dof: P(chi2 > 33.7) = 1e-4 under uniform digits (false-failure rate 1e-4)
    chi2 = ((counts - 800) ** 2 / 800).sum()
    assert chi2 < 33.7


def test_clinical_notes_bad_input():
    with pytest.raises(ValueError, match="n_notes must be at least the 126 canary notes"):
        data.clinical_notes(100, rng=0)
    with pytest.raises(ValueError, match=r"formats\[i\] must be one of"):
        data.clinical_notes(300, formats=("passport",), rng=0)
    with pytest.raises(ValueError, match=r"repetitions\[i\] must be"):
        data.clinical_notes(300, repetitions=(0,), rng=0)
    with pytest.raises(ValueError, match="identifier_rate must be"):
        data.clinical_notes(300, identifier_rate=1.5, rng=0)
    with pytest.raises(ValueError, match="pattern must contain at least one '#'"):
        data.random_secret("S-A", rng=0)
    with pytest.raises(ValueError, match="must be < 9000 .distinct 4-digit patient numbers., got 9000"):
        data.clinical_notes(10**6, canaries_per_setting=3000, repetitions=(1,), rng=0)
