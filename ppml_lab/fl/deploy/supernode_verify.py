"""``flower-supernode`` that runs only apps signed by a trusted publisher (run as ``python -m`` this module).

Usage: ``python -m ppml_lab.fl.deploy.supernode_verify --trusted-entities keys.yaml <flower-supernode args>``.
It is Flower 1.42's SuperNode with one addition: when the SuperNode fetches a run's FAB, the run's
``app-signature`` config value is attached as the FAB's verification data, which Flower 1.42's SuperLink
never fills for a locally submitted app (see :mod:`ppml_lab.fl.deploy.signing`). The decision stays
Flower's: ``_pull_and_store_message`` runs ``_verify_fab`` against ``--trusted-entities`` and answers an
unverified app with ``ErrorCode.INVALID_FAB`` before any of its code is stored or run.

It refuses to start without ``--trusted-entities`` (the point of using it), and fails loudly if the
pinned Flower's internals it hooks are not where flwr 1.42 has them.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from typing import Any

from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG

__all__ = ["install_hook", "main"]

_HOOK_TARGET = "_pull_and_store_message"


def _flag(args: list[str], name: str, default: str) -> str:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def install_hook() -> None:
    """Wrap ``flwr.supernode.start_client_internal._pull_and_store_message`` so that ``get_fab`` returns
    the FAB with the run's ``app-signature`` as its verifications (only if its content matches the run's
    FAB hash). Raises RuntimeError if the pinned Flower does not have the function."""
    import flwr.supernode.start_client_internal as sci

    from ppml_lab.fl.deploy.signing import parse_app_signature

    original = getattr(sci, _HOOK_TARGET, None)
    if original is None or not callable(original) or not hasattr(sci, "_verify_fab"):
        raise RuntimeError(f"flwr {getattr(sci, 'package_version', '?')} has no {_HOOK_TARGET}/_verify_fab: "
                           "this wrapper is written for flwr 1.42")
    if getattr(original, "_ppml_hooked", False):
        return

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if args or "get_fab" not in kwargs or "get_run" not in kwargs:
            raise RuntimeError(f"{_HOOK_TARGET} was called differently from flwr 1.42; refusing to run apps")
        get_run: Callable[[int], Any] = kwargs["get_run"]
        get_fab: Callable[[str, int], Any] = kwargs["get_fab"]
        runs: dict[int, Any] = {}

        def get_run_recording(run_id: int) -> Any:
            run = get_run(run_id)
            runs[run_id] = run
            return run

        def get_fab_with_signature(fab_hash: str, run_id: int) -> Any:
            fab = get_fab(fab_hash, run_id)
            run = runs.get(run_id)
            fab.verifications = {}  # whatever the SuperLink sent; only the run's signature counts
            if run is not None and fab.hash_str == run.fab_hash == hashlib.sha256(fab.content).hexdigest():
                fab.verifications = parse_app_signature(run.override_config.get("app-signature", ""))
            return fab

        kwargs["get_run"] = get_run_recording
        kwargs["get_fab"] = get_fab_with_signature
        return original(**kwargs)

    hooked._ppml_hooked = True  # type: ignore[attr-defined]
    setattr(sci, _HOOK_TARGET, hooked)


def main(argv: list[str] | None = None) -> None:
    """Start Flower's SuperNode with app-signature verification (usage above)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--trusted-entities" or a.startswith("--trusted-entities=") for a in args):
        sys.exit("supernode_verify: --trusted-entities <yaml> is required (it lists the publisher keys whose "
                 "apps this hospital runs)")
    install_hook()
    if INPROCESS_FLAG in args:
        # ClientApps run in this process (ppml_lab.fl.deploy.inprocess), not one Python process per message.
        args = [a for a in args if a != INPROCESS_FLAG]
        if any(a == "--isolation" or a.startswith("--isolation=") for a in args):
            sys.exit(f"supernode_verify: {INPROCESS_FLAG} sets --isolation process itself")
        import flwr.supernode.start_client_internal as sci

        from ppml_lab.fl.deploy.inprocess import (
            CLIENT_APP,
            SUPERNODE_POLL_CAP,
            cap_poll_sleep,
            start_executor_thread,
        )

        cap_poll_sleep(sci, SUPERNODE_POLL_CAP)

        start_executor_thread(f"127.0.0.1:{_flag(args, '--port', '9094')}", CLIENT_APP)
        args += ["--isolation", "process"]
    from flwr.supernode.cli.flower_supernode import flower_supernode

    sys.argv = ["flower-supernode", *args]
    flower_supernode()


if __name__ == "__main__":
    main()
