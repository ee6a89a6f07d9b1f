"""DP-FedAvg (McMahan et al. 2018): clipping, noise, the fixed denominator, accounting against the DP core
and Opacus; distributed discrete Gaussian noise (KLS21) without amplification against the sampling server."""

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
    assert np.all(np.diff(server.epsilons) > 0) and len(server.epsilons) == 5
    assert server.epsilons[-1] == pytest.approx(server.accountant.get_epsilon(1e-5), rel=1e-12)
    acc3 = RDPAccountant()
    acc3.step(noise_multiplier=1.1, sample_rate=0.5, steps=3)
    assert server.epsilons[2] == pytest.approx(acc3.get_epsilon(1e-5), rel=1e-12)


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


def test_dp_model_still_learns_and_poisson_cohorts_vary(setup):
    task, clients, test = setup
    server = dpf.run_dp_fedavg(task, clients, rounds=15, test=test, sample_rate=0.5, noise_multiplier=0.5,
                               max_update_norm=2.0, noise="distributed", secure_aggregation=True, min_clients=4,
                               colluding_clients=1, batch_size=None, lr=0.5, rng=6)
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
        ({"min_clients": 3}, ValueError, "min_clients, colluding_clients, bits and max_participations apply only to"),
        ({"bits": 16}, ValueError, "min_clients, colluding_clients, bits and max_participations apply only to"),
        ({"noise": "distributed", "secure_aggregation": True, "bits": 7}, ValueError,
         r"bits must be an integer in \[8, 62\], got 7"),
        ({"noise": "distributed", "secure_aggregation": True, "noise_multiplier": 0.0}, ValueError,
         "noise_multiplier must be > 0 for noise='distributed', got 0.0"),
        ({"noise": "distributed", "secure_aggregation": True, "min_clients": 1}, ValueError,
         r"min_clients must be an integer in \[2, 20\], got 1"),
        ({"noise": "distributed", "secure_aggregation": True, "min_clients": 4, "colluding_clients": 4}, ValueError,
         r"colluding_clients must be < min_clients \(4\)"),
        ({"noise": "distributed", "secure_aggregation": True, "max_participations": 0}, ValueError,
         "max_participations must be an integer >= 1, got 0"),
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
    with pytest.raises(ValueError, match="expected_cohort must be a finite number > 0, got 0.0"):
        dpf.dp_fedavg_aggregate([[1.0]], dim=1, max_update_norm=1.0, noise_multiplier=1.0, expected_cohort=0.0)
    with pytest.raises(ValueError, match="updates must have dim=2 coordinates, got 1"):
        dpf.dp_fedavg_aggregate([[1.0]], dim=2, max_update_norm=1.0, noise_multiplier=1.0, expected_cohort=1.0)
    with pytest.raises(ValueError, match="rounds must be an integer >= 0"):
        dpf.dp_fedavg_epsilon(sample_rate=0.1, noise_multiplier=1.0, rounds=-1, delta=1e-5)


# ------------------------------------------------------------------ the fixed denominator q K


def _flat(params):
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in params])


@pytest.mark.parametrize("noise", ["central", "distributed"])
def test_average_divides_by_q_k_not_by_the_cohort_at_q_below_one(setup, noise):
    """w_1 = w_0 + sum_k Delta_k / (q K): the realised cohort m differs from q K = 10 here."""
    task, clients, test = setup
    kw = dict(sample_rate=0.5, max_update_norm=1e3, batch_size=None, lr=0.5, rng=21)
    if noise == "central":
        server = dpf.DPFedAvgServer(task, clients, test=test, noise_multiplier=0.0, **kw)
    else:  # distributed noise must be > 0: z = 1e-7 of S = 1e3 gives noise std ~ 1e-4 on the sum
        server = dpf.DPFedAvgServer(task, clients, test=test, noise_multiplier=1e-7, noise="distributed",
                                    secure_aggregation=True, min_clients=2, **kw)
    w0 = _flat(server.params)
    init = server.params
    server.run(1)
    cohort = server.history.clients[-1]
    assert len(cohort) not in (0, 10)  # precondition: m != q K, so the two estimators differ
    deltas = [_flat(server.client_update(k, init)[0]) if noise == "central" else
              _flat(dpf.FedAvgServer.client_update(server, k, init)[0]) - w0 for k in cohort]
    expected = w0 + np.sum(deltas, axis=0) / (0.5 * len(clients))
    wrong = w0 + np.sum(deltas, axis=0) / len(cohort)
    got = _flat(server.params)
    assert np.allclose(got, expected, atol=1e-3)
    assert not np.allclose(got, wrong, atol=1e-3)


def test_pure_aggregate_is_the_noisy_sum_over_q_k():
    ups = [np.array([3.0, 4.0]), np.array([0.1, 0.0]), np.array([0.0, 0.2])]
    out = dpf.dp_fedavg_aggregate(ups, dim=2, max_update_norm=1.0, noise_multiplier=0.0, expected_cohort=4.0)
    assert np.allclose(out, (np.array([0.6, 0.8]) + [0.1, 0.0] + [0.0, 0.2]) / 4.0)
    # an empty round still adds N(0, (zS)^2): its output is pure noise, not a visible "nobody came"
    empty = dpf.dp_fedavg_aggregate([], dim=2000, max_update_norm=2.0, noise_multiplier=1.5, expected_cohort=4.0,
                                    rng=0)
    # 2000 draws of N(0, (3/4)^2): sample sd within 5 standard errors (~1e-6 false failure)
    assert abs(np.std(empty) - 0.75) < 5 * 0.75 / np.sqrt(2 * 2000)


def test_central_noise_is_added_in_rounds_nobody_joins(setup):
    task, clients, test = setup
    server = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=0.01, noise_multiplier=1.0,
                                max_update_norm=1.0, rng=5)
    w0 = _flat(server.params)
    server.run(1)
    assert server.cohort_sizes == [0]
    assert not np.allclose(_flat(server.params), w0)
    assert server.epsilon_against_server == math.inf  # central noise: the server saw the exact sum


# ------------------------------------------------------------------ distributed noise: honest accounting


def _participations(server):
    counts = np.zeros(len(server.clients), dtype=int)
    for cohort in server.history.clients:
        counts[list(cohort)] += 1
    return counts


def test_distributed_epsilon_has_no_amplification_against_the_sampling_server(setup):
    """Fails on the old code, which reported the subsampled (q = 0.5) epsilon for distributed noise."""
    task, clients, test = setup
    kw = dict(min_clients=3, colluding_clients=1)
    try:
        server = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=0.5, noise_multiplier=1.0,
                                    max_update_norm=1.0, noise="distributed", secure_aggregation=True,
                                    batch_size=None, lr=0.5, rng=7, **kw)
    except TypeError:  # the old signature had no min_clients / colluding_clients
        server = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=0.5, noise_multiplier=1.0,
                                    max_update_norm=1.0, noise="distributed", secure_aggregation=True,
                                    batch_size=None, lr=0.5, rng=7)
    server.run(4)
    worst = int(_participations(server).max())
    assert worst >= 1
    honest = dpf.dp_fedavg_epsilon(sample_rate=1.0, noise_multiplier=1.0, rounds=worst, delta=server.delta)
    assert server.epsilon >= honest * (1 - 1e-9)
    assert server.epsilon == pytest.approx(server.accountant.get_epsilon(server.delta))
    assert server.epsilon_against_server == server.epsilon


def test_max_participations_bounds_epsilon_before_the_run(setup):
    task, clients, test = setup
    server = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=0.6, noise_multiplier=1.0,
                                max_update_norm=1.0, noise="distributed", secure_aggregation=True,
                                min_clients=2, colluding_clients=1, max_participations=2,
                                batch_size=None, lr=0.5, rng=8)
    bound = server.epsilon_bound(6)
    server.run(6)
    counts = _participations(server)
    assert counts.max() == 2 and np.array_equal(counts, server.participations)
    assert server.epsilon == pytest.approx(bound, rel=1e-12)
    assert bound == pytest.approx(dpf.dp_fedavg_epsilon(sample_rate=1.0, noise_multiplier=1.0, rounds=2,
                                                        delta=1e-5), rel=1e-9)


def test_rounds_below_min_clients_are_skipped_and_not_charged(setup):
    task, clients, test = setup
    server = dpf.DPFedAvgServer(task, clients, test=test, sample_rate=0.15, noise_multiplier=1.0,
                                max_update_norm=1.0, noise="distributed", secure_aggregation=True,
                                min_clients=4, colluding_clients=1, batch_size=None, lr=0.5, rng=9)
    before = []
    for _ in range(6):
        before.append(_flat(server.params))
        server.step()
    assert server.skipped_rounds  # with q K = 3 < 4, some rounds are too small
    for r in server.skipped_rounds:
        assert server.cohort_sizes[r - 1] < 4
        assert np.array_equal(_flat(server.params) if r == 6 else before[r], before[r - 1])
    steps = sum(h[2] for h in server.accountant.history)
    assert steps == int(server.participations.max())
    eps = server.epsilons  # flat across skipped rounds, the accountant's value at the end
    for r in server.skipped_rounds:
        assert eps[r - 1] == (eps[r - 2] if r > 1 else 0.0)
    assert eps[-1] == pytest.approx(server.accountant.get_epsilon(server.delta), rel=1e-12)


def test_get_epsilon_is_the_accountants_answer_at_any_delta(setup):
    task, clients, test = setup
    server = dpf.run_dp_fedavg(task, clients, rounds=3, test=test, sample_rate=0.5, noise_multiplier=1.1,
                               max_update_norm=1.0, delta=1e-5, rng=2)
    for delta in (1e-3, 1e-5, 1e-7):
        acc = RDPAccountant()
        acc.step(noise_multiplier=1.1, sample_rate=0.5, steps=3)
        assert server.get_epsilon(delta) == pytest.approx(acc.get_epsilon(delta), rel=1e-12)
    assert server.epsilon == server.get_epsilon(1e-5)
