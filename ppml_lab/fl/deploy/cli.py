"""Command line: the one-machine launcher and the separate-hosts entry points.

One machine (loopback): ``python -m ppml_lab.fl.deploy --supernodes 3 --rounds 3``.

Separate machines (the runbook, ``ppml_lab/fl/deploy/README.md``; :mod:`ppml_lab.fl.deploy.hosts`)::

    python -m ppml_lab.fl.deploy keys superlink --address A --out DIR   # coordinator: CA, server cert (SAN=A), publisher key
    python -m ppml_lab.fl.deploy keys supernode --out DIR               # hospital: node key pair
    python -m ppml_lab.fl.deploy data --hospitals N --seed S (--site K | --test) --out DIR
    python -m ppml_lab.fl.deploy superlink --config superlink.toml      # coordinator (runs until stopped)
    python -m ppml_lab.fl.deploy supernode --config supernode.toml      # hospital (runs until stopped)
    python -m ppml_lab.fl.deploy register --config superlink.toml --name hospital-0 hospital-0.pub
    python -m ppml_lab.fl.deploy unregister --config superlink.toml NODE_ID
    python -m ppml_lab.fl.deploy nodes --config superlink.toml
    python -m ppml_lab.fl.deploy run --config superlink.toml [--json out.json]

Exit codes: 0 success; 1 the deployment failed (a :class:`~ppml_lab.exceptions.DeploymentError`, e.g. a
round aggregated fewer clients than its minimum - :class:`~ppml_lab.fl.deploy.RoundFailedError`); 2 bad
arguments or config file (:class:`~ppml_lab.fl.deploy.site_config.SiteConfigError` names the field, the
bound and the value); 3 the server at the SuperLink address is not the coordinator
(:class:`~ppml_lab.fl.deploy.hosts.SuperLinkIdentityError`); 130 interrupted (every process started was ended).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.certs import TLSFiles
from ppml_lab.fl.deploy.config import DeploymentConfig
from ppml_lab.fl.deploy.engine import run_deployment

__all__ = ["main"]

_DESCRIPTION = "Launch the course's FL task on Flower's Deployment Engine on loopback: one SuperLink, N SuperNodes."


_SITE_COMMANDS = ("keys", "data", "superlink", "supernode", "register", "unregister", "nodes", "run")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point for ``python -m ppml_lab.fl.deploy`` (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _SITE_COMMANDS:
        from ppml_lab.fl.deploy.site_cli import site_main

        return site_main(args_list)
    return _loopback_main(args_list)


def _loopback_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ppml_lab.fl.deploy", description=_DESCRIPTION,
                                 epilog="Separate machines: python -m ppml_lab.fl.deploy {"
                                        + ",".join(_SITE_COMMANDS) + "} --help (runbook: ppml_lab/fl/deploy/README.md)")
    ap.add_argument("--supernodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--local-epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-secagg", action="store_true", help="plain FedAvg (no SecAgg+)")
    ap.add_argument("--threshold", type=int, default=None, help="SecAgg+ reconstruction threshold")
    ap.add_argument("--insecure", action="store_true", help="no TLS and no node authentication")
    ap.add_argument("--no-node-auth", action="store_true")
    ap.add_argument("--no-app-signing", action="store_true",
                    help="SuperNodes run any app submitted (no publisher signature check)")
    ap.add_argument("--subprocess-apps", action="store_true",
                    help="Flower's default isolation: a SuperExec per node and a Python process per message "
                         "(default here: apps run inside the SuperLink/SuperNode processes)")
    ap.add_argument("--dp-noise-multiplier", type=float, default=0.0)
    ap.add_argument("--dp-max-update-norm", type=float, default=1.0,
                    help="clipping norm C of each client update (central DP)")
    ap.add_argument("--dp-clipping-norm", type=float, default=None, help=argparse.SUPPRESS)  # the old name
    ap.add_argument("--kill-partition", type=int, default=None, help="kill this SuperNode mid-round")
    ap.add_argument("--kill-at-round", type=int, default=1)
    ap.add_argument("--port", type=int, default=None, help="SuperLink port (default: a free one)")
    ap.add_argument("--certs-dir", type=Path, default=None, help="use ca.crt/server.pem/server.key from here")
    ap.add_argument("--run-timeout", type=float, default=300.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    if args.dp_clipping_norm is not None:
        print("error: --dp-clipping-norm was renamed --dp-max-update-norm (the clipping norm C of each client "
              "update; max_grad_norm is the per-example one)", file=sys.stderr)
        return 2
    certs = None
    if args.certs_dir is not None:
        d = args.certs_dir
        certs = TLSFiles(ca_cert=d / "ca.crt", server_cert=d / "server.pem", server_key=d / "server.key")
    try:
        cfg = DeploymentConfig(
            n_supernodes=args.supernodes, rounds=args.rounds, local_epochs=args.local_epochs, lr=args.lr,
            rng=args.seed, secagg=not args.no_secagg, threshold=args.threshold, tls=not args.insecure,
            node_auth=not (args.insecure or args.no_node_auth), sign_app=not args.no_app_signing,
            inprocess_apps=not args.subprocess_apps, dp_noise_multiplier=args.dp_noise_multiplier,
            dp_max_update_norm=args.dp_max_update_norm, kill_partition=args.kill_partition,
            kill_at_round=args.kill_at_round, superlink_port=args.port, certs=certs, run_timeout=args.run_timeout,
        )
    except (TypeError, ValueError, DeploymentError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def _sigterm(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _sigterm)
    try:
        result = run_deployment(cfg)
    except KeyboardInterrupt:
        print("interrupted: every process started was ended", file=sys.stderr)
        return 130
    except DeploymentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{'round':>5} {'clients':>7} {'loss':>8} {'accuracy':>8}")
    for r, c in zip(result.rounds, result.clients_per_round):
        print(f"{r['round']:>5} {c:>7} {r['loss']:>8.4f} {r['accuracy']:>8.4f}")
    print(f"seconds={result.seconds:.1f} peak_rss_MiB={result.peak_rss_bytes / 2**20:.0f} "
          f"peak_total_rss_MiB={result.peak_total_rss_bytes / 2**20:.0f} "
          f"killed_partition={result.killed_partition}")
    if result.epsilon is not None:
        from ppml_lab.dp.ledger import format_spend  # rounds UP: a printed spend is never smaller

        print(f"central DP: noise_multiplier={cfg.dp_noise_multiplier} max_update_norm={cfg.dp_max_update_norm} "
              f"-> epsilon={format_spend(result.epsilon)} at delta={cfg.dp_delta:g} (hospital-level, RDP accountant)")
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=1, default=str))
    return 0
