"""DP-FedAvg: federated averaging with client-level differential privacy.

McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private Recurrent Language Models", ICLR 2018
(arXiv:1710.06963), Algorithm 1 with uniform client weights: each round every client joins independently
with probability q (Poisson sampling), trains locally, and sends its update Delta_k = w_k - w_t clipped
to L2 norm S; the server adds Gaussian noise N(0, (z S)^2 I) to the sum and applies the fixed-denominator
estimator w_{t+1} = w_t + (sum_k clip(Delta_k) + noise) / (q K).

Privacy unit: one client's whole data set (client-level DP). Adding or removing a client changes the
sum by at most S, so each round is the subsampled Gaussian mechanism with noise multiplier z and
sample rate q, accounted with the RDP accountant of :mod:`ppml_lab.dp.accountant` (Mironov, Talwar &
Zhang 2019) — the same accountant DP-SGD uses, with clients in place of examples.

Combined with secure aggregation (:mod:`ppml_lab.fl.secure_aggregation`) the server sees only the sum.
Who adds the noise then decides who must be trusted:

* ``noise="central"``: the server adds N(0, (zS)^2) to the securely aggregated sum. The guarantee holds
  for everyone who sees the model, but the server sees the un-noised sum and is trusted to add the noise.
* ``noise="distributed"``: each sampled client adds N(0, (zS)^2 / t) to its clipped update before
  masking, where t is the secure-aggregation threshold of the round; the protocol either includes at
  least t clients or aborts, so the sum carries at least the full N(0, (zS)^2) and no party ever sees an
  un-noised sum. Cost: when more than t clients survive there is more noise than needed (by a factor
  of at most m/t in variance). Clients are trusted to add their share of the noise (honest-but-curious).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike
from ppml_lab._validation import (
    check_array,
    check_choice,
    check_delta,
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
)
from ppml_lab.dp.accountant import DEFAULT_ORDERS, RDPAccountant, compute_rdp, rdp_to_epsilon
from ppml_lab.fl.fedavg import FedAvgServer
from ppml_lab.fl.models import Task
from ppml_lab.fl.secure_aggregation import minimum_threshold, secure_aggregate_floats

__all__ = [
    "clip_update",
    "distributed_noise_std",
    "dp_fedavg_epsilon",
    "DPFedAvgServer",
    "run_dp_fedavg",
]

_NOISE_MODES = ("central", "distributed")


def clip_update(update: Any, *, max_update_norm: float) -> tuple[np.ndarray, float]:
    """Delta * min(1, S / ||Delta||_2) (McMahan et al. 2018, Alg. 1 'ClipFn'); returns (clipped, norm)."""
    s = check_positive("max_update_norm", max_update_norm)
    d = check_array("update", update, ndim=1)
    norm = float(np.linalg.norm(d))
    return d * min(1.0, s / norm) if norm > 0 else d.copy(), norm


def distributed_noise_std(*, noise_multiplier: float, max_update_norm: float, threshold: int) -> float:
    """Per-client noise std when t clients share the noise: z S / sqrt(t), so any >= t of them sum to >= z S."""
    z = check_nonnegative("noise_multiplier", noise_multiplier)
    s = check_positive("max_update_norm", max_update_norm)
    t = check_int("threshold", threshold, low=1)
    return z * s / math.sqrt(t)


def dp_fedavg_epsilon(
    *, sample_rate: float, noise_multiplier: float, rounds: int, delta: float,
    orders: Sequence[float] = DEFAULT_ORDERS,
) -> float:
    """Client-level epsilon after ``rounds`` rounds (RDP of the Poisson-subsampled Gaussian)."""
    check_int("rounds", rounds, low=0)
    check_delta("delta", delta, allow_zero=False)
    if rounds == 0:
        return 0.0
    rdp = compute_rdp(sample_rate=sample_rate, noise_multiplier=noise_multiplier, steps=rounds, orders=orders)
    return rdp_to_epsilon(orders=orders, rdp=rdp, delta=delta)[0]


class DPFedAvgServer(FedAvgServer):
    """FedAvg with Poisson client sampling, update clipping, Gaussian noise and RDP accounting.

    ``sample_rate`` = q (each client joins a round independently with this probability),
    ``noise_multiplier`` = z, ``max_update_norm`` = S, ``delta`` for reporting epsilon,
    ``noise`` = "central" or "distributed" (see the module docstring), ``secure_aggregation`` sums the
    clipped updates with the masking protocol (rounds with a single sampled client send it in the
    clear: DP still holds, secrecy of the one update does not). Other arguments as :class:`FedAvgServer`.
    """

    def __init__(
        self,
        task: Task,
        clients: Any,
        *,
        test: tuple[Any, Any],
        sample_rate: float,
        noise_multiplier: float,
        max_update_norm: float,
        delta: float = 1e-5,
        noise: str = "central",
        secure_aggregation: bool = False,
        local_epochs: int = 1,
        batch_size: int | None = 32,
        lr: float = 0.1,
        rng: RNGLike = None,
        label: str | None = None,
        initial_params: Any = None,
    ) -> None:
        self.sample_rate = check_fraction("sample_rate", sample_rate)
        self.noise_multiplier = check_nonnegative("noise_multiplier", noise_multiplier)
        self.max_update_norm = check_positive("max_update_norm", max_update_norm)
        self.delta = check_delta("delta", delta, allow_zero=False)
        self.noise = check_choice("noise", noise, _NOISE_MODES)
        if not isinstance(secure_aggregation, bool):
            raise TypeError(f"secure_aggregation must be True or False, got {type(secure_aggregation).__name__}")
        if noise == "distributed" and not secure_aggregation:
            raise ValueError("noise='distributed' needs secure_aggregation=True: without it the server sees each "
                             "client's lightly noised update; use noise='central' or turn secure aggregation on")
        self.secure_aggregation = secure_aggregation
        self.accountant = RDPAccountant()
        self._rdp_round: np.ndarray | None = None
        self.epsilons: list[float] = []
        self.cohort_sizes: list[int] = []
        super().__init__(
            task, clients, test=test, fraction=1.0, local_epochs=local_epochs, batch_size=batch_size, lr=lr,
            rng=rng, initial_params=initial_params,
            label=label or f"DP-FedAvg (q={sample_rate:g}, z={noise_multiplier:g}, S={max_update_norm:g}, {noise})",
        )
        self._shapes = [np.shape(a) for a in task.to_numpy(self.params)]

    @property
    def epsilon(self) -> float:
        """Client-level epsilon spent so far at ``delta`` (inf once a round ran without noise)."""
        if self.noise_multiplier == 0 and self.round > 0:
            return math.inf
        if not len(self.accountant):
            return 0.0
        # every round is the same subsampled Gaussian, so RDP is rounds * (RDP of one round); computing
        # the one-round RDP once keeps per-round reporting cheap (it equals self.accountant's answer)
        if self._rdp_round is None:
            self._rdp_round = compute_rdp(sample_rate=self.sample_rate, noise_multiplier=self.noise_multiplier,
                                          steps=1, orders=self.accountant.orders)
        return rdp_to_epsilon(orders=self.accountant.orders, rdp=self._rdp_round * self.round, delta=self.delta)[0]

    def sample_clients(self) -> np.ndarray:
        """Poisson sampling: each client joins independently with probability q (as the accountant assumes)."""
        return np.flatnonzero(np.asarray(self._rng.random(self.n_clients)) < self.sample_rate)

    def _flat(self, params: Any) -> np.ndarray:
        return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in self.task.to_numpy(params)])

    def _unflat(self, flat: np.ndarray) -> Any:
        arrays, i = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape))
            arrays.append(flat[i : i + size].reshape(shape))
            i += size
        return self.task.from_numpy(arrays)

    def step(self) -> None:
        self.round += 1
        selected = self.sample_clients()
        m = len(selected)
        global_flat = self._flat(self.params)
        z, s = self.noise_multiplier, self.max_update_norm
        secure = self.secure_aggregation and m >= 2
        t = minimum_threshold(m) if secure else max(m, 1)
        updates = []
        for k in selected:
            new, _ = self.client_update(int(k), self.params)
            clipped, _ = clip_update(self._flat(new) - global_flat, max_update_norm=s)  # Delta_k, ||.|| <= S
            if self.noise == "distributed":
                # client-side share of the noise: N(0, (zS)^2 / t); >= t shares survive or the round aborts
                std = distributed_noise_std(noise_multiplier=z, max_update_norm=s, threshold=t)
                clipped = clipped + np.asarray(self._rng.normal(0.0, std, size=clipped.size))
            updates.append(clipped)
        if secure:
            total, _ = secure_aggregate_floats(updates, threshold=t, rng=self._rng)
        else:
            total = np.sum(updates, axis=0) if updates else np.zeros_like(global_flat)
        if self.noise == "central":
            total = total + np.asarray(self._rng.normal(0.0, z * s, size=total.size))  # + N(0, (zS)^2 I)
        # fixed-denominator estimator: w_{t+1} = w_t + (sum_k clip(Delta_k) + noise) / (q K)
        self.params = self._unflat(global_flat + total / (self.sample_rate * self.n_clients))
        if z > 0:
            self.accountant.step(noise_multiplier=z, sample_rate=self.sample_rate)
        self.epsilons.append(self.epsilon if z > 0 else math.inf)  # z = 0: no privacy at all
        self.cohort_sizes.append(m)
        self._record(selected)


def run_dp_fedavg(task: Task, clients: Any, *, rounds: int, test: tuple[Any, Any], progress: bool = False,
                  **kwargs: Any) -> DPFedAvgServer:
    """Build a :class:`DPFedAvgServer`, run ``rounds`` rounds, return the server (history and epsilon)."""
    server = DPFedAvgServer(task, clients, test=test, **kwargs)
    server.run(rounds, progress=progress)
    return server
