"""ServerApp: FedAvg over the hospitals' SuperNodes, optionally under SecAgg+ and central DP.

Route measured to work on flwr 1.42: the legacy ``FedAvg`` strategy in a ``LegacyContext`` driven by
``DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(...))`` with NumPyClients + ``secaggplus_mod``.
SecAgg+ (Bell et al. 2020, doi:10.1145/3372297.3417885): each client adds pairwise masks that cancel in
the sum and a self-mask whose seed is Shamir-shared with t-out-of-n threshold; the server learns only the
sum of the (quantised, weighted) updates, and dropped clients' masks are removed from >= t shares.
Threat model: honest-but-curious server and up to t-1 colluding clients; it does not protect the sum.

The final metrics (centralised loss/accuracy on the held-out split per round, clients per round) go to
``results-path`` as JSON - the launcher reads that file.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from flwr.app import Context
from flwr.common import ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from .task import evaluate, init_params, load_site_file, load_split, make_task

app = ServerApp()


class _DPRecordingFailures(DifferentialPrivacyClientSideFixedClipping):
    """Flower's central-DP wrapper, unchanged, that also records how many clients failed each round.

    Flower's ``aggregate_fit`` returns no model for a round with *any* failure (a dropout included), so
    the round aggregates nobody; the count lets the launcher say why (``DPRoundDiscardedError``).
    """

    def __init__(self, *args, failures_out: dict, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._failures_out = failures_out

    def aggregate_fit(self, server_round, results, failures):  # noqa: ANN001, ANN201
        if failures:
            self._failures_out[int(server_round)] = len(failures)
        return super().aggregate_fit(server_round, results, failures)


def _fit_metrics(results: list) -> dict:
    # Under SecAgg+ these are the survivors whose masked vectors were summed in this round.
    return {"clients": len(results), "examples": int(sum(n for n, _ in results))}


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    rounds = int(cfg["num-server-rounds"])
    num_partitions = int(cfg["num-partitions"])
    min_clients = int(cfg["min-clients"])
    seed = int(cfg["seed"])
    threshold = int(cfg["secagg-threshold"])
    noise = float(cfg["dp-noise-multiplier"])

    test_path = str(cfg.get("test-path", ""))
    if test_path:  # deployment: the launcher wrote the held-out split
        test = load_site_file(test_path)
        Xte, yte = test.X, test.y
    else:
        _, (Xte, yte) = load_split(seed, num_partitions, str(cfg["dataset"]))
    task = make_task(Xte.shape[1], int(cfg.get("num-classes", 2)))
    history_rows: list[dict] = []

    def central_eval(server_round: int, ndarrays, _config):  # noqa: ANN001, ANN202
        loss, acc = evaluate(task, ndarrays, Xte, yte)
        history_rows.append({"round": server_round, "loss": loss, "accuracy": acc, "time": time.time()})
        return loss, {"accuracy": acc}

    strategy: Strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,  # centralised evaluation only: one fewer ClientApp process per round
        min_fit_clients=min_clients,
        min_evaluate_clients=0,
        min_available_clients=min_clients,
        initial_parameters=ndarrays_to_parameters(init_params(task, seed)),
        evaluate_fn=central_eval,
        on_fit_config_fn=lambda r: {"server-round": r},
        fit_metrics_aggregation_fn=_fit_metrics,
    )
    dp_failures: dict[int, int] = {}
    if noise > 0:
        # Central DP, McMahan et al. 2018 (arXiv:1710.06963): clients clip ||Delta_k|| <= C (the mod),
        # the server adds N(0, (sigma C / m)^2) to the mean of m clipped updates.
        strategy = _DPRecordingFailures(
            strategy, noise_multiplier=noise, clipping_norm=float(cfg["dp-max-update-norm"]),
            num_sampled_clients=min_clients, failures_out=dp_failures,
        )
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
    if threshold > 0:
        timeout = float(cfg["secagg-timeout"])
        fit_workflow = SecAggPlusWorkflow(
            num_shares=1.0,  # every client shares its secrets with every other (small federations)
            reconstruction_threshold=threshold,
            timeout=timeout if timeout > 0 else None,
        )
        workflow = DefaultWorkflow(fit_workflow=fit_workflow)
    else:
        workflow = DefaultWorkflow()
    t0 = time.time()
    workflow(grid, legacy)

    fit = legacy.history.metrics_distributed_fit
    clients = {r: int(v) for r, v in fit.get("clients", [])}
    rounds_out = [row for row in history_rows if row["round"] > 0]
    for row in rounds_out:
        row["clients"] = clients.get(row["round"], 0)
        if row["round"] in dp_failures:  # central DP saw failed clients this round (and then discarded it)
            row["dp_failures"] = dp_failures[row["round"]]
    result = {
        "rounds": rounds_out,
        "initial": next((r for r in history_rows if r["round"] == 0), None),
        "final_loss": rounds_out[-1]["loss"] if rounds_out else None,
        "final_accuracy": rounds_out[-1]["accuracy"] if rounds_out else None,
        "secagg_threshold": threshold,
        "dp_noise_multiplier": noise,
        "seconds": time.time() - t0,
        "serverapp_pid": os.getpid(),
    }
    path = str(cfg.get("results-path", ""))
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(path)  # atomic: the launcher never reads half a file
