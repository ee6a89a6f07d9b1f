"""Run Flower's ClientApp / ServerApp tasks inside the long-lived SuperNode / SuperLink process.

Why: with flwr 1.42's default ``--isolation subprocess`` every SuperNode starts a ``flower-superexec``
process, which starts a fresh ``flwr-clientapp`` Python process **for every message** (SecAgg+ sends four
per round), and the SuperLink starts a ``flower-superexec`` plus one ``flwr-serverapp`` per run. Each of
those processes imports flwr's whole server stack (FastAPI, SQLAlchemy, Alembic, gRPC, cryptography):
measured on this course's machine, ``python -c "from flwr.supernode.cli.flwr_clientapp import
flwr_clientapp"`` peaks at about 138 MB and takes several CPU-seconds, so five hospitals meant ~15
resident Python processes plus five more per SecAgg+ stage.

With ``--isolation process`` Flower leaves the launching of app tasks to an outside executor. This module
is that executor, as a thread of the SuperNode (or SuperLink) process itself: it asks the local Runtime
API for a task (``AcquireTask``, the same call ``flower-superexec`` makes), then runs the task in this
process with Flower's own functions - pull the task input, install the FAB, load the app, call it, push
the reply and the task output - i.e. the body of ``flwr.supernode.runtime.run_clientapp`` /
``flwr.superlink.runtime.run_serverapp`` without the parts that end a process (signal handlers,
``flwr_exit``). Loaded modules are reused from one message to the next.

What does not change: the SuperNode still verifies the app's signature before it stores a message
(:mod:`ppml_lab.fl.deploy.supernode_verify`), so an unsigned app never becomes a task here; the app code
runs as the same OS user as under Flower's subprocess isolation (which gives a ClientApp the same file
access, the node's key file included) - that isolation was never a security boundary between the app and
its SuperNode. Tasks run one at a time per process (each hospital answers one message at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["CLIENT_APP", "SERVER_APP", "cap_poll_sleep", "forget_app_modules", "start_executor_thread", "run_clientapp_task", "run_serverapp_task"]

CLIENT_APP = "flwr-clientapp"
SERVER_APP = "flwr-serverapp"
#: Seconds between two AcquireTask polls (flower-superexec's default is 1 s; a SecAgg+ round has 4 stages).
POLL_SECONDS = 0.2

_log = logging.getLogger("ppml_lab.fl.deploy.inprocess")


def _runtime_client(address: str, *, root_certificates: bytes | None, token: str | None = None) -> Any:
    from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
    from flwr.supercore.retry import make_simple_http_retry_invoker
    from flwr.supercore.runtime import RuntimeHttpClient

    interceptors: list[Any] = [RuntimeVersionHttpInterceptor(component_name="SuperExec" if token is None else CLIENT_APP)]
    if token is not None:
        interceptors.append(RuntimeTokenHttpInterceptor(token))
    return RuntimeHttpClient.from_server_address(
        server_address=address, insecure=root_certificates is None, root_certificates=root_certificates,
        interceptors=interceptors, retry_invoker=make_simple_http_retry_invoker(),
    )


_APP_CACHE: dict[str, Any] = {}


def forget_app_modules(apps_root: str | Path | None = None) -> list[str]:
    """Drop every module imported from an installed FAB (under ``$FLWR_HOME/apps``) and those directories
    from ``sys.path``; returns the names dropped.

    Flower's ``load_app`` reuses ``sys.modules[name]`` when the name is already imported, so in a
    long-lived process a new app (another FAB: a new signed release) with the same module names would
    silently run the *previous* app's code. Called before a new FAB is loaded.
    """
    import sys

    if apps_root is None:
        from flwr.common.config import get_flwr_home
        from flwr.common.constant import APP_DIR

        apps_root = get_flwr_home() / APP_DIR
    root = str(Path(apps_root).absolute()) + "/"
    dropped = [name for name, mod in list(sys.modules.items())
               if str(getattr(mod, "__file__", None) or "").startswith(root)]
    for name in dropped:
        del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not (str(p) + "/").startswith(root)]
    return dropped


def run_clientapp_task(address: str, token: str, *, root_certificates: bytes | None = None) -> None:
    """One ClientApp task (one message) in this process: Flower's ``run_clientapp`` minus the process exit."""
    from flwr.app import Message
    from flwr.app.error import Error
    from flwr.cli.install import install_from_fab
    from flwr.clientapp.client_app import LoadClientAppError
    from flwr.clientapp.utils import get_load_client_app_fn
    from flwr.common.constant import ErrorCode, SubStatus
    from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
    from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

    client = _runtime_client(address, root_certificates=root_certificates, token=token)
    heartbeat = None
    message = context = reply = None
    sub_status, details = SubStatus.FAILED, "ClientApp task failed due to unknown reason"
    try:
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        heartbeat.start()
        message, context, run, fab = pull_task_input(client)
        app = _APP_CACHE.get(fab.hash_str)
        if app is None:  # a FAB this process has not run: load it fresh, not another app's modules
            forget_app_modules()
            _APP_CACHE.clear()
            install_from_fab(fab.content, skip_prompt=True)
            load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
            app = load(run.fab_id, run.fab_version, fab.hash_str)
            _APP_CACHE[fab.hash_str] = app
        reply = app(message=message, context=context)
        sub_status, details = SubStatus.COMPLETED, ""
    except Exception as ex:  # noqa: BLE001 - reported to the SuperNode as Flower's subprocess would
        code = ErrorCode.LOAD_CLIENT_APP_EXCEPTION if isinstance(ex, LoadClientAppError) else ErrorCode.CLIENT_APP_RAISED_EXCEPTION
        reason = f"{type(ex)}:<'{ex}'>"
        _log.error("ClientApp raised an exception", exc_info=ex)
        details = reason
        if message is not None:
            reply = Message(Error(code=code, reason=reason), reply_to=message)
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
            push_task_output(client=client, context=context, sub_status=sub_status, details=details)
        finally:
            if heartbeat is not None and heartbeat.is_running:
                heartbeat.stop()
            client.close()


class _QueueLogHandler(logging.Handler):
    """Flower's log records of one run, formatted as Flower's console prints them, into the uploader's
    queue (what ``flwr log`` shows; Flower's own ServerApp process mirrors its stdout/stderr instead)."""

    def __init__(self, queue: Any) -> None:
        super().__init__(logging.INFO)
        self.queue = queue
        self.thread = threading.get_ident()  # the run's thread only, not the SuperLink's own logging

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            self.queue.put(f"{record.levelname} :      {record.getMessage()}\n")
        except Exception:  # noqa: BLE001 - logging must not break the run
            self.handleError(record)


def run_serverapp_task(address: str, token: str, *, root_certificates: bytes | None = None) -> None:
    """One ServerApp task (one run) in this process: Flower's ``run_serverapp`` minus the process exit;
    Flower's log records during the run are uploaded for ``flwr log`` as from Flower's ServerApp."""
    from queue import Queue

    import httpx
    from flwr.app.message import RecordDict
    from flwr.cli.config_utils import get_fab_metadata
    from flwr.cli.install import install_from_fab
    from flwr.common.config import get_fused_config_from_dir, get_project_config, get_project_dir
    from flwr.common.constant import SubStatus
    from flwr.common.serde import context_from_proto, context_to_proto, fab_from_proto, run_from_proto
    from flwr.proto.runtime_pb2 import PullTaskInputRequest, PushTaskOutputRequest  # pylint: disable=E0611
    from flwr.server.run_serverapp import run as run_
    from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
    from flwr.supercore.logger import flush_logs, start_log_uploader, stop_log_uploader
    from flwr.supercore.task_identity import TaskIdentity
    from flwr.superlink.grid import HttpGrid

    grid = HttpGrid(runtime_api_address=address, insecure=root_certificates is None,
                    root_certificates=root_certificates, token=token)
    heartbeat = uploader = None
    context = None
    sub_status, details = SubStatus.FAILED, "Task failed with unknown error."
    log_queue: Queue[str | None] = Queue()
    handler = _QueueLogHandler(log_queue)
    flwr_logger = logging.getLogger("flwr")
    try:
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(grid._runtime_client))  # noqa: SLF001
        heartbeat.start()
        res = grid._runtime_client.PullTaskInput(PullTaskInputRequest())  # noqa: SLF001
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = res.task_id, res.run.run_id, res.context.node_id
        context = context_from_proto(res.context)
        run = run_from_proto(res.run)
        fab = fab_from_proto(res.fab)
        grid.set_run(run)
        uploader = start_log_uploader(log_queue=log_queue, node_id=0, run_id=run.run_id,
                                      client=grid._runtime_client)  # noqa: SLF001
        flwr_logger.addHandler(handler)
        install_from_fab(fab.content, skip_prompt=True)
        fab_id, fab_version = get_fab_metadata(fab.content)
        app_path = str(get_project_dir(fab_id, fab_version, fab.hash_str))
        config = get_project_config(app_path)
        attr = config["tool"]["flwr"]["app"]["components"]["serverapp"]
        context.run_config = get_fused_config_from_dir(Path(app_path), run.override_config)
        forget_app_modules()  # each run loads its own FAB's ServerApp, never a previous run's module
        context = run_(grid=grid, server_app_dir=app_path, server_app_attr=attr, context=context)
        sub_status, details = SubStatus.COMPLETED, ""
        context.state = RecordDict()
    except Exception as ex:  # noqa: BLE001
        _log.error("ServerApp raised an exception", exc_info=ex)
        details = f"ServerApp failed with exception: {ex}"
    finally:
        flwr_logger.removeHandler(handler)
        try:
            grid._retry_invoker.max_tries = 1  # noqa: SLF001
            if uploader is not None:
                flush_logs(log_queue)
            grid._runtime_client.PushTaskOutput(PushTaskOutputRequest(  # noqa: SLF001
                context=context_to_proto(context) if context else None, sub_status=sub_status, details=details))
        except httpx.HTTPError as err:
            _log.error("failed to push the ServerApp's task output: %s", err)
        finally:
            if uploader is not None:
                stop_log_uploader(log_queue, uploader)
            if heartbeat is not None and heartbeat.is_running:
                heartbeat.stop()
            grid.close()


def _loop(address: str, task_type: str, root_certificates: bytes | None, stop: threading.Event) -> None:
    from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611

    run_task = run_clientapp_task if task_type == CLIENT_APP else run_serverapp_task
    client = None
    while not stop.is_set():
        try:
            if client is None:
                client = _runtime_client(address, root_certificates=root_certificates)
            res = client.AcquireTask(AcquireTaskRequest(supported_task_types=[task_type]))
        except Exception as err:  # noqa: BLE001 - the Runtime API is not up yet, or restarting: ask again
            _log.debug("AcquireTask failed: %s", err)
            if client is not None:
                client.close()
                client = None
            stop.wait(1.0)
            continue
        if res.HasField("task") and res.token:
            try:
                run_task(address, res.token, root_certificates=root_certificates)
            except Exception as err:  # noqa: BLE001 - one failed task must not stop the node
                _log.error("in-process %s task failed: %s", task_type, err)
            continue
        stop.wait(POLL_SECONDS)


#: Flower's fixed waits between polls, capped in the processes that run apps in-process: the SuperNode's
#: pull loop sleeps 3 s when the SuperLink has no message for it, and the ServerApp's grid sleeps 3 s
#: between two pulls of replies - about 6 s per SecAgg+ stage, 4 stages a round.
SUPERNODE_POLL_CAP = 1.0
GRID_POLL_CAP = 0.5


class _CappedSleep:
    """Stands in for the ``time`` module inside one Flower module: ``sleep`` waits at most ``cap`` s."""

    def __init__(self, cap: float) -> None:
        self._cap = float(cap)

    def sleep(self, seconds: float) -> None:
        time.sleep(min(float(seconds), self._cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def cap_poll_sleep(module: Any, cap: float) -> None:
    """Cap the ``time.sleep`` calls of one Flower module (its polling waits) at ``cap`` seconds."""
    if getattr(module, "time", None) is not time and not isinstance(getattr(module, "time", None), _CappedSleep):
        raise RuntimeError(f"{module.__name__} does not use the time module as flwr 1.42 does")
    module.time = _CappedSleep(cap)


def start_executor_thread(address: str, task_type: str, *, root_certificates_path: str | None = None) -> threading.Event:
    """Start the daemon thread that runs ``task_type`` tasks of the Runtime API at ``address`` in this
    process. Returns the event that stops it (it also ends with the process)."""
    if task_type not in (CLIENT_APP, SERVER_APP):
        raise ValueError(f"task_type must be {CLIENT_APP!r} or {SERVER_APP!r}, got {task_type!r}")
    certs = Path(root_certificates_path).read_bytes() if root_certificates_path else None
    stop = threading.Event()
    threading.Thread(target=_loop, args=(address, task_type, certs, stop), name=f"ppml-{task_type}",
                     daemon=True).start()
    return stop
