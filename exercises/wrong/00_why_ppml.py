"""Typical wrong answers to the coding exercise of notebook 00 (re-identification by linkage)."""

import numpy as np


def first_match_even_if_ambiguous(release, register, *, quasi_identifiers):
    """Claims the FIRST register record with the same quasi-identifiers even when several share them
    (an attacker who does this is wrong about most people in a crowd)."""
    n_rel, n_reg = len(release[quasi_identifiers[0]]), len(register[quasi_identifiers[0]])
    out = np.full(n_rel, -1, dtype=np.int64)
    for i in range(n_rel):
        for j in range(n_reg):
            if all(release[q][i] == register[q][j] for q in quasi_identifiers):
                out[i] = j
                break
    return out


def matches_on_first_column_only(release, register, *, quasi_identifiers):
    """Joins on the first quasi-identifier only, ignoring the others."""
    q = quasi_identifiers[0]
    out = np.full(len(release[q]), -1, dtype=np.int64)
    for i, v in enumerate(release[q]):
        hits = np.flatnonzero(register[q] == v)
        if hits.size == 1:
            out[i] = hits[0]
    return out


def unique_in_release_not_register(release, register, *, quasi_identifiers):
    """Tests uniqueness inside the RELEASE (k-anonymity of the release) instead of counting register matches."""
    n_rel, n_reg = len(release[quasi_identifiers[0]]), len(register[quasi_identifiers[0]])
    keys = [tuple(release[q][i] for q in quasi_identifiers) for i in range(n_rel)]
    reg_keys = [tuple(register[q][j] for q in quasi_identifiers) for j in range(n_reg)]
    out = np.full(n_rel, -1, dtype=np.int64)
    for i, k in enumerate(keys):
        if keys.count(k) == 1 and k in reg_keys:
            out[i] = reg_keys.index(k)
    return out


def returns_a_mask(release, register, *, quasi_identifiers):
    """Returns whether each record is re-identifiable (True/False) instead of WHO it is."""
    n_rel, n_reg = len(release[quasi_identifiers[0]]), len(register[quasi_identifiers[0]])
    reg_keys = [tuple(register[q][j] for q in quasi_identifiers) for j in range(n_reg)]
    return np.array([reg_keys.count(tuple(release[q][i] for q in quasi_identifiers)) == 1 for i in range(n_rel)])


WRONG = {"q00_reidentify": [first_match_even_if_ambiguous, matches_on_first_column_only,
                            unique_in_release_not_register, returns_a_mask]}
