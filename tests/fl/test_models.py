"""The FL tasks take randomness as the rng argument: an int replays what seed= did, None is the CSPRNG."""

from __future__ import annotations

import numpy as np
import pytest

from ppml_lab.fl.models import SoftmaxRegression, TorchMLP


def _data(n: int = 40, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d))
    return X, (X[:, 0] > 0).astype(int)


def test_softmax_int_rng_seeds_numpy_exactly_as_seed_did() -> None:
    task = SoftmaxRegression(n_features=4, n_classes=2, init_scale=0.1)
    W, b = task.init_params(rng=5)
    # the former seed=5: np.random.default_rng(5).standard_normal, scaled
    np.testing.assert_array_equal(W, 0.1 * np.random.default_rng(5).standard_normal((4, 2)))
    np.testing.assert_array_equal(b, np.zeros(2))
    np.testing.assert_array_equal(task.init_params(5)[0], W)  # positional still works


def test_softmax_train_int_rng_is_the_numpy_generator_of_that_seed() -> None:
    task = SoftmaxRegression(n_features=4, n_classes=2)
    X, y = _data()
    w0 = task.init_params(rng=0)
    a = task.train(w0, X, y, epochs=2, batch_size=8, lr=0.1, rng=3)
    b = task.train(w0, X, y, epochs=2, batch_size=8, lr=0.1, rng=np.random.default_rng(3))
    c = task.train(w0, X, y, epochs=2, batch_size=8, lr=0.1, rng=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])  # the seed does shuffle the mini-batches


def test_default_rng_is_the_csprng_not_a_fixed_seed() -> None:
    task = SoftmaxRegression(n_features=4, n_classes=2)
    assert not np.array_equal(task.init_params()[0], task.init_params()[0])
    X, y = _data()
    w0 = task.init_params(rng=0)
    runs = [task.train(w0, X, y, epochs=1, batch_size=4, lr=0.5)[0] for _ in range(2)]
    assert not np.array_equal(*runs)


def test_torch_mlp_int_rng_replays_and_none_does_not() -> None:
    torch = pytest.importorskip("torch")
    task = TorchMLP(n_features=4, n_classes=2, hidden=8)
    p1, p2 = task.init_params(rng=3), task.init_params(rng=3)
    assert all(torch.equal(p1[k], p2[k]) for k in p1)
    q1, q2 = task.init_params(), task.init_params()
    assert not torch.equal(q1["0.weight"], q2["0.weight"])
    X, y = _data()
    a = task.train(p1, X, y, epochs=1, batch_size=8, lr=0.1, rng=1)
    b = task.train(p1, X, y, epochs=1, batch_size=8, lr=0.1, rng=1)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("task", [SoftmaxRegression(n_features=4, n_classes=2), TorchMLP(n_features=4, n_classes=2)],
                         ids=["softmax", "mlp"])
def test_the_old_seed_keyword_is_refused_with_the_new_name(task) -> None:
    name = type(task).__name__
    with pytest.raises(TypeError, match=rf"{name}.init_params\(\) got seed=, which was renamed rng="):
        task.init_params(seed=0)
    X, y = _data()
    with pytest.raises(TypeError, match=rf"{name}.train\(\) got seed=, which was renamed rng="):
        task.train(task.init_params(rng=0), X, y, epochs=1, batch_size=None, lr=0.1, seed=0)


def test_flatten_and_unflatten_params_round_trip_and_refuse_a_wrong_length():
    from ppml_lab.fl.models import flatten_params, unflatten_params

    arrays = [np.arange(6.0).reshape(2, 3), np.array([7.0, 8.0]), np.array(9.0)]
    flat, shapes = flatten_params(arrays)
    assert flat.dtype == np.float64 and flat.tolist() == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    assert shapes == ((2, 3), (2,), ())
    back = unflatten_params(flat, shapes)
    assert [b.shape for b in back] == [(2, 3), (2,), ()]
    assert all(np.array_equal(a, b) for a, b in zip(arrays, back))
    with pytest.raises(ValueError, match="9 entries"):
        unflatten_params(flat[:-1], shapes)
    with pytest.raises(ValueError, match="9 entries"):
        unflatten_params(np.append(flat, 1.0), shapes)
    with pytest.raises(ValueError, match="1-D"):
        unflatten_params(flat.reshape(3, 3), shapes)
    with pytest.raises(ValueError, match="at least one"):
        flatten_params([])
