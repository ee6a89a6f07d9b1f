"""DP fine-tuning of the character LM: ours (ppml_lab.dp.dp_sgd, ghost clipping) vs Opacus (hooks), full and LoRA.

Same model (the committed pretrained CharLM, or its LoRA-adapted copy with the same adapter init), same
notes (600 synthetic clinical notes with canaries), same Poisson sampling rate q, noise multiplier sigma,
clipping norm and step count (so the same epsilon per note: Opacus' accountant is checked against ours),
runs alternating and rotating order so machine load hits every trainer alike. Times are best-of-N (median
printed beside). Each trainer's per-example loss is the note's mean next-character loss (``lm_loss`` on a
batch of one); Opacus is given the same function as a batch loss (its per-sample gradients are the same
work at a different scale).

Prints a table and, last, ``RESULT dp_finetune_time_ratio_vs_opacus=... dp_lora_time_ratio_vs_full=...``
(ours DP-full / Opacus DP-full, and ours DP-LoRA / ours DP-full; < 1 is faster).

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


def ours(kind: str, X, Y, steps: int) -> tuple[float, float]:
    model = make_model(kind)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    trainer = DPSGD(model, opt, (X, Y), noise_multiplier=SIGMA, max_grad_norm=CLIP, sample_rate=Q, loss_fn=lm_loss,
                    rng=0, grad_sample_mode="ghost")
    t = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return time.perf_counter() - t, trainer.epsilon(delta=DELTA)


def opacus(kind: str, X, Y, steps: int) -> tuple[float, float]:
    from opacus import PrivacyEngine

    model = make_model(kind)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    loader = DataLoader(TensorDataset(X, Y), batch_size=int(Q * len(X)))
    warnings.filterwarnings("ignore", message="Full backward hook")  # frozen embedding input: harmless
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")  # the analysis ours uses (Opacus defaults to PRV)
        module, opt, loader = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                                                  noise_multiplier=SIGMA, max_grad_norm=CLIP, poisson_sampling=True)
    done = 0
    t = time.perf_counter()
    while done < steps:
        for xb, yb in loader:
            opt.zero_grad()
            lm_loss(module(xb), yb).backward()
            opt.step()
            done += 1
            if done == steps:
                break
    elapsed = time.perf_counter() - t
    return elapsed, engine.accountant.get_epsilon(delta=DELTA)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    steps, repeats = (10, 2) if args.quick else (30, 3)
    notes = clinical_notes(600, rng=0)
    X, Y = encode_notes(notes.notes)
    trainers = {("ours", "full"): ours, ("opacus", "full"): opacus, ("ours", "lora"): ours, ("opacus", "lora"): opacus}
    times: dict[tuple[str, str], list[float]] = {k: [] for k in trainers}
    eps: dict[tuple[str, str], float] = {}
    keys = list(trainers)
    for r in range(repeats):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:  # rotate the order
            t, e = trainers[k](k[1], X, Y, steps)
            times[k].append(t)
            eps[k] = e
    print(f"{steps} DP-SGD steps, q={Q}, sigma={SIGMA}, C={CLIP}, {len(X)} notes, best of {repeats}")
    print(f"{'trainer':16s} {'best s':>8s} {'median s':>9s} {'epsilon/note':>13s}")
    for k in keys:
        print(f"{k[0] + ' ' + k[1]:16s} {min(times[k]):8.3f} {statistics.median(times[k]):9.3f} {eps[k]:13.4f}")
    # the same (q, sigma, steps): the same epsilon from both accountants
    assert abs(eps[("ours", "full")] - eps[("opacus", "full")]) < 1e-6 * max(1.0, eps[("ours", "full")]), eps
    ratio = min(times[("ours", "full")]) / min(times[("opacus", "full")])
    lora_ratio = min(times[("ours", "lora")]) / min(times[("ours", "full")])
    lora_vs_opacus = min(times[("ours", "lora")]) / min(times[("opacus", "lora")])
    print(f"RESULT dp_finetune_time_ratio_vs_opacus={ratio:.3f} dp_lora_time_ratio_vs_full={lora_ratio:.3f} "
          f"dp_lora_time_ratio_vs_opacus_lora={lora_vs_opacus:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
