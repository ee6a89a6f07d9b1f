"""``flower-superlink`` whose Control and Runtime APIs answer local callers only (run with ``python -m``).

Flower 1.42 serves the Fleet API (SuperNodes), the Control API (``flwr run``/``ls``/``stop``: submits code
and reads results) and the Runtime API (the ServerApp's link) from *one* FastAPI app on one
``--host``/``--port`` (``flwr/superlink/main.py`` ``create_app`` includes ``control_router``,
``fleet_router`` and the runtime router; ``flwr/superlink/cli/flower_superlink.py``: ``--control-api-address``
is "Deprecated. The Control API now operates over HTTP. Use --host and --port instead" and is read only by
the legacy gRPC server behind ``FLWR_INTERNAL_GRPC_CONTROL_API=1``, which adds a port but does not remove
the HTTP routes). Its Control authentication is an OIDC plugin that exists only in Flower Enterprise
(``flwr/superlink/config_loader.py`` ``load_control_authn_plugin``: without ``flwr.ee`` it is
``NoOpControlAuthnPlugin``, and ``FLWR_OIDC_ENABLED=1`` exits "unavailable in this Flower distribution").
So whoever reaches the SuperLink's port - every hospital must - could submit a run or act as the ServerApp.

This wrapper is Flower's SuperLink with one ASGI middleware in front of that app: a request from a
non-local peer may reach only the Fleet API's routes (and ``/health``); everything else - Control,
Runtime, ``/docs`` - answers 403 unless the TCP peer is 127.0.0.1, ::1 or the SuperLink's own bind
address (its own SuperExec connects there). Usage: ``python -m ppml_lab.fl.deploy.superlink_guard
<flower-superlink args>``.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterable
from typing import Any

from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG

__all__ = ["LocalOnlyMiddleware", "install_guard", "main", "FLEET_PREFIX"]

FLEET_PREFIX = "/v1/fleet/"
LOCAL_PEERS = frozenset({"127.0.0.1", "::1"})


class LocalOnlyMiddleware:
    """Pure ASGI middleware: remote peers may call only ``remote_paths`` (exact match)."""

    def __init__(self, app: Any, *, remote_paths: Iterable[str], local_peers: Iterable[str]) -> None:
        self.app = app
        self.remote_paths = frozenset(remote_paths)
        self.local_peers = frozenset(_norm(p) for p in local_peers)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            client = scope.get("client") or ("", 0)
            peer = _norm(str(client[0]))
            if peer not in self.local_peers and scope.get("path") not in self.remote_paths:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = json.dumps({"detail": "only the Fleet API is served to non-local peers"}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _norm(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def install_guard(bind_host: str) -> None:
    """Patch ``flwr.superlink.main.create_app`` so the app it returns carries :class:`LocalOnlyMiddleware`."""
    import flwr.superlink.main as superlink_main

    original = superlink_main.create_app
    if getattr(original, "_ppml_guarded", False):
        return
    local = set(LOCAL_PEERS)
    if bind_host not in ("0.0.0.0", "::", ""):
        local.add(bind_host)

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        fleet = {p for p in _route_paths(app) if p.startswith(FLEET_PREFIX)}
        if not fleet:
            raise RuntimeError("no Fleet API route found in flwr's SuperLink app: this guard is written for flwr 1.42")
        app.add_middleware(LocalOnlyMiddleware, remote_paths=fleet | {"/health"}, local_peers=local)
        return app

    create_app._ppml_guarded = True  # type: ignore[attr-defined]
    superlink_main.create_app = create_app


def _route_paths(app: Any) -> set[str]:
    """Every route path of the app, routers included (FastAPI nests included routers)."""
    from fastapi.routing import iter_route_contexts

    return {str(c.path) for c in iter_route_contexts(app.routes)}




def _arg(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _bind_host(args: list[str]) -> str:
    for i, a in enumerate(args):
        if a == "--host" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--host="):
            return a.split("=", 1)[1]
    from flwr.supercore.constant import UVICORN_DEFAULT_HOST

    return UVICORN_DEFAULT_HOST


def main(argv: list[str] | None = None) -> None:
    """Start Flower's SuperLink with the local-only guard installed (arguments as ``flower-superlink``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    install_guard(_bind_host(args))
    if INPROCESS_FLAG in args:
        # The ServerApp runs in this process (ppml_lab.fl.deploy.inprocess): no flower-superexec, no
        # flwr-serverapp process per run. It reaches the Runtime API on the SuperLink's own address (a
        # local peer for the guard), over TLS with the SuperLink's CA when TLS is on.
        args = [a for a in args if a != INPROCESS_FLAG]
        if any(a == "--isolation" or a.startswith("--isolation=") for a in args):
            sys.exit(f"superlink_guard: {INPROCESS_FLAG} sets --isolation process itself")
        import flwr.superlink.grid.http_grid as http_grid

        from ppml_lab.fl.deploy.inprocess import (
            GRID_POLL_CAP,
            SERVER_APP,
            cap_poll_sleep,
            start_executor_thread,
        )

        cap_poll_sleep(http_grid, GRID_POLL_CAP)

        host = _bind_host(args)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        host = f"[{host}]" if ":" in host else host
        ca = _arg(args, "--ssl-ca-certfile") if "--insecure" not in args else None
        start_executor_thread(f"{host}:{_arg(args, '--port') or '8000'}", SERVER_APP, root_certificates_path=ca)
        args += ["--isolation", "process"]
    from flwr.superlink.cli.flower_superlink import flower_superlink

    sys.argv = ["flower-superlink", *args]
    flower_superlink()


if __name__ == "__main__":
    main()
