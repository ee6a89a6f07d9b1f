"""The course's Flower app (:mod:`ppml_lab.fl.flower_app`), unchanged, in Flower's simulation engine.

The same ServerApp and ClientApp files that :mod:`ppml_lab.fl.deploy` submits to SuperNodes on the
Deployment Engine run here as virtual SuperNodes: Flower's simulation runtime gives each one a node config
``partition-id=k num-partitions=N`` and the ClientApp derives its hospital's share of the split from the
run's seed, as the ServerApp derives the held-out split. FedAvg is McMahan et al. 2017 (arXiv:1602.05629);
SecAgg+ and central DP are as in :mod:`ppml_lab.fl.deploy`. Threat model: none - every virtual hospital
lives in one machine's processes; this is the reference run the deployment is compared against.

Route measured to work offline on flwr 1.42: this module starts
``flower-superlink --simulation --disable-runtime-dependency-installation`` itself on 127.0.0.1 (a free
port, a private ``FLWR_HOME``) and submits the app with ``flwr run <app> <connection> --run-config ...
--federation-config "num-supernodes=N ..."``. The CLI's own managed local SuperLink (a connection with
``address = ":local:"``) is not used: it is started detached, on fixed ports, and without that flag, so it
runs ``uv sync`` for the app and fails offline (exit code 608: ``ppml-lab`` is not in a package registry).

Ray is kept to one actor (``client_num_cpus`` = ``ray_num_cpus`` = 2 by default). Every wait is bounded and
every process started here (SuperLink, SuperExec, the simulation runtime and Ray's processes under it) is
ended by PID and dies with the launcher - see :class:`ppml_lab.fl.deploy.FlowerDeployment`, whose
bookkeeping this reuses.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ppml_lab._validation import check_int, check_type
from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.deploy.config import DeploymentConfig, DeploymentResult
from ppml_lab.fl.deploy.engine import FlowerDeployment

__all__ = ["FlowerSimulation", "run_simulation_reference"]

#: Ray's message when its raylet did not register in time (ray 2.x, ray/_private/node.py).
_RAY_START_TIMEOUT = "timed out during startup"


class FlowerSimulation(FlowerDeployment):
    """A SuperLink in simulation mode on 127.0.0.1 that runs the course's app on N virtual SuperNodes.

    ``config.n_supernodes`` is the number of virtual SuperNodes (hospitals). There is no network between
    them, so ``config`` must have ``tls=False``, ``node_auth=False`` and no ``kill_partition``.
    ``client_num_cpus`` is the CPUs Ray reserves per ClientApp and ``ray_num_cpus`` the CPUs Ray may use
    (default: ``client_num_cpus``, i.e. one actor runs the virtual clients one after another).
    Use ``with FlowerSimulation(cfg) as sim: sim.run()``.
    """

    def __init__(self, config: DeploymentConfig | None = None, *, client_num_cpus: int = 2,
                 ray_num_cpus: int | None = None, workdir: str | Path | None = None,
                 keep_workdir: bool = False) -> None:
        if config is None:
            config = DeploymentConfig(tls=False, node_auth=False)
        check_type("config", config, DeploymentConfig)
        if config.tls or config.node_auth:
            raise ValueError(
                "a simulation has no network between hospitals: pass a DeploymentConfig with tls=False and "
                f"node_auth=False, got tls={config.tls}, node_auth={config.node_auth}"
            )
        if config.kill_partition is not None:
            raise ValueError(
                "kill_partition kills a SuperNode process; virtual SuperNodes have none - use "
                "ppml_lab.fl.deploy for the dropout experiment, or pass kill_partition=None"
            )
        self.client_num_cpus = check_int("client_num_cpus", client_num_cpus, low=1)
        self.ray_num_cpus = (self.client_num_cpus if ray_num_cpus is None
                             else check_int("ray_num_cpus", ray_num_cpus, low=self.client_num_cpus))
        super().__init__(config, workdir=workdir, keep_workdir=keep_workdir)

    def __repr__(self) -> str:
        alive = sum(p.alive() for p in self._procs)
        return (f"FlowerSimulation(n_supernodes={self.config.n_supernodes}, port={self.port}, "
                f"processes_alive={alive})")

    def _inprocess_apps(self) -> bool:
        return False  # the simulation runtime is started by flower-superexec (subprocess isolation)

    def _superlink_extra_args(self) -> list[str]:
        return ["--simulation"]

    def _run_extra_args(self) -> list[str]:
        # Flower's SimulationConfig, one key=value per field (flwr/proto/federation_config.proto).
        fed = (f"num-supernodes={self.config.n_supernodes} client-resources-num-cpus={self.client_num_cpus} "
               f"client-resources-num-gpus=0.0 init-args-num-cpus={self.ray_num_cpus} init-args-num-gpus=0")
        return ["--federation-config", fed]

    def _start_supernodes(self) -> None:
        """Nothing to start: the virtual SuperNodes live inside the simulation runtime the SuperLink runs."""

    def _has_supernodes(self) -> bool:
        return False  # the app's simulation path splits the data itself: no data files to write

    def run(self, *, on_round: Callable[[int], None] | None = None, app_dir: str | Path | None = None,
            app_signature: str | None = None) -> DeploymentResult:
        """Submit the app, wait (bounded) for its result file, then for the simulation runtime to shut Ray
        down by itself (a clean ``ray.shutdown()`` rather than signals to Ray's processes from ``stop()``).

        Ray gives its raylet a fixed 30 s to register (``ray/_private/node.py``), which a loaded 2-CPU
        machine can miss; the run then fails before any client trained (Flower exit code 700). That case
        alone is submitted once more, as :mod:`ppml_lab.fl.flower_sim` retries ``ray.init`` once. ``app_dir`` /
        ``app_signature``: as :meth:`FlowerDeployment.run` (another app, and its signature).
        """
        for attempt in (1, 2):
            try:
                result = super().run(on_round=on_round, app_dir=app_dir, app_signature=app_signature)
            except DeploymentError as err:
                self._wait_runtime_exit(timeout=60.0)
                if attempt == 2 or _RAY_START_TIMEOUT not in str(err):
                    raise
                logging.getLogger(__name__).warning("Ray did not start in the simulation runtime; resubmitting once")
                continue
            self._wait_runtime_exit(timeout=60.0)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_runtime_exit(self, *, timeout: float) -> None:
        import psutil

        sl = self._procs[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and sl.alive():
            try:
                below = psutil.Process(sl.popen.pid).children(recursive=True)
            except psutil.Error:
                return
            busy = []
            for q in below:
                with contextlib.suppress(psutil.Error):
                    cmd = " ".join(q.cmdline())  # the SuperLink itself runs under the reaper shim: not busy
                    if q.status() != psutil.STATUS_ZOMBIE and "superexec" not in cmd and "superlink_guard" not in cmd:
                        busy.append(q.pid)
            if not busy:  # only the SuperExec is left: the run's runtime and Ray are gone
                return
            time.sleep(0.25)


def run_simulation_reference(config: DeploymentConfig | None = None, *, client_num_cpus: int = 2,
                             ray_num_cpus: int | None = None, **kwargs: Any) -> DeploymentResult:
    """Run the course's Flower app in Flower's simulation engine and return the ServerApp's final metrics.

    ``kwargs`` build a :class:`~ppml_lab.fl.deploy.DeploymentConfig` when no ``config`` is given
    (``n_supernodes``, ``rounds``, ``local_epochs``, ``lr``, ``rng``, ``dp_noise_multiplier``, ...); TLS
    and node authentication are off (there is no network between virtual hospitals) and so is SecAgg+
    unless ``secagg=True`` is passed. ``run_simulation_reference(n_supernodes=3, rounds=2)`` runs plain
    FedAvg and equals :func:`ppml_lab.fl.fedavg.fedavg_aggregate` applied round by round to the same split
    (tests/fl/test_app_simulation.py). With ``secagg=True`` the four SecAgg+ stages run, but on a 2-CPU
    machine round 1 was measured to aggregate 0 clients (round 2 all of them), which now ends the run with
    :class:`~ppml_lab.fl.deploy.RoundFailedError` rather than a result: compare SecAgg+ on the Deployment
    Engine instead. Every process started is ended before this returns.
    """
    if config is None:
        kwargs.setdefault("tls", False)
        kwargs.setdefault("node_auth", False)
        kwargs.setdefault("secagg", False)  # the reference is plain FedAvg; SecAgg+ only on request
        config = DeploymentConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either config or keyword arguments, not both")
    with FlowerSimulation(config, client_num_cpus=client_num_cpus, ray_num_cpus=ray_num_cpus) as sim:
        return sim.run()
