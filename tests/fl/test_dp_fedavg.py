"""DP-FedAvg (McMahan et al. 2018): clipping, noise, accounting against the DP core and Opacus."""

import math

import numpy as np
import pytest

from ppml_lab.data import load_dataset, split_sites, train_test_split
from ppml_lab.dp.accountant import RDPAccountant
from ppml_lab.fl import dp_fedavg as dpf
from ppml_lab.fl.fedavg import FedAvgServer
from ppml_lab.fl.models import SoftmaxRegression


@pytest.fixture(scope="module")
def setup():
    ds = load_dataset("breast_cancer")
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, test_fraction=0.3, rng=0, standardize=True)
    n = (len(ytr) // 20) * 20  # equal client sizes, so FedAvg's weights are uniform too
    clients = split_sites(Xtr[:n], ytr[:n], sites=20, rng=1)
    return SoftmaxRegression(n_features=30, n_classes=2), clients, (Xte, yte)


def test_clip_update():
    clipped, norm = dpf.clip_update(np.array([3.0, 4.0]), max_update_norm=1.0)
    assert norm == 5.0 and np.allclose(clipped, [0.6, 0.8])
    small, _ = dpf.clip_update(np.array([0.1, 0.0]), max_update_norm=1.0)
    assert np.array_equal(small, [0.1, 0.0])


def test_epsilon_matches_the_accountant_and_opacus(setup):
    task, clients, test = setup
    server = dpf.run_dp_fedavg(task, clients, rounds=5, test=test, sample_rate=0.5, noise_multiplier=1.1,
                               max_update_norm=1.0, delta=1e-5, rng=2)
    acc = RDPAccountant()
    acc.step(noise_multiplier=1.1, sample_rate=0.5, steps=5)
    assert server.epsilon == pytest.approx(acc.get_epsilon(1e-5), rel=1e-12)
    assert server.epsilon == pytest.approx(
        dpf.dp_fedavg_epsilon(sample_rate=0.5, noise_multiplier=1.1, rounds=5, delta=1e-5), rel=1e-12)
    from opacus.accountants import RDPAccountant as OpacusRDP

    op = OpacusRDP()
    for _ in range(5):
        op.step(noise_multiplier=1.1, sample_rate=0.5)
    assert server.epsilon == pytest.approx(op.get_epsilon(delta=1e-5), rel=1e-6)
    assert np.all(np.diff(server.epsilons) > 0)


def test_without_noise_or_clipping_it_is_fedavg(setup):
    task, clients, test = setup
    kw = dict(local_epochs=1, batch_size=None, lr=0.5, rng=3)
    dp = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=1.0, noise_multiplier=0.0,
                            max_update_norm=1e9, **kw)
    plain = FedAvgServer(task, clients, test=test, fraction=1.0, initial_params=dp.params, **kw)
    dp.run(2)
    plain.run(2)
    for a, b in zip(dp.params, plain.params):
        assert np.allclose(a, b, atol=1e-12)
    assert dp.epsilon == math.inf


def test_secure_aggregation_changes_nothing_but_who_sees_the_sum(setup):
    task, clients, test = setup
    kw = dict(sample_rate=1.0, noise_multiplier=0.0, max_update_norm=0.5, batch_size=None, lr=0.5)
    a = dpf.DPFedAvgServer(task, clients, test=test, secure_aggregation=True, rng=4, **kw)
    b = dpf.DPFedAvgServer(task, clients, test=test, secure_aggregation=False, rng=4, **kw)
    a.run(1)
    b.run(1)
    # fixed point with 20 fractional bits per client: 20 clients, then divided by q K = 20
    for x, y in zip(a.params, b.params):
        assert np.max(np.abs(x - y)) <= 2.0**-20


def test_distributed_noise_adds_up_to_at_least_the_central_noise():
    z, s, t = 1.2, 0.8, 6
    std = dpf.distributed_noise_std(noise_multiplier=z, max_update_norm=s, threshold=t)
    assert std == pytest.approx(z * s / math.sqrt(6))
    # any t of the m shares sum to variance t * std^2 = (zS)^2; all m give m/t times more
    g = np.random.default_rng(5)
    draws = g.normal(0, std, size=(200_000, t)).sum(axis=1)
    # sample variance of 200k normals: relative sd sqrt(2/200k) ~ 0.003; 6 sd tolerance
    assert np.var(draws) == pytest.approx((z * s) ** 2, rel=0.02)


def test_dp_model_still_learns_and_poisson_cohorts_vary(setup):
    task, clients, test = setup
    server = dpf.run_dp_fedavg(task, clients, rounds=15, test=test, sample_rate=0.5, noise_multiplier=0.5,
                               max_update_norm=2.0, noise="distributed", secure_aggregation=True,
                               batch_size=None, lr=0.5, rng=6)
    assert server.history.final_accuracy > 0.85  # chance is 0.63 on this test split
    assert len(set(server.cohort_sizes)) > 1  # Poisson sampling: the cohort size is random


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"sample_rate": 0.0}, ValueError, r"sample_rate must be a finite number in \(0, 1\], got 0.0"),
        ({"sample_rate": 1.5}, ValueError, "sample_rate must be a finite number in"),
        ({"noise_multiplier": -1.0}, ValueError, "noise_multiplier must be a finite number >= 0, got -1.0"),
        ({"max_update_norm": 0.0}, ValueError, "max_update_norm must be a finite number > 0, got 0.0"),
        ({"delta": 1.0}, ValueError, r"delta must be a finite number in \(0, 1\)"),
        ({"noise": "local"}, ValueError, "noise must be one of 'central', 'distributed'"),
        ({"noise": "distributed"}, ValueError, "noise='distributed' needs secure_aggregation=True"),
        ({"secure_aggregation": 1}, TypeError, "secure_aggregation must be True or False"),
    ],
)
def test_bad_parameters(setup, kwargs, exc, pattern):
    task, clients, test = setup
    base = dict(sample_rate=0.5, noise_multiplier=1.0, max_update_norm=1.0)
    base.update(kwargs)
    with pytest.raises(exc, match=pattern):
        dpf.DPFedAvgServer(task, clients, test=test, **base)


def test_bad_helper_inputs():
    with pytest.raises(ValueError, match="max_update_norm must be a finite number > 0"):
        dpf.clip_update([1.0], max_update_norm=-1)
    with pytest.raises(ValueError, match="update must not be empty"):
        dpf.clip_update([], max_update_norm=1.0)
    with pytest.raises(ValueError, match="threshold must be an integer >= 1, got 0"):
        dpf.distributed_noise_std(noise_multiplier=1.0, max_update_norm=1.0, threshold=0)
    with pytest.raises(ValueError, match="rounds must be an integer >= 0"):
        dpf.dp_fedavg_epsilon(sample_rate=0.1, noise_multiplier=1.0, rounds=-1, delta=1e-5)
