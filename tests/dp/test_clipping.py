"""Clipping lives once, in ppml_lab.dp.clipping: every DP path of the package uses the same factor."""

import numpy as np
import pytest
import torch

from ppml_lab._rng import torch_generator
from ppml_lab.attacks.gradient_inversion import client_update, clip_and_noise, dp_client_update, make_model
from ppml_lab.dp import clipping
from ppml_lab.dp.dp_sgd import noisy_mean, per_sample_gradients


def test_factor_is_opacus_min_one_c_over_norm_plus_guard():
    norms = np.array([0.0, 0.5, 1.0, 2.0, 1e6])
    expected = np.minimum(1.0, 1.0 / (norms + 1e-6))  # opacus/optimizers/optimizer.py clip_and_accumulate
    np.testing.assert_array_equal(clipping.clip_factor(norms, max_grad_norm=1.0), expected)
    t = clipping.clip_factor(torch.tensor(norms), max_grad_norm=1.0)
    np.testing.assert_allclose(t.numpy(), expected, rtol=0, atol=0)


def test_clipped_norm_is_at_most_the_bound_up_to_one_rounding():
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1.0, 1e3, 1e9):
        u = rng.normal(size=1000) * scale
        clipped, norm = clipping.clip_update(u, max_update_norm=0.7)
        assert norm == pytest.approx(np.linalg.norm(u))
        assert np.linalg.norm(clipped) <= 0.7 * (1 + 2.0**-50)


def test_a_norm_equal_to_the_bound_is_scaled_by_c_over_c_plus_guard():
    # the constant matters where the norm is the bound itself: 1e-12 here would give another mechanism
    g = {"w": torch.tensor([[3.0, 4.0]])}  # norm 5
    clipped, norms = clipping.clip_per_sample(g, max_grad_norm=5.0)
    assert float(norms[0]) == 5.0
    assert float(clipped["w"].norm()) == pytest.approx(5.0 * 5.0 / (5.0 + 1e-6), rel=1e-7)
    assert float(clipped["w"].norm()) < 5.0 - 5e-7


def test_gradient_inversion_defence_is_the_dp_sgd_step():
    # notebook 10's "DP-SGD" defence is notebook 03's DP-SGD: same gradients, same clip, same noise
    torch.manual_seed(0)
    model = make_model(rng=1)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 3, 5, 9])
    ours = dp_client_update(model, x, y, max_grad_norm=0.5, noise_multiplier=0.3, rng=11)
    grads = per_sample_gradients(model, torch.nn.functional.cross_entropy, x, y)
    clipped, _ = clipping.clip_per_sample(grads, max_grad_norm=0.5)
    ref = noisy_mean(clipped, noise_multiplier=0.3, max_grad_norm=0.5, expected_batch_size=4, rng=torch_generator(11))
    for a, (name, _) in zip(ours, model.named_parameters(), strict=True):
        assert torch.equal(a, ref[name])


def test_client_level_clip_and_noise_uses_the_same_factor():
    model = make_model(rng=2)
    g = client_update(model, torch.rand(1, 1, 8, 8), torch.tensor([4]))
    out = clip_and_noise(g, max_grad_norm=0.01, noise_multiplier=1e-9, rng=0)
    norm = float(torch.sqrt(sum((t.double() ** 2).sum() for t in g)))
    factor = 0.01 / (norm + 1e-6)
    for a, b in zip(out, g, strict=True):
        torch.testing.assert_close(a, b.float() * factor, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_bad_bound_is_refused(bad):
    with pytest.raises(ValueError, match="max_update_norm must be a finite number"):
        clipping.clip_update(np.ones(3), max_update_norm=bad)
    with pytest.raises(ValueError, match="max_grad_norm must be a finite number"):
        clipping.clip_factor(np.ones(3), max_grad_norm=bad)


# -- Linear layers: norms and clipped sums from activations and output gradients ---------------------


def _per_record_linear_grads(a, g):
    """The materialised reference: grad_W l_i = sum_t g_it a_it^T, grad_b l_i = sum_t g_it."""
    a3, g3 = a.reshape(a.shape[0], -1, a.shape[-1]), g.reshape(g.shape[0], -1, g.shape[-1])
    return torch.einsum("btp,btd->bpd", g3, a3), g3.sum(dim=1)


@pytest.mark.parametrize(
    "shape_a, p",
    [((7, 5), 3), ((7, 3, 16), 16), ((7, 2, 2, 9), 11), ((7, 20, 3), 2)],
    ids=["flat", "ghost_rows", "ghost_4d", "einsum_rows"],  # which form linear_grad_sq_norms takes
)
def test_linear_norms_equal_materialised_per_record_gradients(shape_a, p):
    g = torch.Generator().manual_seed(len(shape_a) * 100 + p)
    a = torch.randn(*shape_a, generator=g, dtype=torch.float64)
    back = torch.randn(*shape_a[:-1], p, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3, 7).view(
        -1, *([1] * (len(shape_a) - 1))).double()
    gw, gb = _per_record_linear_grads(a, back)
    w_sq, b_sq = clipping.linear_grad_sq_norms(a, back)
    torch.testing.assert_close(w_sq, gw.pow(2).sum(dim=(1, 2)), rtol=1e-12, atol=0)
    torch.testing.assert_close(b_sq, gb.pow(2).sum(dim=1), rtol=1e-12, atol=0)
    # the clipped sum, with the one clip factor, equals clip_per_sample on the materialised gradients
    norms = (w_sq + b_sq).sqrt()
    c = float(norms.median())
    factor = clipping.clip_factor(norms, max_grad_norm=c)
    w, b = clipping.clipped_linear_grad_sum(a, back, factor)
    clipped, ref_norms = clipping.clip_per_sample({"w": gw, "b": gb}, max_grad_norm=c)
    torch.testing.assert_close(norms, ref_norms, rtol=1e-12, atol=0)
    torch.testing.assert_close(w, clipped["w"].sum(dim=0), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(b, clipped["b"].sum(dim=0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "shape_a, p, kept",
    [((7, 5), 3, False), ((7, 3, 16), 16, False), ((7, 2, 2, 9), 11, False), ((7, 20, 3), 2, True),
     ((7, 2, 2, 3), 4, True)],
    ids=["flat", "ghost_rows", "ghost_4d", "einsum_rows", "einsum_4d"],
)
def test_cached_clipped_sum_equals_uncached_and_materialised(shape_a, p, kept):
    # the cache of linear_grad_sq_norms_cached (per-record gradients where they are formed anyway) gives the
    # same norms and the same clipped sums as the uncached path and as clip_per_sample on materialised ones
    g = torch.Generator().manual_seed(len(shape_a) * 1000 + p)
    a = torch.randn(*shape_a, generator=g, dtype=torch.float64)
    back = torch.randn(*shape_a[:-1], p, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3, 7).view(
        -1, *([1] * (len(shape_a) - 1))).double()
    w_sq, b_sq, cache = clipping.linear_grad_sq_norms_cached(a, back)
    assert (cache[0] is not None) == kept  # kept only on the branch that materialises it
    ref_w_sq, ref_b_sq = clipping.linear_grad_sq_norms(a, back)
    torch.testing.assert_close(w_sq, ref_w_sq, rtol=1e-12, atol=0)
    torch.testing.assert_close(b_sq, ref_b_sq, rtol=1e-12, atol=0)
    gw, gb = _per_record_linear_grads(a, back)
    if kept:
        torch.testing.assert_close(cache[0], gw, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(cache[1], gb, rtol=1e-12, atol=1e-14)
    norms = (w_sq + b_sq).sqrt()
    c = float(norms.median())
    factor = clipping.clip_factor(norms, max_grad_norm=c)
    assert bool((factor < 0.99).any()) and bool((factor == 1.0).any())  # some records clipped, some not
    w, b = clipping.clipped_linear_grad_sum(a, back, factor, cache=cache)
    w0, b0 = clipping.clipped_linear_grad_sum(a, back, factor)
    clipped, _ = clipping.clip_per_sample({"w": gw, "b": gb}, max_grad_norm=c)
    for got, ref in ((w, w0), (b, b0), (w, clipped["w"].sum(dim=0)), (b, clipped["b"].sum(dim=0))):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)


def test_clipped_sum_refuses_a_cache_of_other_tensors():
    _, _, cache = clipping.linear_grad_sq_norms_cached(torch.ones(4, 6, 3), torch.ones(4, 6, 2))
    with pytest.raises(ValueError, match=r"cache does not belong to these tensors: bias part \(4, 2\), weight "
                                         r"part \(4, 2, 3\), expected \(4, 5\) and \(4, 5, 3\)"):
        clipping.clipped_linear_grad_sum(torch.ones(4, 6, 3), torch.ones(4, 6, 5), torch.ones(4), cache=cache)
    with pytest.raises(ValueError, match=r"weight part \(4, 2, 3\), expected \(4, 2\) and \(4, 2, 7\)"):
        clipping.clipped_linear_grad_sum(torch.ones(4, 6, 7), torch.ones(4, 6, 2), torch.ones(4), cache=cache)


def test_linear_norms_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"same leading dimensions, got \(4, 3\) and \(5, 2\)"):
        clipping.linear_grad_sq_norms(torch.ones(4, 3), torch.ones(5, 2))


def test_linear_norms_refuse_a_missing_record_dimension():
    with pytest.raises(ValueError, match=r"shapes \(B, ..., d\) and \(B, ..., p\).*got \(3,\) and \(3,\)"):
        clipping.linear_grad_sq_norms(torch.ones(3), torch.ones(3))


def test_clipped_sum_refuses_a_factor_per_wrong_count():
    with pytest.raises(ValueError, match=r"factor must have shape \(4,\), one per record, got \(3,\)"):
        clipping.clipped_linear_grad_sum(torch.ones(4, 3), torch.ones(4, 2), torch.ones(3))
