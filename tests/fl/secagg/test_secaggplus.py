"""SecAgg+ (Bell et al., CCS 2020): sums, the neighbour graph, attacks refused, bad inputs, Flower's sum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import hypergeom

from ppml_lab._rng import key_rng
from ppml_lab.attacks import secagg_server as atk
from ppml_lab.exceptions import AuthenticationError, DropoutThresholdError, UnmaskRefusedError
from ppml_lab.fl.secagg import secaggplus as sp
from ppml_lab.fl.secagg.client import _new_key, public_bytes
from ppml_lab.fl.secagg.messages import AdvertiseKeys

N, D = 16, 40


def _inputs(n: int = N, d: int = D, seed: int = 0) -> dict[int, np.ndarray]:
    g = np.random.default_rng(seed)
    return {i: g.integers(0, 2**64 - 1, size=d, dtype=np.uint64, endpoint=True) for i in range(n)}


def _ring_sum(xs: dict[int, np.ndarray], ids) -> np.ndarray:
    total = np.zeros(D if not xs else next(iter(xs.values())).size, dtype=np.uint64)
    for i in ids:
        total += xs[i]  # mod 2^64
    return total


# --- correctness -------------------------------------------------------------------------------------
def test_sum_equals_plaintext_ring_sum_without_dropouts():
    xs = _inputs()
    res = sp.secaggplus_aggregate(xs)
    assert res.included == tuple(range(N))
    np.testing.assert_array_equal(res.total, _ring_sum(xs, range(N)))


@pytest.mark.parametrize("dropouts", [
    {"advertise": [3]},
    {"share_keys": [5]},
    {"masked_input": [7]},
    {"unmask": [2]},
    {"share_keys": [1], "masked_input": [9], "unmask": [12]},
])
def test_sum_with_dropouts_equals_ring_sum_over_included(dropouts):
    xs = _inputs(n=24)
    res = sp.secaggplus_aggregate(xs, degree=8, threshold=6, dropouts=dropouts)
    gone = {c for p in ("advertise", "share_keys") for c in dropouts.get(p, [])}
    assert set(res.included) == set(range(24)) - gone
    np.testing.assert_array_equal(res.total, _ring_sum(xs, res.included))


def test_complete_graph_degree_n_minus_1_is_bonawitz_sized():
    xs = _inputs(n=7)
    res = sp.secaggplus_aggregate(xs, degree=6, threshold=5, dropouts={"share_keys": [0]})
    np.testing.assert_array_equal(res.total, _ring_sum(xs, res.included))


def test_too_many_dropouts_in_one_neighbourhood_abort_never_wrong_sum():
    xs = _inputs(n=12)
    clients, server = sp.make_plus_round(xs, degree=4, threshold=4)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    victim = 0
    drop = sorted(server.graph.neighbours(victim))[:2]  # N[0] has 5 members; 2 gone leaves 3 < t = 4
    with pytest.raises(DropoutThresholdError):
        sp.secaggplus_aggregate(xs, degree=4, threshold=4, dropouts={"unmask": [victim, *drop]})


def test_per_client_bytes_grow_with_degree_not_with_n():
    small = sp.secaggplus_aggregate(_inputs(n=12), degree=4, threshold=4)
    large = sp.secaggplus_aggregate(_inputs(n=40), degree=4, threshold=4)
    # same k: the same number of share bundles and signatures per client, whatever n
    assert large.mean_bytes_sent == pytest.approx(small.mean_bytes_sent, rel=0.02)


# --- the graph -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,k", [(10, 4), (31, 6), (50, 10), (8, 7)])
def test_graph_is_k_regular_symmetric_loop_free(n, k):
    g = sp.harary_graph(range(n), degree=k, seed=bytes(32))
    assert set(g) == set(range(n))
    for u, nb in g.items():
        assert len(nb) == k and u not in nb
        for v in nb:
            assert u in g[v]


def _connected(nodes: set[int], g: dict[int, frozenset[int]]) -> bool:
    if not nodes:
        return True
    start = next(iter(nodes))
    seen, todo = {start}, [start]
    while todo:
        for v in g[todo.pop()] & nodes:
            if v not in seen:
                seen.add(v)
                todo.append(v)
    return seen == nodes


def test_graph_is_k_connected_removing_fewer_than_k_nodes():
    n, k = 14, 4
    g = sp.harary_graph(range(n), degree=k, seed=b"\x01" * 32)
    for removed in itertools.combinations(range(n), k - 1):
        assert _connected(set(range(n)) - set(removed), g)


def test_disconnection_exactly_when_two_runs_of_half_k_removed():
    n, k = 30, 4
    graph = sp.NeighbourGraph.build(range(n), degree=k, seed=b"\x02" * 32)
    g = graph.as_dict()
    rng = np.random.default_rng(5)
    saw_disconnected = False
    for _ in range(400):
        removed = set(rng.choice(n, size=int(rng.integers(4, 16)), replace=False).tolist())
        flags = [graph.order[i] in removed for i in range(n)]
        runs = 0  # maximal cyclic runs of >= k/2 removed ring positions
        if not all(flags):
            start = flags.index(False)
            run = 0
            for j in range(1, n + 1):
                if flags[(start + j) % n]:
                    run += 1
                else:
                    runs += run >= k // 2
                    run = 0
        disconnected = not _connected(set(range(n)) - removed, g)
        saw_disconnected |= disconnected
        assert disconnected == (runs >= 2)
    assert saw_disconnected


def test_disconnection_bound_zero_below_k_and_upper_bounds_monte_carlo():
    assert sp.disconnection_bound(100, degree=6, removed=5) == 0.0
    n, k, m = 60, 4, 14
    bound = sp.disconnection_bound(n, degree=k, removed=m)
    graph = sp.NeighbourGraph.build(range(n), degree=k, seed=b"\x03" * 32)
    g, rng, hits, trials = graph.as_dict(), np.random.default_rng(7), 0, 2000
    for _ in range(trials):
        removed = set(rng.choice(n, size=m, replace=False).tolist())
        hits += not _connected(set(range(n)) - removed, g)
    # a union bound: >= the frequency, up to 3 binomial standard errors (false failure < 0.2 %)
    assert hits / trials <= bound + 3 * np.sqrt(bound * (1 - min(bound, 1)) / trials) + 1e-9
    assert hits > 0


def test_neighbourhood_risk_matches_scipy_hypergeometric_union_bound():
    n, k, t, c = 1000, 20, 14, 50
    tail = hypergeom(n - 1, c, k).sf(2 * t - (k + 2) - 1)  # Pr[c_v >= 2t - k - 2]
    assert sp.neighbourhood_risk(n, degree=k, threshold=t, colluders=c) == pytest.approx((n - c) * tail, rel=1e-9)
    assert sp.neighbourhood_risk(n, degree=k, threshold=t, colluders=0) == 0.0


def test_each_client_derives_the_same_graph_as_the_server():
    xs = _inputs(n=10)
    clients, server = sp.make_plus_round(xs, degree=4, threshold=4)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    for u, c in clients.items():
        c.share_keys(server.keys_for(u), server.u1)
        assert c.graph.neighbours(u) == server.graph.neighbours(u)


def test_recommended_degree_is_logarithmic():
    assert sp.recommended_degree(100) == 14 and sp.recommended_degree(1000) == 20
    assert sp.recommended_degree(5) == 4  # capped at n - 1


# --- attacks -------------------------------------------------------------------------------------------
def _rounds_0_to_2(n=12, k=4, t=4, seed=0):
    xs = _inputs(n=n, seed=seed)
    clients, server = sp.make_plus_round(xs, degree=k, threshold=t)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(server.keys_for(u), server.u1) for u, c in clients.items()})
    server.collect_masked([clients[u].masked_input(inbox[u]) for u in sorted(clients)])
    return xs, clients, server


@pytest.mark.attack
def test_ask_twice_raw_bonawitz_falls_secaggplus_refuses():
    xs = _inputs(n=5)
    np.testing.assert_array_equal(atk.ask_twice_attack(xs, victim=0, threshold=3, level="raw"), xs[0])
    _, clients, server = _rounds_0_to_2()
    server.collect_signatures([c.consistency_check(server.view_for(u)) for u, c in clients.items()])
    request = server.unmask_request()
    first = {u: c.unmask(request) for u, c in clients.items()}
    assert all(first.values())
    for u in server.graph.neighbours(0):
        with pytest.raises(UnmaskRefusedError, match="already answered"):
            clients[u].unmask(request)  # even the same, validly signed request is answered once
    lie = sp.PlusUnmaskRequest(server.session, server.round_id, {w: tuple(v for v in view if v != 0)
                                                                    for w, view in server.views.items()},
                               server.signatures)
    for u in server.graph.neighbours(0):
        with pytest.raises(UnmaskRefusedError):
            clients[u].unmask(lie)  # answer-once


@pytest.mark.attack
def test_split_views_raw_bonawitz_falls_secaggplus_never_yields_both_shares():
    xs = _inputs(n=5)
    np.testing.assert_array_equal(atk.false_dropout_attack(xs, victim=0, threshold=3, level="raw"), xs[0])
    _, clients, server = _rounds_0_to_2(n=14, k=6, t=5)
    victim = 0
    nb = sorted(server.graph.neighbours(victim))
    says_out = set(nb[3:])  # half of N(v) told "v dropped"; the other half, honestly, "v survived"
    views, sigs = {}, {}
    for u, c in clients.items():
        view = server.view_for(u)
        if u in says_out:
            view = [v for v in view if v != victim]
        s = c.consistency_check(view)
        views[u], sigs[u] = s.u3, s.signature
    req = sp.PlusUnmaskRequest(server.session, server.round_id, views, sigs)
    b_shares = sk_shares = 0
    for u in nb:
        try:
            r = clients[u].unmask(req)
        except UnmaskRefusedError:
            continue
        b_shares += victim in r.b_shares
        sk_shares += victim in r.sk_shares
    assert b_shares < server.threshold or sk_shares < server.threshold
    # with the split, neither verdict reaches t signers in N[v]: every neighbour refuses
    assert b_shares == sk_shares == 0


@pytest.mark.attack
def test_signing_a_second_view_is_refused():
    _, clients, server = _rounds_0_to_2()
    c, view = clients[3], server.view_for(3)
    c.consistency_check(view)
    other = next(v for v in view if v != 3)
    with pytest.raises(UnmaskRefusedError, match="second view"):
        c.consistency_check([v for v in view if v != other])  # "your neighbour dropped", told after signing


@pytest.mark.attack
def test_key_swap_raw_bonawitz_falls_secaggplus_refuses():
    xs = _inputs(n=5)
    np.testing.assert_array_equal(atk.key_swap_attack(xs, victim=0, threshold=3, level="raw"), xs[0])
    xs = _inputs(n=10)
    clients, server = sp.make_plus_round(xs, degree=4, threshold=4)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    view = server.keys_for(0)
    g = key_rng(None)
    for w in list(view):
        if w != 0:
            m, c_sk, s_sk = view[w], _new_key(g), _new_key(g)
            view[w] = AdvertiseKeys(m.session, m.round_id, w, public_bytes(c_sk.public_key()),
                                    public_bytes(s_sk.public_key()), m.signature)
    with pytest.raises(AuthenticationError):
        clients[0].share_keys(view, server.u1)


@pytest.mark.attack
def test_server_chosen_neighbourhood_is_refused():
    xs = _inputs(n=10)
    clients, server = sp.make_plus_round(xs, degree=4, threshold=4)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    honest = set(server.graph.closed(0))
    accomplices = sorted(set(range(10)) - honest)[:4]  # a neighbourhood of the server's choosing
    with pytest.raises(AuthenticationError):
        clients[0].share_keys({w: server.keys[w] for w in [0, *accomplices]}, server.u1)


@pytest.mark.attack
def test_unmask_without_enough_valid_signatures_is_refused():
    _, clients, server = _rounds_0_to_2()
    server.collect_signatures([c.consistency_check(server.view_for(u)) for u, c in clients.items()])
    forged = {w: bytes(64) for w in server.signatures}
    with pytest.raises(UnmaskRefusedError):
        clients[1].unmask(sp.PlusUnmaskRequest(server.session, server.round_id, dict(server.views), forged))


# --- bad inputs ----------------------------------------------------------------------------------------
def test_odd_degree_refused():
    with pytest.raises(ValueError, match="degree must be even"):
        sp.secaggplus_aggregate(_inputs(n=10), degree=5)


def test_degree_above_n_minus_1_refused():
    with pytest.raises(ValueError, match="degree"):
        sp.secaggplus_aggregate(_inputs(n=6), degree=6)


def test_degree_not_int_refused():
    with pytest.raises(TypeError, match="degree"):
        sp.secaggplus_aggregate(_inputs(n=6), degree=4.0)


def test_threshold_below_neighbourhood_majority_refused():
    with pytest.raises(ValueError, match="2t > k"):
        sp.secaggplus_aggregate(_inputs(n=10), degree=4, threshold=2)


def test_threshold_above_neighbourhood_size_refused():
    with pytest.raises(ValueError, match="between 4 and 5"):
        sp.secaggplus_aggregate(_inputs(n=10), degree=4, threshold=6)


def test_float_inputs_refused():
    with pytest.raises(TypeError, match="uint64"):
        sp.secaggplus_aggregate({0: np.zeros(3), 1: np.zeros(3), 2: np.zeros(3)})


def test_colluders_out_of_range_refused():
    with pytest.raises(ValueError, match="colluders"):
        sp.neighbourhood_risk(10, degree=4, threshold=4, colluders=10)


def test_removed_out_of_range_refused():
    with pytest.raises(ValueError, match="removed"):
        sp.disconnection_bound(10, degree=4, removed=11)


def test_seed_of_wrong_length_refused():
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        sp.harary_graph(range(5), degree=2, seed=b"short")


def test_unmask_request_of_wrong_type_refused():
    _, clients, server = _rounds_0_to_2()
    with pytest.raises(TypeError, match="PlusUnmaskRequest"):
        clients[0].unmask(object())


# --- against Flower ------------------------------------------------------------------------------------
def test_same_sum_as_flower_secaggplus_on_the_same_quantised_vectors():
    pytest.importorskip("flwr")
    from ppml_lab.fl.secagg.flower_secaggplus import flower_secaggplus_sum

    g = np.random.default_rng(3)
    n, d, r = 10, 64, 2**20
    q = {i: g.integers(0, r, size=d) for i in range(n)}
    theirs = flower_secaggplus_sum(q, num_shares=7, threshold=5, target_range=r, drop_after_share_keys=[4])
    ours = sp.secaggplus_aggregate({i: v.astype(np.uint64) for i, v in q.items()}, degree=6, threshold=5,
                                   dropouts={"share_keys": [4]})
    assert ours.included == theirs.survivors == tuple(i for i in range(n) if i != 4)
    expected = sum(q[i] for i in ours.included)
    np.testing.assert_array_equal(theirs.total, expected % 2**32)
    np.testing.assert_array_equal(ours.total.astype(np.int64), expected)


def test_degree_for_risk_is_the_smallest_degree_meeting_the_bound():
    n, c, target = 1000, 50, 2.0**-40
    k = sp.degree_for_risk(n, colluders=c, max_risk=target)
    assert sp.neighbourhood_risk(n, degree=k, threshold=sp.default_threshold(k), colluders=c) <= target
    assert sp.neighbourhood_risk(n, degree=k - 2, threshold=sp.default_threshold(k - 2), colluders=c) > target
    # the cost-oriented default is far from that against 5% colluders
    k0 = sp.recommended_degree(n)
    assert k0 < k and sp.neighbourhood_risk(n, degree=k0, threshold=sp.default_threshold(k0), colluders=c) > 1e-3


def test_max_risk_out_of_range_refused():
    with pytest.raises(ValueError, match="max_risk"):
        sp.degree_for_risk(100, colluders=5, max_risk=1.5)


@pytest.mark.attack
def test_reduced_peer_set_then_consistent_dropout_is_refused():
    """Withhold from v all but t - 1 neighbours' shares, declare those dropped: needs k + 2 - t >= t attesters."""

    n, k, t, victim = 14, 6, 5, 0
    xs = _inputs(n=n, seed=9)
    clients, server = sp.make_plus_round(xs, degree=k, threshold=t)
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(server.keys_for(u), server.u1) for u, c in clients.items()})
    reduced = sorted(server.graph.neighbours(victim))[: t - 1]
    inbox[victim] = {r: inbox[victim][r] for r in reduced}  # the victim masks with R only: |U2_v| = t
    msgs = {u: clients[u].masked_input(inbox[u]) for u in sorted(clients)}
    server.collect_masked(msgs.values())
    u3 = set(clients) - set(reduced)  # "R dropped", told consistently to everyone
    views, sigs = {}, {}
    for u in sorted(u3):
        s = clients[u].consistency_check(sorted(u3 & server.graph.closed(u) & set(clients[u]._u2)))
        views[u], sigs[u] = s.u3, s.signature
    req = sp.PlusUnmaskRequest(server.session, server.round_id, views, sigs)
    for w in sorted(server.graph.closed(victim) - set(reduced)):  # all who could reveal b_v
        with pytest.raises(UnmaskRefusedError):
            clients[w].unmask(req)  # only k + 2 - t = 3 < t members of N[v] attest "v survived"
    # with t = 4 = (k + 2) / 2 the attack would go through: that threshold is refused up front
    with pytest.raises(ValueError, match="2t > k \\+ 2"):
        sp.make_plus_round(xs, degree=k, threshold=4)
    # and forcing it past validation shows why (the attack recovers x_v)
    resp = _forced_low_threshold_attack(xs, k=k, victim=victim)
    assert resp


def _forced_low_threshold_attack(xs, *, k, victim):
    from ppml_lab.fl.secagg import masks
    from ppml_lab.fl.secagg.client import agree
    from ppml_lab.fl.secagg.server import reconstruct_secret

    t = (k + 2) // 2  # 2t = k + 2: one below the bound
    orig = sp._check_plus_threshold
    sp._check_plus_threshold = lambda threshold, degree: int(threshold)
    try:
        clients, server = sp.make_plus_round(xs, degree=k, threshold=t)
    finally:
        sp._check_plus_threshold = orig
    server.collect_keys([c.advertise_keys() for c in clients.values()])
    inbox = server.route_shares({u: c.share_keys(server.keys_for(u), server.u1) for u, c in clients.items()})
    order, pos = server.graph.order, server.graph.position[victim]
    reduced = [order[(pos + j) % len(order)] for j in range(1, t)]  # t - 1 partners on one side of the ring
    inbox[victim] = {r: inbox[victim][r] for r in reduced}
    msgs = {u: clients[u].masked_input(inbox[u]) for u in sorted(clients)}
    server.collect_masked(msgs.values())
    u3 = set(clients) - set(reduced)
    views, sigs = {}, {}
    for u in sorted(u3):
        s = clients[u].consistency_check(sorted(u3 & server.graph.closed(u) & set(clients[u]._u2)))
        views[u], sigs[u] = s.u3, s.signature
    req = sp.PlusUnmaskRequest(server.session, server.round_id, views, sigs)
    resp = {}
    for u in sorted(u3):
        try:
            resp[u] = clients[u].unmask(req)
        except UnmaskRefusedError:
            pass  # bystanders with several of R around them may refuse; the attack needs N[v] and N[r] only
    b_v = reconstruct_secret([r.b_shares[victim] for r in resp.values() if victim in r.b_shares], threshold=t, what="b_v")
    dangling = {}
    for r in reduced:
        s_r = reconstruct_secret([x.sk_shares[r] for x in resp.values() if r in x.sk_shares], threshold=t, what="s_r")
        dangling[(victim, r)] = agree(s_r, server.keys[victim].s_pk)
    x_v = masks.remove_masks(msgs[victim].vector, self_seeds={victim: b_v}, dangling=dangling,
                             session=server.session, round_id=server.round_id)
    np.testing.assert_array_equal(x_v, xs[victim])  # below the bound, the server reads x_v
    return True


@pytest.mark.attack
def test_default_degree_bounds_the_neighbourhood_risk(monkeypatch):
    # raw/teaching choice: Flower's k = 2 ceil(log2 n) leaves a large chance that some neighbourhood is
    # dominated by 5 % colluders; the default degree keeps that bound below 2^-40
    n, colluders = 1000, 50
    cheap = sp.recommended_degree(n)
    assert sp.neighbourhood_risk(n, degree=cheap, threshold=sp.default_threshold(cheap), colluders=colluders) > 1e-3
    k = sp.degree_for_risk(n, colluders=colluders)
    assert sp.neighbourhood_risk(n, degree=k, threshold=min(sp.default_threshold(k), k + 1), colluders=colluders) <= 2.0**-40
    chosen = []
    real = sp.degree_for_risk
    monkeypatch.setattr(sp, "degree_for_risk", lambda *a, **kw: chosen.append(real(*a, **kw)) or chosen[-1])
    res = sp.secaggplus_aggregate(_inputs(n=30))  # default: degree from the risk bound (here the complete graph)
    assert res.total is not None and chosen == [real(30, colluders=2)]
    with pytest.raises(ValueError, match="colluding_fraction must be a number in"):
        sp.secaggplus_aggregate(_inputs(n=10), colluding_fraction=0.6)
