"""Secure aggregation (Bonawitz et al. 2017): exact sums under every dropout pattern, never a wrong sum."""

import itertools

import numpy as np
import pytest
from scipy import stats

from ppml_lab.exceptions import DropoutThresholdError, PrecisionError, ProtocolError
from ppml_lab.fl import secure_aggregation as sa
from ppml_lab.mpc.fixed_point import FixedPoint
from ppml_lab.mpc.sharing import shamir_reconstruct, shamir_share

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
            for phases in itertools.product(sa.PHASES, repeat=k):
                drops = {}
                for c, p in zip(who, phases):
                    drops.setdefault(p, []).append(c)
                yield drops


def test_exact_sum_for_every_dropout_pattern_up_to_the_threshold(inputs):
    # threshold 3 of 5: any 2 clients may vanish after any phase (180 patterns); the sum is exact in the ring
    count = 0
    for drops in _patterns(N - 3):
        res = sa.secure_aggregate(inputs, threshold=3, dropouts=drops, rng=count)
        lost_early = set(drops.get("advertise", [])) | set(drops.get("share_keys", []))
        assert set(res.included) == set(range(N)) - lost_early
        assert np.array_equal(res.total, _ring_sum(inputs, res.included)), drops
        count += 1
    assert count == 1 + 5 * 4 + 10 * 16


@pytest.mark.parametrize("phase", sa.PHASES)
def test_too_many_dropouts_fail_loudly_at_every_phase(inputs, phase):
    with pytest.raises(DropoutThresholdError, match="threshold is 3|threshold 3|threshold is"):
        sa.secure_aggregate(inputs, threshold=3, dropouts={phase: [0, 1, 2]}, rng=1)


def test_default_threshold_is_a_strict_majority(inputs):
    assert sa.minimum_threshold(5) == 3 and sa.minimum_threshold(4) == 3 and sa.minimum_threshold(100) == 51
    res = sa.secure_aggregate(inputs, rng=2)
    assert np.array_equal(res.total, _ring_sum(inputs, range(N)))


def test_masked_inputs_look_uniform():
    # all-zero inputs are the most structured case; a masked vector must still be uniform bytes
    zeros = {i: np.zeros(20_000, dtype=np.uint64) for i in range(3)}
    g = np.random.default_rng(3)
    clients = {i: sa.SecAggClient(i, x, threshold=2, rng=g) for i, x in zeros.items()}
    pks = {i: c.advertise_keys() for i, c in clients.items()}
    outboxes = {i: c.share_keys(pks) for i, c in clients.items()}
    inbox = {v: {u: outboxes[u][v] for u in clients if u != v} for v in clients}
    y = np.frombuffer(clients[0].masked_input(inbox[0]), dtype=np.uint8)
    counts = np.bincount(y, minlength=256)
    # chi-square over 160,000 bytes; alpha = 1e-6 -> a correct masking fails about once in a million runs
    assert stats.chisquare(counts).pvalue > 1e-6
    top = np.frombuffer(y.tobytes(), dtype=np.uint64) >> np.uint64(60)
    assert stats.chisquare(np.bincount(top.astype(np.int64), minlength=16)).pvalue > 1e-6


def test_client_refuses_to_reveal_both_shares_of_a_peer():
    g = np.random.default_rng(4)
    clients = {i: sa.SecAggClient(i, np.zeros(4, dtype=np.uint64), threshold=2, rng=g) for i in range(3)}
    pks = {i: c.advertise_keys() for i, c in clients.items()}
    outboxes = {i: c.share_keys(pks) for i, c in clients.items()}
    inbox = {v: {u: outboxes[u][v] for u in clients if u != v} for v in clients}
    for i, c in clients.items():
        c.masked_input(inbox[i])
    with pytest.raises(ProtocolError, match="asked for both shares of clients \\[1\\]"):
        clients[0].unmask(dropped=[1], survivors=[0, 1, 2])


def test_tampered_share_message_is_rejected():
    g = np.random.default_rng(5)
    clients = {i: sa.SecAggClient(i, np.zeros(4, dtype=np.uint64), threshold=2, rng=g) for i in range(3)}
    pks = {i: c.advertise_keys() for i, c in clients.items()}
    outboxes = {i: c.share_keys(pks) for i, c in clients.items()}
    forged = bytearray(outboxes[1][0])
    forged[-1] ^= 1
    with pytest.raises(ProtocolError, match="share message from client 1 failed authentication"):
        clients[0].masked_input({1: bytes(forged), 2: outboxes[2][0]})
    with pytest.raises(ProtocolError, match="malformed share message from client 2"):
        clients[0].masked_input({1: outboxes[1][0], 2: b"short"})


def test_server_rejects_replayed_ids_and_keys():
    server = sa.SecAggServer(threshold=2, length=4)
    k = b"\x01" * 32 + b"\x02" * 32
    with pytest.raises(ProtocolError, match="client id 0 advertised keys twice"):
        server.collect_keys([(0, k), (0, k)])
    with pytest.raises(ProtocolError, match="already used by client 0"):
        server.collect_keys([(0, k), (1, k)])
    with pytest.raises(ProtocolError, match="malformed AdvertiseKeys message from client 3"):
        server.collect_keys([(3, b"x")])


def test_vectorised_reconstruction_equals_shamir_reconstruct():
    secret = np.arange(16, dtype=np.int64) * 4001 % 65536
    shares = shamir_share(secret, threshold=3, n_shares=5, rng=6)
    assert np.array_equal(shamir_reconstruct(shares[1:4]), secret)
    # the protocol reconstructs seeds through the same Lagrange weights: a full round with dropouts
    # after share_keys exercises that path and must give the exact ring sum (checked above)


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
    ],
)
def test_bad_parameters(inputs, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        sa.secure_aggregate(inputs, **kwargs)


def test_bad_vectors(inputs):
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a uint64 vector"):
        sa.secure_aggregate([np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match=r"inputs\[1\] has length 4, expected 3"):
        sa.secure_aggregate([np.zeros(3, np.uint64), np.zeros(4, np.uint64)])
    with pytest.raises(ValueError, match="at least 2 clients"):
        sa.secure_aggregate([np.zeros(3, np.uint64)])
    with pytest.raises(ValueError, match="non-empty 1-D vector"):
        sa.secure_aggregate([np.zeros((2, 2), np.uint64)] * 2)
    with pytest.raises(TypeError, match="client ids must be non-negative integers"):
        sa.secure_aggregate({"a": np.zeros(2, np.uint64), "b": np.zeros(2, np.uint64)})


def test_float_aggregation_equals_the_fixed_point_sum():
    g = np.random.default_rng(7)
    ups = [g.normal(size=100) for _ in range(6)]
    total, res = sa.secure_aggregate_floats(ups, dropouts={"share_keys": [5]}, rng=8)
    fp = FixedPoint(frac_bits=20, integer_bits=11)
    expected = fp.decode(sum((fp.encode(u) for u in ups[:5]), np.zeros(100, dtype=np.uint64)))
    assert np.array_equal(total, expected)
    assert np.max(np.abs(total - np.sum(ups[:5], axis=0))) <= 5 * 2.0**-21
    # keys and shares are a fixed cost per client: the expansion falls towards 1 as vectors grow
    _, long = sa.secure_aggregate_floats([g.normal(size=5000) for _ in range(6)], rng=9)
    assert res.expansion > long.expansion > 1.0
    assert long.expansion < 1.1
    with pytest.raises(PrecisionError, match="must satisfy"):
        sa.secure_aggregate_floats([np.full(3, 5000.0)] * 3)
    with pytest.raises(ValueError, match=r"updates\[1\] must contain only finite numbers"):
        sa.secure_aggregate_floats([np.zeros(3), np.array([0.0, np.nan, 1.0])])


def test_prg_is_deterministic_and_keyed():
    a, b = sa.prg_mask(b"k" * 32, 8), sa.prg_mask(b"k" * 32, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, sa.prg_mask(b"j" * 32, 8))
    with pytest.raises(ValueError, match="seed must be 32 bytes, got 3"):
        sa.prg_mask(b"abc", 4)


def test_repr_hides_secrets():
    c = sa.SecAggClient(0, np.arange(3, dtype=np.uint64), threshold=1, rng=np.random.default_rng(0))
    assert "hidden" in repr(c) and "[0 1 2]" not in repr(c)


def test_he_aggregators_agree_with_plaintext():
    g = np.random.default_rng(9)
    ups = [g.normal(scale=0.5, size=300) for _ in range(4)]
    plain = sa.PlaintextAggregator().aggregate(ups).total
    pail = sa.PaillierAggregator(key_bits=1024, allow_insecure=True, rng=10).aggregate(ups)
    assert np.max(np.abs(pail.total - plain)) <= 4 * 2.0**-20
    ck = sa.CKKSAggregator().aggregate(ups)
    assert np.max(np.abs(ck.total - plain)) < 1e-2  # depth1-n4096 preset: 25-bit scale
    mask = sa.MaskingAggregator(rng=11).aggregate(ups)
    assert np.max(np.abs(mask.total - plain)) <= 4 * 2.0**-21
    assert ck.expansion > mask.expansion


def test_secure_fedavg_aggregate_equals_fedavg_aggregate():
    from ppml_lab.fl.fedavg import fedavg_aggregate

    g = np.random.default_rng(12)
    ups = [[g.normal(size=(3, 2)), g.normal(size=2)] for _ in range(4)]
    weights = [10.0, 20.0, 5.0, 65.0]
    ours = sa.secure_fedavg_aggregate(ups, weights, rng=13)
    ref = fedavg_aggregate(ups, weights)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 4 * 2.0**-20
    with pytest.raises(ValueError, match="weights must be > 0"):
        sa.secure_fedavg_aggregate(ups, [1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        sa.secure_fedavg_aggregate(ups, [1.0])
