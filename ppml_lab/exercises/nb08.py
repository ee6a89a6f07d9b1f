"""Exercise checks for notebook 08 (federated learning from scratch)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ppml_lab.exercises import CheckResult, failed, not_answered, passed

#: Three hospitals' one-parameter-vector "models" and their sample counts (exercise 1).
EXERCISE_UPDATES: tuple[tuple[float, ...], ...] = ((1.0, 2.0, 0.0), (3.0, 6.0, 1.0), (10.0, 0.0, -2.0))
# (not the counts of the notebook's Part 2 demonstration, which prints its weighted mean)
EXERCISE_COUNTS: tuple[int, ...] = (10, 60, 30)

#: Exercise 2: the torch MLP of the notebook, five hospitals, fraction C = 0.6.
MLP_SHAPE = {"n_features": 64, "n_classes": 10, "hidden": 32}
N_CLIENTS, FRACTION = 5, 0.6

#: Exercise 3: the seed of the data split the leaky update comes from.
SPLIT_SEED = 2026


def _weighted_mean() -> np.ndarray:
    w = np.asarray(EXERCISE_COUNTS, dtype=float)
    return (w[:, None] * np.asarray(EXERCISE_UPDATES)).sum(axis=0) / w.sum()


def check_weighted_mean(answer: Any) -> CheckResult:
    """FedAvg of EXERCISE_UPDATES weighted by EXERCISE_COUNTS."""
    name = "FedAvg by hand"
    if answer is None:
        return not_answered(name, "Weight each update by n_k / n and add them up (or call fedavg_aggregate).")
    try:
        value = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        return failed(name, f"expected three numbers, got {answer!r}")
    truth = _weighted_mean()
    if value.shape != truth.shape:
        return failed(name, f"expected 3 numbers, got {value.size}")
    if np.allclose(value, truth, atol=1e-6):
        return passed(name, f"{np.round(truth, 4).tolist()} — the big hospital counts most.")
    if np.allclose(value, np.mean(EXERCISE_UPDATES, axis=0), atol=1e-6):
        return failed(name, "that is the unweighted mean", "FedAvg weights each client by its sample count n_k.")
    return failed(name, f"{value.tolist()} is not the weighted mean", "sum_k (n_k / n) * w_k with n = sum_k n_k.")


def _mlp_bytes() -> int:
    d, k, h = MLP_SHAPE["n_features"], MLP_SHAPE["n_classes"], MLP_SHAPE["hidden"]
    return 4 * (d * h + h + h * k + k)  # float32


def _clients_per_round() -> int:
    return max(1, int(round(FRACTION * N_CLIENTS)))


def check_bytes_per_round(answer: Any) -> CheckResult:
    """Bytes moved in one round (down to and up from every sampled client) for the notebook's MLP."""
    name = "bytes per round"
    if answer is None:
        return not_answered(name, "Model bytes (float32 = 4 bytes per parameter) x sampled clients x 2 directions.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return failed(name, f"expected a number of bytes, got {answer!r}")
    m, b = _clients_per_round(), _mlp_bytes()
    truth = 2 * m * b
    if value == truth:
        return passed(name, f"{truth:,} bytes: {m} clients x {b:,} bytes x 2 directions.")
    if value == m * b:
        return failed(name, "that is one direction only", "Each sampled client downloads AND uploads the model.")
    if value == 2 * N_CLIENTS * b:
        return failed(name, "that counts all five hospitals", f"Only m = max(C*K, 1) = {m} clients take part in a round.")
    if value in (2 * m * 2 * b, 2 * m * b // 4):
        return failed(name, "check the bytes per parameter", "torch parameters are float32: 4 bytes each.")
    return failed(name, f"{value:,.0f} is not it", "Count parameters: 64*32 + 32 + 32*10 + 10.")


@lru_cache(maxsize=1)
def exercise_update() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(global model, model after one full-batch step) of a client that holds ONE record."""
    from ppml_lab.data import load_dataset, train_test_split
    from ppml_lab.fl.models import SoftmaxRegression

    d = load_dataset("breast_cancer")
    Xtr, _, ytr, _ = train_test_split(d.X, d.y, rng=SPLIT_SEED, standardize=True)
    task = SoftmaxRegression(d.n_features, 2)
    w0 = task.init_params(rng=1)
    w1 = task.train(w0, Xtr[1:2], ytr[1:2], epochs=1, batch_size=None, lr=1.0, mu=0.0, rng=0)
    return w0, w1


def _secret_record() -> np.ndarray:
    from ppml_lab.data import load_dataset, train_test_split

    d = load_dataset("breast_cancer")
    Xtr, _, _, _ = train_test_split(d.X, d.y, rng=SPLIT_SEED, standardize=True)
    return Xtr[1]


def check_reconstructed_record(answer: Any) -> CheckResult:
    """The 30 standardised features of the one record behind :func:`exercise_update`."""
    name = "record from one update"
    if answer is None:
        return not_answered(name, "dW = -lr * x (p - y)^T and db = -lr * (p - y): divide a column of dW by db.")
    try:
        value = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        return failed(name, f"expected 30 numbers, got {answer!r}")
    truth = _secret_record()
    if value.shape != truth.shape:
        return failed(name, f"expected {truth.size} numbers, got {value.size}")
    if np.allclose(value, truth, atol=1e-6):
        return passed(name, "exact reconstruction: the update IS the record. FL alone is not private.")
    if np.allclose(value, -truth, atol=1e-6):
        return failed(name, "right magnitude, wrong sign", "Divide dW[:, c] by db[c] for the same class c.")
    return failed(name, "not the record", "Use the difference w1 - w0 for both W and b, and the same class column.")
