"""ClientApp: what each hospital's SuperNode runs. Data never leaves this process; only parameters do.

Mods, outermost first: ``traffic_mod`` logs the bytes each message carries (what crosses the network),
then Flower's ``secaggplus_mod`` masks the update (SecAgg+, Bell et al. 2020, doi:10.1145/3372297.3417885)
when the ServerApp runs the SecAgg+ workflow (``secagg_mod`` skips it otherwise), then client-side clipping
when the run asks for central DP.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from flwr.app import Context, Message
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import fixedclipping_mod, secaggplus_mod
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

from .task import load_site_file, load_split, local_train, make_task, site_name


class HospitalClient(NumPyClient):
    def __init__(self, partition_id: int, num_partitions: int, run_config: dict, data_path: str = "") -> None:
        self.partition_id = partition_id
        self.num_partitions = num_partitions
        self.cfg = run_config
        if data_path:  # deployment: the hospital's own file
            self.site = load_site_file(data_path)
        else:  # simulation: every virtual node derives the same split
            parts, _ = load_split(int(run_config["seed"]), num_partitions, str(run_config["dataset"]))
            self.site = parts[partition_id]
        self.task = make_task(self.site.X.shape[1], int(run_config.get("num-classes", 2)))

    def fit(self, parameters, config):  # noqa: ANN001, ANN201 - Flower's NumPyClient signature
        progress = str(self.cfg.get("progress-dir", ""))
        if progress:
            # A marker the launcher watches to kill a node mid-round (dropout experiment).
            rnd = int(config.get("server-round", 0))
            Path(progress, f"fit_r{rnd}_p{self.partition_id}").write_text(str(time.time()))
        new = local_train(
            self.task, parameters, self.site, epochs=int(self.cfg["local-epochs"]), lr=float(self.cfg["learning-rate"])
        )
        metrics = {"partition-id": self.partition_id, "site": site_name(self.partition_id, self.num_partitions)}
        return self.task.to_numpy(new), self.site.n_samples, metrics


def client_fn(context: Context):  # noqa: ANN201
    pid = int(context.node_config["partition-id"])
    n = int(context.node_config["num-partitions"])
    data_path = str(context.node_config.get("data-path", ""))
    return HospitalClient(pid, n, dict(context.run_config), data_path).to_client()


def _record_bytes(rec) -> int:  # noqa: ANN001
    """Bytes a record carries (Flower's count_bytes; flwr 1.42's fails on an empty list in a ConfigRecord,
    which SecAgg+'s unmask stage sends when nobody dropped, so count those by hand)."""
    try:
        return int(rec.count_bytes())
    except IndexError:
        total = 0
        for key, value in rec.items():
            total += len(key)
            for x in value if isinstance(value, list) else [value]:
                total += len(x) if isinstance(x, (bytes, str)) else 8
        return total


#: Upper bound on a dropout victim's hold (s): the launcher kills it within a poll or two; if it never
#: does, the ClientApp goes on and the round simply counts it (the test then fails visibly, no hang).
HOLD_SECONDS = 120.0


def _hold_if_asked(hold: Path) -> None:
    """Wait (bounded) before handling the message if the launcher left ``hold`` for this node and stage.

    The dropout experiment kills a SuperNode as it enters a stage. Without the hold the kill races the
    ClientApp: the reply of a stage that takes milliseconds often leaves before the launcher (polling every
    0.25 s) acts, so which stage the node "dropped" at was a coin toss. Holding makes the cut exact: the
    node is killed with this stage's message received and no reply sent.
    """
    if not hold.exists():
        return
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)


def traffic_mod(msg: Message, ctx: Context, call_next):  # noqa: ANN001, ANN201
    """Append {stage, bytes_in, bytes_out} for each message to progress-dir/traffic_p<k>.jsonl."""
    t0 = time.perf_counter()
    bytes_in = sum(_record_bytes(rec) for rec in msg.content.values())
    sa_cfg = msg.content.config_records.get(RECORD_KEY_CONFIGS)  # read now: secaggplus_mod pops it
    stage = str(sa_cfg["stage"]) if sa_cfg is not None and "stage" in sa_cfg else "fit"
    progress = str(ctx.run_config.get("progress-dir", ""))
    pid = int(ctx.node_config.get("partition-id", -1))
    if progress:  # "this node entered this stage": the launcher's cue for a mid-round kill
        Path(progress, f"stage_{stage}_r{msg.metadata.group_id}_p{pid}").touch()
        _hold_if_asked(Path(progress, f"hold_{stage}_r{msg.metadata.group_id}_p{pid}"))
    out = call_next(msg, ctx)
    if progress:
        bytes_out = sum(_record_bytes(rec) for rec in out.content.values()) if out.has_content() else 0
        line = {
            "partition_id": int(ctx.node_config.get("partition-id", -1)),
            "round": msg.metadata.group_id,
            "type": msg.metadata.message_type,
            "stage": stage,
            "bytes_in": int(bytes_in),
            "bytes_out": int(bytes_out),
            "seconds": time.perf_counter() - t0,
            "pid": os.getpid(),
        }
        with open(Path(progress, f"traffic_p{line['partition_id']}.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
    return out


def secagg_mod(msg: Message, ctx: Context, call_next):  # noqa: ANN001, ANN201
    """Flower's ``secaggplus_mod`` for the messages of the SecAgg+ workflow; others pass straight through.

    flwr 1.42's mod does not pass a plain FedAvg train message through: it indexes the SecAgg+ config
    record unconditionally and the KeyError fails every client, so without this guard a run with
    ``secagg-threshold = 0`` (plain FedAvg, e.g. central DP alone) aggregated 0 clients each round.
    """
    if RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, ctx, call_next)
    return call_next(msg, ctx)


def dp_clip_mod(msg: Message, ctx: Context, call_next):  # noqa: ANN001, ANN201
    """Flower's client-side fixed clipping (||w_k - w_t|| <= C) when the run asks for central DP.

    It runs inside secaggplus_mod, so the update is clipped before it is masked - the combination
    of Flower's DP + SecAgg+ example (the server adds the Gaussian noise to the masked-then-unmasked sum).
    """
    if float(ctx.run_config.get("dp-noise-multiplier", 0.0)) > 0:
        return fixedclipping_mod(msg, ctx, call_next)
    return call_next(msg, ctx)


app = ClientApp(client_fn=client_fn, mods=[traffic_mod, secagg_mod, dp_clip_mod])
