"""DP-SGD written out step by step: per-sample gradients, clipping, Gaussian noise, Poisson sampling.

Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang 2016, "Deep Learning with Differential
Privacy", CCS 2016, arXiv:1607.00133, Algorithm 1. Each step:

1. Poisson-sample a lot: every record joins independently with probability q (``sample_rate``), so the
   batch size varies (this is the sampling the RDP accountant's subsampled-Gaussian analysis assumes,
   Mironov, Talwar & Zhang 2019, arXiv:1908.10530);
2. compute one gradient per record (``torch.func``: ``vmap`` over ``grad``);
3. clip each per-sample gradient to L2 norm ``max_grad_norm`` (C): g_i <- g_i * min(1, C / ||g_i||);
4. sum, add N(0, (sigma C)^2 I) with sigma = ``noise_multiplier``, divide by the *expected* batch size
   q N (dividing by the realised size would leak it), and take an ordinary optimizer step.

Steps 2-3 have a fast form for models whose trainable parameters all sit in ``nn.Linear`` layers
(``grad_sample_mode="ghost"``, chosen by ``"auto"`` for plain ``nn.Sequential`` stacks): one forward pass
records each layer's input, one backward pass gives the gradients at each layer's output, each record's
gradient norm follows from those two without forming the gradient (Goodfellow 2015, arXiv:1510.01799;
Li et al. 2022, arXiv:2110.05679), and the clipped sum is one matrix product per layer (Bu et al. 2023,
arXiv:2210.00038). It is the same mechanism: the same clipped sum as step 2-3 up to float rounding, the
same noise draws from the same generator. Any model it cannot prove it handles goes the ``vmap`` way
(``"auto"``) or is refused with :class:`UnsupportedModuleError` (``"ghost"``), never left unclipped.

Privacy is tracked by :class:`ppml_lab.dp.accountant.RDPAccountant` (the same RDP analysis Opacus uses),
which turns (q, sigma, steps) into an (epsilon, delta) guarantee.

Threat model: the adversary sees every intermediate model (or only the last) and knows every training
record but one; the guarantee is record-level (epsilon, delta)-DP for that one record.

The noise comes from a ``torch.Generator`` seeded from the OS CSPRNG unless ``rng`` is given explicitly
(an int or a Generator; teaching only). A call with the old ``seed=`` / ``generator=`` keywords raises a
TypeError naming ``rng=``. torch's generator is a Mersenne Twister: unpredictable to an outsider when seeded
from the CSPRNG, but not a CSPRNG itself; production code should use Opacus' ``secure_mode``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ppml_lab._rng import RNGLike, check_torch_generator, renamed_keywords, torch_generator
from ppml_lab._validation import (
    check_bool,
    check_delta,
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
    check_type,
)
from ppml_lab.dp.clipping import (  # the one home of clipping
    clip_factor,
    clip_per_sample,
    clipped_linear_grad_sum,
    linear_grad_sq_norms_cached,
    per_sample_norms,
)
from ppml_lab.exceptions import UnsupportedModuleError

__all__ = [
    "UNSUPPORTED_MODULES",
    "GRAD_SAMPLE_MODES",
    "ghost_clipped_sum",
    "check_module",
    "as_tensors",
    "per_sample_gradients",
    "per_sample_norms",
    "clip_per_sample",
    "noisy_mean",
    "poisson_sample",
    "dp_sgd_step",
    "sgd_step",
    "DPSGD",
    "DPTrainingResult",
    "train_dp_sgd",
    "train_non_private",
    "accuracy",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Layers whose per-sample gradients are undefined: their output for one record depends on the others in
#: the batch (BatchNorm's batch statistics), so one record's influence cannot be isolated and clipped.
UNSUPPORTED_MODULES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm,)


def _check_model(model: Any) -> nn.Module:
    return check_type("model", model, nn.Module, what="a torch.nn.Module")


def check_module(model: nn.Module) -> None:
    """Refuse models with layers whose per-sample gradients are undefined (BatchNorm; Opacus does too).

    Instance norms that track running statistics are refused for the same reason (the running statistic
    is a function of every record in every batch, and is released with the model).
    """
    _check_model(model)
    for name, module in model.named_modules():
        bad = isinstance(module, UNSUPPORTED_MODULES) or (
            isinstance(module, nn.modules.instancenorm._InstanceNorm) and module.track_running_stats
        )
        if bad:
            kind = type(module).__name__
            channels = getattr(module, "num_features", "C")
            raise UnsupportedModuleError(
                f"model contains {kind} at {name or '<root>'!r}: its output for one record depends on the "
                "other records in the batch, so per-sample gradients (and DP-SGD's clipping) are undefined. "
                f"Replace it with GroupNorm, e.g. nn.GroupNorm(num_groups=min(32, {channels}), "
                f"num_channels={channels}) (what opacus.validators.ModuleValidator.fix does), "
                "or LayerNorm / InstanceNorm without running stats"
            )


def as_tensors(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, y) tensors from a DataLoader, a Dataset of (x, y) pairs, or a pair of arrays/tensors.

    DP-SGD draws its own Poisson batches, so a loader contributes only its dataset (as in Opacus'
    ``DPDataLoader.from_data_loader``). Raises ValueError on empty data.
    """
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    if isinstance(data, DataLoader):
        data = data.dataset
    if isinstance(data, TensorDataset):
        if len(data.tensors) != 2:
            raise ValueError(f"data must hold (features, labels), got a TensorDataset of {len(data.tensors)} tensors")
        X, y = data.tensors
    elif isinstance(data, Dataset):
        n = len(data)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("data must not be empty, got a dataset with 0 records")
        pairs = [data[i] for i in range(n)]
        X = torch.stack([torch.as_tensor(p[0]) for p in pairs])
        y = torch.as_tensor(np.asarray([np.asarray(p[1]) for p in pairs]))
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (torch.as_tensor(np.asarray(d)) if not isinstance(d, torch.Tensor) else d for d in data)
    else:
        raise TypeError(
            "data must be a DataLoader, a Dataset of (x, y) pairs or a tuple (X, y), "
            f"got {type(data).__name__}"
        )
    if X.shape[0] == 0:
        raise ValueError("data must not be empty, got 0 records")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}")
    if X.is_floating_point():
        X = X.to(torch.float32)
    return X, y


# ---------------------------------------------------------------------------------------------
# The raw steps of Algorithm 1
# ---------------------------------------------------------------------------------------------


def per_sample_gradients(
    model: nn.Module, loss_fn: LossFn, x: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    """One gradient per record: ``{param_name: tensor of shape (B, *param.shape)}``.

    The model is called functionally on a single record (a batch of one), and ``vmap`` maps that over the
    batch dimension — the same numbers as B separate backward passes, in one vectorised call.
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    if x.shape[0] == 0:
        return {k: torch.zeros((0, *v.shape), dtype=v.dtype) for k, v in params.items()}

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))  # loss of ONE record: l(theta; x_i, y_i)

    # g_i = grad_theta l(theta; x_i, y_i) for every i at once (Abadi et al. 2016, Alg. 1, "compute gradient")
    return vmap(grad(loss_one), in_dims=(None, 0, 0), randomness="different")(params, x, y)


@renamed_keywords(generator="rng")
def noisy_mean(
    clipped: Mapping[str, torch.Tensor],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: float,
    rng: torch.Generator,
) -> dict[str, torch.Tensor]:
    """(sum_i g_i + N(0, sigma^2 C^2 I)) / (q N)   (Alg. 1, "add noise").

    Dividing by the expected batch size q N, not the realised one, keeps the denominator data-independent
    (Opacus does the same with ``loss_reduction="mean"``). ``rng``: a torch.Generator kept for the whole
    run (:func:`ppml_lab._rng.torch_generator`); an int is refused, it would replay one noise draw per step.
    """
    return _noisy_mean_of_sums(
        {k: g.sum(dim=0) for k, g in clipped.items()},  # sum_i clip(g_i)
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        rng=rng,
    )


def _noisy_mean_of_sums(
    sums: Mapping[str, torch.Tensor],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: float,
    rng: torch.Generator,
) -> dict[str, torch.Tensor]:
    """(clipped sum + N(0, sigma^2 C^2 I)) / (q N), one draw per parameter in ``sums``' order.

    Both paths (materialised and ghost) end here, so a fixed generator gives both the same noise.
    """
    sigma = check_nonnegative("noise_multiplier", noise_multiplier)
    c = check_positive("max_grad_norm", max_grad_norm)
    m = check_positive("expected_batch_size", expected_batch_size)
    gen = check_torch_generator("rng", rng)
    out = {}
    for k, total in sums.items():
        noise = torch.normal(0.0, sigma * c, size=total.shape, generator=gen, dtype=total.dtype)
        out[k] = (total + noise) / m
    return out


# ---------------------------------------------------------------------------------------------
# The fast form of steps 2-3 for Linear layers: norms from activations and output gradients
# ---------------------------------------------------------------------------------------------

#: ``"auto"``: the ghost form where it provably applies, else ``vmap``; ``"ghost"``: the ghost form or
#: UnsupportedModuleError; ``"vmap"``: always materialise per-record gradients.
GRAD_SAMPLE_MODES: tuple[str, ...] = ("auto", "ghost", "vmap")

#: Parameter-free layers that act on each record alone (``"auto"`` uses the ghost form only for
#: ``nn.Sequential`` stacks of these and ``nn.Linear``: their forward cannot mix records).
_ROWWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.Tanh, nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.GELU, nn.ELU, nn.SELU, nn.LeakyReLU, nn.SiLU,
    nn.Softplus, nn.Mish, nn.Hardtanh, nn.Dropout,
)


def _check_mode(grad_sample_mode: Any) -> str:
    if grad_sample_mode not in GRAD_SAMPLE_MODES:
        raise ValueError(f"grad_sample_mode must be one of {GRAD_SAMPLE_MODES}, got {grad_sample_mode!r}")
    return str(grad_sample_mode)


def _rowwise_stack(model: nn.Module) -> bool:
    """True if the model is (nested) nn.Sequential of Linear and row-wise parameter-free layers."""
    for m in model.modules():
        if type(m) in (nn.Sequential, nn.Linear) or type(m) in _ROWWISE_MODULES:
            continue
        if type(m) is nn.Flatten and m.start_dim >= 1:  # keeps dimension 0 (the record)
            continue
        return False
    return True


def _linear_owners(model: nn.Module) -> tuple[list[nn.Linear], str]:
    """The Linear layers holding the trainable parameters, or ([], why) if some parameter is elsewhere.

    Every trainable parameter must be the ``weight`` or ``bias`` of exactly one ``nn.Linear`` (not a
    subclass, whose forward may differ), listed once (a layer used twice, or tied weights, would make a
    record's gradient a sum over uses that the per-layer norms below do not see).
    """
    owners: dict[int, int] = {}
    layers: list[nn.Linear] = []
    for name, m in model.named_modules(remove_duplicate=False):
        own = [(k, v) for k, v in m.named_parameters(recurse=False) if v.requires_grad]
        if not own:
            continue
        if type(m) is not nn.Linear:
            return [], f"{type(m).__name__} at {name or '<root>'!r} has trainable parameters and is not nn.Linear"
        for _, v in own:
            owners[id(v)] = owners.get(id(v), 0) + 1
            if owners[id(v)] > 1:
                return [], f"a parameter of the Linear at {name!r} is used by more than one layer (tied or reused)"
        layers.append(m)
    if not layers:
        return [], "the model has no trainable parameters in nn.Linear layers"
    return layers, ""


def _param_edge_counts(root: Any) -> dict[int, int]:
    """How many times each leaf tensor enters the autograd graph below ``root`` (id(tensor) -> count)."""
    counts: dict[int, int] = {}
    seen, stack = {root}, [root]
    while stack:
        fn = stack.pop()
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            var = getattr(nxt, "variable", None)  # AccumulateGrad: the edge into a leaf
            if var is not None:
                counts[id(var)] = counts.get(id(var), 0) + 1
            elif nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return counts


def _summed_loss(model_out: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    """sum_i l(theta; x_i, y_i), each term exactly what ``loss_fn`` gives for a batch of one record."""
    if loss_fn is _cross_entropy:
        return nn.functional.cross_entropy(model_out, y, reduction="sum")
    one = lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0))  # noqa: E731  l(theta; x_i, y_i)
    return vmap(one)(model_out, y).sum()


def ghost_clipped_sum(
    model: nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    max_grad_norm: float,
    strict: bool = True,
) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
    """sum_i clip(g_i) per parameter and the pre-clip norms ||g_i||, without forming any g_i.

    The same numbers as ``clip_per_sample(per_sample_gradients(...))`` summed over records, for models
    whose trainable parameters all belong to ``nn.Linear`` layers each used once per forward pass, and whose
    forward treats each record on its own (as Opacus' hooks also assume; BatchNorm is refused by
    :func:`check_module`). Anything else: ``UnsupportedModuleError`` if ``strict``, else ``None`` (the caller
    then materialises per-record gradients).
    """
    c = check_positive("max_grad_norm", max_grad_norm)

    def refuse(why: str) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
        """Raise under ``strict``; otherwise None, the caller's signal to fall back to vmap."""
        if strict:
            raise UnsupportedModuleError(f"the ghost-norm path cannot clip this model exactly: {why}; "
                                         "use grad_sample_mode='vmap' (or 'auto', which falls back to it)")
        return None

    layers, why = _linear_owners(model)
    if not layers:
        return refuse(why)
    b = x.shape[0]
    seen: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor, int, int]]] = {m: [] for m in layers}

    def record(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        a = args[0] if len(args) == 1 else None
        if isinstance(a, torch.Tensor) and isinstance(out, torch.Tensor):
            seen[module].append((a, out, a._version, out._version))
        else:
            seen[module].append((None, None, -1, -1))  # type: ignore[arg-type]

    handles = [m.register_forward_hook(record) for m in layers]
    try:
        out = model(x)  # one forward pass over the lot; hooks keep each Linear's input a and output z
    finally:
        for h in handles:
            h.remove()
    for m in layers:
        calls = seen[m]
        if len(calls) != 1:
            return refuse(f"a Linear layer ran {len(calls)} times in one forward pass (need exactly once)")
        a, z, va, vz = calls[0]
        if a is None or a.shape[0] != b or z.shape[0] != b:
            return refuse("a Linear layer's input or output does not have the records along dimension 0")
    loss = _summed_loss(out, y, loss_fn)
    zs = [seen[m][0][1] for m in layers]
    if any(seen[m][0][0]._version != seen[m][0][2] or seen[m][0][1]._version != seen[m][0][3] for m in layers):
        return refuse("a Linear layer's input or output was modified in place after the layer ran")
    edges = _param_edge_counts(loss.grad_fn) if loss.grad_fn is not None else {}
    # g_i at each layer output: dl_i/dz_i = d(sum_j l_j)/dz_i, records being independent
    backprops = torch.autograd.grad(loss, zs, allow_unused=True)
    sq = torch.zeros(b, dtype=out.dtype)
    parts: dict[int, tuple[int, str]] = {}
    caches: list[Any] = [None] * len(layers)  # per-record gradients already formed for a norm, reused below
    for j, (m, g) in enumerate(zip(layers, backprops)):
        for pname in ("weight", "bias"):
            p = getattr(m, pname)
            if p is None or not p.requires_grad:
                continue
            # each trainable parameter must enter the graph once, through this layer's call, or not at all
            if edges.get(id(p), 0) != (0 if g is None else 1):
                return refuse("a Linear layer's parameter is also used outside the layer's own forward pass")
            parts[id(p)] = (j, pname)
        if g is None:
            continue
        w_sq, b_sq, caches[j] = linear_grad_sq_norms_cached(seen[m][0][0].detach(), g)
        if m.weight.requires_grad:
            sq = sq + w_sq  # ||g_i||^2 = sum over parameter tensors of their squared norms
        if m.bias is not None and m.bias.requires_grad:
            sq = sq + b_sq
    norms = sq.sqrt()
    factor = clip_factor(norms, max_grad_norm=c)  # min(1, C / (||g_i|| + 1e-6)), the one clip factor
    sums_by_layer = [
        clipped_linear_grad_sum(seen[m][0][0].detach(), g, factor, cache=cache) if g is not None else None
        for m, g, cache in zip(layers, backprops, caches)
    ]
    sums: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        j, pname = parts[id(p)]
        s = sums_by_layer[j]
        sums[name] = torch.zeros_like(p) if s is None else (s[0] if pname == "weight" else s[1]).detach()
    return sums, norms.detach()


@renamed_keywords(generator="rng")
def poisson_sample(n: int, *, sample_rate: float, rng: torch.Generator) -> torch.Tensor:
    """Indices of a Poisson-sampled lot: each of n records joins independently with probability q.

    ``rng``: a torch.Generator kept for the whole run (:func:`ppml_lab._rng.torch_generator`)."""
    check_int("n", n, low=1)
    q = check_fraction("sample_rate", sample_rate)
    keep = torch.rand(n, generator=check_torch_generator("rng", rng)) < q  # Bernoulli(q) per record: batch size ~ Binomial(n, q)
    return torch.nonzero(keep, as_tuple=True)[0]


def _set_grads(model: nn.Module, grads: Mapping[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.grad = grads[name].to(p.dtype).reshape(p.shape).clone()


@renamed_keywords(generator="rng")
def dp_sgd_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: LossFn,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: float,
    rng: torch.Generator,
    grad_sample_mode: str = "auto",
) -> torch.Tensor:
    """One DP-SGD update on the lot (x, y); returns the per-sample norms before clipping.

    ``grad_sample_mode`` picks how steps 2-3 are computed (:data:`GRAD_SAMPLE_MODES`); the update is the
    same up to float rounding, and the same noise is drawn from ``rng`` (a torch.Generator kept for the
    whole run) either way.
    """
    mode = _check_mode(grad_sample_mode)
    check_positive("max_grad_norm", max_grad_norm)
    fast = None
    if mode == "ghost" or (mode == "auto" and _rowwise_stack(model)):
        if x.shape[0] > 0:
            fast = ghost_clipped_sum(model, loss_fn, x, y, max_grad_norm=max_grad_norm, strict=mode == "ghost")
        elif mode == "ghost":
            _linear_owners_or_raise(model)
    if fast is not None:
        sums, norms = fast
    else:
        grads = per_sample_gradients(model, loss_fn, x, y)
        clipped, norms = clip_per_sample(grads, max_grad_norm=max_grad_norm)
        sums = {k: g.sum(dim=0) for k, g in clipped.items()}  # sum_i clip(g_i)
    noisy = _noisy_mean_of_sums(
        sums,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        rng=rng,
    )
    optimizer.zero_grad(set_to_none=True)
    _set_grads(model, noisy)
    optimizer.step()  # theta <- theta - eta * g~ (or whatever rule the optimizer implements)
    return norms


def _linear_owners_or_raise(model: nn.Module) -> None:
    layers, why = _linear_owners(model)
    if not layers:
        raise UnsupportedModuleError(f"the ghost-norm path cannot clip this model exactly: {why}; "
                                     "use grad_sample_mode='vmap' (or 'auto', which falls back to it)")


def sgd_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *, loss_fn: LossFn
) -> None:
    """The non-private baseline: one ordinary mini-batch step on the mean loss."""
    optimizer.zero_grad(set_to_none=True)
    if x.shape[0] == 0:
        return
    loss_fn(model(x), y).backward()
    optimizer.step()


# ---------------------------------------------------------------------------------------------
# The safe, stateful form: validation + accounting
# ---------------------------------------------------------------------------------------------


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


class DPSGD:
    """Make a model + optimizer + data private: Poisson lots, clipped per-sample gradients, noise, RDP ledger.

    >>> trainer = DPSGD(model, optimizer, (X, y), noise_multiplier=1.1, max_grad_norm=1.0,
    ...                 sample_rate=0.05, rng=0)             # an int: reproducible teaching runs only
    >>> trainer.train(epochs=5); trainer.get_epsilon(1e-5)

    One epoch is round(1 / sample_rate) steps (Opacus' convention), so each record is used about once
    per epoch on average. ``rng=None`` seeds the noise and sampling generator from the OS CSPRNG; an int, a
    numpy or a torch Generator makes the run reproducible (teaching only).
    ``grad_sample_mode`` (``"auto"``, ``"ghost"``, ``"vmap"``): how per-record norms and the clipped sum
    are computed, see :func:`dp_sgd_step`; the mechanism and its epsilon are the same.
    """

    @renamed_keywords(seed="rng")
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        data: Any,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        sample_rate: float | None = None,
        loss_fn: LossFn | None = None,
        rng: RNGLike | torch.Generator = None,
        grad_sample_mode: str = "auto",
    ) -> None:
        check_module(model)
        self.grad_sample_mode = _check_mode(grad_sample_mode)
        if self.grad_sample_mode == "ghost":
            _linear_owners_or_raise(model)
        check_type("optimizer", optimizer, torch.optim.Optimizer, what="a torch.optim.Optimizer")
        self.noise_multiplier = check_nonnegative("noise_multiplier", noise_multiplier)
        self.max_grad_norm = check_positive("max_grad_norm", max_grad_norm)
        from torch.utils.data import DataLoader

        if sample_rate is None:
            if not isinstance(data, DataLoader):
                raise TypeError("sample_rate is required unless data is a DataLoader (then 1 / len(loader))")
            if len(data) == 0:
                raise ValueError("data must not be empty, got a DataLoader with 0 batches")
            sample_rate = 1.0 / len(data)
        self.sample_rate = check_fraction("sample_rate", sample_rate)
        self.model, self.optimizer = model, optimizer
        self.X, self.y = as_tensors(data)
        self.loss_fn = loss_fn if loss_fn is not None else _cross_entropy
        self.generator = torch_generator(rng)
        self.steps = 0
        self.expected_batch_size = self.sample_rate * self.X.shape[0]  # q N
        from ppml_lab.dp.accountant import RDPAccountant

        self.accountant = RDPAccountant()

    def __repr__(self) -> str:
        return (
            f"DPSGD(noise_multiplier={self.noise_multiplier}, max_grad_norm={self.max_grad_norm}, "
            f"sample_rate={self.sample_rate:.4g}, n={self.X.shape[0]}, steps={self.steps})"
        )

    @property
    def steps_per_epoch(self) -> int:
        return max(1, round(1.0 / self.sample_rate))

    def step(self) -> torch.Tensor:
        """One Poisson lot, one noisy update, one entry in the ledger; returns pre-clip norms."""
        self.model.train()
        idx = poisson_sample(self.X.shape[0], sample_rate=self.sample_rate, rng=self.generator)
        norms = dp_sgd_step(
            self.model,
            self.optimizer,
            self.X[idx],
            self.y[idx],
            loss_fn=self.loss_fn,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=self.expected_batch_size,
            rng=self.generator,
            grad_sample_mode=self.grad_sample_mode,
        )
        if self.noise_multiplier > 0:
            self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.steps += 1
        return norms

    def train(self, *, epochs: int = 1, progress: bool = False) -> DPSGD:
        check_int("epochs", epochs, low=1)
        check_bool("progress", progress)
        total = epochs * self.steps_per_epoch
        it: Iterable[int] = range(total)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="DP-SGD", leave=False)
        for _ in it:
            self.step()
        return self

    def get_epsilon(self, delta: float) -> float:
        """epsilon spent so far at ``delta``, per training record (Opacus's shape, the package's one way to ask).

        inf without noise, 0 before the first step.
        """
        d = check_delta("delta", delta, allow_zero=False)
        if self.steps == 0:
            return 0.0
        if self.noise_multiplier == 0:
            return math.inf
        return float(self.accountant.get_epsilon(d))


@dataclass(frozen=True)
class DPTrainingResult:
    """What :func:`train_dp_sgd` spent and how it went."""

    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    epochs: int
    trainer: DPSGD = field(repr=False)


@renamed_keywords(seed="rng")
def train_dp_sgd(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    *,
    epochs: int,
    max_grad_norm: float,
    delta: float,
    sample_rate: float | None = None,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    loss_fn: LossFn | None = None,
    rng: RNGLike | torch.Generator = None,
    progress: bool = False,
    grad_sample_mode: str = "auto",
) -> DPTrainingResult:
    """Train ``model`` in place with DP-SGD and return the epsilon spent at ``delta``.

    Give either ``noise_multiplier`` or ``target_epsilon``; with a target, sigma is calibrated by the RDP
    accountant for epochs * round(1/q) steps (Opacus' ``make_private_with_epsilon``). ``rng`` as for :class:`DPSGD`.
    """
    check_int("epochs", epochs, low=1)
    d = check_delta("delta", delta, allow_zero=False)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError("give exactly one of noise_multiplier or target_epsilon")
    check_positive("max_grad_norm", max_grad_norm)
    if sample_rate is None:
        from torch.utils.data import DataLoader

        if not isinstance(data, DataLoader):
            raise TypeError("sample_rate is required unless data is a DataLoader (then 1 / len(loader))")
        if len(data) == 0:
            raise ValueError("data must not be empty, got a DataLoader with 0 batches")
        sample_rate = 1.0 / len(data)
    q = check_fraction("sample_rate", sample_rate)
    if target_epsilon is not None:
        eps = check_positive("target_epsilon", target_epsilon)
        from ppml_lab.dp.accountant import find_noise_multiplier

        steps = epochs * max(1, round(1.0 / q))
        noise_multiplier = find_noise_multiplier(target_epsilon=eps, delta=d, sample_rate=q, steps=steps)
    if noise_multiplier is None:  # unreachable: exactly one of the two was checked above
        raise ValueError("give exactly one of noise_multiplier or target_epsilon")
    sigma = float(noise_multiplier)
    trainer = DPSGD(
        model,
        optimizer,
        data,
        noise_multiplier=sigma,
        max_grad_norm=max_grad_norm,
        sample_rate=q,
        loss_fn=loss_fn,
        rng=rng,
        grad_sample_mode=grad_sample_mode,
    )
    trainer.train(epochs=epochs, progress=progress)
    return DPTrainingResult(
        epsilon=trainer.get_epsilon(d),
        delta=d,
        noise_multiplier=sigma,
        max_grad_norm=float(max_grad_norm),
        sample_rate=q,
        steps=trainer.steps,
        epochs=epochs,
        trainer=trainer,
    )


@renamed_keywords(seed="rng")
def train_non_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    *,
    epochs: int,
    sample_rate: float,
    loss_fn: LossFn | None = None,
    rng: RNGLike | torch.Generator = None,
) -> nn.Module:
    """The baseline with the same Poisson lots and step count as :class:`DPSGD`, minus clipping and noise."""
    check_int("epochs", epochs, low=1)
    q = check_fraction("sample_rate", sample_rate)
    X, y = as_tensors(data)
    fn = loss_fn if loss_fn is not None else _cross_entropy
    gen = torch_generator(rng)
    model.train()
    for _ in range(epochs * max(1, round(1.0 / q))):
        idx = poisson_sample(X.shape[0], sample_rate=q, rng=gen)
        sgd_step(model, optimizer, X[idx], y[idx], loss_fn=fn)
    return model


@torch.no_grad()
def accuracy(model: nn.Module, X: Any, y: Any) -> float:
    """Fraction of correct arg-max predictions."""
    Xt, yt = as_tensors((X, y))
    model.eval()
    return float((model(Xt).argmax(dim=1) == yt).float().mean())
