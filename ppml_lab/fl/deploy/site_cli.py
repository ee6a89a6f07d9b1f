"""``python -m ppml_lab.fl.deploy keys|data|superlink|supernode|register|unregister|nodes|run``: the runbook's
commands (``ppml_lab/fl/deploy/README.md``), one party per machine. See :mod:`ppml_lab.fl.deploy.hosts`.

``superlink`` and ``supernode`` validate everything, then *become* the service (``os.execv``: same PID, so
a service manager or a test stops it by that PID). Exit codes as in :mod:`ppml_lab.fl.deploy.cli`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ppml_lab.exceptions import DeploymentError

__all__ = ["site_main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ppml_lab.fl.deploy",
                                 description="The course's federation on separate machines (runbook: "
                                             "ppml_lab/fl/deploy/README.md).")
    sub = ap.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="create key files (new files only; nothing is overwritten)")
    ksub = keys.add_subparsers(dest="role", required=True)
    k1 = ksub.add_parser("superlink", help="coordinator: ca.crt, server.pem/.key naming --address, publisher key")
    k1.add_argument("--address", required=True, help="the IP or DNS name hospitals dial (the certificate's SAN)")
    k1.add_argument("--out", type=Path, default=Path("."))
    k2 = ksub.add_parser("supernode", help="hospital: node key pair (EC P-384) to register with the coordinator")
    k2.add_argument("--out", type=Path, default=Path("."))
    k2.add_argument("--name", default="node", help="file name of the private key (<name>.pub: the public half)")
    d = sub.add_parser("data", help="the course's data split: a hospital's share (--site) or the test split (--test)")
    d.add_argument("--hospitals", type=int, required=True)
    d.add_argument("--seed", type=int, default=2026)
    d.add_argument("--site", type=int, default=None)
    d.add_argument("--test", action="store_true")
    d.add_argument("--out", type=Path, default=Path("."))
    for name, what in (("superlink", "coordinator: run the SuperLink (until stopped)"),
                       ("supernode", "hospital: check the coordinator's identity, run the SuperNode (until stopped)"),
                       ("nodes", "coordinator: list the registered hospitals"),
                       ("run", "coordinator: wait for every hospital, submit the signed app, print the result")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--config", type=Path, required=True)
        if name == "run":
            p.add_argument("--json", type=Path, default=None, help="also write the result here")
    r = sub.add_parser("register", help="coordinator: admit a hospital's public key")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--name", required=True)
    r.add_argument("public_key", type=Path)
    u = sub.add_parser("unregister", help="coordinator: remove a hospital's key (rotation, revocation)")
    u.add_argument("--config", type=Path, required=True)
    u.add_argument("node_id", type=int)
    return ap


def _exec(argv: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 1  # pragma: no cover - execv does not return


def site_main(argv: Sequence[str]) -> int:
    """Run one separate-host subcommand (``keys``, ``data``, ``superlink``, ``supernode``, ...); return the exit status."""
    from ppml_lab.fl.deploy import hosts
    from ppml_lab.fl.deploy.site_config import SiteConfigError, load_superlink_config, load_supernode_config

    args = _parser().parse_args(list(argv))
    try:
        if args.command == "keys" and args.role == "superlink":
            files, pub = hosts.make_superlink_keys(args.out, address=args.address)
            print(f"wrote {files.ca_cert}, {files.server_cert}, {files.server_key} (SAN: {args.address}), "
                  f"{pub.private_key}, {pub.public_key}")
            print(f"ca.crt SHA-256 fingerprint: {hosts.certificate_fingerprint(files.ca_cert)}")
            return 0
        if args.command == "keys":
            keys = hosts.make_supernode_keys(args.out, name=args.name)
            print(f"wrote {keys.private_key} (keep it here), {keys.public_key} (send it to the coordinator):")
            print(Path(keys.public_key).read_text().strip())
            return 0
        if args.command == "data":
            for p in hosts.write_course_data(args.out, hospitals=args.hospitals, rng=args.seed, site=args.site,
                                             test=args.test):
                print(f"wrote {p}")
            return 0
        if args.command == "supernode":
            cfg_n = load_supernode_config(args.config)
            argv_n = hosts.prepare_supernode(cfg_n)
            print(f"SuperLink {cfg_n.superlink} presented the coordinator's certificate; starting the SuperNode "
                  f"(hospital {cfg_n.partition_id} of {cfg_n.num_partitions})")
            return _exec(argv_n)
        cfg = load_superlink_config(args.config)
        if args.command == "superlink":
            argv_l = hosts.superlink_argv(cfg)
            print(f"starting the SuperLink on {cfg.dial} (certificate names {cfg.address})")
            return _exec(argv_l)
        if args.command == "register":
            node_id = hosts.register_node(cfg, args.public_key, name=args.name)
            print(f"registered {args.name}: node-id {node_id}")
            return 0
        if args.command == "unregister":
            hosts.unregister_node(cfg, args.node_id)
            print(f"unregistered node-id {args.node_id}: its key is refused from now on")
            return 0
        if args.command == "nodes":
            print(json.dumps(hosts.list_nodes(cfg), indent=1))
            return 0
        result = hosts.submit_run(cfg)
        print(f"{'round':>5} {'clients':>7} {'loss':>8} {'accuracy':>8}")
        for row in result["rounds"]:
            print(f"{row['round']:>5} {row['clients']:>7} {row['loss']:>8.4f} {row['accuracy']:>8.4f}")
        if result.get("epsilon") is not None:
            from ppml_lab.dp.ledger import format_spend  # rounds UP: a printed spend is never smaller

            print(f"central DP: epsilon={format_spend(result['epsilon'])} at delta={cfg.run.dp_delta:g} "
                  "(hospital-level, RDP accountant)")
        print(f"run {result['run_id']} completed in {result['seconds']:.1f} s")
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1, default=str))
        return 0
    except hosts.SuperLinkIdentityError as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except SiteConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except DeploymentError as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
