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

Privacy is tracked by :class:`ppml_lab.dp.accountant.RDPAccountant` (the same RDP analysis Opacus uses),
which turns (q, sigma, steps) into an (epsilon, delta) guarantee.

Threat model: the adversary sees every intermediate model (or only the last) and knows every training
record but one; the guarantee is record-level (epsilon, delta)-DP for that one record.

The noise comes from a ``torch.Generator`` seeded from the OS CSPRNG unless a seed is passed explicitly
(teaching only). torch's generator is a Mersenne Twister: unpredictable to an outsider when seeded
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

from ppml_lab._rng import torch_generator
from ppml_lab._validation import (
    check_bool,
    check_delta,
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
    check_type,
)
from ppml_lab.dp.clipping import clip_per_sample, per_sample_norms  # the one home of clipping
from ppml_lab.exceptions import UnsupportedModuleError

__all__ = [
    "UNSUPPORTED_MODULES",
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


def noisy_mean(
    clipped: Mapping[str, torch.Tensor],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    expected_batch_size: float,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """(sum_i g_i + N(0, sigma^2 C^2 I)) / (q N)   (Alg. 1, "add noise").

    Dividing by the expected batch size q N, not the realised one, keeps the denominator data-independent
    (Opacus does the same with ``loss_reduction="mean"``).
    """
    sigma = check_nonnegative("noise_multiplier", noise_multiplier)
    c = check_positive("max_grad_norm", max_grad_norm)
    m = check_positive("expected_batch_size", expected_batch_size)
    out = {}
    for k, g in clipped.items():
        total = g.sum(dim=0)
        noise = torch.normal(0.0, sigma * c, size=total.shape, generator=generator, dtype=total.dtype)
        out[k] = (total + noise) / m
    return out


def poisson_sample(n: int, *, sample_rate: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a Poisson-sampled lot: each of n records joins independently with probability q."""
    check_int("n", n, low=1)
    q = check_fraction("sample_rate", sample_rate)
    keep = torch.rand(n, generator=generator) < q  # Bernoulli(q) per record: batch size ~ Binomial(n, q)
    return torch.nonzero(keep, as_tuple=True)[0]


def _set_grads(model: nn.Module, grads: Mapping[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.grad = grads[name].to(p.dtype).reshape(p.shape).clone()


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
    generator: torch.Generator,
) -> torch.Tensor:
    """One DP-SGD update on the lot (x, y); returns the per-sample norms before clipping."""
    grads = per_sample_gradients(model, loss_fn, x, y)
    clipped, norms = clip_per_sample(grads, max_grad_norm=max_grad_norm)
    noisy = noisy_mean(
        clipped,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        expected_batch_size=expected_batch_size,
        generator=generator,
    )
    optimizer.zero_grad(set_to_none=True)
    _set_grads(model, noisy)
    optimizer.step()  # theta <- theta - eta * g~ (or whatever rule the optimizer implements)
    return norms


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
    ...                 sample_rate=0.05, seed=0)            # seed: reproducible teaching runs only
    >>> trainer.train(epochs=5); trainer.epsilon(delta=1e-5)

    One epoch is round(1 / sample_rate) steps (Opacus' convention), so each record is used about once
    per epoch on average. ``seed=None`` seeds the noise and sampling generator from the OS CSPRNG.
    """

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
        seed: int | None = None,
    ) -> None:
        check_module(model)
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
        if seed is not None:
            check_int("seed", seed)
        self.model, self.optimizer = model, optimizer
        self.X, self.y = as_tensors(data)
        self.loss_fn = loss_fn if loss_fn is not None else _cross_entropy
        self.generator = torch_generator(seed)
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
        idx = poisson_sample(self.X.shape[0], sample_rate=self.sample_rate, generator=self.generator)
        norms = dp_sgd_step(
            self.model,
            self.optimizer,
            self.X[idx],
            self.y[idx],
            loss_fn=self.loss_fn,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=self.expected_batch_size,
            generator=self.generator,
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

    def epsilon(self, *, delta: float) -> float:
        """epsilon spent so far at ``delta`` (inf without noise, 0 before the first step)."""
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
    seed: int | None = None,
    progress: bool = False,
) -> DPTrainingResult:
    """Train ``model`` in place with DP-SGD and return the epsilon spent at ``delta``.

    Give either ``noise_multiplier`` or ``target_epsilon``; with a target, sigma is calibrated by the RDP
    accountant for epochs * round(1/q) steps (Opacus' ``make_private_with_epsilon``).
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
    trainer = DPSGD(
        model,
        optimizer,
        data,
        noise_multiplier=float(noise_multiplier),  # type: ignore[arg-type]
        max_grad_norm=max_grad_norm,
        sample_rate=q,
        loss_fn=loss_fn,
        seed=seed,
    )
    trainer.train(epochs=epochs, progress=progress)
    return DPTrainingResult(
        epsilon=trainer.epsilon(delta=d),
        delta=d,
        noise_multiplier=float(noise_multiplier),
        max_grad_norm=float(max_grad_norm),
        sample_rate=q,
        steps=trainer.steps,
        epochs=epochs,
        trainer=trainer,
    )


def train_non_private(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    *,
    epochs: int,
    sample_rate: float,
    loss_fn: LossFn | None = None,
    seed: int | None = None,
) -> nn.Module:
    """The baseline with the same Poisson lots and step count as :class:`DPSGD`, minus clipping and noise."""
    check_int("epochs", epochs, low=1)
    q = check_fraction("sample_rate", sample_rate)
    X, y = as_tensors(data)
    fn = loss_fn if loss_fn is not None else _cross_entropy
    gen = torch_generator(seed)
    model.train()
    for _ in range(epochs * max(1, round(1.0 / q))):
        idx = poisson_sample(X.shape[0], sample_rate=q, generator=gen)
        sgd_step(model, optimizer, X[idx], y[idx], loss_fn=fn)
    return model


@torch.no_grad()
def accuracy(model: nn.Module, X: Any, y: Any) -> float:
    """Fraction of correct arg-max predictions."""
    Xt, yt = as_tensors((X, y))
    model.eval()
    return float((model(Xt).argmax(dim=1) == yt).float().mean())
