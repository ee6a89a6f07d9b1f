"""DP-SGD: ours (ghost norms; and materialised vmap per-sample gradients) vs Opacus (hooks) vs non-private.

Same model (MLP 64-64-10 on the digits), same initial weights, same Poisson sampling rate, same noise
multiplier and step count, hence the same epsilon (calibrated by our RDP accountant for the target
epsilon; Opacus' accountant confirms it), alternating epoch by epoch (the order rotates) so machine load
hits every trainer alike. Times are best-of-N epochs (N = epochs x seeds), the median is printed beside.
Prints a table and, last, ``RESULT dp_sgd_time_ratio_vs_opacus=... acc_gap_pts=... ...``
(``dp_sgd_time_ratio_vs_opacus`` = our default trainer's time / Opacus' time; < 1 is faster).

Usage: python benchmarks/dp_sgd.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ppml_lab.data import load_dataset, train_test_split
from ppml_lab.dp.accountant import find_noise_multiplier
from ppml_lab.dp.dp_sgd import DPSGD, accuracy, poisson_sample, sgd_step

CE = nn.functional.cross_entropy


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))


def opacus_epoch(module: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader) -> None:
    for xb, yb in loader:
        optimizer.zero_grad()
        CE(module(xb), yb).backward()
        optimizer.step()


def non_private_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
                      q: float, steps: int, gen: torch.Generator) -> None:
    for _ in range(steps):
        idx = poisson_sample(len(X), sample_rate=q, rng=gen)
        sgd_step(model, optimizer, X[idx], y[idx], loss_fn=CE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer epochs and seeds (make bench)")
    args = ap.parse_args()
    epochs, seeds = (4, (0, 1)) if args.quick else (10, (0, 1, 2))
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from opacus import PrivacyEngine

    ds = load_dataset("digits")
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, rng=0, standardize=True)
    X, y = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    batch, c, delta, target_eps, lr = 64, 1.0, 1e-5, 2.0, 0.5
    loader = DataLoader(TensorDataset(X, y), batch_size=batch)
    q = 1.0 / len(loader)  # Opacus' Poisson rate for this loader; we use the same
    sigma = find_noise_multiplier(target_epsilon=target_eps, delta=delta, sample_rate=q,
                                  steps=epochs * len(loader))
    names = ("ours", "ours-vmap", "opacus", "non-private")
    times: dict[str, list[float]] = {k: [] for k in names}
    accs: dict[str, list[float]] = {k: [] for k in names}
    eps: dict[str, list[float]] = {"ours": [], "ours-vmap": [], "opacus": []}
    for seed in seeds:
        ours_m, vm_m, op_m, np_m = mlp(seed), mlp(seed), mlp(seed), mlp(seed)
        ours = DPSGD(ours_m, torch.optim.SGD(ours_m.parameters(), lr=lr), (X, y), noise_multiplier=sigma,
                     max_grad_norm=c, sample_rate=q, rng=seed)  # default grad_sample_mode="auto": ghost norms
        vm = DPSGD(vm_m, torch.optim.SGD(vm_m.parameters(), lr=lr), (X, y), noise_multiplier=sigma,
                   max_grad_norm=c, sample_rate=q, rng=seed, grad_sample_mode="vmap")
        engine = PrivacyEngine(accountant="rdp")
        op_mod, op_opt, op_dl = engine.make_private(
            module=op_m, optimizer=torch.optim.SGD(op_m.parameters(), lr=lr), data_loader=loader,
            noise_multiplier=sigma, max_grad_norm=c)
        np_opt = torch.optim.SGD(np_m.parameters(), lr=lr)
        np_gen = torch.Generator().manual_seed(seed)

        runs = [
            ("ours", partial(ours.train, epochs=1)),
            ("ours-vmap", partial(vm.train, epochs=1)),
            ("opacus", partial(opacus_epoch, op_mod, op_opt, op_dl)),
            ("non-private", partial(non_private_epoch, np_m, np_opt, X, y, q, len(loader), np_gen)),
        ]
        for e in range(epochs):
            order = runs[e % len(runs):] + runs[:e % len(runs)]  # rotate who goes first
            for name, fn in order:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        accs["ours"].append(accuracy(ours_m, Xte, yte))
        accs["ours-vmap"].append(accuracy(vm_m, Xte, yte))
        accs["opacus"].append(accuracy(op_m, Xte, yte))
        accs["non-private"].append(accuracy(np_m, Xte, yte))
        eps["ours"].append(ours.get_epsilon(delta))
        eps["ours-vmap"].append(vm.get_epsilon(delta))
        eps["opacus"].append(engine.accountant.get_epsilon(delta))

    best = {k: float(np.min(v)) for k, v in times.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}
    acc = {k: 100 * float(np.mean(v)) for k, v in accs.items()}
    n_epochs = len(times["ours"])
    print(f"digits MLP 64-64-10, n={len(X)}, q={q:.4f} (expected batch {q * len(X):.0f}), sigma={sigma:.3f}, "
          f"C={c}, {epochs} epochs x {len(seeds)} seeds, delta={delta}, {torch.get_num_threads()} thread")
    print(f"{'trainer':<12} {'s/epoch best-of-' + str(n_epochs):>20} {'median':>8} {'test acc %':>11} {'epsilon':>9}")
    for k in names:
        e = f"{np.mean(eps[k]):.4f}" if k in eps else "inf"
        print(f"{k:<12} {best[k]:>20.4f} {med[k]:>8.4f} {acc[k]:>11.2f} {e:>9}")
    ratio = best["ours"] / best["opacus"]
    gap = abs(acc["ours"] - acc["opacus"])
    slow = best["ours"] / best["non-private"]
    print(f"target: ours <= 0.8x Opacus time ({'met' if ratio <= 0.8 else 'NOT met'}), "
          f"accuracy within 2 points ({'met' if gap <= 2 else 'NOT met'})")
    print(f"RESULT dp_sgd_time_ratio_vs_opacus={ratio:.3f} acc_gap_pts={gap:.2f} "
          f"dp_sgd_median_time_ratio_vs_opacus={med['ours'] / med['opacus']:.3f} "
          f"vmap_time_ratio_vs_opacus={best['ours-vmap'] / best['opacus']:.3f} "
          f"dp_slowdown_vs_nonprivate={slow:.2f} "
          f"eps_ours={np.mean(eps['ours']):.4f} eps_opacus={np.mean(eps['opacus']):.4f}")


if __name__ == "__main__":
    main()
