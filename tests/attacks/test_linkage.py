"""Linkage attack: uniqueness and the join, against brute-force references."""

import numpy as np
import pytest

from ppml_lab.attacks import linkage
from ppml_lab.data import synthetic_population


def _brute_uniqueness(cols, qis):
    keys = list(zip(*(cols[q].tolist() for q in qis)))
    from collections import Counter

    c = Counter(keys)
    return np.mean([c[k] == 1 for k in keys])


def test_uniqueness_matches_brute_force():
    pop = synthetic_population(3_000, n_postcodes=5, rng=2)
    for qis in (["sex"], ["postcode", "sex"], ["postcode", "birth_date", "sex"]):
        assert linkage.uniqueness(pop, qis) == pytest.approx(_brute_uniqueness(pop.columns, qis))


def test_sweeney_calibration():
    # With ~5,000 people per postcode, postcode + birth date + sex is near Sweeney's 87 % (1990 US census).
    pop = synthetic_population(100_000, rng=2026)
    u = linkage.uniqueness(pop, ["postcode", "birth_date", "sex"])
    assert 0.80 < u < 0.95
    assert linkage.uniqueness(pop, ["sex"]) == 0.0


def test_link_records_matches_brute_force():
    pop = synthetic_population(5_000, n_postcodes=3, rng=3)
    release, register = linkage.release_and_register(pop, release_fraction=0.1, register_fraction=0.7, rng=4)
    qis = ["postcode", "birth_date", "sex"]
    res = linkage.link_records(release, register, quasi_identifiers=qis)
    reg_keys = list(zip(*(register[q].tolist() for q in qis)))
    expected_claims, expected_correct = 0, 0
    for i in range(len(release["person_id"])):
        k = tuple(release[q][i].item() for q in qis)
        hits = [j for j, rk in enumerate(reg_keys) if rk == k]
        if len(hits) == 1:
            expected_claims += 1
            expected_correct += register["person_id"][hits[0]] == release["person_id"][i]
    assert res.n_unique_matches == expected_claims
    assert res.n_correct == expected_correct
    assert 0 < res.fraction_reidentified <= res.precision <= 1
    assert "name" not in release and "diagnosis" not in register


def test_bad_inputs():
    pop = synthetic_population(100, rng=0)
    with pytest.raises(ValueError, match=r"quasi_identifiers \['zip'\] are not columns"):
        linkage.uniqueness(pop, ["zip"])
    with pytest.raises(ValueError, match="quasi_identifiers must name at least one column"):
        linkage.uniqueness(pop, [])
    with pytest.raises(TypeError, match="quasi_identifiers must be a sequence of column names"):
        linkage.uniqueness(pop, "postcode")
    with pytest.raises(TypeError, match="table must be a Population or a mapping"):
        linkage.uniqueness([1, 2, 3], ["a"])
    with pytest.raises(ValueError, match="release_fraction must be a finite number in"):
        linkage.release_and_register(pop, release_fraction=0.0)
    release, register = linkage.release_and_register(pop, rng=0)
    with pytest.raises(ValueError, match="truth_column 'ssn' must be a column of both tables"):
        linkage.link_records(release, register, quasi_identifiers=["sex"], truth_column="ssn")
