"""Flower's Deployment Engine on loopback: one SuperLink, N SuperNodes, the course's app (the launcher).

Each SuperNode plays one hospital (``--node-config partition-id=k num-partitions=N``); the SuperLink
coordinates; ``flwr run`` submits the committed app (:mod:`ppml_lab.fl.flower_app`) whose ServerApp runs
FedAvg, optionally under SecAgg+ (Bell et al. 2020, doi:10.1145/3372297.3417885) and central DP
(McMahan et al. 2018, arXiv:1710.06963), and writes its final metrics to a JSON file that this launcher
reads. Transport security is TLS with certificates generated on the spot (:mod:`ppml_lab.fl.certs`),
SuperNode authentication (EC P-384 keys registered with ``flwr supernode register``), app signing (the
SuperNodes run only an app signed by the publisher key, :mod:`ppml_lab.fl.deploy.signing`) and a SuperLink
whose Control and Runtime APIs answer local callers only (:mod:`ppml_lab.fl.deploy.superlink_guard`).

Everything runs on 127.0.0.1 with ports picked free at start, a private ``FLWR_HOME`` per launch, no
telemetry and no runtime dependency installation. Every wait is bounded; every process started here runs
in its own session, is ended by PID on exit, error, Ctrl-C or interpreter shutdown, and dies with the
launcher even if the launcher is SIGKILLed (:mod:`ppml_lab.fl.deploy.processes`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ppml_lab._validation import check_bool, check_int, check_type
from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.certs import (
    LOOPBACK,
    NodeKeys,
    TLSFiles,
    generate_node_keys,
    generate_signing_key,
    generate_tls_files,
    secure_directory,
)
from ppml_lab.fl.deploy.config import DeploymentConfig, DeploymentResult, check_rounds
from ppml_lab.fl.deploy.inprocess_flag import INPROCESS_FLAG
from ppml_lab.fl.deploy.processes import (
    BIN,
    Proc,
    descendants,
    end_pids,
    flwr_json,
    listen_port,
    offline_env,
    parse_run_id,
    pdeathsig_exec_argv,
    port_open,
    run_bounded,
    same_process,
    spawn,
)
from ppml_lab.fl.deploy.reference import APP_DIR
from ppml_lab.fl.deploy.signing import PUBLISHER_KEY_ID, build_fab, sign_fab, write_trusted_entities

__all__ = ["FlowerDeployment", "run_deployment"]

_LIVE: weakref.WeakSet[FlowerDeployment] = weakref.WeakSet()


def _stop_all_live() -> None:
    for dep in list(_LIVE):
        with contextlib.suppress(Exception):
            dep.stop()


atexit.register(_stop_all_live)


class FlowerDeployment:
    """One SuperLink and N SuperNodes on 127.0.0.1 (a context manager).

    ``start()`` writes certificates, keys and ``$FLWR_HOME/config.toml`` into a fresh work directory,
    starts the SuperLink, registers the SuperNodes' public keys, starts the SuperNodes and waits (bounded)
    until all are online. ``run()`` submits the app and returns a :class:`DeploymentResult`. ``stop()``
    ends every process started, by PID. Use ``with FlowerDeployment(cfg) as dep: dep.run()``.

    ``supernodes_after_submit=True``: ``start()`` stops after the registrations, and ``run()`` submits the
    app first and then starts the SuperNodes (the ServerApp waits for its ``min_clients``). The ``flwr``
    CLI process that submits (~100 MB) has then ended before the hospitals' processes exist, so it is not
    part of the federation's peak memory; the SuperNodes' admission is confirmed from their logs (the node
    ID the SuperLink assigned) and the run's per-round client counts, not by a ``flwr supernode list``
    process. Every security check is the same. ``seconds_to_online``: seconds from ``start()`` until every
    SuperNode was online.
    """

    def __init__(self, config: DeploymentConfig | None = None, *, workdir: str | Path | None = None,
                 keep_workdir: bool = False, supernodes_after_submit: bool = False) -> None:
        self.config = config if config is not None else DeploymentConfig()
        check_type("config", self.config, DeploymentConfig)
        self.supernodes_after_submit = check_bool("supernodes_after_submit", supernodes_after_submit)
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="ppml-flwr-")) if workdir is None else Path(workdir)
        self.keep_workdir = check_bool("keep_workdir", keep_workdir)
        self.seconds_to_online: float | None = None
        self._t_start: float | None = None
        self.flwr_home = self.workdir / "flwr_home"
        self.env = offline_env(self.flwr_home)
        self.port: int | None = None
        self.tls_files: TLSFiles | None = self.config.certs
        self.node_keys: list[NodeKeys] = []
        self.supernodes: dict[int, Proc] = {}
        self.site_paths: tuple[str, ...] = ()
        self.test_path = ""
        self._procs: list[Proc] = []
        self._peak_rss = 0
        self._peak_total = 0
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._started = False
        self._runs = 0
        self._last_run_id: int | None = None
        self.publisher_key: NodeKeys | None = None
        self.trusted_entities: Path | None = None
        self._prepare: subprocess.Popen | None = None
        self._worker: subprocess.Popen | None = None  # one `flwr` CLI process for start-up's calls
        self._worker_lock = threading.Lock()
        self._use_worker = False
        self._app_signature: str | None = None  # the course's app, signed by the preparation process
        _LIVE.add(self)

    def __repr__(self) -> str:
        alive = sum(p.alive() for p in self._procs)
        return f"FlowerDeployment(n_supernodes={self.config.n_supernodes}, port={self.port}, processes_alive={alive})"

    # ---- context manager ---------------------------------------------------------------------
    def __enter__(self) -> FlowerDeployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- small helpers -----------------------------------------------------------------------
    @property
    def address(self) -> str:
        if self.port is None:
            raise DeploymentError("the SuperLink has no port yet; call start() first")
        return f"{LOOPBACK}:{self.port}"

    @property
    def pids(self) -> list[int]:
        """PIDs of the top-level processes started (SuperLink, SuperNodes, CLI calls still running)."""
        return [p.popen.pid for p in self._procs if p.alive()]

    def all_pids(self) -> list[int]:
        """Every live process of this deployment, children (ServerApp, ClientApps) included."""
        out = []
        for p in self._procs:
            if p.alive():
                out.append(p.popen.pid)
                out.extend(descendants(p.popen.pid))
        return out

    @property
    def peak_rss_bytes(self) -> int:
        """Highest summed RSS of all processes of this deployment seen by the 0.2 s sampler."""
        return self._peak_rss

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        """Start a process that dies with this one (parent-death signal) in its own session. A SuperLink
        or SuperNode running its apps in-process starts no children: the exec shim, no reaper beside it."""
        proc = spawn(name, argv, env=self.env, cwd=self.workdir, log_dir=self.workdir / "logs",
                     may_fork=INPROCESS_FLAG not in argv)
        self._procs.append(proc)
        return proc

    def _cli(self, args: list[str], *, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        """Run a short ``flwr`` CLI command (bounded): in the CLI worker during start-up and submission
        (:mod:`ppml_lab.fl.deploy._cli_worker`: Flower's CLI imported once, not once per command), else
        as a one-shot ``flwr`` process."""
        argv = [str(BIN / "flwr"), *args]
        try:
            if self._use_worker:
                res = self._worker_call(args, timeout=timeout)
            else:
                res = run_bounded(argv, env=self.env, cwd=self.workdir, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise DeploymentError(f"`flwr {' '.join(args)}` did not finish within {timeout:.0f} s") from err
        if check and res.returncode != 0:
            raise DeploymentError(
                f"`flwr {' '.join(args)}` failed with code {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
            )
        return res

    def _worker_call(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess:
        """One command in the CLI worker (started on first use); a timeout ends the worker."""
        import selectors

        with self._worker_lock:
            if self._worker is None or self._worker.poll() is not None:
                log = open(self.workdir / "logs" / "cli_worker.log", "ab")  # noqa: SIM115 - the child's copy stays
                try:
                    self._worker = subprocess.Popen(
                        pdeathsig_exec_argv([sys.executable, "-m", "ppml_lab.fl.deploy._cli_worker"]),
                        env=self.env, cwd=self.workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                        text=True, encoding="utf-8")
                finally:
                    log.close()
            worker = self._worker
            if worker.stdin is None or worker.stdout is None:  # pragma: no cover - both are pipes
                raise DeploymentError("the CLI worker has no pipes")
            argv = [str(BIN / "flwr"), *args]
            try:
                worker.stdin.write(json.dumps([str(a) for a in args]) + "\n")
                worker.stdin.flush()
                with selectors.DefaultSelector() as sel:
                    sel.register(worker.stdout, selectors.EVENT_READ)
                    if not sel.select(timeout=timeout):
                        self._close_worker(kill=True)
                        raise subprocess.TimeoutExpired(argv, timeout)
                line = worker.stdout.readline()
            except (BrokenPipeError, OSError) as err:
                self._close_worker(kill=True)
                raise DeploymentError(f"the flwr CLI worker died (see {self.workdir / 'logs' / 'cli_worker.log'})") from err
            if not line:
                self._close_worker(kill=True)
                raise DeploymentError(f"the flwr CLI worker died (see {self.workdir / 'logs' / 'cli_worker.log'})")
            reply = json.loads(line)
            return subprocess.CompletedProcess(argv, int(reply["rc"]), reply["stdout"], reply["stderr"])

    def _close_worker(self, *, kill: bool = False) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError):
            if kill:
                worker.kill()
            elif worker.stdin is not None:
                worker.stdin.close()  # end of input: the worker exits
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        for pipe in (worker.stdin, worker.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        if name == "serverapp" and self._last_run_id is not None:
            self.save_run_log(self._last_run_id)  # the last run's ServerApp log, fetched now
        p = self.workdir / "logs" / f"{name}.log"
        return p.read_text(errors="replace")[-chars:] if p.exists() else ""

    @property
    def peak_rss_by_process(self) -> dict[str, int]:
        """Highest RSS of each process started (SuperLink, each SuperNode; with its descendants), by name."""
        return {p.name: p.peak_rss for p in self._procs}

    @property
    def peak_total_rss_bytes(self) -> int:
        """Highest summed RSS of the launcher's own process (a notebook kernel, pytest) plus every process
        it has started - this deployment's, its ``flwr`` CLI calls, and any other child it has."""
        return self._peak_total

    def _monitor_loop(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._monitor_stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                everything = sum(q.memory_info().rss for q in [me, *me.children(recursive=True)]
                                 if q.is_running())
                self._peak_total = max(self._peak_total, everything)
            total = 0
            for proc in list(self._procs):
                if not proc.alive():
                    continue
                try:
                    root = psutil.Process(proc.popen.pid)
                    family = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                mine = 0
                for q in family:
                    with contextlib.suppress(psutil.Error):
                        mine += q.memory_info().rss
                        proc.seen.setdefault(q.pid, q.create_time())
                proc.peak_rss = max(proc.peak_rss, mine)
                total += mine
            self._peak_rss = max(self._peak_rss, total)

    # ---- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """Prepare files, start SuperLink and SuperNodes, wait until every SuperNode is online."""
        if self._started:
            raise DeploymentError(f"this {type(self).__name__} was already started; create a new one")
        self._started = True
        self._t_start = time.monotonic()
        self._use_worker = True  # start-up's CLI calls share one flwr process
        self._start_superlink_side()
        self._start_supernodes()

    def _start_superlink_side(self) -> None:
        """Directories, TLS files and node keys if asked, the connection config, the RSS monitor, the SuperLink."""
        cfg = self.config
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.flwr_home.mkdir(parents=True, exist_ok=True)
        (self.workdir / "progress").mkdir(exist_ok=True)
        if cfg.tls and self.tls_files is None:
            self.tls_files = generate_tls_files(self.workdir / "certs")
        if cfg.node_auth:
            self.node_keys = [generate_node_keys(self.workdir / "keys", f"node{k}") for k in range(cfg.n_supernodes)]
        if cfg.sign_app:
            # The app publisher's key (here: this launcher) and each hospital's list of trusted publishers.
            self.publisher_key = generate_signing_key(self.workdir / "publisher", "publisher")
            self.trusted_entities = write_trusted_entities(
                secure_directory(self.workdir / "trust") / "trusted_entities.yaml",
                {PUBLISHER_KEY_ID: self.publisher_key.public_key},
            )
        self.port = cfg.superlink_port if cfg.superlink_port is not None else listen_port()
        self._write_flower_config()
        self._monitor = threading.Thread(target=self._monitor_loop, name="ppml-flwr-rss", daemon=True)
        self._monitor.start()
        if self._has_supernodes():
            self._start_prepare()  # data files (+ app signature) in a process of their own, meanwhile
        self.start_superlink()

    def _has_supernodes(self) -> bool:
        """This launcher starts SuperNodes, which need each hospital's data file (the simulation: no)."""
        return True

    def _start_prepare(self) -> None:
        """Write the hospitals' data files and sign the app in a short-lived process
        (:mod:`ppml_lab.fl.deploy._prepare`): scikit-learn, SciPy, pandas and Flower's CLI are imported
        there, not in this launcher (a notebook kernel), where they would add ~150 MB to every peak."""
        cfg = self.config
        (self.workdir / "data").mkdir(exist_ok=True)
        argv = [sys.executable, "-m", "ppml_lab.fl.deploy._prepare", str(self.workdir / "data"), str(cfg.rng),
                str(cfg.n_supernodes)]
        if cfg.sign_app and self.publisher_key is not None:
            argv += [str(APP_DIR), str(self.publisher_key.private_key)]
        self._prepare = subprocess.Popen(pdeathsig_exec_argv(argv), env=self.env, cwd=self.workdir,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         stdin=subprocess.DEVNULL)

    def _finish_prepare(self) -> None:
        proc, self._prepare = self._prepare, None
        if proc is None:
            raise DeploymentError("the preparation step was not started")
        try:
            out, err = proc.communicate(timeout=self.config.startup_timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise DeploymentError(
                f"writing the hospitals' data files did not finish within {self.config.startup_timeout:.0f} s") from exc
        if proc.returncode != 0:
            raise DeploymentError(f"writing the hospitals' data files failed with code {proc.returncode}:\n{err[-2000:]}")
        data = json.loads(out.strip().splitlines()[-1])
        self.site_paths, self.test_path = tuple(data["site_paths"]), str(data["test_path"])
        self._app_signature = str(data["app_signature"]) or None

    def _start_supernodes(self) -> None:
        """Each hospital's data file, node registration, one SuperNode per hospital; wait until all are
        online (the last two in ``run()`` when ``supernodes_after_submit``)."""
        self._prepare_supernodes()
        if not self.supernodes_after_submit:
            self._launch_supernodes(ask_superlink=True)

    def _launch_supernodes(self, *, ask_superlink: bool) -> None:
        cfg = self.config
        for k in range(cfg.n_supernodes):
            self.start_supernode(k)
        self.wait_online(cfg.n_supernodes, timeout=cfg.startup_timeout, ask_superlink=ask_superlink)
        if self._t_start is not None:
            self.seconds_to_online = time.monotonic() - self._t_start

    def _prepare_supernodes(self) -> None:
        """Each hospital's data file and the registration of its public key."""
        cfg = self.config
        # Each hospital's data as its own file (a real site points its SuperNode at local data).
        self._finish_prepare()
        if cfg.node_auth:  # one `flwr supernode register` per hospital (in the CLI worker: no process each)
            for k, keys in enumerate(self.node_keys):
                self._cli(["supernode", "register", str(keys.public_key), cfg.connection, "--name", f"hospital-{k}"],
                          timeout=cfg.startup_timeout)

    def _write_flower_config(self) -> None:
        cfg = self.config
        lines = ["[superlink]", f'default = "{cfg.connection}"', "", f"[superlink.{cfg.connection}]",
                 f'address = "{self.address}"']
        if cfg.tls:
            assert_files = self.tls_files
            if assert_files is None:  # pragma: no cover - start() sets it
                raise DeploymentError("TLS is on but no certificate files exist")
            lines.append(f'root-certificates = "{assert_files.ca_cert}"')
        else:
            lines.append("insecure = true")
        (self.flwr_home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def superlink_argv(self) -> list[str]:
        """The SuperLink's command line (before the reaper shim)."""
        cfg = self.config
        # Flower's SuperLink behind superlink_guard: Control and Runtime routes answer local peers only.
        argv = [sys.executable, "-m", "ppml_lab.fl.deploy.superlink_guard", "--host", LOOPBACK, "--port", str(self.port),
                "--disable-runtime-dependency-installation", "--database", str(self.workdir / "superlink.db")]
        if cfg.tls:
            files = self.tls_files
            if files is None:  # pragma: no cover
                raise DeploymentError("TLS is on but no certificate files exist")
            argv += ["--ssl-ca-certfile", str(files.ca_cert), "--ssl-certfile", str(files.server_cert),
                     "--ssl-keyfile", str(files.server_key)]
        else:
            argv.append("--insecure")
        if cfg.node_auth:
            argv.append("--enable-supernode-auth")
        if self._inprocess_apps():
            argv.append(INPROCESS_FLAG)
        argv += self._superlink_extra_args()
        return argv

    def _inprocess_apps(self) -> bool:
        """Run ServerApp/ClientApp tasks inside the SuperLink/SuperNode processes (the simulation
        launcher says no: its SuperLink starts a simulation runtime through flower-superexec)."""
        return self.config.inprocess_apps

    def start_superlink(self) -> Proc:
        cfg = self.config
        proc = self._spawn("superlink", self.superlink_argv())
        deadline = time.monotonic() + cfg.startup_timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise DeploymentError(
                    f"the SuperLink exited with code {proc.popen.returncode} during start-up:\n{self.log_tail('superlink')}"
                )
            if port_open(int(self.port or 0)):
                # The port answers; the control API is ready when `flwr ls` answers too.
                with contextlib.suppress(DeploymentError):  # slow CLI on a loaded machine: ask again
                    if self._cli(["ls", cfg.connection, "--format", "json"], timeout=90, check=False).returncode == 0:
                        return proc
            time.sleep(0.3)
        raise DeploymentError(
            f"the SuperLink did not answer on {self.address} within {cfg.startup_timeout:.0f} s:\n{self.log_tail('superlink')}"
        )

    def _superlink_extra_args(self) -> list[str]:
        """More ``flower-superlink`` flags (the simulation launcher adds ``--simulation``)."""
        return []

    def _run_extra_args(self) -> list[str]:
        """More ``flwr run`` flags (the simulation launcher adds ``--federation-config``)."""
        return []

    def supernode_argv(
        self, partition_id: int, *, private_key: Path | None | str = "registered", insecure: bool | None = None,
        root_certificates: Path | None | str = "ca", max_wait_time: float | None = None,
        trusted_entities: Path | None | str = "publisher",
    ) -> list[str]:
        """One SuperNode's command line for ``partition_id``. The keyword arguments build the refusal cases:
        ``private_key=None`` (no key), another key's path (unregistered), ``insecure=True`` (plain text
        against a TLS SuperLink), ``root_certificates=None`` (no CA: the system trust store) or another CA.
        ``trusted_entities``: the publisher keys whose apps it runs (default: this launcher's, when
        ``sign_app``); None runs Flower's plain SuperNode, which executes any app submitted."""
        cfg = self.config
        check_int("partition_id", partition_id, low=0)
        if trusted_entities == "publisher":
            trusted_entities = self.trusted_entities if cfg.sign_app else None
        if trusted_entities is not None:
            # Flower's SuperNode + the run's app signature handed to its own FAB verification.
            argv = [sys.executable, "-m", "ppml_lab.fl.deploy.supernode_verify",
                    "--trusted-entities", str(trusted_entities)]
            if self._inprocess_apps():
                argv.append(INPROCESS_FLAG)
        else:
            argv = [str(BIN / "flower-supernode")]
        argv += ["--superlink", self.address, "--port", str(listen_port()),
                "--node-config",
                f'partition-id={partition_id} num-partitions={cfg.n_supernodes} data-path="{self.site_paths[partition_id]}"']
        use_insecure = (not cfg.tls) if insecure is None else insecure
        if use_insecure:
            argv.append("--insecure")
        else:
            if root_certificates == "ca":
                if self.tls_files is None:
                    raise DeploymentError("no CA certificate: this deployment runs without TLS")
                root_certificates = self.tls_files.ca_cert
            if root_certificates is not None:
                argv += ["--root-certificates", str(root_certificates)]
        if private_key == "registered":
            private_key = self.node_keys[partition_id].private_key if cfg.node_auth else None
        if private_key is not None:
            argv += ["--auth-supernode-private-key", str(private_key)]
        if max_wait_time is not None:
            argv += ["--max-wait-time", str(float(max_wait_time))]
        return argv

    def start_supernode(
        self, partition_id: int, *, private_key: Path | None | str = "registered", insecure: bool | None = None,
        root_certificates: Path | None | str = "ca", max_wait_time: float | None = None, name: str | None = None,
        trusted_entities: Path | None | str = "publisher",
    ) -> Proc:
        """Start one SuperNode for ``partition_id`` (see :meth:`supernode_argv` for the keyword arguments)."""
        argv = self.supernode_argv(partition_id, private_key=private_key, insecure=insecure,
                                   root_certificates=root_certificates, max_wait_time=max_wait_time,
                                   trusted_entities=trusted_entities)
        proc = self._spawn(name or f"supernode{partition_id}", argv)
        if name is None:
            self.supernodes[partition_id] = proc
        return proc

    def list_nodes(self) -> list[dict[str, Any]]:
        try:  # a CLI call; on a loaded machine it can be slow - a timeout here means "ask again"
            res = self._cli(["supernode", "list", self.config.connection, "--format", "json"], timeout=90, check=False)
        except DeploymentError:
            return []
        try:
            data = flwr_json(res.stdout)
        except json.JSONDecodeError:
            return []
        return list(data.get("nodes", [])) if isinstance(data, dict) else []

    def online_count(self) -> int:
        return sum(1 for n in self.list_nodes() if n.get("status") == "online")

    def wait_online(self, n: int, *, timeout: float, ask_superlink: bool = True) -> None:
        """Bounded wait until ``n`` SuperNodes have each logged the node ID the SuperLink gave them and,
        if ``ask_superlink``, the SuperLink lists ``n`` online (a ``flwr supernode list`` call)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for k, p in self.supernodes.items():
                if not p.alive():
                    raise DeploymentError(
                        f"SuperNode {k} exited with code {p.popen.returncode} before joining:\n{self.log_tail(p.name)}"
                    )
            # Each `flwr supernode list` is a Python process (~100 MB, seconds of CPU): ask the SuperLink
            # only once every SuperNode has logged the node ID the SuperLink gave it.
            joined = sum("SuperNode ID:" in self.log_tail(p.name, 200_000) for p in self.supernodes.values())
            if joined < min(n, len(self.supernodes)):
                time.sleep(0.5)
                continue
            if not ask_superlink and joined >= n:
                return
            if self.online_count() >= n:
                return
            time.sleep(3.0)  # each check is a `flwr` CLI process: poll gently on a small machine
        raise DeploymentError(f"{n} SuperNodes were not online within {timeout:.0f} s (see {self.workdir / 'logs'})")

    # ---- run ---------------------------------------------------------------------------------
    def sign_app(self, app_dir: str | Path = APP_DIR) -> str:
        """The ``app-signature`` of ``app_dir``'s FAB under this launcher's publisher key."""
        if self.publisher_key is None:
            raise DeploymentError("this deployment has no publisher key (sign_app=False or not started)")
        return sign_fab(build_fab(Path(app_dir)), self.publisher_key.private_key)

    def run(self, *, on_round: Callable[[int], None] | None = None, app_dir: str | Path | None = None,
            app_signature: str | None = None) -> DeploymentResult:
        """Submit the app with ``flwr run``, kill a SuperNode if configured, wait for the result file.

        The course's app is signed with the publisher key when ``sign_app``. ``app_dir`` submits another
        app directory instead, with ``app_signature`` (default: unsigned) - what someone other than the
        publisher could submit; SuperNodes refuse it. Raises :class:`RoundFailedError` if any round
        aggregated fewer than ``config.effective_min_clients`` clients.
        """
        cfg = self.config
        if not self._started or self.port is None:
            raise DeploymentError("start() the deployment before run()")
        submit_dir = APP_DIR if app_dir is None else Path(app_dir)
        if app_signature is None:
            if cfg.sign_app and app_dir is None:  # signed at start-up by the preparation process, or now
                app_signature = self._app_signature or self.sign_app(APP_DIR)
            else:
                app_signature = ""
        check_type("app_signature", app_signature, str)
        self._runs += 1
        results_path = self.workdir / f"results_{self._runs}.json"
        progress = self.workdir / "progress"
        overrides = cfg.run_config(results_path=results_path, progress_dir=progress, test_path=self.test_path,
                                   app_signature=app_signature)
        override_path = self.workdir / f"run_config_{self._runs}.toml"
        override_path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in overrides.items()), encoding="utf-8")
        victim, kill_marker = cfg.kill_partition, None
        if victim is not None:
            # Under SecAgg+ the victim is killed as it enters collect-masked-vectors, i.e. after its
            # share-keys reply reached the server (the server sends stage 2 only once stage 1 is over)
            # and before its masked vector exists. That is the dropout SecAgg+ recovers from (Bonawitz et al.
            # 2017, Fig. 4, Unmasking: s^SK of U2 minus U3; kept by Bell et al. 2020): the survivors hold its
            # sk1 shares and added pairwise masks with it, which the server reconstructs and removes.
            # Killing it in share-keys instead made the round fail whenever the kill beat its reply:
            # flwr 1.42's unmask stage marks every sampled node missing from stage 2 as dead (U1 minus
            # U3, not U2 minus U3) and asks the survivors for sk1 shares they never received - a
            # KeyError in their secaggplus_mod, no shares, "Not enough shares to recover secret", round
            # aggregated from 0 clients. The hold file makes the ClientApp wait in that stage so the
            # kill always lands before its reply (see client_app._hold_if_asked).
            stage = "collect_masked_vectors" if cfg.secagg else "fit"
            tag = f"{stage}_r{cfg.kill_at_round}_p{victim}"
            progress.mkdir(exist_ok=True)
            (progress / f"hold_{tag}").touch()
            kill_marker = progress / f"stage_{tag}"
        t0 = time.monotonic()
        try:
            res = self._cli(["run", str(submit_dir), cfg.connection, "--run-config", str(override_path),
                             *self._run_extra_args(), "--format", "json"], timeout=cfg.startup_timeout)
        finally:  # the run's own calls (rare status checks, the log) are one-shot: no CLI process stays
            self._use_worker = False
            with self._worker_lock:
                self._close_worker()
        run_id = parse_run_id(res.stdout)
        if self.supernodes_after_submit and not self.supernodes:
            self._launch_supernodes(ask_superlink=False)  # the ServerApp waits for its min_clients
        killed: int | None = None
        deadline = t0 + cfg.run_timeout
        last_round_seen = 0
        # `flwr ls` is a CLI process (~100 MB): not within a normal run. In-process, a failed ServerApp is
        # logged by the SuperLink itself (inprocess.run_serverapp_task), read below; the CLI is a fallback.
        next_status = time.monotonic() + (180.0 if self._inprocess_apps() else 60.0)
        next_log_check = time.monotonic() + 2.0
        failures_before = self._serverapp_failures()
        while not results_path.exists():
            if time.monotonic() > deadline:
                raise DeploymentError(
                    f"run {run_id} produced no result within {cfg.run_timeout:.0f} s; SuperLink log:\n"
                    f"{self.log_tail('superlink')}"
                )
            sl = self._procs[0]
            if not sl.alive():
                raise DeploymentError(f"the SuperLink died during run {run_id}:\n{self.log_tail('superlink')}")
            if kill_marker is not None and victim is not None and killed is None and kill_marker.exists():
                self.kill_supernode(victim)
                killed = victim
            if on_round is not None:
                seen = max((int(p.name.split("_")[1][1:]) for p in progress.glob("fit_r*_p*")), default=0)
                if seen > last_round_seen:
                    last_round_seen = seen
                    on_round(seen)
            if self._inprocess_apps() and time.monotonic() > next_log_check:
                next_log_check = time.monotonic() + 2.0
                if self._serverapp_failures() > failures_before:
                    time.sleep(1.0)
                    if not results_path.exists():
                        raise DeploymentError(
                            f"run {run_id}: the ServerApp raised an exception; SuperLink log:\n{self.log_tail('superlink')}")
            if time.monotonic() > next_status:  # a failed ServerApp writes no file: ask, rarely (a CLI call)
                next_status = time.monotonic() + 30.0
                status = self._run_status(run_id)
                if status.startswith("finished:") and status != "finished:completed":
                    time.sleep(1.0)
                    if not results_path.exists():
                        raise DeploymentError(
                            f"run {run_id} ended with status {status}; ServerApp log:\n{self.save_run_log(run_id)[-3000:]}"
                        )
            time.sleep(0.25)
        # The ServerApp's log (`flwr log`, one more ~100 MB CLI process) is fetched when asked for:
        # log_tail("serverapp") or save_run_log().
        self._last_run_id = run_id
        data = json.loads(results_path.read_text())
        traffic = []
        for f in sorted(progress.glob("traffic_p*.jsonl")):
            traffic += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        rounds = list(data["rounds"])
        # Loud failure: a round that aggregated fewer than its minimum is an error, not a result.
        check_rounds(rounds, expected_rounds=cfg.rounds, min_clients=cfg.effective_min_clients)
        return DeploymentResult(
            rounds=rounds,
            final_loss=float(data["final_loss"]),
            final_accuracy=float(data["final_accuracy"]),
            clients_per_round=[int(r.get("clients", 0)) for r in rounds],
            killed_partition=killed,
            seconds=time.monotonic() - t0,
            peak_rss_bytes=self._peak_rss,
            peak_total_rss_bytes=self._peak_total,
            traffic=traffic,
            config={k: (str(v) if isinstance(v, (Path, TLSFiles)) else v) for k, v in asdict(cfg).items()},
        )

    def _serverapp_failures(self) -> int:
        """How many times the SuperLink's log says an in-process ServerApp raised (this launch so far)."""
        p = self.workdir / "logs" / "superlink.log"
        return p.read_text(errors="replace").count(_SERVERAPP_FAILED) if p.exists() else 0

    def save_run_log(self, run_id: int | None) -> str:
        """Fetch the ServerApp's log of ``run_id`` (``flwr log``) into logs/serverapp.log; returns it."""
        if run_id is None:
            return ""
        if run_id == self._last_run_id:
            self._last_run_id = None  # fetched once
        try:
            res = self._cli(["log", str(run_id), self.config.connection, "--show"], timeout=90, check=False)
        except DeploymentError as err:
            return str(err)
        text = res.stdout + res.stderr
        (self.workdir / "logs" / "serverapp.log").write_text(text, encoding="utf-8")
        return text

    def _run_status(self, run_id: int | None) -> str:
        if run_id is None:
            return ""
        try:
            res = self._cli(["ls", self.config.connection, "--run-id", str(run_id), "--format", "json"],
                            timeout=90, check=False)
        except DeploymentError:
            return ""
        try:
            runs = flwr_json(res.stdout).get("runs", [])
        except (json.JSONDecodeError, AttributeError):
            return ""
        return str(runs[0].get("status", "")) if runs else ""

    def kill_supernode(self, partition_id: int) -> None:
        """Kill one SuperNode and its ClientApps at once (SIGKILL: a crash, not a goodbye)."""
        proc = self.supernodes.get(partition_id)
        if proc is None or not proc.alive():
            raise DeploymentError(f"SuperNode {partition_id} is not running")
        pids = [proc.popen.pid, *descendants(proc.popen.pid)]
        import psutil

        for pid in pids:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=10)

    # ---- stop --------------------------------------------------------------------------------
    def stop(self, *, grace: float = 5.0) -> None:
        """End every process this deployment started (and their children), by PID. Idempotent."""
        self._monitor_stop.set()
        self._last_run_id = None  # no SuperLink left to fetch a log from
        self._use_worker = False
        with contextlib.suppress(Exception):
            self._close_worker(kill=True)
        if self._prepare is not None and self._prepare.poll() is None:  # start() failed before it was read
            self._prepare.kill()
            self._prepare.communicate()
        self._prepare = None
        pids: list[int] = []
        for p in self._procs:
            if p.alive():
                pids.append(p.popen.pid)
                pids.extend(descendants(p.popen.pid))
            # Children seen earlier that may have been re-parented - only if still the same process
            # (same PID *and* start time), never a stranger that reused the PID.
            pids.extend(pid for pid, ctime in p.seen.items() if same_process(pid, ctime))
        own = os.getpid()
        pids = sorted({pid for pid in pids if pid != own})
        # Children first (ServerApp/ClientApps), then SuperNodes, then the SuperLink.
        end_pids(list(reversed(pids)), grace=grace)
        for p in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=grace)
        if self._monitor is not None:
            self._monitor.join(timeout=2)
        if self._own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _LIVE.discard(self)

    def leftover_pids(self) -> list[int]:
        """PIDs started by this deployment that are still alive (empty after stop())."""

        out = {p.popen.pid for p in self._procs if p.popen.poll() is None}
        for p in self._procs:
            out |= {pid for pid, ctime in p.seen.items() if same_process(pid, ctime)}
        return sorted(out)

    # ---- refusal cases -----------------------------------------------------------------------
    def expect_refused(self, proc: Proc, *, timeout: float = 30.0) -> str:
        """Bounded wait: the SuperNode ``proc`` must not join. Returns its log.

        A refused SuperNode either exits (TLS or authentication error) or keeps retrying without being
        admitted; after ``timeout`` seconds it is ended by PID either way. Raises :class:`DeploymentError`
        if the SuperLink's count of online nodes grew meanwhile (it was admitted).
        """
        before = self.online_count()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and proc.alive():
                time.sleep(0.5)
            if self.online_count() > before:
                raise DeploymentError(f"{proc.name} was accepted by the SuperLink; expected a refusal")
            return self.log_tail(proc.name, 6000)
        finally:
            if proc.alive():
                end_pids([*descendants(proc.popen.pid), proc.popen.pid], grace=2.0)


#: What :func:`ppml_lab.fl.deploy.inprocess.run_serverapp_task` logs when the ServerApp raised.
_SERVERAPP_FAILED = "ServerApp raised an exception"


def run_deployment(config: DeploymentConfig | None = None, **kwargs: Any) -> DeploymentResult:
    """Start, run and stop a deployment; ``kwargs`` build a :class:`DeploymentConfig` when none is given."""
    if config is None:
        config = DeploymentConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either config or keyword arguments, not both")
    with FlowerDeployment(config) as dep:
        return dep.run()
