#!/usr/bin/env python3
"""Flower's Deployment Engine at 2, 5, 10 and 20 SuperNodes: seconds per round and summed peak RSS.

Each size runs the package's launcher (:class:`ppml_lab.fl.deploy.FlowerDeployment`, the one notebook 12
uses) with its full security set-up: TLS, SuperNode authentication, a signed app, SecAgg+ (threshold
t = floor(n/2) + 1, every client required), and central DP as in notebook 12 (noise multiplier 1.0,
clipping norm 1.5, delta 1e-5), 3 rounds of 5 local epochs, the SuperNodes started once the app is
submitted (``supernodes_after_submit=True``, as in notebook 12). ``--quick`` (``make bench``): 2 and 5 only.

What is counted. A sampler thread in this process reads, every 0.2 s, the RSS (``psutil``
``memory_info().rss``) of this process and of every process below it (``children(recursive=True)``): the
reaper shims, the SuperLink (which runs the ServerApp in-process), every SuperNode (each runs its
ClientApp in-process), and the short ``flwr`` CLI calls the launcher makes (``supernode register``,
``supernode list``, ``ls``, ``run``). Two sums are kept, each the highest sum seen at one instant:

* ``peak_mb`` - every process below this one (the federation plus the launcher's CLI children);
* ``peak_with_launcher_mb`` - the same plus this launcher process (in notebook 12: the kernel).

RSS counts shared pages (the Python interpreter, numpy's libraries) once per process, as ``ps`` does, so
the sum overstates physical memory; it is the figure a container's per-process accounting sees and the
one the course's budget is stated in. ``per_role`` gives, for each kind of process, how many were seen
and the highest RSS of any one of them.

Seconds per round: the ServerApp stamps each round's central evaluation (``time.time()``); round r >= 2
takes the time from evaluation r-1 to evaluation r - all four SecAgg+ stages, local training, DP noise
and evaluation - and ``round_s_mean`` (the RESULT figure) is their mean. Round 1 is reported apart
(``round1_s``: from the first hospital receiving round 1's first message, its ``stage_setup_r1`` marker,
to evaluation 1), as the ServerApp waits for the SuperNodes to start before it. ``start_s``: certificates,
keys, SuperLink, registrations; ``online_s``: from start until every SuperNode is online; ``run_s``:
``flwr run`` to the result file (SuperNodes' start-up included); ``wall_s``: everything, stop included.

The machine's load average is printed with every size (the course machine's 2 cores are shared), and
the full run's output is committed as ``benchmarks/results/deployment.json`` (``--out``).

Usage: python benchmarks/deployment.py [--quick] [--sizes 2,5,10,20] [--out benchmarks/results/deployment.json]
Last line: RESULT deploy_peak_mb_5=... deploy_round_s_5=... (and the same keys for every other size)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from ppml_lab.fl.deploy import DeploymentConfig, FlowerDeployment

ROLES = (  # (substring of the command line, role); first match wins
    ("_reaper.py", "reaper shim"),
    ("_pdeathsig_exec.py", "exec shim (until it execs its program)"),
    ("ppml_lab.fl.deploy._prepare", "preparation (data files, app signature)"),
    ("ppml_lab.fl.deploy._cli_worker", "flwr CLI worker (start-up calls + run)"),
    ("superlink_guard", "superlink (+ ServerApp in-process)"),
    ("flower-superlink", "superlink"),
    ("supernode_verify", "supernode (+ ClientApp in-process)"),
    ("flower-supernode", "supernode"),
    ("flower-superexec", "superexec"),
    ("flwr-serverapp", "serverapp"),
    ("flwr-clientapp", "clientapp"),
    ("/flwr ", "flwr CLI call"),
)


def role_of(cmdline: list[str]) -> str:
    text = " ".join(cmdline) + " "
    for needle, role in ROLES:
        if needle in text:
            if role == "flwr CLI call":  # name the command: flwr run / ls / supernode register|list / log
                words = text.split("/flwr ", 1)[1].split()
                return f"flwr CLI call ({' '.join(words[:2] if words[:1] == ['supernode'] else words[:1])})"
            return role
    return "other: " + (Path(cmdline[0]).name if cmdline else "?")


class TreeSampler:
    """Sum of RSS of this process and every descendant, sampled every ``period`` seconds."""

    def __init__(self, period: float = 0.2) -> None:
        self.period = period
        self.me = psutil.Process()
        self.peak_children = 0
        self.peak_total = 0
        self.at_peak: dict[str, int] = {}
        self.per_pid: dict[int, tuple[str, int]] = {}
        self.launcher_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-rss", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> None:
        try:
            own = self.me.memory_info().rss
            kids = self.me.children(recursive=True)
        except psutil.Error:
            return
        children, roles = 0, {}
        for q in kids:
            try:
                rss = q.memory_info().rss
                role = role_of(q.cmdline())  # re-read: a reaper's fork becomes its program at exec
            except psutil.Error:
                continue
            children += rss
            roles[role] = roles.get(role, 0) + rss
            known = self.per_pid.get(q.pid, ("", 0))
            if role.startswith("other") and known[0]:  # an exiting process loses its command line
                role = known[0]
            self.per_pid[q.pid] = (role, max(rss, known[1]))
        self.launcher_peak = max(self.launcher_peak, own)
        self.peak_total = max(self.peak_total, own + children)
        if children > self.peak_children:
            self.peak_children, self.at_peak = children, roles

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def per_role(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for role, rss in self.per_pid.values():
            r = out.setdefault(role, {"processes": 0, "max_one_mb": 0.0, "at_peak_mb": 0.0})
            r["processes"] += 1
            r["max_one_mb"] = max(r["max_one_mb"], rss / 1e6)
        for role, rss in self.at_peak.items():
            out.setdefault(role, {"processes": 0, "max_one_mb": 0.0, "at_peak_mb": 0.0})["at_peak_mb"] = rss / 1e6
        return {k: {kk: round(vv, 1) for kk, vv in v.items()} for k, v in sorted(out.items())}


def one_size(n: int, *, rounds: int, dp: bool) -> dict[str, Any]:
    cfg = DeploymentConfig(
        n_supernodes=n, rounds=rounds, local_epochs=5, lr=0.5, rng=2026, secagg=True, threshold=n // 2 + 1,
        min_clients=n, tls=True, node_auth=True, sign_app=True, dp_noise_multiplier=1.0 if dp else 0.0,
        dp_max_update_norm=1.5, dp_delta=1e-5, startup_timeout=900.0, run_timeout=1800.0,
    )
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with TreeSampler() as sampler:
        with FlowerDeployment(cfg, supernodes_after_submit=True) as dep:
            start_s = time.perf_counter() - t0
            result = dep.run()
            data = json.loads((dep.workdir / "results_1.json").read_text())
            first = min(p.stat().st_mtime for p in (dep.workdir / "progress").glob("stage_setup_r1_p*"))
            online_s = dep.seconds_to_online
        leftover = dep.leftover_pids()
        sampler.sample()
    wall = time.perf_counter() - t0
    stamps = [r["time"] for r in data["rounds"]]
    round_s = [b - a for a, b in zip(stamps, stamps[1:])]
    round1 = stamps[0] - first
    if leftover:
        raise RuntimeError(f"processes left behind at n={n}: {leftover}")
    return {
        "supernodes": n,
        "threshold": cfg.effective_threshold,
        "rounds": rounds,
        "clients_per_round": result.clients_per_round,
        "dp": dp,
        "epsilon_hospital": result.epsilon,
        "final_accuracy": round(result.final_accuracy, 4),
        "round1_s": round(round1, 2),
        "round_s": [round(s, 2) for s in round_s],
        "round_s_mean": round(sum(round_s) / len(round_s), 2),
        "start_s": round(start_s, 1),
        "online_s": round(online_s or 0.0, 1),
        "run_s": round(result.seconds, 1),
        "wall_s": round(wall, 1),
        "peak_mb": round(sampler.peak_children / 1e6, 1),
        "peak_with_launcher_mb": round(sampler.peak_total / 1e6, 1),
        "launcher_mb": round(sampler.launcher_peak / 1e6, 1),
        "engine_peak_mb": round(result.peak_rss_bytes / 1e6, 1),  # the launcher's own 0.2 s sampler
        "per_role": sampler.per_role(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def _flwr_version() -> str:
    from importlib.metadata import version

    return version("flwr")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 and 5 SuperNodes only")
    parser.add_argument("--sizes", default=None, help="comma-separated SuperNode counts (default 2,5,10,20)")
    parser.add_argument("--rounds", type=int, default=3, help=">= 2 (round 1 is reported apart)")
    parser.add_argument("--no-dp", action="store_true", help="SecAgg+ without central DP")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error(f"--rounds must be >= 2 (seconds per round are measured from round 2 on), got {args.rounds}")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([2, 5] if args.quick else [2, 5, 10, 20])
    print(f"Deployment Engine: SecAgg+ (t = n//2 + 1), TLS, node auth, signed app, "
          f"{'no DP' if args.no_dp else 'central DP (z=1.0, C=1.5)'}; {args.rounds} rounds; "
          f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[dict[str, Any]] = []
    meta = {"command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "python": platform.python_version(),
            "flwr": _flwr_version(), "cpus": os.cpu_count(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for n in sizes:
        row = one_size(n, rounds=args.rounds, dp=not args.no_dp)
        rows.append(row)
        if args.out:  # after every size: a long run that stops still leaves what it measured
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n", encoding="utf-8")
        print(f"n={n:>2}: {row['round_s_mean']:6.2f} s/round {row['round_s']} (round 1: {row['round1_s']:.1f} s), "
              f"start-up {row['start_s']:.0f} s, online after {row['online_s']:.0f} s, run {row['run_s']:.0f} s, "
              f"wall {row['wall_s']:.0f} s; peak RSS federation {row['peak_mb']:.0f} MB, with launcher "
              f"{row['peak_with_launcher_mb']:.0f} MB (launcher {row['launcher_mb']:.0f} MB); clients "
              f"{row['clients_per_round']}; load {row['loadavg_before']} -> {row['loadavg_after']}", flush=True)
        for role, r in row["per_role"].items():
            print(f"        {role:<38} x{r['processes']:<3} max one {r['max_one_mb']:6.1f} MB, "
                  f"all at peak {r['at_peak_mb']:7.1f} MB", flush=True)
    if args.out:
        print(f"wrote {args.out}")
    print("RESULT " + " ".join(f"deploy_peak_mb_{r['supernodes']}={r['peak_mb']:.0f} "
                               f"deploy_round_s_{r['supernodes']}={r['round_s_mean']:.2f}" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
