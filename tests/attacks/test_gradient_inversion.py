"""Gradient inversion (DLG / iDLG / Inverting Gradients) on digits, and the defences that stop it.

Success criterion: a reconstruction at or above PSNR_SUCCESS_DB (20 dB, per-pixel RMSE <= 0.1) is a
recovered image. The attacks are deterministic given their seeds; the margins below are wide (a
successful DLG reaches about 80 dB, a defended one stays near 5-15 dB), so a change of BLAS or thread
count cannot flip an assertion.
"""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.attacks import gradient_inversion as gi
from ppml_lab.attacks.gradient_inversion import (
    PSNR_SUCCESS_DB,
    Reconstruction,
    aggregate_updates,
    client_update,
    clip_and_noise,
    digit_images,
    dlg_attack,
    dp_client_update,
    inverting_gradients_attack,
    make_model,
    match_reconstructions,
    psnr,
    recover_labels,
    score_reconstruction,
)

# The same attack budget for the undefended case and for every defence.
DLG_ITERATIONS = 5
IG_ITERATIONS = 100


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny tensors: one thread is several times faster than two on a busy 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return digit_images()


@pytest.fixture(scope="module")
def model():
    return make_model(rng=0)


def _batch(data, size, offset=3):
    X, y = data
    idx = torch.arange(size) * 7 + offset
    return X[idx], y[idx]


# -- the attack works without defences ------------------------------------------------------------
def test_dlg_recovers_a_batch_size_one_digit(data, model):
    x, y = _batch(data, 1)
    rec = dlg_attack(model, client_update(model, x, y), batch_size=1, iterations=DLG_ITERATIONS, rng=1)
    score = score_reconstruction(x, y, rec)
    assert score.psnr >= PSNR_SUCCESS_DB + 20  # observed ~80 dB: pixel-exact
    assert score.label_recovery == 1.0 and score.recovered_fraction == 1.0


def test_dlg_with_joint_labels_recovers_image_and_label(data, model):
    x, y = _batch(data, 1, offset=11)
    rec = dlg_attack(model, client_update(model, x, y), labels="joint", iterations=DLG_ITERATIONS, rng=2)
    score = score_reconstruction(x, y, rec)
    assert score.psnr >= PSNR_SUCCESS_DB and score.label_recovery == 1.0


def test_inverting_gradients_recovers_a_batch_size_one_digit(data, model):
    x, y = _batch(data, 1, offset=20)
    rec = inverting_gradients_attack(model, client_update(model, x, y), iterations=IG_ITERATIONS, rng=1)
    score = score_reconstruction(x, y, rec)
    assert score.psnr >= PSNR_SUCCESS_DB  # observed ~30 dB
    assert rec.loss_history.shape == (IG_ITERATIONS,) and rec.attack == "inverting_gradients"


def test_dlg_recovers_a_small_batch(data, model):
    x, y = _batch(data, 4)
    rec = dlg_attack(model, client_update(model, x, y), batch_size=4, iterations=DLG_ITERATIONS, rng=1)
    score = score_reconstruction(x, y, rec)
    assert score.psnr >= PSNR_SUCCESS_DB and score.label_recovery == 1.0


# -- each defence pushes PSNR below the threshold --------------------------------------------------
def test_larger_batch_defeats_dlg(data, model):
    x, y = _batch(data, 16)
    rec = dlg_attack(model, client_update(model, x, y), batch_size=16, iterations=DLG_ITERATIONS, rng=1)
    assert score_reconstruction(x, y, rec).psnr < PSNR_SUCCESS_DB


def test_clipping_and_noise_defeat_dlg(data, model):
    x, y = _batch(data, 1)
    noisy = dp_client_update(model, x, y, max_grad_norm=1.0, noise_multiplier=0.1, rng=5)
    rec = dlg_attack(model, noisy, batch_size=1, iterations=DLG_ITERATIONS, rng=1)
    assert score_reconstruction(x, y, rec).psnr < PSNR_SUCCESS_DB


def test_clipping_and_noise_defeat_inverting_gradients(data, model):
    x, y = _batch(data, 1, offset=20)
    noisy = dp_client_update(model, x, y, max_grad_norm=1.0, noise_multiplier=0.1, rng=5)
    rec = inverting_gradients_attack(model, noisy, iterations=IG_ITERATIONS, rng=1)
    assert score_reconstruction(x, y, rec).psnr < PSNR_SUCCESS_DB


def test_secure_aggregation_defeats_dlg_on_one_client(data, model):
    # 16 clients with one image each; the server sees only the sum and tries to pull one image out.
    x, y = _batch(data, 16)
    updates = [client_update(model, x[i : i + 1], y[i : i + 1]) for i in range(16)]
    total = aggregate_updates(updates)
    rec = dlg_attack(model, total, batch_size=1, iterations=DLG_ITERATIONS, rng=1)
    best = float(psnr(x, rec.images.expand_as(x)).max())  # closest of the 16 clients' images
    assert best < PSNR_SUCCESS_DB


# -- the pieces ------------------------------------------------------------------------------------
def test_aggregate_of_single_image_updates_is_a_big_batch(data, model):
    # Why secure aggregation protects like a larger batch: sum of K batch-1 updates = K x batch-K update.
    x, y = _batch(data, 5)
    total = aggregate_updates([client_update(model, x[i : i + 1], y[i : i + 1]) for i in range(5)])
    batch = client_update(model, x, y)
    for a, b in zip(total, batch):
        torch.testing.assert_close(a, 5 * b, rtol=1e-4, atol=1e-6)


def test_idlg_label_is_exact_for_every_class(data, model):
    X, y = data
    idx = torch.stack([torch.nonzero(y == c)[0, 0] for c in range(10)])
    for i in idx.tolist():
        g = client_update(model, X[i : i + 1], y[i : i + 1])
        assert recover_labels(model, g, batch_size=1).tolist() == [int(y[i])]


def test_batch_label_counts_are_recovered(data, model):
    x, y = _batch(data, 8)
    labels = recover_labels(model, client_update(model, x, y), batch_size=8)
    assert labels.tolist() == sorted(y.tolist())


@pytest.mark.filterwarnings("ignore:Full backward hook:UserWarning")
def test_dp_update_matches_opacus_clipping(data):
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    X, y = data
    x, yy = X[:6], y[:6]
    ours_model = make_model(rng=3)
    ours = dp_client_update(ours_model, x, yy, max_grad_norm=0.5, noise_multiplier=1e-12, rng=0)
    ref_model = GradSampleModule(make_model(rng=3))
    opt = DPOptimizer(torch.optim.SGD(ref_model.parameters(), lr=0.1), noise_multiplier=0.0,
                      max_grad_norm=0.5, expected_batch_size=6)
    torch.nn.functional.cross_entropy(ref_model(x), yy).backward()
    opt.pre_step()
    for a, p in zip(ours, ref_model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-6)


def test_dp_noise_has_the_stated_scale(data, model):
    # Noise on the mean has sd noise_multiplier * max_grad_norm / B; over ~3k coordinates the sample
    # sd is within 5 % of it (relative sd of a sample sd ~ 1/sqrt(2n) ~ 1.2 %: a 4-sigma band).
    x, y = _batch(data, 4)
    clean = dp_client_update(model, x, y, max_grad_norm=1.0, noise_multiplier=1e-12, rng=0)
    noisy = dp_client_update(model, x, y, max_grad_norm=1.0, noise_multiplier=2.0, rng=0)
    diff = torch.cat([(a - b).flatten() for a, b in zip(noisy, clean)])
    assert float(diff.std()) == pytest.approx(2.0 * 1.0 / 4, rel=0.05)


def test_clip_and_noise_bounds_the_signal(model, data):
    x, y = _batch(data, 1)
    g = client_update(model, x, y)
    a = clip_and_noise(g, max_grad_norm=0.01, noise_multiplier=1e-9, rng=0)
    norm = float(torch.sqrt(sum((t**2).sum() for t in a)))
    assert norm == pytest.approx(0.01, rel=1e-3)
    assert clip_and_noise(g, max_grad_norm=1.0, noise_multiplier=0.5, rng=4)[0].equal(
        clip_and_noise(g, max_grad_norm=1.0, noise_multiplier=0.5, rng=4)[0]
    )


def test_psnr_known_values():
    zeros = torch.zeros(2, 1, 8, 8)
    recon = torch.full((2, 1, 8, 8), 0.1)
    assert psnr(zeros, recon).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # MSE 0.01 -> 20 dB
    assert psnr(zeros, zeros).tolist() == pytest.approx([100.0, 100.0])  # capped
    assert gi.mse(zeros, torch.full((2, 1, 8, 8), 3.0)).tolist() == [1.0, 1.0]  # clamped to [0, 1]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 5))
def test_matching_is_the_best_permutation(seed, b):
    g = torch.Generator().manual_seed(seed)
    x, r = torch.rand(b, 1, 8, 8, generator=g), torch.rand(b, 1, 8, 8, generator=g)
    perm = match_reconstructions(x, r)
    cost = lambda p: float(gi.mse(x, r[list(p)]).sum())  # noqa: E731
    best = min(cost(p) for p in itertools.permutations(range(b)))
    assert sorted(perm.tolist()) == list(range(b))
    assert cost(perm) == pytest.approx(best, abs=1e-9)


def test_score_matches_shuffled_reconstruction(data):
    x, y = _batch(data, 4)
    order = torch.tensor([2, 0, 3, 1])
    rec = Reconstruction(x[order], y[order], np.zeros(1), "test", 4)
    score = score_reconstruction(x, y, rec)
    assert score.psnr == pytest.approx(100.0) and score.label_recovery == 1.0
    assert score.assignment.tolist() == [1, 3, 0, 2]
    assert "PSNR" in str(score)


# -- bad input: one test each ----------------------------------------------------------------------
def test_images_wrong_shape(model):
    with pytest.raises(ValueError, match=r"images must have shape \(batch >= 1, 1, 8, 8\), got \(1, 64\)"):
        client_update(model, torch.zeros(1, 64), torch.zeros(1, dtype=torch.long))


def test_images_not_a_tensor(model):
    with pytest.raises(TypeError, match="images must be a torch.Tensor, got ndarray"):
        client_update(model, np.zeros((1, 1, 8, 8)), torch.zeros(1, dtype=torch.long))


def test_images_integer_dtype(model):
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        client_update(model, torch.zeros(1, 1, 8, 8, dtype=torch.long), torch.zeros(1, dtype=torch.long))


def test_images_nan(model):
    with pytest.raises(ValueError, match="images must contain only finite values"):
        client_update(model, torch.full((1, 1, 8, 8), float("nan")), torch.zeros(1, dtype=torch.long))


def test_labels_length_mismatch(model):
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        client_update(model, torch.zeros(2, 1, 8, 8), torch.zeros(3, dtype=torch.long))


def test_labels_out_of_range(model):
    with pytest.raises(ValueError, match=r"labels must hold class indices in \[0, 9\], got range \[0, 10\]"):
        client_update(model, torch.zeros(2, 1, 8, 8), torch.tensor([0, 10]))


def test_labels_float(model):
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        client_update(model, torch.zeros(1, 1, 8, 8), torch.zeros(1))


def test_model_not_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        client_update("lenet", torch.zeros(1, 1, 8, 8), torch.zeros(1, dtype=torch.long))


def test_model_without_ten_class_head():
    with pytest.raises(ValueError, match="model must end in a Linear layer with bias and 10 outputs"):
        client_update(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)),
                      torch.zeros(1, 1, 8, 8), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("bad", [0, -3])
def test_batch_size_below_one(model, bad):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match=f"batch_size must be an integer >= 1, got {bad}"):
        dlg_attack(model, g, batch_size=bad)


def test_batch_size_not_int(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(TypeError, match="batch_size must be an integer, got float"):
        inverting_gradients_attack(model, g, batch_size=2.0)


def test_iterations_below_one(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match="iterations must be an integer >= 1, got 0"):
        dlg_attack(model, g, iterations=0)


def test_gradients_wrong_count(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())[:-1]
    with pytest.raises(ValueError, match="gradients must hold 6 tensors"):
        dlg_attack(model, g)


def test_gradients_wrong_shape(model):
    g = [torch.zeros_like(p) for p in model.parameters()]
    g[0] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"gradients\[0\] must have shape \(12, 1, 3, 3\)"):
        inverting_gradients_attack(model, g)


def test_gradients_single_tensor(model):
    with pytest.raises(TypeError, match="gradients must be a sequence of tensors"):
        recover_labels(model, torch.zeros(10), batch_size=1)


def test_gradients_nonfinite(model):
    g = [torch.zeros_like(p) for p in model.parameters()]
    g[-1] = torch.full((10,), float("inf"))
    with pytest.raises(ValueError, match=r"gradients\[5\] must contain only finite values"):
        dlg_attack(model, g)


def test_unknown_label_strategy(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match="labels must be one of 'idlg', got 'joint'"):
        inverting_gradients_attack(model, g, labels="joint")


def test_known_labels_wrong_length(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        dlg_attack(model, g, batch_size=2, labels=torch.tensor([1]))


def test_labels_wrong_kind(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(TypeError, match="labels must be one of 'idlg', 'joint' or a tensor"):
        dlg_attack(model, g, labels=[1])


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_noise_multiplier_not_positive(model, data, bad):
    x, y = _batch(data, 1)
    with pytest.raises(ValueError, match=f"noise_multiplier must be a finite number > 0, got {bad}"):
        dp_client_update(model, x, y, max_grad_norm=1.0, noise_multiplier=bad)


@pytest.mark.parametrize("bad", [0.0, -2.0])
def test_max_grad_norm_not_positive(model, data, bad):
    g = client_update(model, *_batch(data, 1))
    with pytest.raises(ValueError, match=f"max_grad_norm must be a finite number > 0, got {bad}"):
        clip_and_noise(g, max_grad_norm=bad, noise_multiplier=1.0)


def test_noise_multiplier_nan(model, data):
    g = client_update(model, *_batch(data, 1))
    with pytest.raises(ValueError, match="noise_multiplier must be a finite number, got nan"):
        clip_and_noise(g, max_grad_norm=1.0, noise_multiplier=float("nan"))


def test_lr_and_tv_weight(model):
    g = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0.0"):
        inverting_gradients_attack(model, g, lr=0.0)
    with pytest.raises(ValueError, match="tv_weight must be a finite number >= 0, got -0.1"):
        inverting_gradients_attack(model, g, tv_weight=-0.1)


def test_aggregate_empty_and_mismatched(model):
    with pytest.raises(TypeError, match="updates must be a non-empty sequence"):
        aggregate_updates([])
    good = tuple(torch.zeros_like(p) for p in model.parameters())
    with pytest.raises(ValueError, match=r"updates\[1\] does not have the same tensor shapes"):
        aggregate_updates([good, good[:-1]])


def test_score_shape_mismatch(data):
    x, y = _batch(data, 2)
    rec = Reconstruction(x[:1], y[:1], np.zeros(1), "test", 1)
    with pytest.raises(ValueError, match="originals and reconstructions must have the same shape"):
        score_reconstruction(x, y, rec)


def test_score_wrong_reconstruction_type(data):
    x, y = _batch(data, 1)
    with pytest.raises(TypeError, match="reconstruction must be Reconstruction"):
        score_reconstruction(x, y, x)


def test_make_model_rng():
    a, b = make_model(rng=3), make_model(rng=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(TypeError, match="renamed rng="):
        make_model(seed=3)
    with pytest.raises(TypeError):
        make_model(rng="three")


def test_seeded_attack_is_deterministic(data, model):
    x, y = _batch(data, 1)
    g = client_update(model, x, y)
    a = inverting_gradients_attack(model, g, iterations=5, rng=9)
    b = inverting_gradients_attack(model, g, iterations=5, rng=9)
    assert torch.equal(a.images, b.images)


def test_image_grid_layout(data):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, _ = _batch(data, 3)
    fig = gi.image_grid({"original": x, "two": x[:2]}, title="t")
    assert len(fig.axes) == 6 and fig.axes[0].get_ylabel() == "original"
    plt.close(fig)


def test_image_grid_bad_rows(data):
    with pytest.raises(TypeError, match="rows must be a non-empty dict"):
        gi.image_grid([])
    with pytest.raises(ValueError, match=r"rows\['a'\] must have shape"):
        gi.image_grid({"a": torch.zeros(2, 64)})
