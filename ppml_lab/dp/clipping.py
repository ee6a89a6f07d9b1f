"""Clipping: the one place in ppml_lab that bounds a contribution's L2 norm before noise is added.

What it is: the "clip" step of DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy",
arXiv:1607.00133, Algorithm 1, "clip gradient": g_i * min(1, C / ||g_i||_2)) and of DP-FedAvg (McMahan et
al. 2018, "Learning Differentially Private Recurrent Language Models", arXiv:1710.06963, Algorithm 1,
"ClipFn"). Clipping sets the sensitivity that the Gaussian noise is calibrated to, so every mechanism that
claims an epsilon must clip here, with the same factor: a second copy with another guard constant would
make two notebooks' "DP-SGD" two different mechanisms.

The factor is Opacus's: min(1, C / (||g|| + 1e-6)) (opacus/optimizers/optimizer.py, ``clip_and_accumulate``),
so ours and Opacus agree bit for bit; a clipped norm is at most C up to one rounding (relative 2^-52),
which no noise calibration here is sensitive to.

Threat model: none by itself; it bounds the influence of one unit (a record for DP-SGD, a client's update
for DP-FedAvg). Which unit that is depends on what is clipped, and the caller states it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppml_lab._validation import check_array, check_positive

__all__ = ["CLIP_GUARD", "clip_factor", "per_sample_norms", "clip_per_sample", "clip_tensors", "clip_update"]

#: Added to the norm before dividing (Opacus's constant): keeps a zero gradient finite and the bound strict.
CLIP_GUARD = 1e-6


def clip_factor(norms: Any, *, max_grad_norm: float) -> Any:
    """min(1, C / (||g|| + 1e-6)) for each norm; works on numpy arrays and torch tensors alike."""
    c = check_positive("max_grad_norm", max_grad_norm)
    if isinstance(norms, np.ndarray | float | int | np.floating):
        return np.minimum(c / (np.asarray(norms, dtype=np.float64) + CLIP_GUARD), 1.0)
    return (c / (norms + CLIP_GUARD)).clamp(max=1.0)  # torch: min(1, C / ||g_i||)


def per_sample_norms(grads: Mapping[str, Any]) -> Any:
    """||g_i||_2 over ALL parameters of record i (flat clipping), shape (B,), from {name: (B, *shape)}."""
    import torch

    flat = [g.reshape(g.shape[0], int(np.prod(g.shape[1:]))) for g in grads.values()]  # (B, params)
    # ||g_i|| = sqrt(sum over parameter tensors of ||g_i^(p)||^2)
    return torch.stack([f.norm(2, dim=1) for f in flat], dim=1).norm(2, dim=1)


def clip_per_sample(grads: Mapping[str, Any], *, max_grad_norm: float) -> tuple[dict[str, Any], Any]:
    """Scale each record's gradient to norm at most C (DP-SGD, Abadi et al. 2016 Alg. 1, "clip gradient").

    ``grads`` maps parameter names to per-sample gradients of shape (B, *shape). Returns the clipped
    gradients and the norms before clipping.
    """
    norms = per_sample_norms(grads)
    factor = clip_factor(norms, max_grad_norm=max_grad_norm)  # min(1, C / ||g_i||)
    clipped = {k: g * factor.view(-1, *([1] * (g.dim() - 1))) for k, g in grads.items()}
    return clipped, norms


def clip_tensors(tensors: Sequence[Any], *, max_grad_norm: float) -> tuple[tuple[Any, ...], float]:
    """Clip ONE update given as several tensors by their joint L2 norm; returns (clipped, norm before)."""
    import torch

    norm = torch.sqrt(sum((t.double() ** 2).sum() for t in tensors))
    factor = float(clip_factor(norm, max_grad_norm=max_grad_norm))  # min(1, C / ||g||)
    return tuple(t.float() * factor for t in tensors), float(norm)


def clip_update(update: Any, *, max_update_norm: float) -> tuple[np.ndarray, float]:
    """A client's flat update Delta * min(1, S / ||Delta||) (McMahan et al. 2018, Alg. 1 "ClipFn").

    Returns (clipped, norm before clipping). ``max_update_norm`` is S, the client-level clipping bound.
    """
    s = check_positive("max_update_norm", max_update_norm)
    d = check_array("update", update, ndim=1)
    norm = float(np.linalg.norm(d))
    return d * float(clip_factor(norm, max_grad_norm=s)), norm
