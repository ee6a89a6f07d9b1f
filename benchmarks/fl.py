#!/usr/bin/env python3
"""FedAvg wall time: our from-scratch loop vs Flower's simulation engine vs the local training inside it.

Same task, partitions, seeds and rounds in one process: breast cancer over the course's five hospitals
(label skew, Dirichlet alpha = 0.5), softmax regression, C = 1, E = 2, B = 16, lr = 0.1, 20 rounds
(--quick: 5). Three numbers per engine:

- wall seconds for the whole run (Flower's includes starting and stopping Ray: it is what a user waits for);
- final test accuracy (both engines must reach the same model: ``acc_gap_pts`` is |ours - Flower| in points);
- for ours, the sum of the seconds spent inside the clients' local training (``task.train``): the floor
  any orchestration must pay. ``overhead_vs_local_training`` = our wall / that sum (1.0 = free).

Flower is run with one Ray actor (``num_actors=1``), as in notebook 08. Times are single runs on a shared
2-CPU machine; the 1-minute load average at start is printed because contention inflates all of them.

Usage: python benchmarks/fl.py [--quick]
Last line: RESULT speedup_vs_flower=... acc_gap_pts=... overhead_vs_local_training=...
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ppml_lab.data import SITES, load_dataset, split_sites, train_test_split
from ppml_lab.fl import SoftmaxRegression
from ppml_lab.fl.fedavg import FedAvgServer
from ppml_lab.fl.flower_sim import run_flower_simulation


class TimedServer(FedAvgServer):
    """Our FedAvg, accumulating the time spent in the clients' local training."""

    local_seconds = 0.0

    def client_update(self, k, global_params):  # noqa: ANN001, ANN201
        t0 = time.perf_counter()
        out = super().client_update(k, global_params)
        self.local_seconds += time.perf_counter() - t0
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 20")
    args = parser.parse_args()
    rounds = 5 if args.quick else 20
    ds = load_dataset("breast_cancer")
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_fraction=0.25, rng=np.random.default_rng(0),
                                          standardize=True)
    clients = split_sites(Xtr, ytr, sites=list(SITES[:5]), scheme="dirichlet", alpha=0.5,
                          rng=np.random.default_rng(1))
    task = SoftmaxRegression(Xtr.shape[1], 2)
    kw = dict(test=(Xte, yte), fraction=1.0, local_epochs=2, batch_size=16, lr=0.1, rng=2026)
    load = os.getloadavg()[0]
    print(f"FedAvg, breast cancer over {len(clients)} hospitals (Dirichlet 0.5), softmax regression, "
          f"{rounds} rounds, C=1 E=2 B=16; {os.cpu_count()} CPUs, 1-min load {load:.1f} at start")

    server = TimedServer(task, clients, **kw)
    t0 = time.perf_counter()
    ours = server.run(rounds)
    ours_s = time.perf_counter() - t0

    flower = run_flower_simulation(task, clients, rounds=rounds, num_actors=1, **kw)

    gap = abs(ours.final_accuracy - flower.final_accuracy) * 100
    print(f"\n{'engine':<34}{'wall s':>10}{'final acc':>11}{'bytes/round':>13}")
    print(f"{'ours (FedAvgServer, in process)':<34}{ours_s:>10.3f}{ours.final_accuracy:>11.4f}"
          f"{ours.bytes_per_round[-1]:>13,}")
    print(f"{'Flower 1.42 simulation (1 actor)':<34}{flower.seconds:>10.2f}{flower.final_accuracy:>11.4f}"
          f"{flower.history.bytes_per_round[-1]:>13,}")
    print(f"{'  sum of local training (ours)':<34}{server.local_seconds:>10.3f}")
    print(f"\nmax |loss ours - loss Flower| over rounds: "
          f"{np.max(np.abs(np.array(ours.loss) - np.array(flower.history.loss))):.1e}")
    print("bytes/round: ours counts raw parameter bytes; Flower's is its ArrayRecord serialisation (count_bytes)")
    print(f"RESULT speedup_vs_flower={flower.seconds / ours_s:.4g} acc_gap_pts={gap:.4g} "
          f"overhead_vs_local_training={ours_s / server.local_seconds:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
