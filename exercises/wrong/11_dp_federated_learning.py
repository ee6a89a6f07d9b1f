"""Typical wrong answers to the coding exercise of notebook 11 (the server step of DP-FedAvg).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``dp_fedavg_step``) and checks that otter's tests for the question reject it.
"""

import numpy as np


def _clip_each(updates, s):
    norms = np.linalg.norm(updates, axis=1, keepdims=True)
    return updates * np.minimum(1.0, s / np.maximum(norms, 1e-12))


def dp_fedavg_step_clip_the_sum(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Clips the SUM instead of each client's update (per batch, not per client): one client is unbounded
    relative to the others and the noise is calibrated to the wrong sensitivity."""
    u = np.asarray(updates, dtype=float)
    total = u.sum(axis=0)
    total = total * min(1.0, max_update_norm / max(float(np.linalg.norm(total)), 1e-12))
    return (total + rng.normal(0.0, noise_multiplier * max_update_norm, size=total.shape)) / expected_cohort


def dp_fedavg_step_forgot_S(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Noise std z instead of z S (forgot to scale the noise by the clipping bound)."""
    total = _clip_each(np.asarray(updates, dtype=float), max_update_norm).sum(axis=0)
    return (total + rng.normal(0.0, noise_multiplier, size=total.shape)) / expected_cohort


def dp_fedavg_step_realised_cohort(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Divides by the number of clients that showed up instead of the fixed q K: the sensitivity then
    depends on the cohort (McMahan et al. 2018 use the fixed denominator)."""
    u = np.asarray(updates, dtype=float)
    total = _clip_each(u, max_update_norm).sum(axis=0)
    return (total + rng.normal(0.0, noise_multiplier * max_update_norm, size=total.shape)) / max(len(u), 1)


def dp_fedavg_step_noise_after_average(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Adds N(0, (zS)^2) AFTER dividing by q K: q K times too much noise on the average."""
    total = _clip_each(np.asarray(updates, dtype=float), max_update_norm).sum(axis=0)
    return total / expected_cohort + rng.normal(0.0, noise_multiplier * max_update_norm, size=total.shape)


def dp_fedavg_step_scales_up(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Normalises every update to norm S (factor S / ||Delta||, without the min(1, .)): small updates grow."""
    u = np.asarray(updates, dtype=float)
    norms = np.linalg.norm(u, axis=1, keepdims=True)
    total = (u * max_update_norm / np.maximum(norms, 1e-12)).sum(axis=0)
    return (total + rng.normal(0.0, noise_multiplier * max_update_norm, size=total.shape)) / expected_cohort


def dp_fedavg_step_global_rng(updates, *, max_update_norm, noise_multiplier, expected_cohort, rng):
    """Right formula, but the noise comes from numpy's global generator instead of ``rng``: not replayable
    under a seed, and not the CSPRNG a deployment passes in."""
    total = _clip_each(np.asarray(updates, dtype=float), max_update_norm).sum(axis=0)
    return (total + np.random.normal(0.0, noise_multiplier * max_update_norm, size=total.shape)) / expected_cohort  # noqa: NPY002 (the mistake modelled)


WRONG = {"q11_dp_fedavg_step": [
    dp_fedavg_step_clip_the_sum,
    dp_fedavg_step_forgot_S,
    dp_fedavg_step_realised_cohort,
    dp_fedavg_step_noise_after_average,
    dp_fedavg_step_scales_up,
    dp_fedavg_step_global_rng,
]}
