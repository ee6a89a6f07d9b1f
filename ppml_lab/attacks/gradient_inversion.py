"""Gradient inversion: rebuild a client's training images from the update it sends in federated learning.

Two attacks, both against one gradient (a FedSGD update) of a small sigmoid CNN on scikit-learn's 8x8
digits:

* **Deep Leakage from Gradients (DLG)** — Zhu, Liu & Han 2019, "Deep Leakage from Gradients", NeurIPS,
  arXiv:1906.08935. Optimise dummy images (and dummy soft labels) with L-BFGS so that their gradient
  matches the observed one in squared L2 distance (their Eq. 4 and Algorithm 1). **iDLG** — Zhao, Mopuri &
  Bilen 2020, arXiv:2001.02610 — reads the label off the sign of the last layer's gradient instead (their
  Sec. 3.1), which makes DLG converge far more reliably.
* **Inverting Gradients** — Geiping, Bauermeister, Dröge & Moeller 2020, "Inverting Gradients — How easy is
  it to break privacy in federated learning?", NeurIPS, arXiv:2003.14053. Maximise the cosine similarity
  between the gradients (their Eq. 4) plus a total-variation image prior, with Adam on the signed gradient
  and the image boxed to the valid pixel range (their Sec. 4).

For a batch, labels are counted from the last layer's bias gradient (in the spirit of Wainakh et al.
2022, "User-Level Label Leakage from Gradients in Federated Learning", PETS, arXiv:2105.09369), and
reconstructions are matched to originals by the best one-to-one assignment (Hungarian algorithm) before
MSE, PSNR and the label-recovery rate are computed.

Defences measured with the same metrics: larger batches, clipping + Gaussian noise (DP-SGD style,
Abadi et al. 2016, arXiv:1607.00133, Algorithm 1: per-example clipping to ``max_grad_norm`` and noise of
standard deviation ``noise_multiplier * max_grad_norm`` on the sum), and secure aggregation (Bonawitz et
al. 2017), simulated here by handing the attacker only the sum of several clients' updates.

Threat model: an honest-but-curious server that knows the model's weights and architecture and sees one
client's update (or, under secure aggregation, only the sum of many); it does not see the data.
Everything here is teaching code: CPU, small, seeded on request. Randomness for the DP noise comes from
:func:`ppml_lab._rng.torch_generator` (a CSPRNG-seeded torch generator when ``rng`` is None; an int or a
Generator for reproducible teaching runs; the old ``seed=`` keyword raises a TypeError naming ``rng=``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ppml_lab._rng import RNGLike, renamed_keywords, torch_generator
from ppml_lab._validation import check_choice, check_int, check_nonnegative, check_positive, check_type
from ppml_lab.dp.clipping import clip_per_sample, clip_tensors
from ppml_lab.dp.dp_sgd import noisy_mean, per_sample_gradients

__all__ = [
    "IMAGE_SHAPE",
    "N_CLASSES",
    "PSNR_SUCCESS_DB",
    "DigitsNet",
    "Reconstruction",
    "ReconstructionScore",
    "digit_images",
    "make_model",
    "client_update",
    "clip_and_noise",
    "dp_client_update",
    "aggregate_updates",
    "recover_labels",
    "dlg_attack",
    "inverting_gradients_attack",
    "total_variation",
    "mse",
    "psnr",
    "match_reconstructions",
    "score_reconstruction",
    "image_grid",
]

#: Shape of one digit image: (channels, height, width).
IMAGE_SHAPE: tuple[int, int, int] = (1, 8, 8)
#: Number of digit classes.
N_CLASSES = 10
#: A reconstruction at or above this PSNR (peak 1.0, i.e. per-pixel RMSE <= 0.1) counts as recovered:
#: the digit is plainly legible. Our calibration on digits: an unrelated digit of another class scores
#: about 8-11 dB against the original, the mean digit about 12 dB.
PSNR_SUCCESS_DB = 20.0

_Grads = tuple[torch.Tensor, ...]
#: DLG stops once the squared gradient distance falls below this: the images are then pixel-exact.
_DLG_TOLERANCE = 1e-8


# ----------------------------------------------------------------------------------------------------
# Data and model
# ----------------------------------------------------------------------------------------------------
def digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as float32 images (n, 1, 8, 8) scaled to [0, 1], and int64 labels (n,)."""
    from ppml_lab.data import load_dataset

    ds = load_dataset("digits")
    images = torch.as_tensor(ds.X / 16.0, dtype=torch.float32).reshape(-1, *IMAGE_SHAPE)  # pixels 0..16
    return images, torch.as_tensor(ds.y, dtype=torch.int64)


class DigitsNet(nn.Module):
    """A LeNet-style CNN for 8x8 digits with sigmoid activations, as in the DLG paper's LeNet.

    Sigmoid (not ReLU) keeps the gradient twice differentiable everywhere, which gradient matching needs;
    its positive activations are what lets iDLG read the label off the last layer's gradient.
    conv(1->12, 3x3) -> sigmoid -> conv(12->12, 3x3, stride 2) -> sigmoid -> linear(192 -> 10).
    """

    def __init__(self, channels: int = 12) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.Sigmoid(),
            nn.Flatten(),
        )
        self.fc = nn.Linear(channels * 16, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


@renamed_keywords(seed="rng")
def make_model(*, rng: RNGLike = None, channels: int = 12) -> DigitsNet:
    """A freshly initialised :class:`DigitsNet`, weights uniform on [-0.5, 0.5] as in DLG's code.

    The attacks target the model at initialisation (the first round of federated training), the setting
    of Zhu et al. 2019, Sec. 4; the wide uniform init gives gradients that carry more signal. ``rng``: None
    for fresh weights, an int seed or a generator to attack the same model again.
    """
    check_int("channels", channels, low=1)
    g = torch_generator(rng)
    model = DigitsNet(channels)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
    return model


# ----------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------
def _check_model(model: Any) -> nn.Module:
    check_type("model", model, nn.Module, what="a torch.nn.Module")
    params = list(model.parameters())
    if len(params) < 2 or params[-1].ndim != 1 or params[-2].ndim != 2 or params[-1].shape[0] != N_CLASSES:
        raise ValueError(
            "model must end in a Linear layer with bias and "
            f"{N_CLASSES} outputs (its last two parameters: weight (10, h) and bias (10,)), "
            f"got last parameter shapes {[tuple(p.shape) for p in params[-2:]]}"
        )
    return model


def _check_images(name: str, images: Any) -> torch.Tensor:
    check_type(name, images, torch.Tensor, what="a torch.Tensor")
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE or images.shape[0] < 1:
        raise ValueError(f"{name} must have shape (batch >= 1, 1, 8, 8), got {tuple(images.shape)}")
    if not torch.is_floating_point(images):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} must contain only finite values")
    return images.float()


def _check_labels(name: str, labels: Any, batch: int) -> torch.Tensor:
    check_type(name, labels, torch.Tensor, what="a torch.Tensor")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != batch:
        raise ValueError(f"{name} must have shape ({batch},) to match the images, got {tuple(labels.shape)}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= N_CLASSES):
        raise ValueError(
            f"{name} must hold class indices in [0, {N_CLASSES - 1}], "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )
    return labels.long()


def _check_gradients(name: str, gradients: Any, model: nn.Module) -> _Grads:
    if isinstance(gradients, torch.Tensor) or not isinstance(gradients, Sequence):
        raise TypeError(
            f"{name} must be a sequence of tensors, one per model parameter, got {type(gradients).__name__}"
        )
    params = list(model.parameters())
    if len(gradients) != len(params):
        raise ValueError(f"{name} must hold {len(params)} tensors (one per model parameter), got {len(gradients)}")
    out = []
    for i, (g, p) in enumerate(zip(gradients, params)):
        check_type(f"{name}[{i}]", g, torch.Tensor, what="a torch.Tensor")
        if g.shape != p.shape:
            raise ValueError(f"{name}[{i}] must have shape {tuple(p.shape)} like the parameter, got {tuple(g.shape)}")
        if not bool(torch.isfinite(g).all()):
            raise ValueError(f"{name}[{i}] must contain only finite values")
        out.append(g.detach().float())
    return tuple(out)


# ----------------------------------------------------------------------------------------------------
# What the client sends
# ----------------------------------------------------------------------------------------------------
def client_update(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> _Grads:
    """The FedSGD update a client sends: the gradient of the mean cross-entropy over its batch."""
    _check_model(model)
    x = _check_images("images", images)
    y = _check_labels("labels", labels, x.shape[0])
    loss = nn.functional.cross_entropy(model(x), y)  # (1/B) sum_i l(f(x_i), y_i)
    return tuple(g.detach() for g in torch.autograd.grad(loss, list(model.parameters())))


def _global_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    zero = torch.zeros((), dtype=torch.float64)  # start the sum with a tensor (0 + t == t exactly)
    return torch.sqrt(sum(((g.double() ** 2).sum() for g in grads), zero)).float()


@renamed_keywords(seed="rng")
def clip_and_noise(
    gradients: Sequence[torch.Tensor], *, max_grad_norm: float, noise_multiplier: float, rng: RNGLike = None
) -> _Grads:
    """Clip an update to L2 norm ``max_grad_norm``, then add N(0, (noise_multiplier * max_grad_norm)^2).

    The Gaussian mechanism on one clipped update (client-level DP, McMahan et al. 2018, Algorithm 1, with
    the update as the unit). ``rng=None`` draws the noise seed from the OS CSPRNG.
    """
    if isinstance(gradients, torch.Tensor) or not isinstance(gradients, Sequence) or not gradients:
        raise TypeError("gradients must be a non-empty sequence of tensors")
    for i, g in enumerate(gradients):
        check_type(f"gradients[{i}]", g, torch.Tensor, what="a torch.Tensor")
    c = check_positive("max_grad_norm", max_grad_norm)
    z = check_positive("noise_multiplier", noise_multiplier)
    gen = torch_generator(rng)
    clipped, _ = clip_tensors(gradients, max_grad_norm=c)  # g * min(1, C / ||g||): ppml_lab.dp.clipping
    return tuple(g + z * c * torch.randn(g.shape, generator=gen) for g in clipped)  # + N(0, z^2 C^2)


@renamed_keywords(seed="rng")
def dp_client_update(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    max_grad_norm: float,
    noise_multiplier: float,
    rng: RNGLike = None,
) -> _Grads:
    """A DP-SGD step's update (Abadi et al. 2016, Algorithm 1): clip each example, sum, add noise, average.

    Per-example gradients are computed in one vectorised pass (``torch.func.vmap``). The noise has standard
    deviation ``noise_multiplier * max_grad_norm`` on the sum, i.e. divided by the batch size on the mean.
    """
    _check_model(model)
    x = _check_images("images", images)
    y = _check_labels("labels", labels, x.shape[0])
    c = check_positive("max_grad_norm", max_grad_norm)
    z = check_positive("noise_multiplier", noise_multiplier)
    gen = torch_generator(rng)
    # the very DP-SGD step of ppml_lab.dp.dp_sgd (notebook 03): per-example gradients, the package's one
    # clipping, Gaussian noise on the sum, division by the batch size
    grads = per_sample_gradients(model, nn.functional.cross_entropy, x, y)
    clipped, _ = clip_per_sample(grads, max_grad_norm=c)  # g_i * min(1, C / ||g_i||)
    noisy = noisy_mean(clipped, noise_multiplier=z, max_grad_norm=c, expected_batch_size=x.shape[0], rng=gen)
    return tuple(noisy[name] for name, _ in model.named_parameters())  # (sum_i clip(g_i) + N(0, z^2 C^2 I)) / B


def aggregate_updates(updates: Sequence[Sequence[torch.Tensor]]) -> _Grads:
    """The sum of several clients' updates: all that the server sees under secure aggregation.

    Bonawitz et al. 2017's protocol reveals exactly this sum and nothing else; summing in the clear gives
    the attacker the same view, so it simulates the defence without the cryptography.
    """
    if isinstance(updates, torch.Tensor) or not isinstance(updates, Sequence) or len(updates) == 0:
        raise TypeError("updates must be a non-empty sequence of client updates (each a sequence of tensors)")
    first = updates[0]
    if isinstance(first, torch.Tensor) or not isinstance(first, Sequence):
        raise TypeError(f"updates[0] must be a sequence of tensors, got {type(first).__name__}")
    for j, u in enumerate(updates):
        if isinstance(u, torch.Tensor) or not isinstance(u, Sequence):
            raise TypeError(f"updates[{j}] must be a sequence of tensors, got {type(u).__name__}")
        if len(u) != len(first) or any(
            not isinstance(a, torch.Tensor) or a.shape != b.shape for a, b in zip(u, first)
        ):
            raise ValueError(f"updates[{j}] does not have the same tensor shapes as updates[0]")
    return tuple(torch.stack([u[i] for u in updates]).sum(0) for i in range(len(first)))


# ----------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------
def recover_labels(model: nn.Module, gradients: Sequence[torch.Tensor], *, batch_size: int) -> torch.Tensor:
    """Labels read off the last layer's gradient, without any optimisation.

    ``batch_size == 1`` — iDLG (Zhao et al. 2020, Sec. 3.1): with cross-entropy and non-negative
    activations h, the last layer's weight gradient is row_c = (p_c - 1[c = y]) h, so the one row with a
    negative sum is the true label.

    ``batch_size > 1`` — counting from the bias gradient of the mean loss, g_c = mean_i p_ic - n_c / B, so
    n_c = B (mean_i p_ic - g_c). The attacker does not know p_ic; at initialisation the softmax barely
    depends on the input, so it is estimated by the model's mean softmax on random images (the
    "impact" estimate of Wainakh et al. 2022). Counts are rounded by largest remainder to sum to B.
    Returns labels sorted by class (the order carries no information).
    """
    _check_model(model)
    grads = _check_gradients("gradients", gradients, model)
    b = check_int("batch_size", batch_size, low=1)
    weight_grad, bias_grad = grads[-2], grads[-1]
    if b == 1:
        return torch.argmin(weight_grad.sum(1)).reshape(1)  # the only row with (p_y - 1) < 0
    gen = torch_generator(0)  # a fixed probe: the estimate is about the model, not about the data
    with torch.no_grad():
        p_hat = torch.softmax(model(torch.rand(64, *IMAGE_SHAPE, generator=gen)), 1).mean(0).double()
    counts = (b * (p_hat - bias_grad.double())).clamp(min=0)  # n_c = B (p_c - g_c)
    counts = counts * (b / counts.sum()) if float(counts.sum()) > 0 else torch.full_like(counts, b / N_CLASSES)
    base = torch.floor(counts).long()
    rest = b - int(base.sum())
    if rest > 0:  # largest remainder
        base[torch.argsort(counts - base, descending=True)[:rest]] += 1
    return torch.repeat_interleave(torch.arange(N_CLASSES), base)


def _resolve_labels(model: nn.Module, grads: _Grads, labels: Any, batch: int, allowed: tuple[str, ...]) -> Any:
    if isinstance(labels, str):
        check_choice("labels", labels, allowed)
        return recover_labels(model, grads, batch_size=batch) if labels == "idlg" else labels
    if isinstance(labels, torch.Tensor):
        return _check_labels("labels", labels, batch)
    raise TypeError(
        f"labels must be one of {', '.join(map(repr, allowed))} or a tensor of {batch} known labels, "
        f"got {type(labels).__name__}"
    )


# ----------------------------------------------------------------------------------------------------
# The attacks
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reconstruction:
    """What an attack returns: images (B, 1, 8, 8) clamped to [0, 1], labels (B,), the loss per step."""

    images: torch.Tensor = field(repr=False)
    labels: torch.Tensor = field(repr=False)
    loss_history: np.ndarray = field(repr=False)
    attack: str
    batch_size: int

    @property
    def final_loss(self) -> float:
        return float(self.loss_history[-1])


def _dummy_gradients(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None, label_logits: torch.Tensor | None
) -> tuple[torch.Tensor, ...]:
    out = model(x)
    if labels is not None:
        loss = nn.functional.cross_entropy(out, labels)
    elif label_logits is not None:  # DLG's soft labels: cross-entropy vs softmax(dummy label logits), Zhu et al. Alg. 1
        loss = -(torch.softmax(label_logits, 1) * torch.log_softmax(out, 1)).sum(1).mean()
    else:
        raise ValueError("labels or label_logits must be given, got neither")
    return torch.autograd.grad(loss, list(model.parameters()), create_graph=True)


def _check_attack_common(model: Any, gradients: Any, batch_size: Any, iterations: Any) -> tuple[_Grads, int, int]:
    _check_model(model)
    grads = _check_gradients("gradients", gradients, model)
    b = check_int("batch_size", batch_size, low=1)
    it = check_int("iterations", iterations, low=1)
    return grads, b, it


@renamed_keywords(seed="rng")
def dlg_attack(
    model: nn.Module,
    gradients: Sequence[torch.Tensor],
    *,
    batch_size: int = 1,
    labels: str | torch.Tensor = "idlg",
    iterations: int = 100,
    rng: RNGLike = None,
) -> Reconstruction:
    """Deep Leakage from Gradients (Zhu et al. 2019, Algorithm 1) with L-BFGS.

    Minimises || grad_W l(F(x', W), y') - grad_W ||^2 over dummy images x' (and, with ``labels="joint"``,
    dummy soft labels y') — their Eq. 4. ``labels="idlg"`` fixes the labels first with
    :func:`recover_labels` (Zhao et al. 2020); a tensor passes labels the attacker already knows.
    ``iterations`` counts L-BFGS outer steps (each up to 20 function evaluations). ``rng`` fixes the
    dummy initialisation x' ~ N(0, 1) (None: CSPRNG-seeded).
    """
    grads, b, it = _check_attack_common(model, gradients, batch_size, iterations)
    fixed = _resolve_labels(model, grads, labels, b, ("idlg", "joint"))
    gen = torch_generator(rng)
    x = torch.randn(b, *IMAGE_SHAPE, generator=gen).requires_grad_(True)  # x'_1 ~ N(0, 1)
    variables = [x]
    label_logits = None
    if isinstance(fixed, str):  # joint
        label_logits = torch.randn(b, N_CLASSES, generator=gen).requires_grad_(True)  # y'_1 ~ N(0, 1)
        variables.append(label_logits)
    optimiser = torch.optim.LBFGS(variables, lr=1.0, max_iter=20, history_size=100, line_search_fn="strong_wolfe")
    history: list[float] = []

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        dummy = _dummy_gradients(model, x, None if label_logits is not None else fixed, label_logits)
        d = sum((((gd - gt) ** 2).sum() for gd, gt in zip(dummy, grads)), torch.zeros(()))  # D = ||dW' - dW||^2, Eq. 4
        d.backward()
        return d

    for _ in range(it):
        loss = optimiser.step(closure)
        history.append(float(loss.detach()))
        if not math.isfinite(history[-1]) or history[-1] < _DLG_TOLERANCE:
            break
    out_labels = fixed if label_logits is None else torch.argmax(label_logits.detach(), 1)
    return Reconstruction(
        x.detach().clamp(0.0, 1.0), out_labels.detach().clone(), np.asarray(history), "dlg", b
    )


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean |x[i+1,j] - x[i,j]| + mean |x[i,j+1] - x[i,j]| (per batch)."""
    dx = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    dy = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    return dx + dy


@renamed_keywords(seed="rng")
def inverting_gradients_attack(
    model: nn.Module,
    gradients: Sequence[torch.Tensor],
    *,
    batch_size: int = 1,
    labels: str | torch.Tensor = "idlg",
    iterations: int = 400,
    lr: float = 0.1,
    tv_weight: float = 1e-3,
    rng: RNGLike = None,
) -> Reconstruction:
    """Inverting Gradients (Geiping et al. 2020): cosine gradient matching + total variation, Adam.

    argmin_{x in [0,1]^n} 1 - <dW', dW> / (||dW'|| ||dW||) + tv_weight * TV(x)   (their Eq. 4, Sec. 4),
    optimised with Adam on the *signed* gradient, the step size divided by 10 at 3/8, 5/8 and 7/8 of the
    iterations, and the image clipped to the box after every step (their Sec. 4 and released code).
    Cosine similarity ignores the update's scale, so the attack is unaffected by the learning rate or by a
    sum of updates being rescaled. ``labels``: "idlg" (recovered first) or a tensor of known labels.
    """
    grads, b, it = _check_attack_common(model, gradients, batch_size, iterations)
    step = check_positive("lr", lr)
    alpha = check_nonnegative("tv_weight", tv_weight)
    fixed = _resolve_labels(model, grads, labels, b, ("idlg",))
    gen = torch_generator(rng)
    x = torch.rand(b, *IMAGE_SHAPE, generator=gen).requires_grad_(True)  # start inside the box
    optimiser = torch.optim.Adam([x], lr=step)
    milestones = [int(it * f) for f in (3 / 8, 5 / 8, 7 / 8)]
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=milestones, gamma=0.1)
    target_norm = _global_norm(grads)
    history = np.empty(it)
    for t in range(it):
        optimiser.zero_grad()
        dummy = _dummy_gradients(model, x, fixed, None)
        dot = sum(((gd * gt).sum() for gd, gt in zip(dummy, grads)), torch.zeros(()))
        cos = dot / (_global_norm(dummy) * target_norm + 1e-12)  # <dW', dW> / (||dW'|| ||dW||)
        loss = 1.0 - cos + alpha * total_variation(x)
        loss.backward()
        if x.grad is not None:  # always set by backward(): x requires grad
            x.grad.sign_()  # signed gradient descent (Geiping et al., Sec. 4)
        optimiser.step()
        scheduler.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)  # box constraint: valid pixel range
        history[t] = float(loss.detach())
    return Reconstruction(x.detach().clone(), fixed.detach().clone(), history, "inverting_gradients", b)


# ----------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------
def _pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x = _check_images("originals", a)
    y = _check_images("reconstructions", b)
    if x.shape != y.shape:
        raise ValueError(f"originals and reconstructions must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def mse(originals: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error, shape (B,), pixels in [0, 1] (reconstructions clamped first)."""
    x, y = _pair(originals, reconstructions)
    return ((x - y.clamp(0.0, 1.0)) ** 2).flatten(1).mean(1)


def psnr(originals: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """Per-image peak signal-to-noise ratio in dB: 10 log10(1 / MSE) for peak 1; capped at 100 dB."""
    return 10.0 * torch.log10(1.0 / mse(originals, reconstructions).clamp(min=1e-10))


def match_reconstructions(originals: torch.Tensor, reconstructions: torch.Tensor) -> np.ndarray:
    """Best one-to-one assignment: ``perm[i]`` is the reconstruction matched to original ``i``.

    Minimises the total MSE over all pairings (Hungarian algorithm, scipy's linear_sum_assignment): a
    batch attack returns images in no particular order.
    """
    from scipy.optimize import linear_sum_assignment

    x, y = _pair(originals, reconstructions)
    cost = torch.cdist(x.flatten(1).double(), y.clamp(0, 1).flatten(1).double()) ** 2 / x[0].numel()
    rows, cols = linear_sum_assignment(cost.numpy())
    perm = np.empty(len(rows), dtype=np.int64)
    perm[rows] = cols
    return perm


@dataclass(frozen=True)
class ReconstructionScore:
    """Quality of a reconstruction after matching: mean MSE, mean PSNR (dB), label-recovery rate."""

    mse: float
    psnr: float
    label_recovery: float
    recovered_fraction: float
    per_image_psnr: np.ndarray = field(repr=False)
    assignment: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        return (
            f"PSNR {self.psnr:5.1f} dB | MSE {self.mse:.4f} | labels {self.label_recovery:.0%} | "
            f"images >= {PSNR_SUCCESS_DB:g} dB: {self.recovered_fraction:.0%}"
        )


def score_reconstruction(
    originals: torch.Tensor, labels: torch.Tensor, reconstruction: Reconstruction
) -> ReconstructionScore:
    """Match a reconstruction to the originals and score it (MSE, PSNR, labels, share recovered).

    ``labels`` are the originals' true labels; the label-recovery rate is the share of matched pairs whose
    reconstructed label is right. ``recovered_fraction`` is the share of images at or above
    :data:`PSNR_SUCCESS_DB`.
    """
    check_type("reconstruction", reconstruction, Reconstruction)
    x, y = _pair(originals, reconstruction.images)
    true = _check_labels("labels", labels, x.shape[0])
    perm = match_reconstructions(x, y)
    matched = y[perm]
    errors = mse(x, matched)
    per_psnr = psnr(x, matched)
    return ReconstructionScore(
        mse=float(errors.mean()),
        psnr=float(per_psnr.mean()),
        label_recovery=float((reconstruction.labels[perm] == true).float().mean()),
        recovered_fraction=float((per_psnr >= PSNR_SUCCESS_DB).float().mean()),
        per_image_psnr=per_psnr.numpy(),
        assignment=perm,
    )


# ----------------------------------------------------------------------------------------------------
# Display
# ----------------------------------------------------------------------------------------------------
def image_grid(rows: dict[str, torch.Tensor], *, title: str | None = None, scale: float = 1.1) -> Any:
    """A matplotlib figure with one row per entry (label -> images (B, 1, 8, 8)), grey scale on [0, 1]."""
    import matplotlib.pyplot as plt

    if not isinstance(rows, dict) or not rows:
        raise TypeError("rows must be a non-empty dict mapping a row label to images (B, 1, 8, 8)")
    checked = {k: _check_images(f"rows[{k!r}]", v) for k, v in rows.items()}
    n_cols = max(v.shape[0] for v in checked.values())
    fig, axes = plt.subplots(
        len(checked), n_cols, figsize=(scale * n_cols + 1.2, scale * len(checked)), squeeze=False
    )
    for r, (label, imgs) in enumerate(checked.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < imgs.shape[0]:
                ax.imshow(imgs[c, 0].clamp(0, 1).numpy(), cmap="gray_r", vmin=0.0, vmax=1.0)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
