"""DP fine-tuning of the character LM: ours (ppml_lab.dp.dp_sgd, ghost clipping) vs Opacus (hooks), full and LoRA.

Same model (the committed pretrained CharLM, or its LoRA-adapted copy with the same adapter init), same
notes (600 synthetic clinical notes with canaries), same Poisson sampling rate q, noise multiplier sigma,
clipping norm and step count (so the same epsilon per note: Opacus' accountant is checked against ours),
each trainer built once and run in turn, ``steps`` steps at a time, for several rounds with a rotating order.
Ratios are the median over rounds of the ratio of two trainers' times within the same round (paired, so load
drift on a shared machine cancels); best-of times and the per-round ratios are printed beside. Each trainer's per-example loss is the note's mean next-character loss (``lm_loss`` on a
batch of one); Opacus is given the same function as a batch loss (its per-sample gradients are the same
work at a different scale).

Prints a table and, last, ``RESULT dp_finetune_time_ratio_vs_opacus=... dp_lora_time_ratio_vs_full=...``
(ours DP-full / Opacus DP-full, and ours DP-LoRA / ours DP-full; < 1 is faster), then
``dp_lora_time_ratio_vs_opacus_lora`` (ours DP-LoRA / Opacus DP-LoRA).

Usage: python benchmarks/dp_finetune.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch.utils.data import DataLoader, TensorDataset

from ppml_lab.data import clinical_notes
from ppml_lab.dp.dp_sgd import DPSGD
from ppml_lab.lm.char_lm import encode_notes, lm_loss, load_pretrained
from ppml_lab.lm.lora import add_lora

SIGMA, CLIP, Q, LR, DELTA = 1.0, 1.0, 0.1, 1e-2, 1e-5


def make_model(kind: str):
    base, _ = load_pretrained()
    base.train()
    if kind == "lora":
        return add_lora(base, rank=4, alpha=8.0, targets=("hidden", "out"), rng=0)
    for p in base.parameters():
        p.requires_grad_(True)
    return base


class Ours:
    """Our DPSGD trainer (ghost clipping), built once; ``run(steps)`` times ``steps`` DP-SGD steps."""

    def __init__(self, kind: str, X, Y) -> None:
        model = make_model(kind)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
        self.trainer = DPSGD(model, opt, (X, Y), noise_multiplier=SIGMA, max_grad_norm=CLIP, sample_rate=Q,
                             loss_fn=lm_loss, rng=0, grad_sample_mode="ghost")

    def run(self, steps: int) -> float:
        t = time.perf_counter()
        for _ in range(steps):
            self.trainer.step()
        return time.perf_counter() - t

    def epsilon(self) -> float:
        return self.trainer.get_epsilon(DELTA)


class Opacus:
    """Opacus' PrivacyEngine (hooks, Poisson sampling, RDP accountant), built once; same model and data."""

    def __init__(self, kind: str, X, Y) -> None:
        from opacus import PrivacyEngine

        model = make_model(kind)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
        loader = DataLoader(TensorDataset(X, Y), batch_size=int(Q * len(X)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # frozen embedding input ("Full backward hook"): harmless
            self.engine = PrivacyEngine(accountant="rdp")  # the analysis ours uses (Opacus defaults to PRV)
            self.module, self.opt, self.loader = self.engine.make_private(
                module=model, optimizer=opt, data_loader=loader, noise_multiplier=SIGMA, max_grad_norm=CLIP,
                poisson_sampling=True)
        self.batches = iter(self.loader)

    def _next(self):
        try:
            return next(self.batches)
        except StopIteration:  # a new epoch of Poisson lots
            self.batches = iter(self.loader)
            return next(self.batches)

    def run(self, steps: int) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            for _ in range(steps):
                xb, yb = self._next()
                self.opt.zero_grad()
                lm_loss(self.module(xb), yb).backward()
                self.opt.step()
            return time.perf_counter() - t

    def epsilon(self) -> float:
        return self.engine.accountant.get_epsilon(delta=DELTA)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    steps, rounds = (10, 2) if args.quick else (20, 9)
    notes = clinical_notes(600, rng=0)
    X, Y = encode_notes(notes.notes)
    keys = [("ours", "full"), ("opacus", "full"), ("ours", "lora"), ("opacus", "lora")]
    trainers = {k: (Ours if k[0] == "ours" else Opacus)(k[1], X, Y) for k in keys}
    for tr in trainers.values():  # warm-up (first-call allocations, Opacus hook set-up): not timed
        tr.run(2)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:  # rotate the order every round
            times[k].append(trainers[k].run(steps))
    eps = {k: trainers[k].epsilon() for k in keys}
    total = 2 + rounds * steps
    print(f"{rounds} rounds x {steps} DP-SGD steps per trainer (+2 warm-up), q={Q}, sigma={SIGMA}, C={CLIP}, "
          f"{len(X)} notes; trainers built once, run in turn within each round (rotating order)")
    print(f"{'trainer':16s} {'best s':>8s} {'median s':>9s} {'epsilon/note':>13s}  (after {total} steps, delta={DELTA})")
    for k in keys:
        print(f"{k[0] + ' ' + k[1]:16s} {min(times[k]):8.3f} {statistics.median(times[k]):9.3f} {eps[k]:13.4f}")
    # the same (q, sigma, steps): the same epsilon from both accountants
    for kind in ("full", "lora"):
        a, b = eps[("ours", kind)], eps[("opacus", kind)]
        assert abs(a - b) < 1e-6 * max(1.0, a), eps

    def paired(num: tuple[str, str], den: tuple[str, str]) -> float:
        """Median over rounds of the ratio of two trainers' times in the same round (load drift cancels)."""
        return statistics.median(a / b for a, b in zip(times[num], times[den]))

    best = min(times[("ours", "full")]) / min(times[("opacus", "full")])
    print(f"ours full / opacus full: paired median {paired(('ours', 'full'), ('opacus', 'full')):.3f}, "
          f"best-of {best:.3f}; per round: "
          + " ".join(f"{a / b:.2f}" for a, b in zip(times[("ours", "full")], times[("opacus", "full")])))
    print(f"ours lora / opacus lora: paired median {paired(('ours', 'lora'), ('opacus', 'lora')):.3f}; per round: "
          + " ".join(f"{a / b:.2f}" for a, b in zip(times[("ours", "lora")], times[("opacus", "lora")])))
    print(f"RESULT dp_finetune_time_ratio_vs_opacus={paired(('ours', 'full'), ('opacus', 'full')):.3f} "
          f"dp_lora_time_ratio_vs_full={paired(('ours', 'lora'), ('ours', 'full')):.3f} "
          f"dp_lora_time_ratio_vs_opacus_lora={paired(('ours', 'lora'), ('opacus', 'lora')):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
