"""The launcher's preparation step, in a short-lived process of its own (``python -m`` this module).

It writes each hospital's data file and the held-out test file (the app's ``task.py`` loads the dataset
through scikit-learn, which pulls in SciPy and pandas) and, if asked, signs the course's app (building
the FAB imports Flower's CLI). Run in the launcher - a notebook kernel - those imports would stay
resident there for the rest of the session, about 150 MB that the federation's peak memory would carry;
here they end with the process. Prints one JSON object: ``site_paths``, ``test_path``, ``app_signature``.

Usage: ``python -m ppml_lab.fl.deploy._prepare <data_dir> <seed> <n> [<app_dir> <publisher_private_key>]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def prepare(data_dir: str, rng: int, n: int, app_dir: str | None = None,
            private_key: str | None = None) -> dict[str, object]:
    """Write the hospitals' data files and the test file, sign the app if asked; return the JSON fields above."""
    from ppml_lab.fl.deploy.reference import write_site_files

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    site_paths, test_path = write_site_files(Path(data_dir), rng=int(rng), n=int(n))
    signature = ""
    if app_dir is not None and private_key is not None:
        from ppml_lab.fl.deploy.signing import build_fab, sign_fab

        signature = sign_fab(build_fab(Path(app_dir)), private_key)
    return {"site_paths": list(site_paths), "test_path": str(test_path), "app_signature": signature}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: parse the usage line above, run :func:`prepare`, print its JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 5):
        sys.stderr.write(__doc__.strip().splitlines()[-1] + "\n")
        return 2
    out = prepare(args[0], int(args[1]), int(args[2]), *(args[3:5] if len(args) == 5 else ()))
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
