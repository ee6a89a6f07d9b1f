"""Launch the course's FL task on Flower's Deployment Engine on loopback: one SuperLink, N SuperNodes.

Each SuperNode plays one hospital (``--node-config partition-id=k num-partitions=N``); the SuperLink
coordinates; ``flwr run`` submits the committed app (:mod:`ppml_lab.fl.flower_app`) whose ServerApp runs
FedAvg, optionally under SecAgg+ (Bell et al. 2020, doi:10.1145/3372297.3417885) and central DP
(McMahan et al. 2018, arXiv:1710.06963), and writes its final metrics to a JSON file that this launcher
reads. Transport security is TLS with certificates generated on the spot (:mod:`ppml_lab.fl.certs`) and
SuperNode authentication (EC P-384 keys registered with ``flwr supernode register``).

Threat model of the set-up: a network attacker between sites (TLS), an unregistered machine posing as a
hospital (node authentication), an honest-but-curious SuperLink (SecAgg+ hides individual updates).

Everything runs on 127.0.0.1 with ports picked free at start, a private ``FLWR_HOME`` per launch, no
telemetry and no runtime dependency installation. Every wait is bounded; every process started here runs
in its own process group and is ended by PID on exit, error, Ctrl-C or interpreter shutdown.

Command line: ``python -m ppml_lab.fl.deploy --supernodes 3 --rounds 3`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ppml_lab._validation import (
    check_bool,
    check_delta,
    check_int,
    check_nonnegative,
    check_positive,
    check_type,
)
from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.certs import (
    LOOPBACK,
    NodeKeys,
    TLSFiles,
    check_tls_files,
    generate_node_keys,
    generate_tls_files,
)

__all__ = [
    "DeploymentConfig",
    "DeploymentResult",
    "FlowerDeployment",
    "NodeRefused",
    "run_deployment",
    "dp_epsilon",
    "reference_fedavg",
    "free_port",
    "offline_env",
    "APP_DIR",
]

APP_DIR: Path = Path(__file__).resolve().parent / "flower_app"
_BIN = Path(sys.executable).parent  # the venv's bin (not resolved: the venv python is a symlink)
_CONNECTION_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class NodeRefused(DeploymentError):
    """A SuperNode could not join the federation (the expected outcome of the refusal cases)."""


def offline_env(flwr_home: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every Flower process: private FLWR_HOME, no telemetry, no update checks, no Ray
    usage stats, and this venv's ``bin`` first on PATH (SuperLink/SuperNode spawn ``flwr-serverapp`` and
    ``flwr-clientapp`` by name)."""
    env = dict(os.environ if base is None else base)
    env.update(
        FLWR_HOME=str(flwr_home),
        FLWR_TELEMETRY_ENABLED="0",
        FLWR_DISABLE_UPDATE_CHECK="1",
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONUNBUFFERED="1",
        PATH=f"{_BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",  # the CLI's --format json must stay parseable ...
        TERM="dumb",
    )
    for var in ("FORCE_COLOR", "CLICOLOR_FORCE"):  # ... also under Jupyter, whose kernel sets these
        env.pop(var, None)
    env.setdefault("RAY_TMPDIR", str(Path(flwr_home).parent / "ray_tmp"))
    return env


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the OS reports free on ``host`` right now (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class DeploymentConfig:
    """What to launch. Validated on construction, before any process starts.

    ``threshold`` is SecAgg+'s reconstruction threshold t (2 <= t <= N; default N-1, at least 2) - the
    number of surviving clients whose shares unmask a round. ``min_clients`` is how many clients the
    ServerApp waits for (default: t, so a round completes from t survivors). ``kill_partition`` /
    ``kill_at_round``: kill that SuperNode mid-round (under SecAgg+ as it enters the round's
    collect-masked-vectors stage - its key shares are out, its masked vector is not - otherwise as its local
    training starts) - the dropout experiment. ``certs``: existing TLS files (checked), or None to
    generate them.
    """

    n_supernodes: int = 3
    rounds: int = 3
    local_epochs: int = 5
    lr: float = 0.5
    seed: int = 2026
    secagg: bool = True
    threshold: int | None = None
    secagg_timeout: float = 120.0
    tls: bool = True
    node_auth: bool = True
    dp_noise_multiplier: float = 0.0
    dp_clipping_norm: float = 1.0
    dp_delta: float = 1e-5
    min_clients: int | None = None
    superlink_port: int | None = None
    connection: str = "ppml-local"
    certs: TLSFiles | None = None
    kill_partition: int | None = None
    kill_at_round: int = 1
    startup_timeout: float = 90.0
    run_timeout: float = 300.0

    def __post_init__(self) -> None:
        n = check_int("n_supernodes", self.n_supernodes, low=1, high=64)
        check_int("rounds", self.rounds, low=1)
        check_int("local_epochs", self.local_epochs, low=1)
        check_positive("lr", self.lr)
        check_int("seed", self.seed, low=0)
        check_bool("secagg", self.secagg)
        check_bool("tls", self.tls)
        check_bool("node_auth", self.node_auth)
        check_nonnegative("dp_noise_multiplier", self.dp_noise_multiplier)
        check_positive("dp_clipping_norm", self.dp_clipping_norm)
        check_delta("dp_delta", self.dp_delta, allow_zero=False)
        check_positive("secagg_timeout", self.secagg_timeout)
        check_positive("startup_timeout", self.startup_timeout)
        check_positive("run_timeout", self.run_timeout)
        if self.secagg and n < 2:
            raise ValueError(
                f"n_supernodes must be >= 2 for SecAgg+ (masks cancel only between clients), got {n}; "
                "add SuperNodes or pass secagg=False"
            )
        if self.threshold is not None:
            if not self.secagg:
                raise ValueError("threshold is SecAgg+'s reconstruction threshold; pass secagg=True or threshold=None")
            t = check_int("threshold", self.threshold, low=2)
            if t > n:
                raise ValueError(
                    f"threshold must be <= n_supernodes ({n}): t shares out of n reconstruct a secret, got {t}"
                )
        if self.min_clients is not None:
            check_int("min_clients", self.min_clients, low=1, high=n)
            if self.secagg and self.min_clients < self.effective_threshold:
                raise ValueError(
                    f"min_clients must be >= the SecAgg+ threshold ({self.effective_threshold}), got {self.min_clients}"
                )
        if self.node_auth and not self.tls:
            raise ValueError("node_auth requires tls=True (Flower signs SuperNode requests over TLS only)")
        if self.superlink_port is not None:
            p = check_int("superlink_port", self.superlink_port, low=1024, high=65535)
            if not _port_free(p):
                raise DeploymentError(
                    f"superlink_port {p} is already in use on {LOOPBACK}; stop what holds it or pass superlink_port=None"
                )
        check_type("connection", self.connection, str)
        if not self.connection or not set(self.connection) <= _CONNECTION_CHARS:
            raise ValueError(
                f"connection must be a non-empty name of [a-z0-9-_] (a key in $FLWR_HOME/config.toml), got {self.connection!r}"
            )
        if self.certs is not None:
            if not self.tls:
                raise ValueError("certs were given but tls=False; drop certs or enable TLS")
            check_tls_files(self.certs, host=LOOPBACK)
        if self.kill_partition is not None:
            check_int("kill_partition", self.kill_partition, low=0, high=n - 1)
            check_int("kill_at_round", self.kill_at_round, low=1, high=self.rounds)
            if self.secagg and n - 1 < self.effective_threshold:
                raise ValueError(
                    f"killing a SuperNode leaves {n - 1} clients, below the SecAgg+ threshold "
                    f"{self.effective_threshold}; lower threshold or add SuperNodes"
                )

    @property
    def effective_threshold(self) -> int:
        if not self.secagg:
            return 0
        return self.threshold if self.threshold is not None else max(2, self.n_supernodes - 1)

    @property
    def effective_min_clients(self) -> int:
        if self.min_clients is not None:
            return self.min_clients
        if self.secagg:
            return self.effective_threshold
        return self.n_supernodes - (1 if self.kill_partition is not None else 0)

    def run_config(self, *, results_path: Path, progress_dir: Path, test_path: Path | str = "") -> dict[str, Any]:
        """The ``[tool.flwr.app.config]`` overrides passed to ``flwr run``."""
        return {
            "num-server-rounds": self.rounds,
            "local-epochs": self.local_epochs,
            "learning-rate": float(self.lr),
            "seed": self.seed,
            "num-partitions": self.n_supernodes,
            "min-clients": self.effective_min_clients,
            "secagg-threshold": self.effective_threshold,
            "secagg-timeout": float(self.secagg_timeout),
            "dp-noise-multiplier": float(self.dp_noise_multiplier),
            "dp-clipping-norm": float(self.dp_clipping_norm),
            "results-path": str(results_path),
            "progress-dir": str(progress_dir),
            "test-path": str(test_path),
        }


@dataclass(frozen=True)
class DeploymentResult:
    """What a run produced: per-round centralised metrics, traffic, resources, and what was killed."""

    rounds: list[dict[str, Any]] = field(repr=False)
    final_loss: float
    final_accuracy: float
    clients_per_round: list[int]
    killed_partition: int | None
    seconds: float
    peak_rss_bytes: int
    traffic: list[dict[str, Any]] = field(repr=False)
    config: dict[str, Any] = field(repr=False)
    epsilon: float | None = None  # client-level, at config["dp_delta"]; None without DP

    def bytes_per_round(self) -> dict[int, dict[str, int]]:
        """{round: {"down": bytes server->clients, "up": bytes clients->server}} summed over messages."""
        out: dict[int, dict[str, int]] = {}
        for t in self.traffic:
            try:
                r = int(t["round"])
            except (TypeError, ValueError):
                continue
            d = out.setdefault(r, {"down": 0, "up": 0, "messages": 0})
            d["down"] += int(t["bytes_in"])
            d["up"] += int(t["bytes_out"])
            d["messages"] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# Process bookkeeping: every process started here is ended by PID, also at interpreter exit.
# ----------------------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[FlowerDeployment] = weakref.WeakSet()


def _stop_all_live() -> None:
    for dep in list(_LIVE):
        with contextlib.suppress(Exception):
            dep.stop()


atexit.register(_stop_all_live)


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _same_process(pid: int, create_time: float) -> bool:
    """True if ``pid`` is alive, not a zombie, and started at ``create_time`` (not a reused PID)."""
    import psutil

    try:
        q = psutil.Process(pid)
        return abs(q.create_time() - create_time) < 1e-3 and q.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _end_pids(pids: Sequence[int], *, grace: float = 5.0) -> None:
    """SIGTERM then, after ``grace`` seconds, SIGKILL - only the given PIDs."""
    import psutil

    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    seen: dict[int, float] = field(default_factory=dict)  # descendants observed: pid -> create_time

    def alive(self) -> bool:
        return self.popen.poll() is None


class FlowerDeployment:
    """One SuperLink and N SuperNodes on 127.0.0.1 (a context manager).

    ``start()`` writes certificates, keys and ``$FLWR_HOME/config.toml`` into a fresh work directory,
    starts the SuperLink, registers the SuperNodes' public keys, starts the SuperNodes and waits (bounded)
    until all are online. ``run()`` submits the app and returns a :class:`DeploymentResult`. ``stop()``
    ends every process started, by PID. Use ``with FlowerDeployment(cfg) as dep: dep.run()``.
    """

    def __init__(self, config: DeploymentConfig | None = None, *, workdir: str | Path | None = None,
                 keep_workdir: bool = False) -> None:
        self.config = config if config is not None else DeploymentConfig()
        check_type("config", self.config, DeploymentConfig)
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="ppml-flwr-")) if workdir is None else Path(workdir)
        self.keep_workdir = check_bool("keep_workdir", keep_workdir)
        self.flwr_home = self.workdir / "flwr_home"
        self.env = offline_env(self.flwr_home)
        self.port: int | None = None
        self.tls_files: TLSFiles | None = self.config.certs
        self.node_keys: list[NodeKeys] = []
        self.supernodes: dict[int, _Proc] = {}
        self.site_paths: tuple[str, ...] = ()
        self.test_path = ""
        self._procs: list[_Proc] = []
        self._peak_rss = 0
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._started = False
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
                out.extend(_descendants(p.popen.pid))
        return out

    @property
    def peak_rss_bytes(self) -> int:
        """Highest summed RSS of all processes of this deployment seen by the 0.2 s sampler."""
        return self._peak_rss

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        log = self.workdir / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log, "ab")  # noqa: SIM115 - closed when the process ends (inherited by the child)
        try:
            popen = subprocess.Popen(
                argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                cwd=self.workdir, start_new_session=True,  # own process group: ended as one, never by name
            )
        finally:
            fh.close()
        proc = _Proc(name, popen, log)
        self._procs.append(proc)
        return proc

    def _cli(self, args: list[str], *, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
        """Run a short ``flwr`` CLI command (bounded)."""
        argv = [str(_BIN / "flwr"), *args]
        try:
            res = subprocess.run(argv, env=self.env, cwd=self.workdir, capture_output=True, text=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise DeploymentError(f"`flwr {' '.join(args)}` did not finish within {timeout:.0f} s") from err
        if check and res.returncode != 0:
            raise DeploymentError(
                f"`flwr {' '.join(args)}` failed with code {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
            )
        return res

    def log_tail(self, name: str, chars: int = 3000) -> str:
        p = self.workdir / "logs" / f"{name}.log"
        return p.read_text(errors="replace")[-chars:] if p.exists() else ""

    def _monitor_loop(self) -> None:
        import psutil

        while not self._monitor_stop.wait(0.2):
            total = 0
            for proc in list(self._procs):
                if not proc.alive():
                    continue
                try:
                    root = psutil.Process(proc.popen.pid)
                    family = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for q in family:
                    with contextlib.suppress(psutil.Error):
                        total += q.memory_info().rss
                        proc.seen.setdefault(q.pid, q.create_time())
            self._peak_rss = max(self._peak_rss, total)

    # ---- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """Prepare files, start SuperLink and SuperNodes, wait until every SuperNode is online."""
        if self._started:
            raise DeploymentError(f"this {type(self).__name__} was already started; create a new one")
        self._started = True
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
        self.port = cfg.superlink_port if cfg.superlink_port is not None else free_port()
        self._write_flower_config()
        self._monitor = threading.Thread(target=self._monitor_loop, name="ppml-flwr-rss", daemon=True)
        self._monitor.start()
        self.start_superlink()

    def _start_supernodes(self) -> None:
        """Each hospital's data file, node registration, one SuperNode per hospital; wait until all are online."""
        cfg = self.config
        # Each hospital's data as its own file (a real site points its SuperNode at local data).
        (self.workdir / "data").mkdir(exist_ok=True)
        self.site_paths, self.test_path = _write_site_files(self.workdir / "data", cfg.seed, cfg.n_supernodes)
        if cfg.node_auth:
            for k, keys in enumerate(self.node_keys):
                self._cli(["supernode", "register", str(keys.public_key), cfg.connection, "--name", f"hospital-{k}"],
                          timeout=cfg.startup_timeout)
        for k in range(cfg.n_supernodes):
            self.start_supernode(k)
        self.wait_online(cfg.n_supernodes, timeout=cfg.startup_timeout)

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

    def start_superlink(self) -> _Proc:
        cfg = self.config
        argv = [str(_BIN / "flower-superlink"), "--host", LOOPBACK, "--port", str(self.port),
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
        argv += self._superlink_extra_args()
        proc = self._spawn("superlink", argv)
        deadline = time.monotonic() + cfg.startup_timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise DeploymentError(
                    f"the SuperLink exited with code {proc.popen.returncode} during start-up:\n{self.log_tail('superlink')}"
                )
            if _port_open(int(self.port or 0)):
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

    def start_supernode(
        self, partition_id: int, *, private_key: Path | None | str = "registered", insecure: bool | None = None,
        root_certificates: Path | None | str = "ca", max_wait_time: float | None = None, name: str | None = None,
    ) -> _Proc:
        """Start one SuperNode for ``partition_id``. The keyword arguments build the refusal cases:
        ``private_key=None`` (no key), another key's path (unregistered), ``insecure=True`` (plain text
        against a TLS SuperLink), ``root_certificates=None`` (no CA: the system trust store) or another CA."""
        cfg = self.config
        check_int("partition_id", partition_id, low=0)
        argv = [str(_BIN / "flower-supernode"), "--superlink", self.address, "--port", str(free_port()),
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
            data = _json(res.stdout)
        except json.JSONDecodeError:
            return []
        return list(data.get("nodes", [])) if isinstance(data, dict) else []

    def online_count(self) -> int:
        return sum(1 for n in self.list_nodes() if n.get("status") == "online")

    def wait_online(self, n: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for k, p in self.supernodes.items():
                if not p.alive():
                    raise DeploymentError(
                        f"SuperNode {k} exited with code {p.popen.returncode} before joining:\n{self.log_tail(p.name)}"
                    )
            if self.online_count() >= n:
                return
            time.sleep(3.0)  # each check is a `flwr` CLI process: poll gently on a small machine
        raise DeploymentError(f"{n} SuperNodes were not online within {timeout:.0f} s (see {self.workdir / 'logs'})")

    # ---- run ---------------------------------------------------------------------------------
    def run(self, *, on_round: Callable[[int], None] | None = None) -> DeploymentResult:
        """Submit the app with ``flwr run``, kill a SuperNode if configured, wait for the result file."""
        cfg = self.config
        if not self._started or self.port is None:
            raise DeploymentError("start() the deployment before run()")
        results_path = self.workdir / "results.json"
        progress = self.workdir / "progress"
        overrides = cfg.run_config(results_path=results_path, progress_dir=progress, test_path=self.test_path)
        override_path = self.workdir / "run_config.toml"
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
        res = self._cli(["run", str(APP_DIR), cfg.connection, "--run-config", str(override_path),
                         *self._run_extra_args(), "--format", "json"], timeout=cfg.startup_timeout)
        run_id = _parse_run_id(res.stdout)
        killed: int | None = None
        deadline = t0 + cfg.run_timeout
        last_round_seen = 0
        next_status = t0 + 20.0
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
            if time.monotonic() > next_status:  # a failed ServerApp writes no file: ask, rarely (a CLI call)
                next_status = time.monotonic() + 20.0
                status = self._run_status(run_id)
                if status.startswith("finished:") and status != "finished:completed":
                    time.sleep(1.0)
                    if not results_path.exists():
                        raise DeploymentError(
                            f"run {run_id} ended with status {status}; ServerApp log:\n{self.save_run_log(run_id)[-3000:]}"
                        )
            time.sleep(0.25)
        self.save_run_log(run_id)
        data = json.loads(results_path.read_text())
        traffic = []
        for f in sorted(progress.glob("traffic_p*.jsonl")):
            traffic += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        rounds = list(data["rounds"])
        return DeploymentResult(
            rounds=rounds,
            final_loss=float(data["final_loss"]),
            final_accuracy=float(data["final_accuracy"]),
            clients_per_round=[int(r.get("clients", 0)) for r in rounds],
            killed_partition=killed,
            seconds=time.monotonic() - t0,
            peak_rss_bytes=self._peak_rss,
            traffic=traffic,
            epsilon=(dp_epsilon(noise_multiplier=cfg.dp_noise_multiplier, rounds=len(rounds), delta=cfg.dp_delta)
                     if cfg.dp_noise_multiplier > 0 else None),
            config={k: (str(v) if isinstance(v, (Path, TLSFiles)) else v) for k, v in asdict(cfg).items()},
        )

    def save_run_log(self, run_id: int | None) -> str:
        """Fetch the ServerApp's log of ``run_id`` (``flwr log``) into logs/serverapp.log; returns it."""
        if run_id is None:
            return ""
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
            runs = _json(res.stdout).get("runs", [])
        except (json.JSONDecodeError, AttributeError):
            return ""
        return str(runs[0].get("status", "")) if runs else ""

    def kill_supernode(self, partition_id: int) -> None:
        """Kill one SuperNode and its ClientApps at once (SIGKILL: a crash, not a goodbye)."""
        proc = self.supernodes.get(partition_id)
        if proc is None or not proc.alive():
            raise DeploymentError(f"SuperNode {partition_id} is not running")
        pids = [proc.popen.pid, *_descendants(proc.popen.pid)]
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
        pids: list[int] = []
        for p in self._procs:
            if p.alive():
                pids.append(p.popen.pid)
                pids.extend(_descendants(p.popen.pid))
            # Children seen earlier that may have been re-parented - only if still the same process
            # (same PID *and* start time), never a stranger that reused the PID.
            pids.extend(pid for pid, ctime in p.seen.items() if _same_process(pid, ctime))
        own = os.getpid()
        pids = sorted({pid for pid in pids if pid != own})
        # Children first (ServerApp/ClientApps), then SuperNodes, then the SuperLink.
        _end_pids(list(reversed(pids)), grace=grace)
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
            out |= {pid for pid, ctime in p.seen.items() if _same_process(pid, ctime)}
        return sorted(out)

    # ---- refusal cases -----------------------------------------------------------------------
    def expect_refused(self, proc: _Proc, *, timeout: float = 30.0) -> str:
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
                _end_pids([*_descendants(proc.popen.pid), proc.popen.pid], grace=2.0)


def reference_fedavg(*, n_supernodes: int, rounds: int, local_epochs: int, lr: float, seed: int,
                     drop: dict[int, int] | None = None,
                     update_norms: list[float] | None = None) -> list[tuple[float, float]]:
    """The package's from-scratch FedAvg on the app's own split: (test loss, accuracy) after each round.

    What a deployment or simulation run of the app must reproduce (up to SecAgg+'s quantisation): the
    app's own ``task.py`` (its split of ``n_supernodes`` hospitals for ``seed``, its model, full-batch local
    training), aggregated with :func:`ppml_lab.fl.fedavg.fedavg_aggregate`, C = 1.
    ``drop={site: from_round}`` leaves a site out from that round on (the dropout experiment);
    ``update_norms``, if given, receives ||w_k - w_t|| of every local update (to choose a DP clipping norm).
    """
    import importlib.util

    import numpy as np

    from ppml_lab.fl.fedavg import fedavg_aggregate

    n = check_int("n_supernodes", n_supernodes, low=1)
    r_max = check_int("rounds", rounds, low=1)
    spec = importlib.util.spec_from_file_location("ppml_hospitals_task_reference", APP_DIR / "ppml_hospitals" / "task.py")
    task_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(task_mod)
    sites, (Xte, yte) = task_mod.load_split(int(seed), n)
    task = task_mod.make_task(Xte.shape[1], 2)
    params = task_mod.init_params(task, int(seed))
    out = []
    for r in range(1, r_max + 1):
        active = [s for k, s in enumerate(sites) if (drop or {}).get(k, r_max + 1) > r]
        ups = [task.to_numpy(task_mod.local_train(task, params, s, epochs=local_epochs, lr=lr)) for s in active]
        if update_norms is not None:
            update_norms += [float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(u, params)))) for u in ups]
        params = fedavg_aggregate(ups, np.array([s.n_samples for s in active], dtype=float))  # sum_k n_k/n w_k
        out.append(task_mod.evaluate(task, params, Xte, yte))
    return out


def dp_epsilon(*, noise_multiplier: float, rounds: int, delta: float, sample_rate: float = 1.0) -> float:
    """Hospital-level epsilon of central DP-FedAvg with fixed clipping, by the package's RDP accountant.

    Each round releases the sum of updates clipped to L2 norm C plus N(0, (sigma C)^2) noise (Flower's
    ``DifferentialPrivacyClientSideFixedClipping`` adds sigma C / m to the mean of m updates, the same
    thing): one Gaussian mechanism with sensitivity C for adding or removing a hospital (McMahan et al.
    2018, arXiv:1710.06963, Sec. 3). Every hospital takes part each round here, so q = 1; RDP composes
    over ``rounds`` (Mironov 2017, Prop. 1) and converts to (epsilon, delta) as in Balle et al. 2020.
    """
    from ppml_lab.dp.accountant import RDPAccountant

    check_positive("noise_multiplier", noise_multiplier)
    check_int("rounds", rounds, low=1)
    acc = RDPAccountant()
    acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=rounds)
    return float(acc.get_epsilon(delta))


def _write_site_files(directory: Path, seed: int, n: int) -> tuple[tuple[str, ...], str]:
    """Import the app's task module from APP_DIR (it is not a package on sys.path) and write the files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_ppml_hospitals_task", APP_DIR / "ppml_hospitals" / "task.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file is committed
        raise DeploymentError(f"cannot load the app's task module from {APP_DIR}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_site_files(str(directory), seed, n)


def _json(stdout: str) -> Any:
    """Parse a CLI's JSON output, ignoring ANSI colour codes and any text before the first brace."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stdout)
    start = text.find("{")
    return json.loads(text[start:] if start >= 0 else text)


def _parse_run_id(stdout: str) -> int | None:
    try:
        data = _json(stdout)
    except json.JSONDecodeError:
        return None
    rid = data.get("run-id") if isinstance(data, dict) else None
    return int(rid) if rid is not None else None


def run_deployment(config: DeploymentConfig | None = None, **kwargs: Any) -> DeploymentResult:
    """Start, run and stop a deployment; ``kwargs`` build a :class:`DeploymentConfig` when none is given."""
    if config is None:
        config = DeploymentConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either config or keyword arguments, not both")
    with FlowerDeployment(config) as dep:
        return dep.run()


def _main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ppml_lab.fl.deploy", description=__doc__.split("\n")[0])
    ap.add_argument("--supernodes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--local-epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-secagg", action="store_true", help="plain FedAvg (no SecAgg+)")
    ap.add_argument("--threshold", type=int, default=None, help="SecAgg+ reconstruction threshold")
    ap.add_argument("--insecure", action="store_true", help="no TLS and no node authentication")
    ap.add_argument("--no-node-auth", action="store_true")
    ap.add_argument("--dp-noise-multiplier", type=float, default=0.0)
    ap.add_argument("--dp-clipping-norm", type=float, default=1.0)
    ap.add_argument("--kill-partition", type=int, default=None, help="kill this SuperNode mid-round")
    ap.add_argument("--kill-at-round", type=int, default=1)
    ap.add_argument("--port", type=int, default=None, help="SuperLink port (default: a free one)")
    ap.add_argument("--certs-dir", type=Path, default=None, help="use ca.crt/server.pem/server.key from here")
    ap.add_argument("--run-timeout", type=float, default=300.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    certs = None
    if args.certs_dir is not None:
        d = args.certs_dir
        certs = TLSFiles(ca_cert=d / "ca.crt", server_cert=d / "server.pem", server_key=d / "server.key")
    try:
        cfg = DeploymentConfig(
            n_supernodes=args.supernodes, rounds=args.rounds, local_epochs=args.local_epochs, lr=args.lr,
            seed=args.seed, secagg=not args.no_secagg, threshold=args.threshold, tls=not args.insecure,
            node_auth=not (args.insecure or args.no_node_auth), dp_noise_multiplier=args.dp_noise_multiplier,
            dp_clipping_norm=args.dp_clipping_norm, kill_partition=args.kill_partition,
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
          f"killed_partition={result.killed_partition}")
    if result.epsilon is not None:
        print(f"central DP: noise_multiplier={cfg.dp_noise_multiplier} clipping_norm={cfg.dp_clipping_norm} "
              f"-> epsilon={result.epsilon:.2f} at delta={cfg.dp_delta:g} (hospital-level, RDP accountant)")
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
