"""Low-rank adapters (LoRA) written from scratch: W x + (alpha / r) B A x with W frozen.

Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang & Chen 2021, "LoRA: Low-Rank Adaptation of Large Language
Models", arXiv:2106.09685, Sec. 4.1: h = W0 x + (alpha / r) B A x, A (r x d_in) random Gaussian, B (d_out x r)
zero, so training starts from the pretrained function exactly; only A and B are trained. Under DP-SGD the
noise is added to r (d_in + d_out) numbers per layer instead of d_in d_out, which is why DP fine-tuning of
adapters loses less utility (Yu et al. 2021, "Differentially Private Fine-tuning of Language Models",
arXiv:2110.06500, Sec. 3-4).

A and B are ``nn.Linear`` layers each used once per forward pass, so ``ppml_lab.dp.dp_sgd``'s ghost
clipping (and Opacus' hooks) compute their per-example gradients exactly; the frozen W0 gets none.

Threat model: none by itself; the privacy of the adapters is DP-SGD's (per training example).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from ppml_lab._rng import RNGLike, renamed_keywords, torch_generator
from ppml_lab._validation import check_int, check_positive, check_type

__all__ = ["LoRALinear", "add_lora", "merge_lora", "lora_parameters"]


class LoRALinear(nn.Module):
    """A frozen ``base`` Linear plus a trainable rank-``rank`` update (alpha / r) B A.

    ``rng`` draws A's initialisation (None: CSPRNG-seeded; an int or a Generator: reproducible)."""

    @renamed_keywords(generator="rng")
    def __init__(self, base: nn.Linear, *, rank: int, alpha: float, rng: RNGLike | torch.Generator = None) -> None:
        super().__init__()
        check_type("base", base, nn.Linear, what="a torch.nn.Linear")
        gen = torch_generator(rng)
        r = check_int("rank", rank, low=1)
        if r > min(base.in_features, base.out_features):
            raise ValueError(f"rank must be <= min(in_features, out_features) = "
                             f"{min(base.in_features, base.out_features)}, got {r}")
        self.rank, self.alpha = r, check_positive("alpha", alpha)
        self.scaling = self.alpha / r  # alpha / r   (Hu et al. 2021, Sec. 4.1)
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)  # W0 frozen
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        with torch.no_grad():
            # A ~ N(0, 1/r)... Hu et al. use a random Gaussian A and B = 0, so B A = 0 at the start
            self.lora_A.weight.normal_(0.0, 1.0 / math.sqrt(base.in_features), generator=gen)
            self.lora_B.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * self.lora_B(self.lora_A(x))  # W0 x + (alpha/r) B A x

    def merged(self) -> nn.Linear:
        """An ordinary Linear with W0 + (alpha/r) B A: the same function, no adapter at inference."""
        out = copy.deepcopy(self.base)
        with torch.no_grad():
            out.weight += self.scaling * (self.lora_B.weight @ self.lora_A.weight)
        for p in out.parameters():
            p.requires_grad_(True)
        return out


@renamed_keywords(seed="rng")
def add_lora(
    model: nn.Module, *, rank: int, alpha: float, targets: Sequence[str], rng: RNGLike | torch.Generator = None
) -> nn.Module:
    """A copy of ``model`` with every parameter frozen and the Linear layers named in ``targets`` adapted.

    ``rng`` fixes A's initialisation (an int or a Generator: teaching reproducibility; None: CSPRNG-seeded);
    the original ``model`` is untouched.
    """
    check_type("model", model, nn.Module, what="a torch.nn.Module")
    names = list(targets)
    if not names:
        raise ValueError("targets must name at least one nn.Linear layer, got none")
    out = copy.deepcopy(model)
    for p in out.parameters():
        p.requires_grad_(False)
    modules = dict(out.named_modules())
    gen = torch_generator(rng)  # one stream for every adapter, in the order of targets
    for name in names:
        layer = modules.get(name)
        if not isinstance(layer, nn.Linear):
            linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            raise ValueError(f"targets must name nn.Linear layers of the model ({', '.join(linears)}), got {name!r}")
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else out
        setattr(parent, child, LoRALinear(layer, rank=rank, alpha=alpha, rng=gen))
    return out


def merge_lora(model: nn.Module) -> nn.Module:
    """A copy with every :class:`LoRALinear` replaced by its merged Linear (all parameters trainable)."""
    out = copy.deepcopy(model)
    for name, m in list(out.named_modules()):
        if isinstance(m, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            parent = dict(out.named_modules())[parent_name] if parent_name else out
            setattr(parent, child, m.merged())
    for p in out.parameters():
        p.requires_grad_(True)
    return out


def lora_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the adapters' r (d_in + d_out) per adapted layer)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
