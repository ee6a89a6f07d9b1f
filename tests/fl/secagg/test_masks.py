"""Pure mask maths of secure aggregation (Bonawitz et al. 2017, Sec. 4): PRG, self and pair masks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.fl.secagg import masks

S, R = b"s" * 16, 0


def test_prg_is_deterministic_and_keyed():
    a, b = masks.prg_mask(b"k" * 32, 8), masks.prg_mask(b"k" * 32, 8)
    assert a.dtype == np.uint64 and a.shape == (8,)
    assert np.array_equal(a, b) and not np.array_equal(a, masks.prg_mask(b"j" * 32, 8))
    # AES-CTR keystream: a longer output starts with the shorter one
    assert np.array_equal(masks.prg_mask(b"k" * 32, 20)[:8], a)


def test_prg_bad_seed():
    with pytest.raises(ValueError, match="seed must be 32 bytes, got 3"):
        masks.prg_mask(b"abc", 4)
    with pytest.raises(TypeError, match="seed must be bytes, got str"):
        masks.prg_mask("k" * 32, 4)
    with pytest.raises(ValueError, match="length must be an integer >= 0, got -1"):
        masks.prg_mask(b"k" * 32, -1)


def test_masks_are_fresh_per_session_and_round():
    base = masks.self_mask(b"b" * 32, 4, session=S, round_id=0)
    assert not np.array_equal(base, masks.self_mask(b"b" * 32, 4, session=b"t" * 16, round_id=0))
    assert not np.array_equal(base, masks.self_mask(b"b" * 32, 4, session=S, round_id=1))
    # the self mask and the pair mask from one secret are different keys (domain separation)
    assert not np.array_equal(base, masks.pair_mask(b"b" * 32, 0, 1, 4, session=S, round_id=0))


def test_pair_mask_is_symmetric_and_sign_antisymmetric():
    assert np.array_equal(masks.pair_mask(b"x" * 32, 2, 5, 6, session=S, round_id=R),
                          masks.pair_mask(b"x" * 32, 5, 2, 6, session=S, round_id=R))
    assert masks.pair_sign(2, 5) == 1 and masks.pair_sign(5, 2) == -1
    with pytest.raises(ValueError, match="no pair mask with itself, got u = v = 3"):
        masks.pair_sign(3, 3)


def test_pair_masks_cancel_and_remove_masks_gives_the_sum():
    g = np.random.default_rng(0)
    ids = [0, 1, 2, 3]
    xs = {u: g.integers(0, 2**64, size=10, dtype=np.uint64) for u in ids}
    seeds = {u: g.bytes(32) for u in ids}
    shared = {(u, v): g.bytes(32) for u in ids for v in ids if u < v}
    s = lambda u, v: shared[(min(u, v), max(u, v))]  # noqa: E731
    ys = {u: masks.mask_input(xs[u], client_id=u, self_seed=seeds[u], pair_secrets={v: s(u, v) for v in ids if v != u},
                              session=S, round_id=R) for u in ids}
    total = sum(ys.values(), np.zeros(10, np.uint64))
    out = masks.remove_masks(total, self_seeds=seeds, dangling={}, session=S, round_id=R)
    assert np.array_equal(out, sum(xs.values(), np.zeros(10, np.uint64)))
    # client 3 dropped after sharing keys: the others' pair masks with 3 dangle and must be removed
    total3 = sum((ys[u] for u in ids[:3]), np.zeros(10, np.uint64))
    out3 = masks.remove_masks(total3, self_seeds={u: seeds[u] for u in ids[:3]},
                              dangling={(u, 3): s(u, 3) for u in ids[:3]}, session=S, round_id=R)
    assert np.array_equal(out3, sum((xs[u] for u in ids[:3]), np.zeros(10, np.uint64)))


def test_masked_input_includes_the_self_mask():
    x = np.zeros(4, np.uint64)
    y = masks.mask_input(x, client_id=0, self_seed=b"b" * 32, pair_secrets={}, session=S, round_id=R)
    assert np.array_equal(y, masks.self_mask(b"b" * 32, 4, session=S, round_id=R))
    assert not np.array_equal(y, x)


def test_secret_elements_round_trip_and_refusals():
    secret = bytes(range(32))
    assert masks.elements_to_secret(masks.secret_to_elements(secret)) == secret
    assert np.all(masks.secret_to_elements(b"\xff" * 32) < 2**16)
    with pytest.raises(ValueError, match="secret must be 32 bytes, got 5"):
        masks.secret_to_elements(b"short")
    with pytest.raises(ValueError, match=r"16 elements in \[0, 2\^16\)"):
        masks.elements_to_secret(np.full(16, 2**16))


def test_minimum_threshold():
    assert masks.minimum_threshold(5) == 3 and masks.minimum_threshold(4) == 3 and masks.minimum_threshold(100) == 51
    with pytest.raises(ValueError, match="n_clients must be an integer >= 2, got 1"):
        masks.minimum_threshold(1)


@settings(max_examples=40, deadline=None)
@given(ids=st.sets(st.integers(0, 10**6), min_size=2, max_size=6), length=st.integers(1, 33),
       seed=st.integers(0, 2**32 - 1), n_dropped=st.integers(0, 2))
def test_unmasking_recovers_the_sum_for_any_ids_and_dropouts(ids, length, seed, n_dropped):
    g = np.random.default_rng(seed)
    ids = sorted(ids)
    dropped = ids[: min(n_dropped, len(ids) - 1)]  # shared keys, never sent y
    alive = [u for u in ids if u not in dropped]
    xs = {u: g.integers(0, 2**64, size=length, dtype=np.uint64) for u in ids}
    seeds = {u: g.bytes(32) for u in ids}
    shared = {frozenset((u, v)): g.bytes(32) for u in ids for v in ids if u < v}
    ys = [masks.mask_input(xs[u], client_id=u, self_seed=seeds[u],
                           pair_secrets={v: shared[frozenset((u, v))] for v in ids if v != u}, session=S, round_id=3)
          for u in alive]
    out = masks.remove_masks(sum(ys, np.zeros(length, np.uint64)), self_seeds={u: seeds[u] for u in alive},
                             dangling={(u, v): shared[frozenset((u, v))] for u in alive for v in dropped},
                             session=S, round_id=3)
    assert np.array_equal(out, sum((xs[u] for u in alive), np.zeros(length, np.uint64)))
