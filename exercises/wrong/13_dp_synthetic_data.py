"""Typical wrong answers to the coding exercise of notebook 13 (MWEM's noisy marginal measurement).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``noisy_marginal``) and checks that otter's tests for the question reject it.
"""

import numpy as np

_SENS = {"add_remove": 1.0, "replace": 2.0}


def _check(epsilon, neighbours):
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    if neighbours not in _SENS:
        raise ValueError(f"unknown neighbours {neighbours!r}")


def _marg(hist, axes):
    hist = np.asarray(hist, dtype=float)
    return hist.sum(axis=tuple(a for a in range(hist.ndim) if a not in axes))


def noisy_marginal_sensitivity_one(hist, axes, *, epsilon, neighbours, rng):
    """Sensitivity 1 for both neighbour relations: under replace-one a record moves two cells (L1 change 2)."""
    _check(epsilon, neighbours)
    m = _marg(hist, axes)
    return m + rng.laplace(0.0, 1.0 / epsilon, size=m.shape)


def noisy_marginal_noise_then_sum(hist, axes, *, epsilon, neighbours, rng):
    """Adds Laplace noise to every cell of the FULL histogram, then sums: the marginal's noise grows with
    the number of cells summed out (the measurement is of the marginal, not of the histogram)."""
    _check(epsilon, neighbours)
    h = np.asarray(hist, dtype=float)
    return _marg(h + rng.laplace(0.0, _SENS[neighbours] / epsilon, size=h.shape), axes)


def noisy_marginal_inverted_scale(hist, axes, *, epsilon, neighbours, rng):
    """Laplace scale epsilon / sensitivity instead of sensitivity / epsilon."""
    _check(epsilon, neighbours)
    m = _marg(hist, axes)
    return m + rng.laplace(0.0, epsilon / _SENS[neighbours], size=m.shape)


def noisy_marginal_gaussian(hist, axes, *, epsilon, neighbours, rng):
    """Gaussian noise with the Laplace standard deviation: right spread, wrong distribution (not eps-DP)."""
    _check(epsilon, neighbours)
    m = _marg(hist, axes)
    return m + rng.normal(0.0, np.sqrt(2) * _SENS[neighbours] / epsilon, size=m.shape)


def noisy_marginal_one_draw(hist, axes, *, epsilon, neighbours, rng):
    """One Laplace draw added to every cell: the cells' noise is perfectly correlated (differences are exact)."""
    _check(epsilon, neighbours)
    m = _marg(hist, axes)
    return m + rng.laplace(0.0, _SENS[neighbours] / epsilon)


def noisy_marginal_no_checks(hist, axes, *, epsilon, neighbours, rng):
    """No validation: epsilon <= 0 gives a negative or infinite scale, an unknown relation is taken as add/remove."""
    m = _marg(hist, axes)
    scale = _SENS.get(neighbours, 1.0) / epsilon if epsilon else np.inf
    return m + rng.laplace(0.0, abs(scale), size=m.shape)


WRONG = {"q13_noisy_marginal": [
    noisy_marginal_sensitivity_one,
    noisy_marginal_noise_then_sum,
    noisy_marginal_inverted_scale,
    noisy_marginal_gaussian,
    noisy_marginal_one_draw,
    noisy_marginal_no_checks,
]}
