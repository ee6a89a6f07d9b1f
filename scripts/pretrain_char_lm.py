"""Pretrain the course's tiny character LM on offline public text and write the committed weights.

    .venv/bin/python scripts/pretrain_char_lm.py            # full run -> ppml_lab/lm/weights/char_lm.npz
    .venv/bin/python scripts/pretrain_char_lm.py --quick    # the reduced run the tests repeat

Seeded (torch init + batch order); the corpus is :func:`ppml_lab.lm.char_lm.public_corpus` (Python
3.11's stdlib docstrings + generated public sentences), nothing is downloaded. The weights file records
the held-out bits per character of the full run and of the quick run, so a test can check that this
script still reproduces a model of the same quality.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ppml_lab.lm.char_lm import PRETRAINED_PATH, corpus_sha256, pretrain, public_corpus, save_weights  # noqa: E402

FULL_STEPS = 1500
QUICK_STEPS = 60
BATCH_SIZE = 32
SEQ_LEN = 128
LR = 3e-3
SEED = 0


def run(steps: int, *, seed: int = SEED):
    """(model, held-out quality, corpus) of one seeded pretraining run of ``steps`` steps."""
    torch.set_num_threads(1)  # reproducible float sums, and fair to a shared machine
    text = public_corpus()
    model, quality = pretrain(text, steps=steps, batch_size=BATCH_SIZE, seq_len=SEQ_LEN, lr=LR, rng=seed)
    return model, quality, text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, print quality, write nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "ppml_lab" / "lm" / PRETRAINED_PATH)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    _, quick_quality, text = run(QUICK_STEPS)
    print(f"quick ({QUICK_STEPS} steps): {quick_quality.bits_per_char:.4f} bits/char, "
          f"accuracy {quick_quality.accuracy:.4f}")
    if args.quick:
        return 0
    model, quality, _ = run(FULL_STEPS)
    print(f"full ({FULL_STEPS} steps): {quality.bits_per_char:.4f} bits/char, accuracy {quality.accuracy:.4f}, "
          f"{model.n_parameters()} parameters, {time.perf_counter() - t0:.0f} s")
    save_weights(model, args.out, metadata={
        "steps": FULL_STEPS, "quick_steps": QUICK_STEPS, "batch_size": BATCH_SIZE, "seq_len": SEQ_LEN, "lr": LR,
        "seed": SEED, "bits_per_char": quality.bits_per_char, "accuracy": quality.accuracy,
        "quick_bits_per_char": quick_quality.bits_per_char, "corpus_sha256": corpus_sha256(text),
        "corpus_chars": len(text), "python": platform.python_version(), "torch": torch.__version__,
    })
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
