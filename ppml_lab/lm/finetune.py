"""Fine-tune the character LM on clinical notes three ways: non-private, DP-SGD on all weights, DP-SGD on LoRA.

All three use the same Poisson lots, step count and optimizer (Adam; a DP-SGD update is post-processed
by Adam without extra privacy cost, Abadi et al. 2016 Alg. 1 note). The DP runs call
:class:`ppml_lab.dp.dp_sgd.DPSGD` (clipping from :mod:`ppml_lab.dp.clipping`, accounting by
:class:`ppml_lab.dp.RDPAccountant`); nothing here re-implements DP-SGD.

Privacy unit: ONE NOTE (one training example: the loss clipped is one note's mean next-character loss).
A patient whose identifier appears in r notes is a group of r examples: their guarantee is the group
privacy bound (r epsilon, r e^{(r-1) epsilon} delta) from :func:`ppml_lab.dp.ledger.group_privacy`,
reported by :meth:`FinetuneResult.group_epsilon`.

Threat model: the attacker gets the released weights (white box) and knows every training note but one
(DP-SGD's record-level guarantee); the pretrained model and its corpus are public.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ppml_lab._rng import RNGLike, renamed_keywords
from ppml_lab._validation import check_choice, check_delta, check_fraction, check_int, check_positive
from ppml_lab.dp.dp_sgd import DPSGD, train_non_private
from ppml_lab.lm.char_lm import CharLM, lm_loss
from ppml_lab.lm.lora import add_lora, lora_parameters

__all__ = ["METHODS", "PRIVACY_UNIT", "FinetuneResult", "finetune"]

METHODS: tuple[str, ...] = ("non_private", "dp_full", "dp_lora")
PRIVACY_UNIT = "one note (training example)"


@dataclass(frozen=True)
class FinetuneResult:
    """A fine-tuned model and what it spent (epsilon = inf for the non-private run)."""

    method: str
    model: nn.Module = field(repr=False)
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    trainable_parameters: int
    privacy_unit: str = PRIVACY_UNIT

    def group_epsilon(self, group_size: int) -> tuple[float, float]:
        """(epsilon, delta) for a patient present in ``group_size`` notes (Dwork & Roth 2014, Thm 2.2)."""
        from ppml_lab.dp.ledger import group_privacy

        if math.isinf(self.epsilon):
            return math.inf, 1.0
        return group_privacy(epsilon=self.epsilon, delta=self.delta, group_size=group_size)


@renamed_keywords(seed="rng")
def finetune(
    model: CharLM,
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    method: str,
    epochs: int,
    sample_rate: float,
    lr: float,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    max_grad_norm: float = 1.0,
    delta: float = 1e-5,
    rank: int = 4,
    alpha: float = 8.0,
    lora_targets: tuple[str, ...] = ("hidden", "out"),
    rng: RNGLike = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``model`` on notes (X, Y) from :func:`ppml_lab.lm.char_lm.encode_notes`.

    ``method``: ``"non_private"`` (plain Adam on Poisson lots), ``"dp_full"`` (DP-SGD on every weight) or
    ``"dp_lora"`` (DP-SGD on rank-``rank`` adapters of ``lora_targets``; everything else frozen). For the DP
    methods give ``noise_multiplier`` or ``target_epsilon`` (calibrated by the RDP accountant at ``delta``
    for epochs * round(1/q) steps). ``rng`` (an int or a numpy Generator) makes lots, noise and adapter init reproducible (teaching only);
    None draws them from the OS CSPRNG.
    """
    m = check_choice("method", method, METHODS)
    check_int("epochs", epochs, low=1)
    check_positive("lr", lr)
    q = check_fraction("sample_rate", sample_rate)  # before any 1/q (the non-private path divides by it too)
    d = check_delta("delta", delta, allow_zero=False)
    c = check_positive("max_grad_norm", max_grad_norm)
    if m == "non_private":
        if noise_multiplier is not None or target_epsilon is not None:
            raise ValueError("noise_multiplier and target_epsilon must be None for method='non_private', "
                             f"got {noise_multiplier!r} and {target_epsilon!r}")
        net: nn.Module = copy.deepcopy(model)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        steps = epochs * max(1, round(1.0 / q))
        train_non_private(net, opt, (X, Y), epochs=epochs, sample_rate=q, loss_fn=lm_loss, rng=rng)
        net.eval()
        return FinetuneResult(m, net, math.inf, d, 0.0, math.inf, q, steps,
                              sum(p.numel() for p in net.parameters()))
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError(f"give exactly one of noise_multiplier or target_epsilon for method={m!r}")
    if target_epsilon is not None:
        from ppml_lab.dp.accounting import find_noise_multiplier

        eps = check_positive("target_epsilon", target_epsilon)
        noise_multiplier = find_noise_multiplier(target_epsilon=eps, delta=d, sample_rate=q,
                                                 steps=epochs * max(1, round(1.0 / q)))
    sigma = check_positive("noise_multiplier", noise_multiplier)  # sigma = 0 would be no privacy at all
    if m == "dp_lora":
        net = add_lora(model, rank=rank, alpha=alpha, targets=lora_targets, rng=rng)
    else:
        net = copy.deepcopy(model)
        for p in net.parameters():
            p.requires_grad_(True)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    trainer = DPSGD(net, opt, (X, Y), noise_multiplier=sigma, max_grad_norm=c, sample_rate=q,
                    loss_fn=lm_loss, rng=rng, grad_sample_mode="ghost")
    trainer.train(epochs=epochs)
    net.eval()
    return FinetuneResult(m, net, trainer.get_epsilon(d), d, sigma, c, trainer.sample_rate, trainer.steps,
                          lora_parameters(net))
