"""Federated Averaging (FedAvg) and FedProx, from scratch, plus local-only and centralised baselines.

FedAvg: McMahan, Moore, Ramage, Hampson & Agüera y Arcas, "Communication-Efficient Learning of Deep
Networks from Decentralized Data", AISTATS 2017, arXiv:1602.05629, Algorithm 1. Each round the server
samples m = max(C*K, 1) of K clients, each runs E local epochs of mini-batch SGD (batch size B, step lr)
from the global model, and the server replaces the model by the mean of the returned models weighted
by the clients' sample counts n_k. FedProx (Li, Sahu, Zaheer, Sanjabi, Talwalkar & Smith, MLSys 2020,
arXiv:1812.06127, Eq. 2) adds (mu/2)||w - w_t||^2 to each client's objective, which keeps local models
near the global one on non-IID data; mu = 0 is FedAvg.

Threat model: honest-but-curious server. FL keeps raw records on site, but the server sees every
client's model update in the clear, and updates leak training data (gradient inversion, membership
inference). FL is *not* private by itself: add secure aggregation (the server sees only the sum) and
differential privacy (the sum reveals little about any one record) — notebooks 09-11.

Structure: :func:`fedavg_aggregate` is a pure function (as Flower's ``aggregate.py``);
:class:`FedAvgServer` holds the state of a run and calls it. To plug in another aggregation rule
(secure aggregation, DP-FedAvg's clip-and-noise) pass ``aggregate=`` a callable with the same signature,
or subclass and override :meth:`FedAvgServer.aggregate` / :meth:`FedAvgServer.client_update`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ppml_lab._rng import RNGLike, random_seed, resolve_rng
from ppml_lab._validation import check_array, check_bool, check_fraction, check_int
from ppml_lab.data import SiteData
from ppml_lab.exceptions import UpdateMismatchError
from ppml_lab.fl.models import Task, check_local_hparams, param_nbytes

__all__ = [
    "UpdateMismatchError",
    "fedavg_aggregate",
    "derive_seed",
    "History",
    "ClientData",
    "as_clients",
    "FedAvgServer",
    "run_fedavg",
    "train_centralised",
    "train_local_only",
]

Params = Any  # list[np.ndarray] or a torch state dict (Mapping[str, Tensor])
Aggregator = Callable[[Sequence[Params], ArrayLike], Params]


# ---------------------------------------------------------------------------------------------
# The pure aggregation step
# ---------------------------------------------------------------------------------------------


def _is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "numel")


def _check_weights(weights: Any, n: int) -> np.ndarray:
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
        raise TypeError(f"weights must be a sequence of positive numbers, got {type(weights).__name__}")
    w = check_array("weights", weights, ndim=1, allow_empty=True)
    if w.shape[0] != n:
        raise ValueError(f"weights must have one entry per update ({n}), got {w.shape[0]}")
    if np.any(w <= 0):
        bad = w[w <= 0][0]
        raise ValueError(
            f"weights must all be > 0 (a client's sample count), got {bad!r}; drop clients with no data"
        )
    return w


def fedavg_aggregate(updates: Sequence[Params], weights: ArrayLike) -> Params:
    """Weighted mean of client models: w = sum_k (n_k / n) w_k  (McMahan et al. 2017, Alg. 1, server).

    ``updates`` is a non-empty list whose items are all lists of numpy arrays, or all torch state dicts
    (mappings name -> tensor); ``weights`` holds one positive weight per update (usually n_k). The mean
    is computed in float64 and returned in each array's own dtype (list of arrays or an ordered dict of
    tensors, as given). Raises ``ValueError`` when empty or a weight is <= 0, ``UpdateMismatchError``
    when updates disagree in length, keys, shape or dtype, ``TypeError`` for the wrong kind of input.
    """
    if isinstance(updates, (str, bytes, Mapping)) or not isinstance(updates, Sequence):
        raise TypeError(
            f"updates must be a list of client models (lists of arrays or state dicts), got {type(updates).__name__}"
        )
    if len(updates) == 0:
        raise ValueError("updates must hold at least one client model, got an empty list")
    w = _check_weights(weights, len(updates))
    frac = w / w.sum()  # n_k / n
    first = updates[0]
    if isinstance(first, Mapping):
        return _aggregate_state_dicts(updates, frac)
    if not isinstance(first, Sequence) or isinstance(first, (str, bytes)):
        raise TypeError(f"updates[0] must be a list of arrays or a state dict, got {type(first).__name__}")
    ref = [_as_numpy("updates[0]", a, j) for j, a in enumerate(first)]
    out = [np.zeros(a.shape, dtype=np.float64) for a in ref]
    for k, upd in enumerate(updates):
        if isinstance(upd, Mapping) or not isinstance(upd, Sequence):
            raise UpdateMismatchError(
                f"updates[{k}] must be a list of arrays like updates[0], got {type(upd).__name__}"
            )
        if len(upd) != len(ref):
            raise UpdateMismatchError(
                f"updates[{k}] has {len(upd)} arrays but updates[0] has {len(ref)}; all clients must send the same model"
            )
        for j, a in enumerate(upd):
            arr = _as_numpy(f"updates[{k}]", a, j)
            _match(k, str(j), arr.shape, arr.dtype, ref[j].shape, ref[j].dtype)
            out[j] += frac[k] * arr  # sum_k (n_k / n) w_k
    return [o.astype(r.dtype) for o, r in zip(out, ref)]


def _as_numpy(where: str, a: Any, j: int) -> np.ndarray:
    if _is_torch_tensor(a):
        a = a.detach().cpu().numpy()
    if not isinstance(a, (np.ndarray, np.generic)):
        raise TypeError(f"{where}[{j}] must be a numpy array, got {type(a).__name__}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{where}[{j}] must be a numeric array, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{where}[{j}] must contain only finite numbers, got NaN or inf")
    return np.asarray(a)


def _match(k: int, name: str, shape: Any, dtype: Any, ref_shape: Any, ref_dtype: Any) -> None:
    if tuple(shape) != tuple(ref_shape):
        raise UpdateMismatchError(
            f"updates[{k}][{name!r}] has shape {tuple(shape)} but updates[0] has {tuple(ref_shape)}"
        )
    if dtype != ref_dtype:
        raise UpdateMismatchError(
            f"updates[{k}][{name!r}] has dtype {dtype} but updates[0] has {ref_dtype}; cast before aggregating"
        )


def _aggregate_state_dicts(updates: Sequence[Any], frac: np.ndarray) -> Any:
    from collections import OrderedDict

    import torch

    first = updates[0]
    keys = list(first.keys())
    for k, upd in enumerate(updates):
        if not isinstance(upd, Mapping):
            raise UpdateMismatchError(f"updates[{k}] must be a state dict like updates[0], got {type(upd).__name__}")
        if list(upd.keys()) != keys:
            raise UpdateMismatchError(
                f"updates[{k}] has keys {list(upd.keys())} but updates[0] has {keys}; all clients must send the same model"
            )
    out = OrderedDict()
    for name in keys:
        ref = first[name]
        if not _is_torch_tensor(ref):
            raise TypeError(f"updates[0][{name!r}] must be a torch tensor, got {type(ref).__name__}")
        acc = torch.zeros(ref.shape, dtype=torch.float64)
        for k, upd in enumerate(updates):
            t = upd[name]
            if not _is_torch_tensor(t):
                raise TypeError(f"updates[{k}][{name!r}] must be a torch tensor, got {type(t).__name__}")
            _match(k, name, t.shape, t.dtype, ref.shape, ref.dtype)
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"updates[{k}][{name!r}] must contain only finite numbers, got NaN or inf")
            acc += float(frac[k]) * t.detach().to(torch.float64)  # sum_k (n_k / n) w_k
        out[name] = acc.round().to(ref.dtype) if not ref.is_floating_point() else acc.to(ref.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# Seeds, clients, history
# ---------------------------------------------------------------------------------------------


def derive_seed(base_seed: int, round_: int, client: int) -> int:
    """A per-(round, client) seed from the run's base seed (numpy SeedSequence spawning).

    Ours and the Flower adapter both call this, so a client shuffles its data identically in both.
    Seeds only order mini-batches and initialise weights; they are not a secret.
    """
    ss = np.random.SeedSequence(entropy=int(base_seed), spawn_key=(int(round_), int(client)))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


#: One client's local data: the same record as a hospital site of :func:`ppml_lab.data.split_sites`.
ClientData = SiteData


def as_clients(clients: Any) -> list[ClientData]:
    """Normalise clients: a mapping name -> SiteData or (X, y), or a sequence of (X, y) / SiteData."""
    if isinstance(clients, Mapping):
        items = list(clients.items())
    elif isinstance(clients, Sequence) and not isinstance(clients, (str, bytes)):
        items = [(getattr(c, "name", f"client_{i}"), c) for i, c in enumerate(clients)]
    else:
        raise TypeError(f"clients must be a mapping or a list of (X, y) pairs, got {type(clients).__name__}")
    if not items:
        raise ValueError("clients must hold at least one client, got none")
    out = []
    for name, c in items:
        if hasattr(c, "X") and hasattr(c, "y"):
            X, y = c.X, c.y
        elif isinstance(c, tuple) and len(c) == 2:
            X, y = c
        else:
            raise TypeError(f"client {name!r} must be SiteData/ClientData or an (X, y) pair, got {type(c).__name__}")
        Xa = check_array(f"clients[{name!r}].X", X, ndim=2, allow_empty=True)
        ya = check_array(f"clients[{name!r}].y", y, ndim=1, integer=True, allow_empty=True)
        if Xa.shape[0] == 0:
            raise ValueError(f"client {name!r} must hold at least one sample, got 0; drop it or repartition")
        if Xa.shape[0] != ya.shape[0]:
            raise ValueError(
                f"client {name!r}: X and y must have the same number of rows, got {Xa.shape[0]} and {ya.shape[0]}"
            )
        out.append(ClientData(str(name), Xa, ya))
    return out


@dataclass
class History:
    """Per-round record of a run. Round 0 is the initial model (no communication)."""

    label: str = "FedAvg"
    rounds: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)  # client -> server, summed over sampled clients
    bytes_down: list[int] = field(default_factory=list)  # server -> sampled clients
    clients: list[tuple[int, ...]] = field(default_factory=list)

    def record(self, round_: int, loss: float, acc: float, up: int, down: int, clients: tuple[int, ...]) -> None:
        self.rounds.append(int(round_))
        self.loss.append(float(loss))
        self.accuracy.append(float(acc))
        self.bytes_up.append(int(up))
        self.bytes_down.append(int(down))
        self.clients.append(tuple(int(c) for c in clients))

    @property
    def bytes_per_round(self) -> list[int]:
        """Total bytes moved per round (up + down)."""
        return [u + d for u, d in zip(self.bytes_up, self.bytes_down)]

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1]

    def rounds_to_accuracy(self, target: float) -> int | None:
        """First round whose test accuracy reaches ``target`` (None if never)."""
        for r, a in zip(self.rounds, self.accuracy):
            if a >= target:
                return r
        return None

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {"round": self.rounds, "accuracy": self.accuracy, "loss": self.loss,
             "bytes_up": self.bytes_up, "bytes_down": self.bytes_down}
        ).set_index("round")

    def __repr__(self) -> str:
        last = f", final accuracy {self.accuracy[-1]:.4f}" if self.accuracy else ""
        return f"History({self.label!r}, {len(self.rounds)} points{last})"


# ---------------------------------------------------------------------------------------------
# The orchestration
# ---------------------------------------------------------------------------------------------


class FedAvgServer:
    """A FedAvg / FedProx run: client sampling, local training, aggregation, evaluation, history.

    Parameters (McMahan et al.'s names): ``fraction`` = C in (0, 1], ``local_epochs`` = E,
    ``batch_size`` = B (None: full batch, the paper's B = inf), ``lr`` = eta, ``mu`` = FedProx's
    proximal weight (0: FedAvg). ``test`` = (X, y) held out for per-round evaluation. ``aggregate`` replaces
    :func:`fedavg_aggregate` (same signature). ``rng`` seeds sampling, initial weights and local shuffles:
    None is the CSPRNG; an int is for reproducible teaching runs only. ``communicate=False`` records
    zero bytes (for the baselines, which move no models).
    """

    def __init__(
        self,
        task: Task,
        clients: Any,
        *,
        test: tuple[Any, Any],
        fraction: float = 1.0,
        local_epochs: int = 1,
        batch_size: int | None = 32,
        lr: float = 0.1,
        mu: float = 0.0,
        aggregate: Aggregator | None = None,
        initial_params: Params | None = None,
        rng: RNGLike = None,
        label: str | None = None,
        communicate: bool = True,
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must provide init_params/train/evaluate/to_numpy/from_numpy, got {type(task).__name__}")
        self.task = task
        self.clients = as_clients(clients)
        self.fraction = check_fraction("fraction", fraction)
        check_local_hparams(local_epochs, batch_size, lr, mu)
        self.local_epochs, self.batch_size, self.lr, self.mu = int(local_epochs), batch_size, float(lr), float(mu)
        if aggregate is not None and not callable(aggregate):
            raise TypeError(f"aggregate must be a callable (updates, weights) -> params, got {type(aggregate).__name__}")
        self._aggregate_fn = aggregate if aggregate is not None else fedavg_aggregate
        if not isinstance(test, tuple) or len(test) != 2:
            raise TypeError(f"test must be an (X, y) tuple, got {type(test).__name__}")
        self.X_test = check_array("test X", test[0], ndim=2)
        self.y_test = check_array("test y", test[1], ndim=1, integer=True)
        self.communicate = check_bool("communicate", communicate)
        self._rng = resolve_rng(rng)
        self.base_seed = random_seed(self._rng)
        self.params = initial_params if initial_params is not None else task.init_params(rng=derive_seed(self.base_seed, 0, 0))
        self.round = 0
        default = "FedProx" if self.mu > 0 else "FedAvg"
        self.history = History(label=label or f"{default} (C={self.fraction:g}, E={self.local_epochs}, B={batch_size})")
        self._record(())

    @property
    def n_clients(self) -> int:
        return len(self.clients)

    @property
    def clients_per_round(self) -> int:
        """m = max(C * K, 1), rounded to the nearest integer."""
        return max(1, int(round(self.fraction * self.n_clients)))

    def sample_clients(self) -> np.ndarray:
        """S_t: a random set of m clients, without replacement (Alg. 1, line 'S_t <- random set')."""
        m = self.clients_per_round
        if m == self.n_clients:
            return np.arange(m)
        return np.sort(np.asarray(self._rng.choice(self.n_clients, size=m, replace=False)))

    def client_update(self, k: int, global_params: Params) -> tuple[Params, float]:
        """ClientUpdate(k, w): E local epochs from the global model; returns (w_k, n_k)."""
        c = self.clients[k]
        new = self.task.train(
            global_params, c.X, c.y, epochs=self.local_epochs, batch_size=self.batch_size, lr=self.lr,
            mu=self.mu, rng=derive_seed(self.base_seed, self.round, k),
        )
        return new, float(c.n_samples)

    def aggregate(self, updates: Sequence[Params], weights: ArrayLike) -> Params:
        """Server step; default w_{t+1} = sum_k n_k/n w_k. Override or pass ``aggregate=`` to change it."""
        return self._aggregate_fn(updates, weights)

    def evaluate(self, params: Params | None = None) -> tuple[float, float]:
        return self.task.evaluate(self.params if params is None else params, self.X_test, self.y_test)

    def _record(self, selected: Sequence[int] | np.ndarray) -> None:
        loss, acc = self.evaluate()
        size = param_nbytes(self.params) if self.communicate else 0
        self.history.record(self.round, loss, acc, size * len(selected), size * len(selected), tuple(selected))

    def step(self) -> None:
        """One communication round."""
        self.round += 1
        selected = self.sample_clients()
        results = [self.client_update(int(k), self.params) for k in selected]
        self.params = self.aggregate([r[0] for r in results], [r[1] for r in results])
        self._record(selected)

    def run(self, rounds: int, *, progress: bool = False) -> History:
        """Run ``rounds`` more rounds and return the history (with tqdm progress when asked)."""
        check_int("rounds", rounds, low=1)
        it: Any = range(rounds)
        if check_bool("progress", progress):
            from tqdm.auto import tqdm

            it = tqdm(it, desc=self.history.label, leave=False)
        for _ in it:
            self.step()
        return self.history


def run_fedavg(
    task: Task, clients: Any, *, rounds: int, test: tuple[Any, Any], progress: bool = False, **kwargs: Any
) -> History:
    """Build a :class:`FedAvgServer` with ``kwargs`` and run ``rounds`` rounds (``mu > 0``: FedProx)."""
    return FedAvgServer(task, clients, test=test, **kwargs).run(rounds, progress=progress)


def train_centralised(
    task: Task, clients: Any, *, rounds: int, test: tuple[Any, Any], local_epochs: int = 1,
    batch_size: int | None = 32, lr: float = 0.1, rng: RNGLike = None, progress: bool = False,
    initial_params: Params | None = None,
) -> History:
    """Baseline: pool every client's data in one place and train; a "round" is ``local_epochs`` epochs.

    The upper bound federation tries to reach (and what the law forbids in the course's scenario).
    """
    cs = as_clients(clients)
    pooled = ClientData("pooled", np.concatenate([c.X for c in cs]), np.concatenate([c.y for c in cs]))
    server = FedAvgServer(
        task, [pooled], test=test, local_epochs=local_epochs, batch_size=batch_size, lr=lr, rng=rng,
        initial_params=initial_params, label="centralised", communicate=False,
    )
    return server.run(rounds, progress=progress)


def train_local_only(
    task: Task, clients: Any, *, rounds: int, test: tuple[Any, Any], local_epochs: int = 1,
    batch_size: int | None = 32, lr: float = 0.1, rng: RNGLike = None, progress: bool = False,
    initial_params: Params | None = None,
) -> dict[str, History]:
    """Baseline: every client trains alone on its own data; each model is tested on the shared test set."""
    cs = as_clients(clients)
    g = resolve_rng(rng)
    out: dict[str, History] = {}
    it: Any = cs
    if check_bool("progress", progress):
        from tqdm.auto import tqdm

        it = tqdm(cs, desc="local-only", leave=False)
    for c in it:
        server = FedAvgServer(
            task, [c], test=test, local_epochs=local_epochs, batch_size=batch_size, lr=lr, rng=g,
            initial_params=initial_params, label=f"local-only {c.name}", communicate=False,
        )
        out[c.name] = server.run(rounds)
    return out
