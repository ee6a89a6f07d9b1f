"""Benchmark: ppml_lab's DP noise and accountant against diffprivlib, numpy and Opacus, in one process.

- Laplace and Gaussian noise on 10^6 values: ours (default path: CSPRNG, grid-hardened, vectorised) vs
  diffprivlib as its users call it (one ``randomise`` per value; timed on a sample of calls and scaled)
  vs raw numpy sampling (PCG64, no hardening: the speed limit).
- Accountant: epsilon for a grid of (q, sigma, steps) settings, ours vs Opacus ``RDPAccountant``; the
  largest relative difference and the time ratio.
- PLD accountant: epsilon of Opacus' MNIST example (q = 256/60000, sigma = 1.1, 60 epochs = 14,062 steps,
  delta = 1e-5), ours (``ppml_lab.dp.accounting.PLDAccountant``) vs dp_accounting 0.6.0's
  ``PLDAccountant``, both at the default discretisation 1e-4: relative difference and speed-up.

Runs alternate (ours, reference, ours, ...) and report medians. Ratios are what to quote: absolute times
on a shared machine are noise. ``--quick`` shrinks the repetitions (used by ``make bench``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from ppml_lab.timing import timed


def _time(fn, repeats: int) -> float:
    return timed(fn, repeats=repeats, statistic="median")[0]


def bench_noise(n: int, dpl_calls: int, rounds: int) -> dict[str, float]:
    from diffprivlib.mechanisms import GaussianAnalytic, Laplace

    from ppml_lab.dp import mechanisms as M

    x = np.zeros(n)
    numpy_rng = np.random.default_rng()
    dpl_lap = Laplace(epsilon=1.0, sensitivity=1.0)
    dpl_gau = GaussianAnalytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)
    sigma = M.gaussian_sigma_analytic(epsilon=1.0, delta=1e-5, sensitivity=1.0)
    res: dict[str, list[float]] = {k: [] for k in ("lap_ours", "lap_np", "lap_dpl", "gau_ours", "gau_np", "gau_dpl")}
    for _ in range(rounds):  # alternate so that load changes hit every contender alike
        res["lap_ours"].append(_time(lambda: M.laplace_mechanism(x, epsilon=1.0, sensitivity=1.0), 1))
        res["lap_np"].append(_time(lambda: x + numpy_rng.laplace(0.0, 1.0, size=n), 1))
        res["lap_dpl"].append(_time(lambda: [dpl_lap.randomise(0.0) for _ in range(dpl_calls)], 1) * n / dpl_calls)
        res["gau_ours"].append(_time(lambda: M.gaussian_mechanism(x, epsilon=1.0, delta=1e-5, sensitivity=1.0), 1))
        res["gau_np"].append(_time(lambda: x + numpy_rng.normal(0.0, sigma, size=n), 1))
        res["gau_dpl"].append(_time(lambda: [dpl_gau.randomise(0.0) for _ in range(dpl_calls)], 1) * n / dpl_calls)
    return {k: statistics.median(v) for k, v in res.items()}


def bench_accountant(n_settings: int) -> dict[str, float]:
    from opacus.accountants import RDPAccountant as OpacusRDP

    from ppml_lab.dp.accounting import OPACUS_ORDERS, RDPAccountant

    g = np.random.default_rng(0)  # the grid of settings only, not noise
    settings = [
        (float(q), float(s), int(t))
        for q, s, t in zip(
            np.exp(g.uniform(np.log(1e-3), np.log(0.05), n_settings)),
            g.uniform(0.6, 3.0, n_settings),
            np.exp(g.uniform(np.log(50), np.log(20_000), n_settings)).astype(int),
        )
    ]
    t_ours = t_opacus = 0.0
    max_rel = 0.0
    warnings.filterwarnings("ignore", message="Optimal order is the")
    for q, s, t in settings:  # alternate per setting
        t0 = time.perf_counter()
        a = RDPAccountant(orders=OPACUS_ORDERS)  # the same orders as Opacus: equal work, equal answer
        a.step(noise_multiplier=s, sample_rate=q, steps=t)
        e_ours = a.get_epsilon(1e-5)
        t_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        o = OpacusRDP()
        o.history = [(s, q, t)]
        e_theirs = o.get_epsilon(1e-5)
        t_opacus += time.perf_counter() - t0
        max_rel = max(max_rel, abs(e_ours - e_theirs) / e_theirs)
    return {"t_ours": t_ours, "t_opacus": t_opacus, "max_rel": max_rel, "n": len(settings)}


def bench_pld(rounds: int) -> dict[str, float]:
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    from ppml_lab.dp.accounting import PLDAccountant

    q, sigma, steps, delta = 256 / 60000, 1.1, 14062, 1e-5
    t_ours: list[float] = []
    t_ref: list[float] = []
    e_ours = e_ref = float("nan")
    for _ in range(rounds):  # alternate; a fresh accountant each time (no cache)
        t0 = time.perf_counter()
        a = PLDAccountant()
        a.step(noise_multiplier=sigma, sample_rate=q, steps=steps)
        e_ours = a.get_epsilon(delta)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r = pld_privacy_accountant.PLDAccountant()
        r.compose(dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
        e_ref = r.get_epsilon(delta)
        t_ref.append(time.perf_counter() - t0)
    return {
        "eps_ours": e_ours,
        "eps_ref": e_ref,
        "t_ours": statistics.median(t_ours),
        "t_ref": statistics.median(t_ref),
        "rel": abs(e_ours - e_ref) / e_ref,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and settings (about 15 s on an idle machine)")
    args = parser.parse_args()
    n = 1_000_000
    noise = bench_noise(n, dpl_calls=2_000 if args.quick else 20_000, rounds=3 if args.quick else 7)
    acct = bench_accountant(20 if args.quick else 100)
    pld = bench_pld(3 if args.quick else 7)

    print(f"Noise on {n:,} values (median of alternating runs; diffprivlib scaled from per-call timing)")
    print(f"{'mechanism':<10} {'ours (CSPRNG, grid)':>20} {'numpy (PCG64)':>15} {'diffprivlib':>14} "
          f"{'vs diffprivlib':>15} {'vs numpy':>9}")
    for key, name in (("lap", "Laplace"), ("gau", "Gaussian")):
        ours, npy, dpl = noise[f"{key}_ours"], noise[f"{key}_np"], noise[f"{key}_dpl"]
        print(f"{name:<10} {ours * 1e3:17.1f} ms {npy * 1e3:12.1f} ms {dpl:12.2f} s {dpl / ours:14.0f}x "
              f"{ours / npy:8.2f}x")
    print()
    print(f"Accountant: epsilon at delta=1e-5 for {acct['n']} (q, sigma, steps) settings")
    print(f"  ours {acct['t_ours']:.2f} s, Opacus {acct['t_opacus']:.2f} s, "
          f"max relative difference {acct['max_rel']:.1e}")
    print()
    print("PLD accountant, Opacus MNIST setting (q=256/60000, sigma=1.1, 14062 steps, delta=1e-5), median of "
          "alternating runs")
    print(f"  ours epsilon {pld['eps_ours']:.6f} in {pld['t_ours']:.2f} s; dp_accounting {pld['eps_ref']:.6f} "
          f"in {pld['t_ref']:.2f} s; relative difference {pld['rel']:.1e}")
    print(
        "RESULT "
        f"laplace_speedup_vs_diffprivlib={noise['lap_dpl'] / noise['lap_ours']:.1f} "
        f"gaussian_speedup_vs_diffprivlib={noise['gau_dpl'] / noise['gau_ours']:.1f} "
        f"laplace_slowdown_vs_numpy={noise['lap_ours'] / noise['lap_np']:.2f} "
        f"accountant_max_rel_err_vs_opacus={acct['max_rel']:.2e} "
        f"accountant_time_ratio_vs_opacus={acct['t_ours'] / acct['t_opacus']:.3f} "
        f"pld_rel_err_vs_dp_accounting={pld['rel']:.2e} "
        f"pld_speedup_vs_dp_accounting={pld['t_ref'] / pld['t_ours']:.2f}"
    )


if __name__ == "__main__":
    main()
