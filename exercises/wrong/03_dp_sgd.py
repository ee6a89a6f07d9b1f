"""Typical wrong answers to the coding exercise of notebook 03 (per-example clipping).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``clip_per_example``) and checks that otter's tests for the question reject it.
"""

import numpy as np


def clip_whole_batch(grads, *, max_grad_norm):
    """Clips the batch by its total norm (one factor for everyone): the sensitivity is then the batch's,
    and one outlier shrinks every other example's gradient."""
    g = np.asarray(grads, dtype=np.float64)
    return g * min(1.0, max_grad_norm / (np.linalg.norm(g) + 1e-6))


def rescale_everyone_to_c(grads, *, max_grad_norm):
    """Forgets the min(1, .): every example is rescaled to norm exactly C, so small gradients are inflated."""
    g = np.asarray(grads, dtype=np.float64)
    return g * (max_grad_norm / (np.linalg.norm(g, axis=1) + 1e-6))[:, None]


def clip_each_coordinate(grads, *, max_grad_norm):
    """Clips each coordinate to [-C, C] (value clipping) instead of the L2 norm: a row keeps norm up to
    C * sqrt(d) and changes direction."""
    return np.clip(np.asarray(grads, dtype=np.float64), -max_grad_norm, max_grad_norm)


def norm_over_the_batch_axis(grads, *, max_grad_norm):
    """Takes the norm along axis 0 (per coordinate across the batch) instead of per example."""
    g = np.asarray(grads, dtype=np.float64)
    return g * np.minimum(1.0, max_grad_norm / (np.linalg.norm(g, axis=0) + 1e-6))[None, :]


def divides_by_squared_norm(grads, *, max_grad_norm):
    """Uses ||g||^2 instead of ||g|| in the factor."""
    g = np.asarray(grads, dtype=np.float64)
    return g * np.minimum(1.0, max_grad_norm / (np.sum(g * g, axis=1) + 1e-6))[:, None]


def no_guard_and_in_place(grads, *, max_grad_norm):
    """Divides by ||g|| with no guard (0/0 = nan for a zero gradient) and overwrites the caller's array."""
    g = np.asarray(grads)
    with np.errstate(divide="ignore", invalid="ignore"):
        g *= np.minimum(1.0, max_grad_norm / np.linalg.norm(g, axis=1))[:, None]
    return g


WRONG = {"q03_clip_per_example": [clip_whole_batch, rescale_everyone_to_c, clip_each_coordinate,
                                  norm_over_the_batch_axis, divides_by_squared_norm, no_guard_and_in_place]}
