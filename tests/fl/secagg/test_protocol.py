"""Secure aggregation rounds (Bonawitz et al. 2017): exact sums under every dropout pattern, never a wrong sum."""

import itertools

import numpy as np
import pytest
from scipy import stats

from ppml_lab.exceptions import DropoutThresholdError, PrecisionError
from ppml_lab.fl import secagg
from ppml_lab.fl.secagg import PHASES, make_round, secure_aggregate, secure_aggregate_floats
from ppml_lab.mpc.fixed_point import FixedPoint

N, LENGTH = 5, 16


@pytest.fixture(scope="module")
def inputs():
    g = np.random.default_rng(0)
    return {i: g.integers(0, 2**64, size=LENGTH, dtype=np.uint64) for i in range(N)}


def _ring_sum(inputs, ids):
    total = np.zeros(LENGTH, dtype=np.uint64)
    for i in ids:
        total += inputs[i]
    return total


def _patterns(max_drops):
    for k in range(max_drops + 1):
        for who in itertools.combinations(range(N), k):
            for phases in itertools.product(PHASES, repeat=k):
                drops = {}
                for c, p in zip(who, phases):
                    drops.setdefault(p, []).append(c)
                yield drops


def test_exact_sum_for_every_dropout_pattern_up_to_the_threshold(inputs):
    # threshold 3 of 5: any 2 clients may vanish after any phase (181 patterns); the sum is exact in the ring
    count = 0
    for drops in _patterns(N - 3):
        res = secure_aggregate(inputs, threshold=3, dropouts=drops)
        lost_early = set(drops.get("advertise", [])) | set(drops.get("share_keys", []))
        assert set(res.included) == set(range(N)) - lost_early
        assert np.array_equal(res.total, _ring_sum(inputs, res.included)), drops
        assert res.level == "hardened"
        count += 1
    assert count == 1 + 5 * 4 + 10 * 16


@pytest.mark.parametrize("drops", [{}, {"share_keys": [1]}, {"masked_input": [0, 4]}, {"unmask": [2], "advertise": [3]}])
def test_raw_level_gives_the_same_exact_sums(inputs, drops):
    res = secure_aggregate(inputs, threshold=3, dropouts=drops, level="raw")
    assert res.level == "raw" and np.array_equal(res.total, _ring_sum(inputs, res.included))


@pytest.mark.parametrize("level", ["hardened", "raw"])
@pytest.mark.parametrize("phase", PHASES)
def test_too_many_dropouts_fail_loudly_at_every_phase(inputs, phase, level):
    with pytest.raises(DropoutThresholdError, match="threshold is 3"):
        secure_aggregate(inputs, threshold=3, dropouts={phase: [0, 1, 2]}, level=level)


def test_default_threshold_is_a_strict_majority(inputs):
    res = secure_aggregate(inputs)
    assert np.array_equal(res.total, _ring_sum(inputs, range(N)))


def test_masked_inputs_look_uniform():
    # all-zero inputs are the most structured case; a masked vector must still be uniform bytes
    zeros = {i: np.zeros(20_000, dtype=np.uint64) for i in range(3)}
    clients, server = make_round(zeros, threshold=2)
    keys = server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(keys) for u, c in clients.items()})
    y = np.frombuffer(clients[0].masked_input(inbox[0]).y, dtype=np.uint8)
    # chi-square over 160,000 bytes; alpha = 1e-6 -> a correct masking fails about once in a million runs
    assert stats.chisquare(np.bincount(y, minlength=256)).pvalue > 1e-6
    top = np.frombuffer(y.tobytes(), dtype=np.uint64) >> np.uint64(60)
    assert stats.chisquare(np.bincount(top.astype(np.int64), minlength=16)).pvalue > 1e-6


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"threshold": 6}, ValueError, r"threshold must be <= the number of clients \(5\), got 6"),
        ({"threshold": 2}, ValueError, r"threshold must be a strict majority of the 5 clients \(>= 3\), got 2"),
        ({"threshold": 0}, ValueError, "threshold must be an integer >= 1, got 0"),
        ({"dropouts": {"lunch": [0]}}, ValueError, "dropouts phase must be one of"),
        ({"dropouts": {"advertise": [9]}}, ValueError, r"names unknown client ids \[9\]"),
        ({"dropouts": {"advertise": [1], "unmask": [1]}}, ValueError, "can drop out only once"),
        ({"dropouts": [1]}, TypeError, "dropouts must map a phase name"),
        ({"level": "paranoid"}, ValueError, "level must be one of 'hardened', 'raw', got 'paranoid'"),
        ({"insecure_seeded_keys": 1}, TypeError, "insecure_seeded_keys must be a bool, got int"),
    ],
)
def test_bad_parameters(inputs, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        secure_aggregate(inputs, **kwargs)


def test_bad_vectors():
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a uint64 vector"):
        secure_aggregate([np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match=r"inputs\[1\] has length 4, expected 3"):
        secure_aggregate([np.zeros(3, np.uint64), np.zeros(4, np.uint64)])
    with pytest.raises(ValueError, match="at least 2 clients"):
        secure_aggregate([np.zeros(3, np.uint64)])
    with pytest.raises(ValueError, match="non-empty 1-D vector"):
        secure_aggregate([np.zeros((2, 2), np.uint64)] * 2)
    with pytest.raises(TypeError, match="client ids must be non-negative integers"):
        secure_aggregate({"a": np.zeros(2, np.uint64), "b": np.zeros(2, np.uint64)})


def test_float_aggregation_equals_the_fixed_point_sum():
    g = np.random.default_rng(7)
    ups = [g.normal(size=100) for _ in range(6)]
    total, res = secure_aggregate_floats(ups, dropouts={"share_keys": [5]})
    fp = FixedPoint(frac_bits=20, integer_bits=11)
    expected = fp.decode(sum((fp.encode(u) for u in ups[:5]), np.zeros(100, dtype=np.uint64)))
    assert np.array_equal(total, expected)
    assert np.max(np.abs(total - np.sum(ups[:5], axis=0))) <= 5 * 2.0**-21
    # keys, signatures and shares are a fixed cost per client: the expansion falls towards 1 as vectors grow
    _, long = secure_aggregate_floats([g.normal(size=5000) for _ in range(6)])
    assert res.expansion > long.expansion > 1.0
    assert long.expansion < 1.1
    with pytest.raises(PrecisionError, match="must satisfy"):
        secure_aggregate_floats([np.full(3, 5000.0)] * 3)
    with pytest.raises(ValueError, match=r"updates\[1\] must contain only finite numbers"):
        secure_aggregate_floats([np.zeros(3), np.array([0.0, np.nan, 1.0])])


def test_hardened_costs_more_bytes_than_raw_by_the_signatures():
    xs = {i: np.zeros(10, np.uint64) for i in range(5)}
    hard, raw = secure_aggregate(xs), secure_aggregate(xs, level="raw")
    # per client: a 64-byte signature on its keys in Round 0 and on U3 in Round 3
    assert hard.mean_bytes_sent - raw.mean_bytes_sent == 128


def test_secure_fedavg_aggregate_equals_fedavg_aggregate():
    from ppml_lab.fl.fedavg import fedavg_aggregate

    g = np.random.default_rng(12)
    ups = [[g.normal(size=(3, 2)), g.normal(size=2)] for _ in range(4)]
    weights = [10.0, 20.0, 5.0, 65.0]
    ours = secagg.secure_fedavg_aggregate(ups, weights, rng=13)
    ref = fedavg_aggregate(ups, weights)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 4 * 2.0**-20
    with pytest.raises(ValueError, match="weights must be > 0"):
        secagg.secure_fedavg_aggregate(ups, [1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        secagg.secure_fedavg_aggregate(ups, [1.0])
