#!/usr/bin/env python3
"""Budget report: wall time and peak memory of each notebook, run headless as a student would.

For each notebook: execute it with nbclient (outputs are discarded, files are not modified) while a
sampler thread sums the resident memory (RSS) of every process this script started — the kernel and all
its descendants (Ray workers, Flower SuperNodes, MPC parties) — every 0.2 s, and keeps the peak.
Targets (Binder: 2 GB RAM, little CPU): <= 120 s and <= 1.5 GB per notebook, <= 15 min in all.
This is a report, not a test: it exits 0 unless a notebook fails to execute.
Last line: ``RESULT max_seconds=... max_peak_mb=... total_seconds=... notebooks=N``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

MAX_SECONDS, MAX_PEAK_MB, MAX_TOTAL_SECONDS = 120.0, 1536.0, 900.0
ROOT = Path(__file__).resolve().parents[1]


class PeakSampler(threading.Thread):
    """Peak of the summed RSS over all descendants of this process."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, 0, threading.Event()
        self._me = psutil.Process()

    def run(self) -> None:
        while not self._halt.is_set():
            total = 0
            for p in self._me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def measure(path: Path, timeout: int) -> tuple[float, float, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except Exception as err:  # report and carry on with the next notebook
        status = f"FAILED: {type(err).__name__}"
    seconds = time.perf_counter() - start
    return seconds, sampler.stop() / 2**20, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    rows = []
    print(f"{'notebook':<36} {'seconds':>8} {'peak MB':>8}  verdict", flush=True)
    for p in paths:
        secs, peak, status = measure(p, args.timeout)
        verdict = status if status != "ok" else (
            "within budget" if secs <= MAX_SECONDS and peak <= MAX_PEAK_MB else
            "OVER BUDGET (" + ", ".join(w for w, bad in (("time", secs > MAX_SECONDS), ("memory", peak > MAX_PEAK_MB)) if bad) + ")")
        rows.append((p.name, secs, peak, status))
        print(f"{p.name:<36} {secs:>8.1f} {peak:>8.0f}  {verdict}", flush=True)
    total = sum(r[1] for r in rows)
    print(f"{'total':<36} {total:>8.1f}           {'within' if total <= MAX_TOTAL_SECONDS else 'OVER'} the {MAX_TOTAL_SECONDS / 60:.0f}-minute course budget")
    print(f"RESULT max_seconds={max((r[1] for r in rows), default=0):.1f} "
          f"max_peak_mb={max((r[2] for r in rows), default=0):.0f} total_seconds={total:.1f} notebooks={len(rows)}")
    return 1 if any(r[3] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
