"""Small learning tasks for federated learning: a numpy softmax regression and a torch MLP.

A *task* bundles what a federated round needs from a model, so one orchestration loop
(:mod:`ppml_lab.fl.fedavg`) and one Flower adapter (:mod:`ppml_lab.fl.flower_sim`) serve both:

- ``init_params(rng)``: initial parameters (a list of numpy arrays, or a torch state dict);
- ``train(params, X, y, *, epochs, batch_size, lr, mu, rng)``: ClientUpdate of McMahan et al. 2017
  (arXiv:1602.05629, Algorithm 1): ``epochs`` passes of mini-batch SGD from ``params``; with ``mu > 0``
  the FedProx proximal term (mu/2)||w - w_global||^2 of Li et al. 2020 (arXiv:1812.06127, Eq. 2) is added;
- ``evaluate(params, X, y)``: (mean cross-entropy, accuracy);
- ``to_numpy`` / ``from_numpy``: the wire format (a list of arrays), as Flower's ``ArrayRecord`` carries.

``rng`` is the package's randomness argument (:mod:`ppml_lab._rng`): None draws from the OS CSPRNG; an int
seeds exactly as the former ``seed=`` did (numpy's ``default_rng(int)``, torch's ``manual_seed(int)``), for
reproducible teaching runs; the old ``seed=`` keyword is refused with the new name.

Threat model: none — these are the models whose updates FL exchanges; FL by itself protects nothing
beyond keeping raw records on site (updates leak, see notebooks 09-11).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ppml_lab._rng import RNGLike, renamed_keywords, resolve_rng, torch_generator
from ppml_lab._validation import check_int, check_nonnegative, check_positive

__all__ = [
    "Task",
    "SoftmaxRegression",
    "TorchMLP",
    "param_nbytes",
    "check_local_hparams",
    "flatten_params",
    "unflatten_params",
]

_EPS = 1e-12


@runtime_checkable
class Task(Protocol):
    """What the FL loop needs from a model (see the module docstring)."""

    def init_params(self, rng: RNGLike = None) -> Any: ...

    def train(
        self, params: Any, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int | None,
        lr: float, mu: float, rng: RNGLike = None,
    ) -> Any: ...

    def evaluate(self, params: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]: ...

    def to_numpy(self, params: Any) -> list[np.ndarray]: ...

    def from_numpy(self, arrays: Sequence[np.ndarray]) -> Any: ...


def param_nbytes(params: Any) -> int:
    """Bytes on the wire for one copy of ``params`` (list of arrays or torch state dict)."""
    if isinstance(params, dict):
        return int(sum(int(t.numel()) * int(t.element_size()) for t in params.values()))
    return int(sum(np.asarray(a).nbytes for a in params))


def flatten_params(arrays: Sequence[Any]) -> tuple[np.ndarray, tuple[tuple[int, ...], ...]]:
    """A model's parameter arrays (the wire format, ``Task.to_numpy``) as one float64 vector, and their shapes.

    What aggregation over encrypted or masked vectors needs: one vector per client, in a fixed order;
    :func:`unflatten_params` with the shapes undoes it.
    """
    parts = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not parts:
        raise ValueError("arrays must hold at least one parameter array, got none")
    shapes = tuple(tuple(int(d) for d in p.shape) for p in parts)
    return np.concatenate([p.ravel() for p in parts]), shapes


def unflatten_params(flat: Any, shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Split ``flat`` into arrays of ``shapes`` (the inverse of :func:`flatten_params`).

    Raises ValueError when the vector's length is not the total size of the shapes: a silent reshape of
    the wrong vector would hand back a different model.
    """
    vec = np.asarray(flat)
    if vec.ndim != 1:
        raise ValueError(f"flat must be a 1-D vector, got shape {vec.shape}")
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != vec.size:
        raise ValueError(f"flat must have {sum(sizes)} entries (the total size of shapes), got {vec.size}")
    out, i = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(vec[i : i + size].reshape(tuple(shape)))
        i += size
    return out


def check_local_hparams(epochs: Any, batch_size: Any, lr: Any, mu: Any) -> None:
    """Validate E, B, learning rate and FedProx mu (B=None means full batch)."""
    check_int("local_epochs", epochs, low=1)
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1)
    check_positive("lr", lr)
    check_nonnegative("mu", mu)


def _batches(n: int, batch_size: int | None, perm: np.ndarray) -> list[np.ndarray]:
    if batch_size is None or batch_size >= n:
        return [perm]
    return np.array_split(perm, int(np.ceil(n / batch_size)))


@dataclass(frozen=True)
class SoftmaxRegression:
    """Multinomial logistic regression in numpy; parameters ``[W (d, k), b (k,)]`` in float64.

    Loss: mean cross-entropy of softmax(X W + b) plus (l2/2)||W||^2.
    """

    n_features: int
    n_classes: int
    l2: float = 0.0
    init_scale: float = 0.01

    def __post_init__(self) -> None:
        check_int("n_features", self.n_features, low=1)
        check_int("n_classes", self.n_classes, low=2)
        check_nonnegative("l2", self.l2)
        check_nonnegative("init_scale", self.init_scale)

    @renamed_keywords(seed="rng")
    def init_params(self, rng: RNGLike = None) -> list[np.ndarray]:
        g = resolve_rng(rng)  # an int seeds numpy's default_rng(int), as seed= did
        W = self.init_scale * g.standard_normal((self.n_features, self.n_classes))
        return [W, np.zeros(self.n_classes)]

    def proba(self, params: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
        W, b = params
        z = X @ W + b
        z -= z.max(axis=1, keepdims=True)  # stable softmax
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def loss_and_grad(
        self, params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray
    ) -> tuple[float, list[np.ndarray]]:
        """Mean cross-entropy (+ L2) and its gradient: dL/dz = (softmax(z) - onehot(y)) / n."""
        W, _ = params
        p = self.proba(params, X)
        n = X.shape[0]
        loss = float(-np.mean(np.log(np.clip(p[np.arange(n), y], _EPS, 1.0)))) + 0.5 * self.l2 * float(
            np.sum(W * W)
        )
        d = p
        d[np.arange(n), y] -= 1.0
        d /= n
        return loss, [X.T @ d + self.l2 * W, d.sum(axis=0)]

    @renamed_keywords(seed="rng")
    def train(
        self, params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray, *, epochs: int,
        batch_size: int | None, lr: float, mu: float = 0.0, rng: RNGLike = None,
    ) -> list[np.ndarray]:
        g = resolve_rng(rng)  # shuffles the mini-batches; unused when batch_size covers the data
        w = [np.array(a, dtype=np.float64, copy=True) for a in params]
        w_global = [np.asarray(a, dtype=np.float64) for a in params]
        n = X.shape[0]
        for _ in range(epochs):
            perm = g.permutation(n) if batch_size is not None and batch_size < n else np.arange(n)
            for idx in _batches(n, batch_size, perm):
                _, grads = self.loss_and_grad(w, X[idx], y[idx])
                for j in range(len(w)):
                    # w <- w - lr * (grad F_k(w) + mu (w - w_t))   (FedProx, Li et al. 2020, Eq. 2)
                    w[j] -= lr * (grads[j] + mu * (w[j] - w_global[j]))
        return w

    def evaluate(self, params: Sequence[np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        p = self.proba(params, X)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))
        return loss, float(np.mean(p.argmax(axis=1) == y))

    def to_numpy(self, params: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(a) for a in params]

    def from_numpy(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.array(a, dtype=np.float64) for a in arrays]


@dataclass(frozen=True)
class TorchMLP:
    """A one-hidden-layer ReLU MLP in torch; parameters are a state dict (float32 tensors).

    torch is imported when the task is used, not when ``ppml_lab.fl`` is imported.
    """

    n_features: int
    n_classes: int
    hidden: int = 32

    def __post_init__(self) -> None:
        check_int("n_features", self.n_features, low=1)
        check_int("n_classes", self.n_classes, low=2)
        check_int("hidden", self.hidden, low=1)

    def module(self) -> Any:
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(self.n_features, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, self.n_classes),
        )

    @renamed_keywords(seed="rng")
    def init_params(self, rng: Any = None) -> OrderedDict[str, Any]:
        import torch

        g = torch_generator(rng)  # an int seeds torch's generator with that int, as seed= did
        net = self.module()
        with torch.no_grad():
            for layer in (net[0], net[2]):
                bound = 1.0 / float(np.sqrt(layer.in_features))  # torch's default Linear init range
                layer.weight.uniform_(-bound, bound, generator=g)
                layer.bias.uniform_(-bound, bound, generator=g)
        return OrderedDict((k, v.detach().clone()) for k, v in net.state_dict().items())

    @renamed_keywords(seed="rng")
    def train(
        self, params: Any, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int | None,
        lr: float, mu: float = 0.0, rng: Any = None,
    ) -> OrderedDict[str, Any]:
        import torch

        g = torch_generator(rng)
        net = self.module()
        net.load_state_dict(params)
        w_global = [p.detach().clone() for p in net.parameters()]
        Xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.long)
        n = Xt.shape[0]
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(epochs):
            full = batch_size is None or batch_size >= n
            perm = torch.arange(n) if full else torch.randperm(n, generator=g)
            for idx in _batches(n, batch_size, perm.numpy()):
                opt.zero_grad()
                loss = loss_fn(net(Xt[idx]), yt[idx])
                if mu > 0:
                    # FedProx: + (mu/2) ||w - w_t||^2   (Li et al. 2020, Eq. 2)
                    loss = loss + 0.5 * mu * sum(((p - q) ** 2).sum() for p, q in zip(net.parameters(), w_global))
                loss.backward()
                opt.step()
        return OrderedDict((k, v.detach().clone()) for k, v in net.state_dict().items())

    def evaluate(self, params: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        import torch

        net = self.module()
        net.load_state_dict(params)
        with torch.no_grad():
            logits = net(torch.as_tensor(X, dtype=torch.float32))
            loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y, dtype=torch.long))
            acc = (logits.argmax(dim=1).numpy() == np.asarray(y)).mean()
        return float(loss), float(acc)

    def to_numpy(self, params: Any) -> list[np.ndarray]:
        return [v.detach().cpu().numpy() for v in params.values()]

    def from_numpy(self, arrays: Sequence[np.ndarray]) -> OrderedDict[str, Any]:
        import torch

        keys = list(self.module().state_dict().keys())
        if len(keys) != len(arrays):
            raise ValueError(f"arrays must hold {len(keys)} tensors for this MLP, got {len(arrays)}")
        return OrderedDict((k, torch.as_tensor(np.array(a))) for k, a in zip(keys, arrays))
