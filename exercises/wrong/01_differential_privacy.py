"""Typical wrong answers to the coding exercise of notebook 01 (the Laplace mechanism)."""

import numpy as np


def scale_inverted(value, *, epsilon, sensitivity, rng):
    """Uses scale epsilon / sensitivity instead of sensitivity / epsilon (less noise for a smaller budget)."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.laplace(0.0, epsilon / sensitivity, size=v.shape)


def ignores_sensitivity(value, *, epsilon, sensitivity, rng):
    """Uses scale 1 / epsilon whatever the sensitivity."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.laplace(0.0, 1.0 / epsilon, size=v.shape)


def gaussian_noise(value, *, epsilon, sensitivity, rng):
    """Adds Gaussian noise with standard deviation sensitivity / epsilon (not the Laplace mechanism)."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.normal(0.0, sensitivity / epsilon, size=v.shape)


def std_for_scale(value, *, epsilon, sensitivity, rng):
    """Confuses the scale with the standard deviation: scale = (sensitivity / epsilon) / sqrt(2)."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.laplace(0.0, sensitivity / epsilon / np.sqrt(2), size=v.shape)


def one_draw_for_all(value, *, epsilon, sensitivity, rng):
    """Draws ONE noise value and adds it to every entry."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.laplace(0.0, sensitivity / epsilon)


def no_validation(value, *, epsilon, sensitivity, rng):
    """Right noise, but accepts epsilon <= 0 (numpy then silently returns nonsense or fails with the wrong error)."""
    v = np.asarray(value, dtype=np.float64)
    return v + rng.laplace(0.0, abs(sensitivity / epsilon) if epsilon else 1.0, size=v.shape)


WRONG = {"q01_laplace": [scale_inverted, ignores_sensitivity, gaussian_noise, std_for_scale, one_draw_for_all,
                         no_validation]}
