"""DP-SGD from scratch (Abadi et al. 2016) against one-at-a-time gradients, plain SGD and Opacus."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ppml_lab._rng import torch_generator
from ppml_lab.data import load_dataset, train_test_split
from ppml_lab.dp.dp_sgd import (
    DPSGD,
    accuracy,
    check_module,
    clip_per_sample,
    dp_sgd_step,
    ghost_clipped_sum,
    noisy_mean,
    per_sample_gradients,
    per_sample_norms,
    poisson_sample,
    sgd_step,
    train_dp_sgd,
)
from ppml_lab.exceptions import UnsupportedModuleError

CE = nn.functional.cross_entropy


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # small models on a shared 2-core machine: one intra-op thread is faster and avoids oversubscription
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    Xtr, Xte, ytr, yte = train_test_split(ds.X, ds.y, rng=0, standardize=True)
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return f(Xtr), f(Xte), torch.tensor(ytr), torch.tensor(yte)


def _mlp(seed: int, d_in: int = 64, hidden: int = 16, k: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, k))


# -- per-sample gradients, clipping, noise --------------------------------------------------------


def test_per_sample_gradients_equal_one_at_a_time(digits):
    X, _, y, _ = digits
    model = _mlp(0)
    xb, yb = X[:12], y[:12]
    grads = per_sample_gradients(model, CE, xb, yb)
    for i in range(12):
        model.zero_grad()
        CE(model(xb[i : i + 1]), yb[i : i + 1]).backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(grads[name][i], p.grad, rtol=1e-5, atol=1e-6)


def test_per_sample_norms_match_flattened_vector(digits):
    X, _, y, _ = digits
    grads = per_sample_gradients(_mlp(1), CE, X[:8], y[:8])
    flat = torch.cat([g.reshape(8, -1) for g in grads.values()], dim=1)
    torch.testing.assert_close(per_sample_norms(grads), flat.norm(dim=1))


@settings(max_examples=30, deadline=None)
@given(
    c=st.floats(1e-3, 1e3),
    scales=st.lists(st.floats(1e-4, 1e4), min_size=1, max_size=20),
    seed=st.integers(0, 2**31 - 1),
)
def test_clipping_bounds_every_norm_and_keeps_small_ones(c, scales, seed):
    g = torch.Generator().manual_seed(seed)
    b = len(scales)
    s = torch.tensor(scales, dtype=torch.float64)
    grads = {
        "w": torch.randn(b, 3, 4, generator=g, dtype=torch.float64) * s.view(-1, 1, 1),
        "b": torch.randn(b, 4, generator=g, dtype=torch.float64) * s.view(-1, 1),
    }
    clipped, norms = clip_per_sample(grads, max_grad_norm=c)
    after = per_sample_norms(clipped)
    assert torch.all(after <= c * (1 + 1e-12))
    small = norms + 1e-6 <= c  # these are left alone: min(1, C/||g||) = 1
    for k in grads:
        torch.testing.assert_close(clipped[k][small], grads[k][small])


def test_noise_has_std_sigma_c_over_batch():
    # zero gradients: the output is pure noise N(0, (sigma C / m)^2); 200k draws, sd error ~ 0.16 %
    clipped = {"w": torch.zeros(5, 200_000)}
    out = noisy_mean(clipped, noise_multiplier=1.3, max_grad_norm=2.0, expected_batch_size=4.0,
                     rng=torch_generator(0))["w"]
    assert abs(float(out.std()) / (1.3 * 2.0 / 4.0) - 1) < 0.01
    assert abs(float(out.mean())) < 0.01


def test_poisson_sampling_has_binomial_batch_sizes():
    g = torch_generator(1)
    sizes = np.array([len(poisson_sample(1000, sample_rate=0.05, rng=g)) for _ in range(2000)])
    # Binomial(1000, 0.05): mean 50, sd 6.9; the mean of 2000 lots has sd 0.15 -> 5-sigma tolerance 0.8
    assert abs(sizes.mean() - 50) < 0.8
    assert 5.5 < sizes.std() < 8.5
    assert len(set(sizes.tolist())) > 10  # variable batch size, not a fixed one


def test_noise_free_huge_clip_equals_plain_sgd(digits):
    X, _, y, _ = digits
    a, b = _mlp(3), _mlp(3)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.3), torch.optim.SGD(b.parameters(), lr=0.3)
    g = torch_generator(0)
    for step in range(5):
        xb, yb = X[step * 40 : (step + 1) * 40], y[step * 40 : (step + 1) * 40]
        dp_sgd_step(a, opt_a, xb, yb, loss_fn=CE, noise_multiplier=0.0, max_grad_norm=1e9,
                    expected_batch_size=40, rng=g)
        sgd_step(b, opt_b, xb, yb, loss_fn=CE)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_one_noise_free_step_equals_opacus(digits):
    from opacus import PrivacyEngine

    X, _, y, _ = digits
    ours, theirs = _mlp(4), _mlp(4)
    opt = torch.optim.SGD(ours.parameters(), lr=0.5)
    dp_sgd_step(ours, opt, X[:32], y[:32], loss_fn=CE, noise_multiplier=0.0, max_grad_norm=0.1,
                expected_batch_size=32, rng=torch_generator(0))
    loader = DataLoader(TensorDataset(X[:32], y[:32]), batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, o, dl = PrivacyEngine().make_private(
            module=theirs, optimizer=torch.optim.SGD(theirs.parameters(), lr=0.5), data_loader=loader,
            noise_multiplier=0.0, max_grad_norm=0.1, poisson_sampling=False)
        for xb, yb in dl:
            o.zero_grad()
            CE(m(xb), yb).backward()
            o.step()
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


# -- accounting and utility against Opacus ---------------------------------------------------------


def _opacus_run(seed, X, y, *, q, epochs, sigma, c, lr):
    from opacus import PrivacyEngine

    model = _mlp(seed)
    loader = DataLoader(TensorDataset(X, y), batch_size=round(q * len(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")
        m, o, dl = engine.make_private(module=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                                       data_loader=loader, noise_multiplier=sigma, max_grad_norm=c,
                                       noise_generator=torch_generator(seed))
        for _ in range(epochs):
            for xb, yb in dl:
                o.zero_grad()
                CE(m(xb), yb).backward()
                o.step()
        return engine.accountant.get_epsilon(1e-5), model, dl.sample_rate


def test_epsilon_and_accuracy_match_opacus(digits):
    X, Xte, y, yte = digits
    ours_acc, theirs_acc = [], []
    for seed in range(3):
        eps_o, model_o, q = _opacus_run(seed, X, y, q=0.05, epochs=4, sigma=1.0, c=1.0, lr=0.5)
        model = _mlp(seed)
        trainer = DPSGD(model, torch.optim.SGD(model.parameters(), lr=0.5), (X, y), noise_multiplier=1.0,
                        max_grad_norm=1.0, sample_rate=q, rng=seed).train(epochs=4)
        assert trainer.steps == 4 * round(1 / q)
        assert trainer.get_epsilon(1e-5) == pytest.approx(eps_o, rel=1e-6)
        assert not hasattr(trainer, "epsilon")  # one way to ask: get_epsilon(delta), as Opacus
        ours_acc.append(accuracy(model, Xte, yte))
        theirs_acc.append(accuracy(model_o, Xte, yte))
    # 450 test digits; seed-to-seed sd of accuracy ~ 1 point, so the mean of 3 differs by < 2 points
    assert abs(np.mean(ours_acc) - np.mean(theirs_acc)) < 0.02, (ours_acc, theirs_acc)
    assert np.mean(ours_acc) > 0.8  # it did learn


def test_target_epsilon_is_met(digits):
    X, _, y, _ = digits
    model = _mlp(5)
    res = train_dp_sgd(model, torch.optim.SGD(model.parameters(), lr=0.5), (X, y), epochs=1,
                       max_grad_norm=1.0, delta=1e-5, sample_rate=0.1, target_epsilon=2.0, rng=0)
    assert res.steps == 10
    assert 1.9 < res.epsilon <= 2.0 + 1e-9


def test_data_loader_gives_default_sample_rate(digits):
    X, _, y, _ = digits
    model = _mlp(6)
    loader = DataLoader(TensorDataset(X, y), batch_size=135)
    trainer = DPSGD(model, torch.optim.SGD(model.parameters(), lr=0.1), loader, noise_multiplier=1.0,
                    max_grad_norm=1.0, rng=0)
    assert trainer.sample_rate == pytest.approx(1 / len(loader))
    assert trainer.get_epsilon(1e-5) == 0.0
    trainer.step()
    assert 0 < trainer.get_epsilon(1e-5) < np.inf
    assert "noise_multiplier=1.0" in repr(trainer)


# -- bad input --------------------------------------------------------------------------------------


def _trainer(**kw):
    model = _mlp(0, d_in=4, hidden=3, k=2)
    args = dict(noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.1, rng=0)
    args.update(kw)
    data = args.pop("data", (torch.randn(20, 4), torch.randint(0, 2, (20,))))
    return DPSGD(model, torch.optim.SGD(model.parameters(), lr=0.1), data, **args)


def test_batchnorm_is_refused_with_groupnorm_hint():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    with pytest.raises(UnsupportedModuleError, match=r"BatchNorm1d at '1'.*GroupNorm"):
        check_module(model)
    with pytest.raises(UnsupportedModuleError, match="GroupNorm"):
        DPSGD(model, torch.optim.SGD(model.parameters(), lr=0.1), (torch.randn(4, 4), torch.zeros(4).long()),
              noise_multiplier=1.0, max_grad_norm=1.0, sample_rate=0.5)
    check_module(nn.Sequential(nn.Linear(4, 8), nn.GroupNorm(2, 8)))  # the suggested fix is accepted


def test_tracked_instance_norm_is_refused():
    with pytest.raises(UnsupportedModuleError, match="InstanceNorm1d"):
        check_module(nn.Sequential(nn.InstanceNorm1d(3, track_running_stats=True)))


def test_max_grad_norm_must_be_positive():
    with pytest.raises(ValueError, match="max_grad_norm must be a finite number > 0, got 0.0"):
        _trainer(max_grad_norm=0.0)
    with pytest.raises(ValueError, match="max_grad_norm must be a finite number > 0, got -1.0"):
        clip_per_sample({"w": torch.ones(2, 2)}, max_grad_norm=-1.0)


def test_noise_multiplier_must_be_nonnegative():
    with pytest.raises(ValueError, match="noise_multiplier must be a finite number >= 0, got -0.5"):
        _trainer(noise_multiplier=-0.5)


@pytest.mark.parametrize("q", [0.0, 1.5, -0.1])
def test_sample_rate_must_be_in_unit_interval(q):
    with pytest.raises(ValueError, match=r"sample_rate must be a finite number in \(0, 1\]"):
        _trainer(sample_rate=q)


def test_target_epsilon_must_be_positive():
    model = _mlp(0, d_in=4, hidden=3, k=2)
    with pytest.raises(ValueError, match="target_epsilon must be a finite number > 0, got 0.0"):
        train_dp_sgd(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     (torch.randn(20, 4), torch.randint(0, 2, (20,))), epochs=1, max_grad_norm=1.0,
                     delta=1e-5, sample_rate=0.1, target_epsilon=0.0)


@pytest.mark.parametrize("delta", [0.0, 1.0, 2.0])
def test_delta_must_be_in_open_unit_interval(delta):
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0, 1\)"):
        _trainer().get_epsilon(delta)


def test_noise_multiplier_xor_target_epsilon():
    model = _mlp(0, d_in=4, hidden=3, k=2)
    with pytest.raises(ValueError, match="exactly one of noise_multiplier or target_epsilon"):
        train_dp_sgd(model, torch.optim.SGD(model.parameters(), lr=0.1),
                     (torch.randn(20, 4), torch.randint(0, 2, (20,))), epochs=1, max_grad_norm=1.0,
                     delta=1e-5, sample_rate=0.1)


def test_empty_data_loader_is_refused():
    empty = DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0).long()), batch_size=4)
    with pytest.raises(ValueError, match="data must not be empty"):
        _trainer(data=empty, sample_rate=None)
    with pytest.raises(ValueError, match="data must not be empty"):
        _trainer(data=(torch.zeros(0, 4), torch.zeros(0).long()))


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        check_module("not a model")
    with pytest.raises(TypeError, match="data must be a DataLoader"):
        _trainer(data=42)
    with pytest.raises(TypeError, match="sample_rate is required unless data is a DataLoader"):
        _trainer(sample_rate=None)


def test_empty_lot_is_noise_only():
    # a Poisson lot can be empty; the step must still add noise (and nothing else)
    model = _mlp(0, d_in=4, hidden=3, k=2)
    before = [p.detach().clone() for p in model.parameters()]
    dp_sgd_step(model, torch.optim.SGD(model.parameters(), lr=1.0), torch.zeros(0, 4), torch.zeros(0).long(),
                loss_fn=CE, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=2.0,
                rng=torch_generator(0))
    moved = [float((p.detach() - b).abs().max()) for p, b in zip(model.parameters(), before)]
    assert all(m > 0 for m in moved)


# -- the ghost-norm path: exactly the same DP-SGD update as materialised per-sample gradients ---------


def _update(model, x, y, *, mode, c=0.5, sigma=1.0, seed=7, loss_fn=CE, m=None):
    """theta_before - theta_after for one dp_sgd_step at lr = 1: the noisy mean update itself."""
    before = [p.detach().clone() for p in model.parameters()]
    norms = dp_sgd_step(model, torch.optim.SGD(model.parameters(), lr=1.0), x, y, loss_fn=loss_fn,
                        noise_multiplier=sigma, max_grad_norm=c, expected_batch_size=m or len(x),
                        rng=torch_generator(seed), grad_sample_mode=mode)
    return [b - p.detach() for b, p in zip(before, model.parameters())], norms


def _assert_same_update(make, x, y, *, loss_fn=CE, modes=("ghost", "vmap")):
    # C = the median per-record norm: clipping is active for half the records and not for the others,
    # so neither a dropped factor in the norm nor in the clipped sum can go unseen
    c = float(per_sample_norms(per_sample_gradients(make(), loss_fn, x, y)).median())
    (ua, na), (ub, nb) = (_update(make(), x, y, mode=mode, c=c, loss_fn=loss_fn) for mode in modes)
    assert bool((nb > c * 1.01).any()) and bool((nb < c * 0.99).any()), nb
    torch.testing.assert_close(na, nb, rtol=1e-5, atol=1e-6)
    for a, b in zip(ua, ub, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _seq_model(seed, t, d, p):
    torch.manual_seed(seed)  # a Linear applied to each of t rows of a record, then a head on all rows
    return nn.Sequential(nn.Linear(d, p), nn.Tanh(), nn.Flatten(1), nn.Linear(t * p, 3))


def _frozen_first(seed):
    m = _mlp(seed)
    m[0].weight.requires_grad_(False)  # a frozen weight: its bias still counts, its weight does not
    return m


@pytest.mark.parametrize(
    "case",
    ["mlp", "no_bias", "frozen_weight", "deep_relu", "rows_ghost", "rows_einsum"],
)
def test_ghost_update_equals_materialised_update(digits, case):
    X, _, y, _ = digits
    x, yb = X[:40] * 2, y[:40]
    if case == "mlp":
        make = lambda: _mlp(11)  # noqa: E731
    elif case == "no_bias":
        def make():
            torch.manual_seed(12)
            return nn.Sequential(nn.Linear(64, 16, bias=False), nn.Tanh(), nn.Linear(16, 10, bias=False))
    elif case == "frozen_weight":
        make = lambda: _frozen_first(13)  # noqa: E731
    elif case == "deep_relu":
        def make():
            torch.manual_seed(14)
            return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 16), nn.GELU()),
                                 nn.Linear(16, 10))
    else:  # 3-D inputs to a Linear: T (d + p) <= d p takes the ghost form, otherwise the einsum form
        t, d, p = (3, 16, 16) if case == "rows_ghost" else (16, 4, 2)
        g = torch.Generator().manual_seed(15)
        x = torch.randn(40, t, d, generator=g) * 2
        yb = torch.randint(0, 3, (40,), generator=g)
        make = lambda: _seq_model(16, t, d, p)  # noqa: E731
    _assert_same_update(make, x, yb)
    _assert_same_update(make, x, yb, modes=("auto", "vmap"))  # auto picks ghost for these stacks


def test_ghost_update_with_a_custom_loss_equals_materialised(digits):
    X, _, y, _ = digits

    def loss(out, t):  # per-record loss as the materialised path sees it: a batch of one
        return 3.0 * nn.functional.cross_entropy(out, t) + 0.1 * (out**2).mean()

    _assert_same_update(lambda: _mlp(17), X[:30] * 2, y[:30], loss_fn=loss)


def test_ghost_clipped_sum_equals_summed_clip_per_sample(digits):
    X, _, y, _ = digits
    model = _mlp(18)
    sums, norms = ghost_clipped_sum(model, CE, X[:25] * 2, y[:25], max_grad_norm=0.7)
    clipped, ref_norms = clip_per_sample(per_sample_gradients(model, CE, X[:25] * 2, y[:25]), max_grad_norm=0.7)
    assert list(sums) == list(clipped)  # same parameters, same order: the noise draws line up
    torch.testing.assert_close(norms, ref_norms, rtol=1e-5, atol=1e-6)
    for k in sums:
        torch.testing.assert_close(sums[k], clipped[k].sum(dim=0), rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())  # nothing unclipped left behind in .grad


def _assert_noisy_ghost_step_equals_opacus(ours, theirs, xb, yb, *, noise_seed):
    # same batch, same clip bound (the median norm: half the records clipped), same noise generator:
    # Opacus' hooks + clip + noise give our update
    from opacus import PrivacyEngine

    c = float(per_sample_norms(per_sample_gradients(ours, CE, xb, yb)).median())
    norms = dp_sgd_step(ours, torch.optim.SGD(ours.parameters(), lr=1.0), xb, yb, loss_fn=CE, noise_multiplier=1.0,
                        max_grad_norm=c, expected_batch_size=32, rng=torch_generator(noise_seed),
                        grad_sample_mode="ghost")
    assert bool((norms > c * 1.01).any()) and bool((norms < c * 0.99).any())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, o, dl = PrivacyEngine().make_private(
            module=theirs, optimizer=torch.optim.SGD(theirs.parameters(), lr=1.0),
            data_loader=DataLoader(TensorDataset(xb, yb), batch_size=32), noise_multiplier=1.0,
            max_grad_norm=c, poisson_sampling=False, noise_generator=torch_generator(noise_seed))
        for xo, yo in dl:
            o.zero_grad()
            CE(m(xo), yo).backward()
            o.step()
    for pa, pb in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_noisy_ghost_step_equals_opacus_per_sample_clipping(digits):
    X, _, y, _ = digits
    _assert_noisy_ghost_step_equals_opacus(_mlp(19), _mlp(19), X[:32] * 3, y[:32], noise_seed=7)


def test_noisy_ghost_step_on_sequences_equals_opacus_per_sample_clipping():
    # a Linear over T rows per record with T (d + p) > d p: our per-record gradients are formed once for the
    # norm and reused for the clipped sum
    t, d, p = 16, 4, 2
    g = torch.Generator().manual_seed(23)
    xb, yb = torch.randn(32, t, d, generator=g) * 2, torch.randint(0, 3, (32,), generator=g)
    _assert_noisy_ghost_step_equals_opacus(_seq_model(24, t, d, p), _seq_model(24, t, d, p), xb, yb, noise_seed=8)


def test_ghost_and_vmap_trainers_follow_the_same_trajectory(digits):
    X, _, y, _ = digits
    a, b = _mlp(20), _mlp(20)
    kw = dict(noise_multiplier=1.0, max_grad_norm=0.5, sample_rate=0.05, rng=3)
    DPSGD(a, torch.optim.SGD(a.parameters(), lr=0.5), (X, y), grad_sample_mode="ghost", **kw).train(epochs=1)
    DPSGD(b, torch.optim.SGD(b.parameters(), lr=0.5), (X, y), grad_sample_mode="vmap", **kw).train(epochs=1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-4, atol=1e-5)


# -- models the ghost path cannot clip exactly: 'auto' materialises, 'ghost' refuses -----------------


class _TwiceLinear(nn.Module):  # one Linear applied twice: a record's gradient sums both uses
    def __init__(self):
        super().__init__()
        torch.manual_seed(21)
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.fc(torch.tanh(self.fc(x)))))


class _FunctionalUse(nn.Module):  # the head's weight is also used outside its own forward pass
    def __init__(self):
        super().__init__()
        torch.manual_seed(22)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x) + x[:, :3] @ self.fc.weight[:, :3].T


class _Tied(nn.Module):  # tied weights: one Parameter in two Linear layers
    def __init__(self):
        super().__init__()
        torch.manual_seed(23)
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))[:, :3]


class _MyLinear(nn.Linear):  # a subclass may compute something else than a W^T + b
    def forward(self, x):
        return super().forward(x) * 2.0


def _conv():
    torch.manual_seed(24)
    return nn.Sequential(nn.Unflatten(1, (1, 8)), nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(12, 3))


def _inplace():
    torch.manual_seed(25)  # ReLU(inplace=True) overwrites the Linear's output the hooks recorded
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 3))


def _subclass():
    torch.manual_seed(26)
    return nn.Sequential(_MyLinear(8, 8), nn.Tanh(), nn.Linear(8, 3))


UNSUPPORTED = {
    "linear_used_twice": (_TwiceLinear, "ran 2 times"),
    "weight_used_outside_forward": (_FunctionalUse, "outside the layer's own forward"),
    "tied_weights": (_Tied, "more than one layer"),
    "linear_subclass": (_subclass, "_MyLinear .* is not nn.Linear"),
    "conv": (_conv, "Conv1d .* is not nn.Linear"),
    "inplace_after_linear": (_inplace, "modified in place"),
}


def _small_batch():
    g = torch.Generator().manual_seed(27)
    return torch.randn(24, 8, generator=g) * 3, torch.randint(0, 3, (24,), generator=g)


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_ghost_mode_refuses_what_it_cannot_clip_exactly(case):
    make, why = UNSUPPORTED[case]
    x, y = _small_batch()
    with pytest.raises(UnsupportedModuleError, match=why):
        ghost_clipped_sum(make(), CE, x, y, max_grad_norm=0.5)
    with pytest.raises(UnsupportedModuleError, match="ghost-norm path"):
        _update(make(), x, y, mode="ghost")
    assert ghost_clipped_sum(make(), CE, x, y, max_grad_norm=0.5, strict=False) is None


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_auto_mode_materialises_what_ghost_cannot_clip(case):
    make, _ = UNSUPPORTED[case]
    x, y = _small_batch()
    _assert_same_update(make, x, y, modes=("auto", "vmap"))


class _MixesRecords(nn.Module):  # a parameter-free layer that looks at the whole batch
    def __init__(self):
        super().__init__()
        torch.manual_seed(28)
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        return self.b(h + 4.0 * h.mean(dim=0, keepdim=True))  # every output depends on every record


def test_auto_mode_does_not_trust_a_custom_forward():
    # ghost norms assume each record's output depends on that record alone; 'auto' takes the ghost path
    # only for nn.Sequential stacks of known row-wise layers, so this batch-mixing model is materialised
    x, y = _small_batch()
    (auto, _), (gh, _), (vm, _) = (_update(_MixesRecords(), x, y, mode=m) for m in ("auto", "ghost", "vmap"))
    for a, b in zip(auto, vm, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(gh, vm, strict=True))


def test_ghost_trainer_refuses_unsupported_model_up_front():
    model = _conv()
    with pytest.raises(UnsupportedModuleError, match="Conv1d"):
        DPSGD(model, torch.optim.SGD(model.parameters(), lr=0.1), _small_batch(), noise_multiplier=1.0,
              max_grad_norm=1.0, sample_rate=0.5, grad_sample_mode="ghost")


def test_grad_sample_mode_must_be_known():
    with pytest.raises(ValueError, match=r"grad_sample_mode must be one of \('auto', 'ghost', 'vmap'\), got 'hooks'"):
        _trainer(grad_sample_mode="hooks")
    x, y = _small_batch()
    with pytest.raises(ValueError, match="grad_sample_mode must be one of"):
        _update(_mlp(0, d_in=8, k=3), x, y, mode="fast")


def test_empty_lot_on_the_ghost_path_is_noise_only():
    model = _mlp(0, d_in=4, hidden=3, k=2)
    before = [p.detach().clone() for p in model.parameters()]
    dp_sgd_step(model, torch.optim.SGD(model.parameters(), lr=1.0), torch.zeros(0, 4), torch.zeros(0).long(),
                loss_fn=CE, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=2.0,
                rng=torch_generator(0), grad_sample_mode="ghost")
    assert all(float((p.detach() - b).abs().max()) > 0 for p, b in zip(model.parameters(), before))


def _clipped_sum(make, x, y, *, mode, c):
    """The noise-free sum of clipped per-record gradients that one dp_sgd_step adds to the model."""
    update, _ = _update(make(), x, y, mode=mode, c=c, sigma=0.0, m=1.0)
    return torch.cat([u.flatten() for u in update])


@pytest.mark.attack
def test_removing_one_record_moves_the_clipped_sum_by_at_most_c():
    # The sensitivity the noise is calibrated to. Attack: a model that mixes records within the batch,
    # forced through the ghost path (which assumes row-wise layers, as Opacus' hooks do), lets one record
    # move the sum by more than C; the default 'auto' path materialises such models and keeps the bound.
    x, y = _small_batch()
    c = 0.3
    models = {"mlp": (lambda: _mlp(29, d_in=8, hidden=8, k=3), ("auto", "ghost", "vmap")),
              **{k: (make, ("auto", "vmap")) for k, (make, _) in UNSUPPORTED.items()},
              "mixes_records": (_MixesRecords, ("auto", "vmap"))}
    keep = [torch.arange(len(x)) != i for i in range(len(x))]
    for name, (make, modes) in models.items():
        for mode in modes:
            full = _clipped_sum(make, x, y, mode=mode, c=c)
            moved = max(float((full - _clipped_sum(make, x[k], y[k], mode=mode, c=c)).norm()) for k in keep)
            assert moved <= c * (1 + 1e-5), (name, mode, moved)
    full = _clipped_sum(_MixesRecords, x, y, mode="ghost", c=c)
    moved = max(float((full - _clipped_sum(_MixesRecords, x[k], y[k], mode="ghost", c=c)).norm()) for k in keep)
    assert moved > 1.5 * c  # the forced ghost path on a batch-mixing model: the bound is gone
