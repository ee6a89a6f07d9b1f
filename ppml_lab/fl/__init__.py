"""Federated learning from scratch: partitions, FedAvg/FedProx, baselines, and a Flower adapter.

- :mod:`ppml_lab.fl.partition`: IID, label-skew (Dirichlet alpha) and quantity-skew client splits,
  label histograms.
- :mod:`ppml_lab.fl.models`: small tasks (numpy softmax regression, torch MLP) with local training.
- :mod:`ppml_lab.fl.fedavg`: :func:`fedavg_aggregate` (pure), :class:`FedAvgServer` (C, E, B, lr, mu,
  pluggable aggregation), local-only and centralised baselines.
- :mod:`ppml_lab.fl.flower_sim`: the same run in Flower's simulation engine (imports flwr/Ray on use).

Only numpy-level modules are imported here; torch and flwr load when a task or the adapter is used.
"""

from ppml_lab.fl.fedavg import (
    FedAvgServer,
    History,
    UpdateMismatchError,
    derive_seed,
    fedavg_aggregate,
    run_fedavg,
    train_centralised,
    train_local_only,
)
from ppml_lab.fl.models import SoftmaxRegression, TorchMLP
from ppml_lab.fl.partition import label_histogram, make_clients, partition, plot_label_histograms

__all__ = [
    "FedAvgServer",
    "History",
    "UpdateMismatchError",
    "derive_seed",
    "fedavg_aggregate",
    "run_fedavg",
    "train_centralised",
    "train_local_only",
    "SoftmaxRegression",
    "TorchMLP",
    "label_histogram",
    "make_clients",
    "partition",
    "plot_label_histograms",
]
