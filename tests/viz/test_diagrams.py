"""The course's diagrams: every protocol fact a figure shows is the package's, and every figure renders headless."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ppml_lab import seeded_rng
from ppml_lab.viz import diagrams as D


def texts(fig: Figure) -> str:
    return "\n".join(D.figure_texts(fig))


def flat(fig: Figure) -> str:
    return " ".join(texts(fig).split())


def png_size(fig: Figure) -> tuple[int, int]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# ---------------------------------------------------------------------------------------------
# 1. secure aggregation
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secagg_masked():
    return D.secagg_transcript(n_clients=5, drop_after="masked_input", rng=seeded_rng(1))


def test_secagg_rounds_are_the_packages_rounds():
    from ppml_lab.fl.secagg import protocol
    from ppml_lab.fl.secagg.client import SecAggClient
    from ppml_lab.fl.secagg.server import SecAggServer

    assert [r.number for r in D.SECAGG_ROUNDS] == [0, 1, 2, 3, 4]
    for r in D.SECAGG_ROUNDS:
        assert f"Round {r.number} {r.name}" in " ".join(protocol.__doc__.split())  # named as the package names it
        assert callable(getattr(SecAggClient, r.client_method))
        assert callable(getattr(SecAggServer, r.server_method))


def test_secagg_figure_shows_every_round_and_the_message_classes_sent():
    from ppml_lab.fl.secagg.client import ShareBundle
    from ppml_lab.fl.secagg.messages import AdvertiseKeys, ConsistencySignature, MaskedInput, UnmaskResponse

    fig = D.secagg_figure(n_clients=5, rng=seeded_rng(1))
    shown = texts(fig)
    for r in D.SECAGG_ROUNDS:
        assert f"Round {r.number}\n{r.name}" in shown
    for cls in (AdvertiseKeys, ShareBundle, MaskedInput, ConsistencySignature, UnmaskResponse):
        assert cls.__name__ in shown
    assert "offline (dropped)" in shown and "unmasked sum exact: True" in shown
    w, _ = png_size(fig)
    assert w <= 1100


def test_secagg_dropout_after_masked_input_reveals_its_self_mask_seed(secagg_masked):
    tr = secagg_masked
    d = tr["dropped"]
    assert d == 4 and d in tr["u3"] and tr["exact"]
    assert d in tr["b_revealed_for"] and tr["sk_revealed_for"] == ()
    assert set(tr["revealed"]) == set(tr["u3"]) - {d}  # the survivors answer, the dropped client does not
    names = [tr["rounds"][i]["sent"][d] for i in range(5)]
    assert [n is None for n in names] == [False, False, False, True, True]
    assert tr["rounds"][2]["sent"][d][1] == 8 * 4  # y_d: 4 uint64 values


def test_secagg_dropout_before_masked_input_reveals_its_key_instead():
    tr = D.secagg_transcript(n_clients=5, dropped=1, drop_after="share_keys", rng=seeded_rng(2))
    assert 1 in tr["u2"] and 1 not in tr["u3"] and tr["exact"]
    assert tr["sk_revealed_for"] == (1,) and 1 not in tr["b_revealed_for"]
    fig = D.secagg_figure(n_clients=5, dropped=1, drop_after="share_keys", rng=seeded_rng(2))
    assert "it is not in U3, so the survivors reveal shares of its mask-agreement key s^SK" in texts(fig)


def test_secagg_refuses_an_unknown_phase():
    with pytest.raises(ValueError, match="drop_after must be one of .*got 'bogus'"):
        D.secagg_transcript(drop_after="bogus")


def test_secagg_refuses_names_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"names must give one name per client \(5\), got 2"):
        D.secagg_transcript(names=["a", "b"])


# ---------------------------------------------------------------------------------------------
# 2. Beaver
# ---------------------------------------------------------------------------------------------
def test_beaver_formula_is_beavers_and_is_the_one_drawn():
    # Beaver 1991: [z] = [c] + d[b] + e[a] + de, de added once
    assert D.beaver_formula() == "[z]_i = [c]_i + d*[b]_i + e*[a]_i  (+ d*e at party 0 only)"
    fig = D.beaver_figure(6, 7, rng=seeded_rng(7), insecure_seeded_keys=True)
    shown = texts(fig)
    assert D.beaver_formula() in shown
    assert "[z]_0 = [c]_0 + d*[b]_0 + e*[a]_0 + d*e" in shown
    assert "[z]_1 = [c]_1 + d*[b]_1 + e*[a]_1" in shown and "[z]_1 = [c]_1 + d*[b]_1 + e*[a]_1 + d*e" not in shown
    assert "= 42" in shown


@pytest.mark.parametrize("x, y, n", [(6, 7, 2), (-13, 1000, 3), (0, 5, 4)])
def test_beaver_facts_come_from_one_real_multiplication(x, y, n):
    f = D.beaver_facts(x, y, n_parties=n, rng=seeded_rng(3), insecure_seeded_keys=True)
    assert f["z"] == x * y and f["product_ok"]
    assert all(f["checks"].values()) and set(f["checks"]) == {"c = a*b", "d = x - a", "e = y - b"}
    assert f["triples_issued"] == 1


def test_beaver_openings_drawn_are_the_runs(monkeypatch):
    runs = []
    real = D.beaver_facts

    def spy(*args, **kw):
        runs.append(real(*args, **kw))
        return runs[-1]

    monkeypatch.setattr(D, "beaver_facts", spy)
    shown = texts(D.beaver_figure(6, 7))
    (f,) = runs
    assert f"d = x - a = {D._hex(f['d'])}" in shown and f"e = y - b = {D._hex(f['e'])}" in shown
    assert f"= {f['z']}" in shown


def test_beaver_refuses_one_party():
    with pytest.raises(ValueError, match="n_parties"):
        D.beaver_facts(n_parties=1)


# ---------------------------------------------------------------------------------------------
# 3. CKKS
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ctx():
    from ppml_lab.he.ckks import CKKSContext, preset

    return CKKSContext(preset("depth2-n8192"))  # notebook 06's context


def _is_prime(q: int) -> bool:  # deterministic Miller-Rabin for q < 3.3e24 (bases = first 13 primes)
    if q < 2:
        return False
    d, s = q - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, q)
        if x in (1, q - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, q)
            if x == q - 1:
                break
        else:
            return False
    return True


def test_ckks_chain_is_the_contexts(ctx):
    ch = D.ckks_chain(ctx)
    p = ctx.params
    assert ch["bit_sizes"] == list(p.coeff_mod_bit_sizes)
    assert [q.bit_length() for q in ch["primes"]] == list(p.coeff_mod_bit_sizes)
    assert all(_is_prime(q) and q % (2 * p.poly_modulus_degree) == 1 for q in ch["primes"])
    assert len(set(ch["primes"])) == len(ch["primes"])
    # q0 alone is one 64-bit word: TenSEAL gives it exactly
    data = ctx.tenseal_context.seal_context().data
    assert ch["primes"][0] == int(data.last_context_data().total_coeff_modulus())
    assert math.prod(ch["primes"]).bit_length() == data.key_context_data().total_coeff_modulus_bit_count()


def test_ckks_rescaling_drops_one_prime_per_multiply(ctx):
    ch = D.ckks_chain(ctx)
    steps = ch["steps"]
    assert [s["level"] for s in steps] == list(range(ch["depth"] + 1))
    assert [s["primes_left"] for s in steps] == list(range(ch["depth"] + 1, 0, -1))
    assert [s["dropped"] for s in steps[1:]] == ch["primes"][ch["depth"]:0:-1]  # the last prime goes first
    for s in steps[1:]:
        exact = 2 * ch["scale_bits"] - math.log2(s["dropped"])  # Delta^2 / q  (Cheon et al. 2017, Sec. 3)
        assert abs(s["log2_scale_exact"] - exact) < 1e-9 and abs(s["log2_scale_exact"] - ch["scale_bits"]) < 1e-3


def test_ckks_figure_draws_the_contexts_primes(ctx):
    fig = D.ckks_chain_figure(ctx)
    shown = texts(fig)
    ch = D.ckks_chain(ctx)
    for q in ch["primes"]:
        assert str(q) in shown
    assert str(list(ctx.params.coeff_mod_bit_sizes)) in shown
    bars = sorted(p.get_width() for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_width() > 0)
    drawn = sorted([*ch["bit_sizes"], *[b for k in range(ch["depth"] + 1) for b in ch["bit_sizes"][: k + 1]]])
    assert bars == drawn


def test_ckks_chain_follows_another_preset():
    from ppml_lab.he.ckks import CKKSContext, preset

    small = CKKSContext(preset("depth1-n4096"))
    ch = D.ckks_chain(small)
    assert [q.bit_length() for q in ch["primes"]] == [42, 25, 42] and len(ch["steps"]) == 2
    assert all(q % 8192 == 1 for q in ch["primes"])


def test_ckks_chain_refuses_a_non_context():
    with pytest.raises(TypeError, match="ctx"):
        D.ckks_chain("depth2-n8192")


# ---------------------------------------------------------------------------------------------
# 4. DP-SGD
# ---------------------------------------------------------------------------------------------
def test_dp_sgd_facts_are_one_real_step():
    from ppml_lab.dp.accounting import RDPAccountant

    f = D.dp_sgd_facts(max_grad_norm=1.0, noise_multiplier=1.3, batch_size=6, dataset_size=600, rng=seeded_rng(3))
    raw, clip, c = f["raw"], f["clipped"], f["max_grad_norm"]
    assert f["sample_rate"] == 6 / 600 and f["expected_batch_size"] == pytest.approx(6.0)  # divide by qN
    norms = np.linalg.norm(raw, axis=1)
    assert np.allclose(norms, f["norms"])
    assert np.allclose(clip, raw * np.minimum(1.0, c / norms)[:, None])  # g_i * min(1, C/||g_i||)
    assert (norms > c).any() and (norms <= c).any()  # the picture shows both cases
    assert np.all(np.linalg.norm(clip, axis=1) <= c + 1e-9)
    assert np.allclose(f["sum"], clip.sum(axis=0))
    assert np.allclose(f["noisy_mean"], (f["sum"] + f["noise"]) / f["expected_batch_size"])
    assert np.allclose(f["theta_next"], f["theta"] - f["lr"] * f["noisy_mean"])
    acc = RDPAccountant()
    acc.step(noise_multiplier=1.3, sample_rate=f["sample_rate"], steps=f["steps"])
    assert f["epsilon"] == acc.get_epsilon(f["delta"]) and f["unit"] == "record"


def test_dp_sgd_figure_states_the_accountants_epsilon_and_unit():
    from ppml_lab.dp.ledger import format_spend

    f = D.dp_sgd_facts(rng=seeded_rng(3))
    shown = texts(D.dp_sgd_figure(rng=seeded_rng(3)))
    assert f"epsilon = {format_spend(f['epsilon'])} per record at delta = 1e-05" in shown
    for stage in ("clip: g_i * min(1, C/||g_i||)", "+ N(0, sigma^2 C^2 I)", "/ expected lot size"):
        assert stage in shown
    assert f"{int((f['norms'] > 1.0).sum())} of 6 outside C" in shown


def test_dp_sgd_refuses_a_zero_clipping_norm():
    with pytest.raises(ValueError, match="max_grad_norm"):
        D.dp_sgd_facts(max_grad_norm=0.0)


# ---------------------------------------------------------------------------------------------
# 5. Deployment topology
# ---------------------------------------------------------------------------------------------
def _cfg(**kw):
    from ppml_lab.fl.deploy import DeploymentConfig

    base = dict(n_supernodes=5, rounds=2, secagg=True, threshold=3, min_clients=5, tls=True, node_auth=True,
                sign_app=True, dp_noise_multiplier=1.0, dp_max_update_norm=1.5)
    base.update(kw)
    return DeploymentConfig(**base)


def test_topology_follows_the_config_of_notebook_12():
    from ppml_lab.fl.deploy import PUBLISHER_KEY_ID
    from ppml_lab.fl.deploy.superlink_guard import FLEET_PREFIX

    shown = " ".join(texts(D.deployment_topology_figure(_cfg())).split())  # boxes wrap their text
    for k in range(5):
        assert f"SuperNode {k}" in shown
    for fact in ("SecAgg+ masked updates (t = 3 of 5)", "HTTPS: TLS", "EC P-384", PUBLISHER_KEY_ID, FLEET_PREFIX,
                 "Control API (flwr run / ls): 127.0.0.1 only", "C = 1.5", "Singapore", "Vietnam",
                 "ServerApp inside the SuperLink process"):
        assert fact in shown, fact


def test_topology_without_the_locks_says_so():
    from ppml_lab.fl.deploy import PUBLISHER_KEY_ID

    shown = flat(D.deployment_topology_figure(_cfg(n_supernodes=3, threshold=None, min_clients=None, secagg=False,
                                                    tls=False, node_auth=False, sign_app=False,
                                                    dp_noise_multiplier=0.0, inprocess_apps=False)))
    assert "plain HTTP (--insecure)" in shown and "updates in the clear" in shown
    assert PUBLISHER_KEY_ID not in shown and "EC P-384" not in shown and "SecAgg+" not in shown
    assert "SuperExec -> one ClientApp process per message" in shown and "hospital 2" in shown


def test_topology_refuses_a_non_config():
    with pytest.raises(TypeError, match="config"):
        D.deployment_links({"n_supernodes": 5})


# ---------------------------------------------------------------------------------------------
# 6. Capstone
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def table():
    from ppml_lab.report import TechniqueMeasurement, technique_table

    return technique_table([
        TechniqueMeasurement("plaintext", "train (pooled)", 0.99, 0.99, 1.0, 1.0, 20000.0),
        TechniqueMeasurement("DP", "train (pooled)", 0.98, 0.99, 2.5, 1.0, 20000.0),
        TechniqueMeasurement("FL+SecAgg+DP", "train (10 rounds)", 0.95, 0.99, 40.0, 1.0, 3000.0),
        TechniqueMeasurement("Paillier", "aggregate 5 updates", 0.96, 0.96, 5e4, 1.0, 16000.0),
    ])


def test_capstone_plots_the_tables_numbers(table):
    fig = D.privacy_utility_cost_figure(table, epsilons={"DP": (2.581, "patient"), "FL+SecAgg+DP": (19.06, "hospital")})
    pts = [tuple(c.get_offsets()[0]) for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    want = list(zip(table["compute overhead (x)"], table["accuracy cost (pp)"]))
    assert np.allclose(pts, want)
    widths = [p.get_width() for p in fig.axes[1].patches if isinstance(p, Rectangle)]
    assert np.allclose(widths, table["bytes per client"])
    shown = texts(fig)
    assert "eps = 2.581 per patient" in shown and "eps = 19.06 per hospital" in shown
    assert "Paillier\nno DP" in shown and "plaintext\nno DP" in shown


def test_capstone_refuses_a_table_without_its_columns(table):
    with pytest.raises(ValueError, match=r"missing \['bytes per client'\]"):
        D.privacy_utility_cost_figure(table.drop(columns=["bytes per client"]))


def test_capstone_refuses_an_epsilon_for_an_unknown_row(table):
    with pytest.raises(ValueError, match="'CKKS', which is not a row"):
        D.privacy_utility_cost_figure(table, epsilons={"CKKS": (1.0, "patient")})


def test_capstone_refuses_an_epsilon_without_its_unit(table):
    with pytest.raises(TypeError, match=r"epsilons\['DP'\] must be \(epsilon, unit\)"):
        D.privacy_utility_cost_figure(table, epsilons={"DP": 2.581})


def test_capstone_refuses_a_non_positive_epsilon(table):
    with pytest.raises(ValueError, match="epsilon"):
        D.privacy_utility_cost_figure(table, epsilons={"DP": (0.0, "patient")})


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def test_figure_texts_refuses_a_non_figure():
    with pytest.raises(TypeError, match="fig"):
        D.figure_texts("not a figure")


def test_figures_render_headless_at_notebook_width(ctx, table):
    figs = [D.beaver_figure(rng=seeded_rng(1), insecure_seeded_keys=True), D.ckks_chain_figure(ctx),
            D.dp_sgd_figure(rng=seeded_rng(1)), D.deployment_topology_figure(_cfg()),
            D.privacy_utility_cost_figure(table)]
    for fig in figs:
        assert isinstance(fig, D.DiagramFigure)
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # shows inline in Jupyter even without pyplot
        w, h = png_size(fig)
        assert 600 <= w <= 1100 and 150 <= h <= 700
