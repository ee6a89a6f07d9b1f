#!/usr/bin/env python3
"""Execute notebooks in place (fresh committed outputs), with a per-notebook timeout.

Usage: ``python scripts/run_notebooks.py notebooks/NN_x.ipynb [...]`` (no arguments: all notebooks).
Run from the repository root; the kernel's working directory is ``notebooks/``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


# Notebooks must render plots inline: a stray MPLBACKEND=Agg would make the kernel drop them.
os.environ.pop("MPLBACKEND", None)


def run(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for p in paths:
        print(f"executing {p} ...", flush=True)
        print(f"  done in {run(p):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
