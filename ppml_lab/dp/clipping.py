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

Names (one per unit, the same in every module, notebook and benchmark): ``max_grad_norm`` is C, the bound on
one example's gradient (DP-SGD; Opacus's name); ``max_update_norm`` is S, the bound on one client's model
update (DP-FedAvg, distributed noise, the bounded-update proofs). The parameter name thus says which unit
the resulting epsilon protects. ``clipping_norm`` appears only where Flower's own API takes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ppml_lab._validation import check_array, check_positive

__all__ = [
    "CLIP_GUARD",
    "clip_factor",
    "per_sample_norms",
    "clip_per_sample",
    "clip_tensors",
    "clip_update",
    "linear_grad_sq_norms",
    "linear_grad_sq_norms_cached",
    "clipped_linear_grad_sum",
]

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


# ---------------------------------------------------------------------------------------------
# Per-record norms and the clipped sum of a Linear layer WITHOUT per-record gradients
# ---------------------------------------------------------------------------------------------
#
# For z = a W^T + b applied to record i's activations a_i (T rows of width d; T = 1 for a flat input)
# with output gradients g_i = dl_i/dz_i (T rows of width p), record i's gradients are
#     grad_W l_i = sum_t g_it a_it^T   (p x d)      grad_b l_i = sum_t g_it   (p)
# Their norms follow from a and g alone (Goodfellow 2015, "Efficient Per-Example Gradient Computations",
# arXiv:1510.01799, for T = 1; "ghost clipping", Li, Tramer, Liang & Hashimoto 2022, arXiv:2110.05679,
# for T > 1), and the clipped sum sum_i c_i grad_W l_i is one matrix product of the scaled output
# gradients with the activations ("book-keeping", Bu, Wang, Zha & Karypis 2023, arXiv:2210.00038).
# Same numbers as clip_per_sample on materialised per-record gradients, up to float rounding.


def _as_rows(activations: Any, backprops: Any) -> tuple[Any, Any]:
    """(B, T, d) and (B, T, p) views: every dimension between the first and the last is a row t."""
    a, g = activations, backprops
    if a.dim() < 2 or g.dim() != a.dim() or a.shape[:-1] != g.shape[:-1]:
        raise ValueError(
            "activations and backprops must have shapes (B, ..., d) and (B, ..., p) with the same leading "
            f"dimensions, got {tuple(a.shape)} and {tuple(g.shape)}"
        )
    b = a.shape[0]
    return a.reshape(b, -1, a.shape[-1]), g.reshape(b, -1, g.shape[-1])


def linear_grad_sq_norms(activations: Any, backprops: Any) -> tuple[Any, Any]:
    """Per-record ||grad_W l_i||_F^2 and ||grad_b l_i||^2 of a Linear layer, shape (B,) each.

    ``activations`` is the layer's input (B, ..., d), ``backprops`` the gradient of the summed per-record
    losses with respect to its output (B, ..., p). No (B, p, d) tensor is formed when T = 1 or when the
    ghost form is cheaper (T (d + p) <= d p).
    """
    weight_sq, bias_sq, _ = linear_grad_sq_norms_cached(activations, backprops)
    return weight_sq, bias_sq


def linear_grad_sq_norms_cached(activations: Any, backprops: Any) -> tuple[Any, Any, tuple[Any, Any]]:
    """:func:`linear_grad_sq_norms` plus a cache for :func:`clipped_linear_grad_sum` (``cache=``).

    The cache is (per-record weight gradients (B, p, d) or None, per-record bias gradients (B, p)). The
    (B, p, d) tensor is kept only where it is formed anyway (the branch T (d + p) > d p), so it is never
    larger than the activations and output gradients already held; the clipped sum then costs one
    (B) x (B, p d) product instead of a second (p, B T) x (B T, d) one.
    """
    import torch

    a, g = _as_rows(activations, backprops)
    _, t, d = a.shape
    p = g.shape[-1]
    per_record = None
    if t == 1:
        a1, g1 = a[:, 0], g[:, 0]
        # ||g_i a_i^T||_F^2 = ||a_i||^2 ||g_i||^2   (rank one: Goodfellow 2015)
        weight_sq = (a1 * a1).sum(dim=1) * (g1 * g1).sum(dim=1)
    elif t * (d + p) <= d * p:
        # ||sum_t g_t a_t^T||_F^2 = sum_{t,s} (a_t . a_s)(g_t . g_s)   (ghost norm: Li et al. 2022)
        weight_sq = (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum(dim=(1, 2))
    else:  # long sequences of narrow layers: forming the (p x d) per-record gradient is cheaper
        per_record = torch.bmm(g.transpose(1, 2), a)  # grad_W l_i = sum_t g_it a_it^T, (B, p, d)
        weight_sq = per_record.pow(2).sum(dim=(1, 2))
    gsum = g.sum(dim=1)  # grad_b l_i = sum_t g_it
    return weight_sq, (gsum * gsum).sum(dim=1), (per_record, gsum)


def clipped_linear_grad_sum(
    activations: Any, backprops: Any, factor: Any, *, cache: tuple[Any, Any] | None = None
) -> tuple[Any, Any]:
    """sum_i c_i grad_W l_i (p x d) and sum_i c_i grad_b l_i (p), c_i = ``factor`` from :func:`clip_factor`.

    One matrix product instead of B per-record gradients: (c * G)^T A (book-keeping, Bu et al. 2023).
    With ``cache`` from :func:`linear_grad_sq_norms_cached` on the same tensors, the per-record gradients
    it holds are reused: sum_i c_i grad_W l_i as c^T [grad_W l_1; ...; grad_W l_B] (no second pass over
    the B T rows when they were materialised), and sum_i c_i grad_b l_i as c^T [grad_b l_i]_i.
    """
    a, g = _as_rows(activations, backprops)
    b, _, d = a.shape
    if factor.shape != (b,):
        raise ValueError(f"factor must have shape ({b},), one per record, got {tuple(factor.shape)}")
    if cache is not None:
        per_record, gsum = cache
        p = g.shape[-1]
        if gsum.shape != (b, p) or (per_record is not None and per_record.shape != (b, p, d)):
            raise ValueError(
                f"cache does not belong to these tensors: bias part {tuple(gsum.shape)}, weight part "
                f"{None if per_record is None else tuple(per_record.shape)}, expected {(b, p)} and {(b, p, d)}")
        fac = factor.to(gsum.dtype)
        bias = fac @ gsum  # sum_i c_i grad_b l_i
        if per_record is not None:
            return (fac @ per_record.reshape(b, p * d)).reshape(p, d), bias  # sum_i c_i grad_W l_i
        gc = g * fac.view(-1, 1, 1)
        return gc.reshape(-1, gc.shape[-1]).transpose(0, 1) @ a.reshape(-1, d), bias
    gc = g * factor.view(-1, 1, 1)  # c_i g_it
    weight = gc.reshape(-1, gc.shape[-1]).transpose(0, 1) @ a.reshape(-1, a.shape[-1])  # sum_i sum_t c_i g_it a_it^T
    return weight, gc.sum(dim=(0, 1))
