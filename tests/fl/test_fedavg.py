"""FedAvg aggregation and orchestration: known answers, bad inputs, properties, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.data import load_dataset, train_test_split
from ppml_lab.fl import (
    FedAvgServer,
    SoftmaxRegression,
    UpdateMismatchError,
    fedavg_aggregate,
    make_clients,
    run_fedavg,
    train_centralised,
    train_local_only,
)


@pytest.fixture(scope="module")
def cancer():
    d = load_dataset("breast_cancer")
    Xtr, Xte, ytr, yte = train_test_split(d.X, d.y, rng=0, standardize=True)
    return Xtr, Xte, ytr, yte


# ---------------------------------------------------------------- known answers


def test_aggregate_equals_hand_computed_weighted_mean():
    a = [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0])]
    b = [np.array([[5.0, 6.0], [7.0, 8.0]]), np.array([3.0])]
    out = fedavg_aggregate([a, b], [1, 3])  # weights 1/4 and 3/4
    np.testing.assert_allclose(out[0], [[4.0, 5.0], [6.0, 7.0]])
    np.testing.assert_allclose(out[1], [2.5])


def test_aggregate_keeps_dtype():
    a = [np.ones(3, dtype=np.float32)]
    b = [np.zeros(3, dtype=np.float32)]
    out = fedavg_aggregate([a, b], [1.0, 1.0])
    assert out[0].dtype == np.float32
    np.testing.assert_allclose(out[0], 0.5)


def test_aggregate_matches_flower_aggregate_arrayrecords():
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    g = np.random.default_rng(0)
    updates = [[g.standard_normal((4, 3)), g.standard_normal(3)] for _ in range(4)]
    weights = [10, 25, 3, 40]
    records = [
        RecordDict({"arrays": ArrayRecord(u), "metrics": MetricRecord({"num-examples": w})})
        for u, w in zip(updates, weights)
    ]
    flower = aggregate_arrayrecords(records, "num-examples").to_numpy_ndarrays()
    ours = fedavg_aggregate(updates, weights)
    for o, f in zip(ours, flower):
        np.testing.assert_allclose(o, f, rtol=1e-12, atol=1e-14)


def test_aggregate_torch_state_dicts():
    import torch

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(2)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(4)}
    out = fedavg_aggregate([a, b], [1, 1])
    torch.testing.assert_close(out["w"], torch.tensor([2.0, 4.0]))
    assert out["w"].dtype == torch.float32 and out["n"].dtype == torch.int64 and int(out["n"]) == 3


def test_one_client_full_batch_fedavg_equals_centralised_gradient_descent(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    w0 = task.init_params(7)
    server = FedAvgServer(task, [(Xtr, ytr)], test=(Xte, yte), local_epochs=1, batch_size=None, lr=0.5,
                          initial_params=w0, rng=1)
    server.run(5)
    w = [a.copy() for a in w0]
    for _ in range(5):  # plain gradient descent on the pooled data
        _, grads = task.loss_and_grad(w, Xtr, ytr)
        w = [a - 0.5 * g for a, g in zip(w, grads)]
    for ours, gd in zip(server.params, w):
        np.testing.assert_allclose(ours, gd, rtol=1e-12, atol=1e-12)


def test_full_batch_one_epoch_fedavg_is_fedsgd(cancer):
    # With E=1, B=inf every client takes one gradient step; the weighted mean of the clients' models is
    # one gradient step on the pooled loss (McMahan et al. 2017, Sec. 2: FedSGD).
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    clients = make_clients(Xtr, ytr, 3, scheme="dirichlet", alpha=0.5, rng=2, min_size=5)
    w0 = task.init_params(3)
    server = FedAvgServer(task, clients, test=(Xte, yte), batch_size=None, lr=0.3, initial_params=w0, rng=1)
    server.run(1)
    _, grads = task.loss_and_grad(w0, Xtr, ytr)
    # pooled data in a different row order: same mean gradient
    for ours, gd in zip(server.params, [a - 0.3 * g for a, g in zip(w0, grads)]):
        np.testing.assert_allclose(ours, gd, rtol=1e-10, atol=1e-12)


def test_gradient_matches_finite_differences():
    g = np.random.default_rng(0)
    X, y = g.standard_normal((20, 4)), g.integers(0, 3, 20)
    task = SoftmaxRegression(4, 3, l2=0.1)
    w = [g.standard_normal((4, 3)), g.standard_normal(3)]
    _, grads = task.loss_and_grad(w, X, y)
    h = 1e-6
    for j in range(2):
        flat = w[j].ravel()
        for i in range(flat.size):
            wp = [a.copy() for a in w]
            wm = [a.copy() for a in w]
            wp[j].ravel()[i] += h
            wm[j].ravel()[i] -= h
            num = (task.loss_and_grad(wp, X, y)[0] - task.loss_and_grad(wm, X, y)[0]) / (2 * h)
            assert abs(num - grads[j].ravel()[i]) < 1e-6


def test_history_records_accuracy_loss_bytes(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    clients = make_clients(Xtr, ytr, 5, rng=0)
    h = run_fedavg(task, clients, rounds=4, test=(Xte, yte), fraction=0.4, rng=3, lr=0.1)
    assert h.rounds == [0, 1, 2, 3, 4]
    model_bytes = (30 * 2 + 2) * 8
    assert h.bytes_up == [0] + [2 * model_bytes] * 4  # m = round(0.4 * 5) = 2 clients per round
    assert h.bytes_per_round[1] == 4 * model_bytes
    assert all(len(c) == 2 for c in h.clients[1:])
    assert h.final_accuracy > 0.9 and h.loss[-1] < h.loss[0]


def test_deterministic_for_a_seed_and_different_for_another(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    clients = make_clients(Xtr, ytr, 5, scheme="dirichlet", alpha=0.5, rng=0, min_size=5)
    kw = dict(rounds=3, test=(Xte, yte), fraction=0.6, local_epochs=2, batch_size=16, lr=0.05)
    h1 = run_fedavg(task, clients, rng=11, **kw)
    h2 = run_fedavg(task, clients, rng=11, **kw)
    h3 = run_fedavg(task, clients, rng=12, **kw)
    assert h1.loss == h2.loss and h1.clients == h2.clients
    assert h1.loss != h3.loss


def test_fedavg_beats_local_only_and_approaches_centralised(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    clients = make_clients(Xtr, ytr, 5, scheme="dirichlet", alpha=0.3, rng=1, min_size=5)
    kw = dict(rounds=15, test=(Xte, yte), lr=0.1, rng=5)
    fed = run_fedavg(task, clients, **kw)
    central = train_centralised(task, clients, **kw)
    local = train_local_only(task, clients, **kw)
    worst_local = min(h.final_accuracy for h in local.values())
    assert fed.final_accuracy > worst_local
    assert abs(fed.final_accuracy - central.final_accuracy) < 0.04
    assert central.bytes_per_round == [0] * 16


def test_fedprox_mu_pulls_local_models_towards_global():
    g = np.random.default_rng(0)
    X, y = g.standard_normal((50, 3)), g.integers(0, 2, 50)
    task = SoftmaxRegression(3, 2)
    w0 = task.init_params(0)
    dist = []
    for mu in (0.0, 1.0, 10.0):
        w = task.train(w0, X, y, epochs=5, batch_size=10, lr=0.05, mu=mu, rng=1)
        dist.append(sum(float(np.sum((a - b) ** 2)) for a, b in zip(w, w0)))
    assert dist[0] > dist[1] > dist[2]


def test_custom_aggregate_is_called(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(Xtr.shape[1], 2)
    calls = []

    def first_client_only(updates, weights):
        calls.append(len(updates))
        return updates[0]

    server = FedAvgServer(task, make_clients(Xtr, ytr, 3, rng=0), test=(Xte, yte), aggregate=first_client_only, rng=0)
    server.run(2)
    assert calls == [3, 3]

    class Median(FedAvgServer):
        def aggregate(self, updates, weights):
            return [np.median(np.stack(a), axis=0) for a in zip(*updates)]

    h = Median(task, make_clients(Xtr, ytr, 3, rng=0), test=(Xte, yte), rng=0).run(3)
    assert h.final_accuracy > 0.9


def test_torch_mlp_federated_round_runs_and_learns():
    import torch

    torch.set_num_threads(1)
    from ppml_lab.fl import TorchMLP

    d = load_dataset("digits")
    Xtr, Xte, ytr, yte = train_test_split(d.X / 16.0, d.y, rng=0)
    task = TorchMLP(64, 10, hidden=16)
    clients = make_clients(Xtr, ytr, 3, rng=0)
    h = run_fedavg(task, clients, rounds=3, test=(Xte, yte), batch_size=64, lr=0.5, rng=0)
    assert h.accuracy[-1] > h.accuracy[0] + 0.3
    assert h.bytes_up[1] == 3 * 4 * (64 * 16 + 16 + 16 * 10 + 10)


# ---------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 100.0), min_size=1, max_size=6),
    st.integers(0, 2**31 - 1),
    st.floats(0.1, 10.0),
)
def test_aggregate_is_a_scale_invariant_convex_combination(weights, seed, scale):
    g = np.random.default_rng(seed)
    updates = [[g.standard_normal((3, 2)), g.standard_normal(4)] for _ in weights]
    out = fedavg_aggregate(updates, weights)
    scaled = fedavg_aggregate(updates, [w * scale for w in weights])
    for j in range(2):
        stack = np.stack([u[j] for u in updates])
        assert np.all(out[j] <= stack.max(axis=0) + 1e-9) and np.all(out[j] >= stack.min(axis=0) - 1e-9)
        np.testing.assert_allclose(out[j], scaled[j], rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_aggregate_of_identical_updates_is_that_update(k, seed):
    g = np.random.default_rng(seed)
    u = [g.standard_normal((2, 5))]
    out = fedavg_aggregate([u] * k, list(g.uniform(0.5, 3.0, k)))
    np.testing.assert_allclose(out[0], u[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input


def test_empty_updates():
    with pytest.raises(ValueError, match="at least one client model"):
        fedavg_aggregate([], [])


def test_updates_not_a_list():
    with pytest.raises(TypeError, match="updates must be a list"):
        fedavg_aggregate(np.ones(3), [1.0])


def test_mismatched_shapes():
    with pytest.raises(UpdateMismatchError, match=r"shape \(3,\) but updates\[0\] has \(2,\)"):
        fedavg_aggregate([[np.ones(2)], [np.ones(3)]], [1, 1])


def test_mismatched_dtypes():
    with pytest.raises(UpdateMismatchError, match="dtype float32 but updates.0. has float64"):
        fedavg_aggregate([[np.ones(2)], [np.ones(2, dtype=np.float32)]], [1, 1])


def test_mismatched_number_of_arrays():
    with pytest.raises(UpdateMismatchError, match="has 2 arrays but updates.0. has 1"):
        fedavg_aggregate([[np.ones(2)], [np.ones(2), np.ones(1)]], [1, 1])


def test_mismatched_state_dict_keys():
    import torch

    with pytest.raises(UpdateMismatchError, match="keys"):
        fedavg_aggregate([{"a": torch.ones(2)}, {"b": torch.ones(2)}], [1, 1])


def test_mismatched_state_dict_dtypes():
    import torch

    with pytest.raises(UpdateMismatchError, match="dtype"):
        fedavg_aggregate([{"a": torch.ones(2)}, {"a": torch.ones(2, dtype=torch.float64)}], [1, 1])


@pytest.mark.parametrize("bad", [0, -1.0])
def test_non_positive_weight(bad):
    with pytest.raises(ValueError, match="weights must all be > 0"):
        fedavg_aggregate([[np.ones(2)], [np.ones(2)]], [1.0, bad])


def test_wrong_number_of_weights():
    with pytest.raises(ValueError, match="one entry per update"):
        fedavg_aggregate([[np.ones(2)], [np.ones(2)]], [1.0])


def test_nan_update():
    with pytest.raises(ValueError, match="finite"):
        fedavg_aggregate([[np.array([np.nan, 1.0])]], [1.0])


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1])
def test_fraction_outside_unit_interval(cancer, bad):
    Xtr, Xte, ytr, yte = cancer
    with pytest.raises(ValueError, match=r"fraction must be a finite number in \(0, 1\]"):
        FedAvgServer(SoftmaxRegression(30, 2), [(Xtr, ytr)], test=(Xte, yte), fraction=bad)


def test_empty_client(cancer):
    Xtr, Xte, ytr, yte = cancer
    with pytest.raises(ValueError, match="at least one sample"):
        FedAvgServer(SoftmaxRegression(30, 2), [(Xtr, ytr), (Xtr[:0], ytr[:0])], test=(Xte, yte))


def test_no_clients(cancer):
    _, Xte, _, yte = cancer
    with pytest.raises(ValueError, match="at least one client"):
        FedAvgServer(SoftmaxRegression(30, 2), [], test=(Xte, yte))


def test_bad_local_hparams(cancer):
    Xtr, Xte, ytr, yte = cancer
    task = SoftmaxRegression(30, 2)
    with pytest.raises(ValueError, match="local_epochs must be an integer >= 1"):
        FedAvgServer(task, [(Xtr, ytr)], test=(Xte, yte), local_epochs=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        FedAvgServer(task, [(Xtr, ytr)], test=(Xte, yte), lr=0.0)
    with pytest.raises(ValueError, match="mu must be a finite number >= 0"):
        FedAvgServer(task, [(Xtr, ytr)], test=(Xte, yte), mu=-1.0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        FedAvgServer(task, [(Xtr, ytr)], test=(Xte, yte), batch_size=3.5)


def test_bad_task_and_aggregate(cancer):
    Xtr, Xte, ytr, yte = cancer
    with pytest.raises(TypeError, match="task must provide"):
        FedAvgServer(object(), [(Xtr, ytr)], test=(Xte, yte))
    with pytest.raises(TypeError, match="aggregate must be a callable"):
        FedAvgServer(SoftmaxRegression(30, 2), [(Xtr, ytr)], test=(Xte, yte), aggregate=3)
