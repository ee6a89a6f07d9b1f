"""The same FedAvg / FedProx run in Flower's simulation engine, for a side-by-side check of our loop.

:func:`run_flower_simulation` takes exactly the arguments of :func:`ppml_lab.fl.fedavg.run_fedavg` and
runs them as a Flower app on the pinned flwr (1.42) with its current Message API: a ``ClientApp`` whose
``@app.train()`` handler is one hospital's ClientUpdate, and a ``ServerApp`` driving Flower's own
``FedAvg`` (or ``FedProx`` when ``mu > 0``) strategy through ``strategy.start``. Flower does the
messaging, the virtual SuperNodes (Ray actors), the weighted aggregation (``aggregate_arrayrecords``)
and the round loop; we supply the task.

What is kept identical to our :class:`~ppml_lab.fl.fedavg.FedAvgServer`, so the two runs are the same
experiment and differ only in the engine:

- partitions: SuperNode ``partition-id`` k serves ``clients[k]`` (the node learns its id from Flower's
  node config; the server asks each node for it once, in a ``query`` message, to map node ids to sites);
- initial weights, client sampling (fraction C) and every local mini-batch order: the server side builds
  a :class:`FedAvgServer` with the same ``rng`` and uses its ``base_seed``, its initial parameters and its
  ``sample_clients()``; clients shuffle with ``derive_seed(base_seed, round, k)``;
- hyper-parameters: E, B, lr, mu travel in the train ``ConfigRecord`` (FedProx's ``proximal-mu`` is the
  key Flower's ``FedProx`` strategy sets);
- aggregation order: replies are sorted by partition id before Flower aggregates them, so the
  floating-point sum does not depend on which actor answered first.

Differences that remain: Flower sums float32 models in float32 where ours accumulates in float64 (about
1e-7 relative for the torch MLP; float64 models agree to rounding). Wall time includes starting Ray
(seconds): that is the cost the benchmark ``benchmarks/fl.py`` measures.

Memory (measured for the issue on this machine, flwr 1.42 / Ray 2.55): about 875 MiB fixed plus about
255 MiB per Ray actor. ``num_actors=1`` (the default) keeps the run inside Binder's 2 GB.

Threat model: none - this is a simulation on one machine; see notebooks 09-12 for what FL leaks and how
secure aggregation, DP and the Deployment Engine address it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ppml_lab._rng import RNGLike
from ppml_lab._validation import check_bool, check_int, check_positive
from ppml_lab.fl.fedavg import FedAvgServer, History, as_clients, derive_seed
from ppml_lab.fl.models import Task

__all__ = ["FlowerRun", "run_flower_simulation", "offline_flower_env"]

_OFFLINE_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",  # no telemetry events
    "FLWR_DISABLE_UPDATE_CHECK": "1",  # no version check against the network
    "RAY_USAGE_STATS_ENABLED": "0",  # no Ray usage report
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",  # CPU only: silences a FutureWarning on every start
}


def offline_flower_env() -> None:
    """Set Flower's and Ray's offline switches in this process (kept if the caller already set them)."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def _scalar(record: Any, key: str, kind: type[int] | type[float]) -> Any:
    """One number from a Flower ConfigRecord (its values are typed as a union of scalars and lists)."""
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Flower record value {key!r} must be a number, got {type(value).__name__} {value!r}")
    return kind(value)


@dataclass
class FlowerRun:
    """A Flower simulation's outcome: the per-round :class:`History` (same fields as ours) and costs.

    ``seconds`` is the wall time of ``run_simulation`` (Ray start-up and shut-down included);
    ``bytes_up``/``bytes_down`` in the history are the sizes of the ``ArrayRecord`` s Flower sent and
    received (its own serialisation, ``count_bytes``), not a formula.
    """

    history: History
    seconds: float
    num_actors: int
    node_partition: dict[int, int]

    @property
    def final_accuracy(self) -> float:
        return self.history.final_accuracy

    def __repr__(self) -> str:
        return (f"FlowerRun({self.history.label!r}, {len(self.history.rounds) - 1} rounds, final accuracy "
                f"{self.final_accuracy:.4f}, {self.seconds:.1f} s, {self.num_actors} Ray actor(s))")


@contextmanager
def _quiet_flower(verbose: bool) -> Any:
    """Flower logs every round at INFO and warns that ``run_simulation`` is deprecated; keep notebooks calm."""
    logger = logging.getLogger("flwr")
    old = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _client_app(task: Task, clients: list, local_epochs: int, batch_size: int | None, lr: float) -> Any:
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.query()
    def whoami(msg: Message, context: Context) -> Message:
        """Tell the server which hospital this virtual SuperNode is (its Flower partition id)."""
        pid = int(context.node_config["partition-id"])
        return Message(RecordDict({"partition": MetricRecord({"partition-id": pid})}), reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        """ClientUpdate(k, w) of McMahan et al. 2017, Alg. 1: E epochs of mini-batch SGD from w."""
        pid = int(context.node_config["partition-id"])
        site = clients[pid]
        cfg = msg.content.config_records["config"]
        params = task.from_numpy(msg.content.array_records["arrays"].to_numpy_ndarrays())
        seed = derive_seed(_scalar(cfg, "base-seed", int), _scalar(cfg, "server-round", int), pid)
        mu = _scalar(cfg, "proximal-mu", float) if "proximal-mu" in cfg else 0.0
        new = task.train(params, site.X, site.y, epochs=local_epochs, batch_size=batch_size, lr=lr,
                         mu=mu, rng=seed)
        reply = RecordDict({
            "arrays": ArrayRecord(numpy_ndarrays=task.to_numpy(new)),
            "metrics": MetricRecord({"num-examples": int(site.n_samples), "partition-id": pid}),
        })
        return Message(reply, reply_to=msg)

    return app


def _server_app(ours: FedAvgServer, history: History, mapping: dict[int, int], rounds: int,
                timeout: float, progress: bool) -> Any:
    from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg, FedProx

    task = ours.task
    n_clients = ours.n_clients
    base = FedProx if ours.mu > 0 else FedAvg

    class SameSamplingStrategy(base):  # type: ignore[misc, valid-type]
        """Flower's FedAvg/FedProx; only *which* sites train is taken from our sampler, and replies are
        aggregated in partition order. Aggregation itself is Flower's ``aggregate_train``."""

        def configure_train(self, server_round: int, arrays: Any, config: Any, grid: Any) -> Iterable[Any]:
            if ours.mu > 0:
                config["proximal-mu"] = float(ours.mu)  # the key Flower's FedProx sends
            config["server-round"] = server_round
            config["base-seed"] = int(ours.base_seed)
            selected = [int(k) for k in ours.sample_clients()]
            node_of = {pid: nid for nid, pid in mapping.items()}
            history_pending["selected"] = tuple(selected)
            history_pending["down"] = int(arrays.count_bytes()) * len(selected)
            record = RecordDict({"arrays": arrays, "config": config})
            return [Message(record, dst_node_id=node_of[k], message_type=MessageType.TRAIN) for k in selected]

        def aggregate_train(self, server_round: int, replies: Iterable[Any]) -> Any:
            replies = list(replies)
            errors = [m for m in replies if m.has_error()]
            if errors:
                raise RuntimeError(
                    f"Flower round {server_round}: {len(errors)} client(s) failed: {errors[0].error.reason}"
                )
            replies.sort(key=lambda m: int(m.content["metrics"]["partition-id"]))
            history_pending["up"] = int(sum(m.content["arrays"].count_bytes() for m in replies))
            return super().aggregate_train(server_round, replies)

    history_pending: dict[str, Any] = {"selected": (), "down": 0, "up": 0}
    bar: Any = None

    def evaluate_fn(server_round: int, arrays: Any) -> Any:
        """Centralised evaluation on the held-out set with *our* evaluate, so the curves compare like for like."""
        if server_round == 0:
            return MetricRecord({"accuracy": history.accuracy[0], "loss": history.loss[0]})
        params = task.from_numpy(arrays.to_numpy_ndarrays())
        ours.params = params
        loss, acc = ours.evaluate(params)
        history.record(server_round, loss, acc, history_pending["up"], history_pending["down"],
                       history_pending["selected"])
        if bar is not None:
            bar.update(1)
        return MetricRecord({"accuracy": acc, "loss": loss})

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Any) -> None:
        nonlocal bar
        deadline = time.monotonic() + timeout
        while len(node_ids := list(grid.get_node_ids())) < n_clients:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(node_ids)} of {n_clients} Flower SuperNodes came up in {timeout:g} s")
            time.sleep(0.05)
        asks = [Message(RecordDict({"config": ConfigRecord({})}), dst_node_id=nid, message_type=MessageType.QUERY)
                for nid in node_ids]
        for reply in grid.send_and_receive(asks, timeout=timeout):
            if reply.has_error():
                raise RuntimeError(f"Flower SuperNode {reply.metadata.src_node_id} failed: {reply.error.reason}")
            mapping[reply.metadata.src_node_id] = _scalar(reply.content.metric_records["partition"], "partition-id", int)
        if sorted(mapping.values()) != list(range(n_clients)):
            raise RuntimeError(f"Flower partitions {sorted(mapping.values())} do not cover 0..{n_clients - 1}")
        kwargs: dict[str, Any] = {"fraction_train": ours.fraction, "fraction_evaluate": 0.0,
                                  "min_train_nodes": 1, "min_evaluate_nodes": 0, "min_available_nodes": n_clients}
        if ours.mu > 0:
            kwargs["proximal_mu"] = ours.mu
        strategy = SameSamplingStrategy(**kwargs)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=rounds, desc=history.label, leave=False)
        try:
            strategy.start(grid=grid, initial_arrays=ArrayRecord(numpy_ndarrays=task.to_numpy(ours.params)),
                           num_rounds=rounds, timeout=timeout, evaluate_fn=evaluate_fn)
        finally:
            if bar is not None:
                bar.close()

    return app


def _start_ray(cpus: int, verbose: bool, attempts: int = 2) -> None:
    """``ray.init`` with one retry: Ray gives its raylet a fixed 30 s to register, which a loaded 2-CPU
    machine (or Binder) can miss once; a second start usually succeeds. Raises RuntimeError after that."""
    import ray

    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}}
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=cpus, num_gpus=0, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=verbose, runtime_env=env,
                     # no idle worker processes started ahead of need: about 75 MiB less at peak with
                     # one actor (measured), which keeps notebook 08 inside Binder's memory
                     _system_config={"enable_worker_prestart": False, "prestart_worker_first_driver": False})
            return
        except Exception as err:  # Ray raises bare Exception when its processes do not come up
            if ray.is_initialized():
                ray.shutdown()
            if attempt == attempts:
                raise RuntimeError(
                    f"Ray (Flower's simulation engine) failed to start {attempts} times: {err} Is the machine "
                    "overloaded, or RAY_TMPDIR on a full disk? Nothing of the FL run has started."
                ) from err
            logging.getLogger(__name__).warning("Ray did not start (%s); retrying once", err)


def run_flower_simulation(
    task: Task,
    clients: Any,
    *,
    rounds: int,
    test: tuple[Any, Any],
    fraction: float = 1.0,
    local_epochs: int = 1,
    batch_size: int | None = 32,
    lr: float = 0.1,
    mu: float = 0.0,
    initial_params: Any = None,
    rng: RNGLike = None,
    label: str | None = None,
    num_actors: int = 1,
    timeout: float = 600.0,
    progress: bool = False,
    verbose: bool = False,
) -> FlowerRun:
    """Run FedAvg (FedProx if ``mu > 0``) in Flower's simulation engine; same arguments as ``run_fedavg``.

    ``num_actors`` Ray actors execute the ClientApps (each costs about 255 MiB; 1 fits Binder). ``rng``
    must be an int seed for the Flower and our run to be comparable (None draws a fresh CSPRNG seed).
    ``timeout`` bounds every wait for replies. Returns a :class:`FlowerRun`; raises ``RuntimeError`` when a
    client fails inside Flower, with the client's error message.
    """
    check_int("rounds", rounds, low=1)
    n_actors = check_int("num_actors", num_actors, low=1)
    check_positive("timeout", timeout)
    check_bool("progress", progress)
    check_bool("verbose", verbose)
    cs = as_clients(clients)
    if n_actors > len(cs):
        raise ValueError(f"num_actors must be <= the number of clients ({len(cs)}), got {n_actors}")
    # Our server object supplies the seeds, initial weights and sampler (and validates every argument).
    ours = FedAvgServer(task, cs, test=test, fraction=fraction, local_epochs=local_epochs, batch_size=batch_size,
                        lr=lr, mu=mu, initial_params=initial_params, rng=rng,
                        label=label or f"Flower {'FedProx' if mu > 0 else 'FedAvg'} (C={fraction:g}, E={local_epochs}, B={batch_size})")
    history = ours.history
    mapping: dict[int, int] = {}

    offline_flower_env()
    import ray
    from flwr.simulation import run_simulation

    cpus = max(1, os.cpu_count() or 1)
    # one actor per `num_cpus` share: num_actors actors in total
    backend_config: dict[str, dict[str, Any]] = {
        "client_resources": {"num_cpus": max(cpus / n_actors, 1e-3), "num_gpus": 0.0}}
    client_app = _client_app(task, cs, int(local_epochs), batch_size, float(lr))
    server_app = _server_app(ours, history, mapping, int(rounds), float(timeout), progress)
    t0 = time.perf_counter()
    # Start Ray ourselves (Flower reuses a running Ray): a Ray that fails to start then raises here, before
    # Flower's ServerApp thread exists to wait for nodes that never answer. Workers get our sys.path
    # (Flower would otherwise append it to os.environ["PYTHONPATH"] on every call).
    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(cpus, verbose)
    try:
        with _quiet_flower(verbose):
            run_simulation(server_app=server_app, client_app=client_app, num_supernodes=len(cs),
                           backend_config=backend_config, verbose_logging=verbose)
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()  # Flower shuts Ray down after a run; this covers errors on the way
    seconds = time.perf_counter() - t0
    if len(history.rounds) != rounds + 1:
        raise RuntimeError(
            f"the Flower simulation finished {len(history.rounds) - 1} of {rounds} rounds; run with verbose=True "
            "to see Flower's and Ray's logs"
        )
    return FlowerRun(history=history, seconds=seconds, num_actors=n_actors, node_partition=dict(mapping))

