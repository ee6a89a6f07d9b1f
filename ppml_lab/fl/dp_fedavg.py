"""DP-FedAvg: federated averaging with client-level differential privacy, central or distributed noise.

McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private Recurrent Language Models", ICLR 2018
(arXiv:1710.06963), Algorithm 1 with uniform client weights: each round every client joins independently
with probability q (Poisson sampling), trains locally, and sends its update Delta_k = w_k - w_t clipped
to L2 norm S; noise is added to the sum and the model moves by the fixed-denominator estimator
w_{t+1} = w_t + (sum_k clip(Delta_k) + noise) / (q K) — q K, not the realised cohort size, so that the
sensitivity of the average is S / (q K) whoever shows up.

Privacy unit: one client's whole data set (client-level DP; a hospital in the course's scenario).

Layout (STYLE.md, "one home per concept"): :func:`dp_fedavg_aggregate` and
:func:`distributed_dp_fedavg_aggregate` are pure functions (clip, noise, average); :class:`DPFedAvgServer`
is a thin stateful server that samples, trains, calls them through :meth:`DPFedAvgServer.aggregate` and
charges an :class:`~ppml_lab.dp.accountant.RDPAccountant`; epsilon is ``server.accountant.get_epsilon(delta)``.

Who adds the noise decides whom the epsilon protects against:

* ``noise="central"``: the server adds N(0, (zS)^2 I) to the (securely aggregated) sum. Each round is
  the Poisson-subsampled Gaussian, accounted with sample rate q (Mironov, Talwar & Zhang 2019): the
  epsilon holds against everyone who sees only the models, *provided* the server keeps the cohort
  secret and adds the noise. Against the server itself there is no DP (it sees the un-noised sum):
  ``epsilon_against_server`` is inf.
* ``noise="distributed"``: each client clips, rounds to integers and adds its own share of discrete
  Gaussian noise before secure aggregation (:mod:`ppml_lab.dp.distributed_noise`, Kairouz, Liu & Steinke,
  ICML 2021). The share is fixed before the round from ``min_clients`` and ``colluding_clients``, so the
  honest clients' noise alone reaches std z * S (times a rounding factor reported as
  ``ddg.noise_inflation``) whatever the cohort size; a round with fewer than ``min_clients`` sampled
  clients is skipped (no model update, nothing charged). The sampling server is the adversary here and
  knows the cohort, so there is **no amplification by subsampling**: a client's epsilon is the
  composition over the rounds it took part in. ``max_participations`` lets each client refuse to take
  part more often than that, which bounds epsilon before the run; the reported epsilon is that of the
  most-exposed client so far. Because no claim relies on hiding the cohort, skipping a round (which
  reveals that the cohort was small) costs nothing the accounting assumed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import (
    check_choice,
    check_delta,
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
)
from ppml_lab.dp.accountant import DEFAULT_ORDERS, RDPAccountant, compute_rdp, rdp_to_epsilon
from ppml_lab.dp.clipping import clip_update  # the one home of clipping (re-exported here)
from ppml_lab.dp.distributed_noise import (
    DDGParams,
    ddg_aggregate,
    ddg_decode,
    ddg_effective_noise_multiplier,
    ddg_encode,
    ddg_epsilon,
    ddg_params,
)
from ppml_lab.exceptions import DropoutThresholdError
from ppml_lab.fl.fedavg import FedAvgServer
from ppml_lab.fl.models import Task, flatten_params, unflatten_params
from ppml_lab.fl.secure_aggregation import secure_aggregate, secure_aggregate_floats

__all__ = [
    "clip_update",
    "dp_fedavg_aggregate",
    "distributed_dp_fedavg_encode",
    "distributed_dp_fedavg_aggregate",
    "dp_fedavg_epsilon",
    "DPFedAvgServer",
    "run_dp_fedavg",
]

_NOISE_MODES = ("central", "distributed")
SumFn = Callable[[list[np.ndarray]], np.ndarray]


def _check_updates(updates: Any, dim: int | None) -> np.ndarray:
    arr = np.asarray(updates, dtype=np.float64) if len(updates) else np.zeros((0, dim or 0))
    if arr.ndim != 2:
        raise ValueError(f"updates must be a list of 1-D vectors of equal length, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"updates must have dim={dim} coordinates, got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("updates must contain only finite numbers, got NaN or inf")
    return arr


def dp_fedavg_aggregate(
    updates: Sequence[Any],
    *,
    dim: int,
    max_update_norm: float,
    noise_multiplier: float,
    expected_cohort: float,
    rng: RNGLike = None,
    secure_sum: SumFn | None = None,
) -> np.ndarray:
    """Central-noise DP-FedAvg step: (sum_k clip(Delta_k) + N(0, (zS)^2 I)) / (q K)  (McMahan et al. 2018, Alg. 1).

    ``updates``: the sampled clients' flat model deltas (possibly none: the noise is added anyway, so an
    empty round looks like any other). ``expected_cohort`` = q K, the fixed denominator. ``secure_sum``
    sums the clipped deltas (e.g. secure aggregation); default a plain sum. Returns the averaged noisy delta.
    """
    d = check_int("dim", dim, low=1)
    s = check_positive("max_update_norm", max_update_norm)
    z = check_nonnegative("noise_multiplier", noise_multiplier)
    qk = check_positive("expected_cohort", expected_cohort)
    arr = _check_updates(updates, d)
    clipped = [clip_update(u, max_update_norm=s)[0] for u in arr]  # ||clip(Delta_k)|| <= S
    if secure_sum is not None and len(clipped) >= 2:
        total = np.asarray(secure_sum(clipped), dtype=np.float64)
    else:
        total = np.sum(clipped, axis=0) if clipped else np.zeros(d)
    if z > 0:
        total = total + np.asarray(resolve_rng(rng).normal(0.0, z * s, size=d))  # + N(0, (zS)^2 I)
    return total / qk  # fixed denominator q K, not the realised cohort


def distributed_dp_fedavg_encode(update: Any, *, params: DDGParams, rng: RNGLike = None) -> np.ndarray:
    """Client side of distributed-noise DP-FedAvg: clip to S, then round + discrete Gaussian share, mod 2^bits."""
    clipped, _ = clip_update(update, max_update_norm=params.max_update_norm)
    return ddg_encode(clipped, params=params, rng=rng)


def distributed_dp_fedavg_aggregate(
    encoded: Sequence[np.ndarray], *, params: DDGParams, expected_cohort: float, secure_sum: SumFn | None = None
) -> np.ndarray:
    """Server side: decode the modular sum of the clients' messages and divide by q K.

    ``secure_sum`` returns the uint64 sum (mod 2^64 or 2^bits) of the messages — secure aggregation in a
    real run; default the plain modular sum. Fewer than ``params.min_clients`` messages is refused.
    """
    qk = check_positive("expected_cohort", expected_cohort)
    if secure_sum is None:
        return ddg_aggregate(np.asarray(list(encoded), dtype=np.uint64), params=params) / qk
    if len(encoded) < params.min_clients:
        raise DropoutThresholdError(
            f"a distributed-noise round needs at least min_clients={params.min_clients} inputs, got {len(encoded)}"
        )
    return ddg_decode(np.asarray(secure_sum(list(encoded)), dtype=np.uint64), params=params) / qk


def dp_fedavg_epsilon(
    *, sample_rate: float, noise_multiplier: float, rounds: int, delta: float,
    orders: ArrayLike = DEFAULT_ORDERS,
) -> float:
    """Central-noise DP-FedAvg: client-level epsilon after ``rounds`` rounds against whoever sees only the models.

    The RDP accountant of the Poisson-subsampled Gaussian; assumes the server adds the noise and keeps the
    cohort secret. Depends on (q, z, rounds, delta) only. For distributed noise use
    :func:`ppml_lab.dp.distributed_noise.ddg_epsilon` (no amplification against the sampling server).
    """
    check_int("rounds", rounds, low=0)
    d = check_delta("delta", delta, allow_zero=False)
    acc = RDPAccountant(orders)
    acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=rounds)
    return acc.get_epsilon(d)


class DPFedAvgServer(FedAvgServer):
    """FedAvg with Poisson client sampling, update clipping, noise and RDP accounting (a thin server).

    ``sample_rate`` = q, ``noise_multiplier`` = z, ``max_update_norm`` = S, ``delta`` for reporting
    epsilon, ``noise`` = "central" or "distributed" (module docstring), ``secure_aggregation`` sums the
    updates with the masking protocol (central rounds with a single sampled client send it in the clear:
    DP still holds, secrecy of the one update does not). Distributed noise needs secure aggregation and
    takes ``min_clients`` (default max(2, floor(q K / 2))), ``colluding_clients`` (default
    floor(min_clients / 2)), ``bits`` (modulus 2^bits, default 32) and ``max_participations`` (None: no cap).
    Other arguments as :class:`FedAvgServer`. The epsilon is ``accountant.get_epsilon(delta)`` (also the
    ``epsilon`` property); its unit is one client's whole data set.
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
        min_clients: int | None = None,
        colluding_clients: int | None = None,
        bits: int | None = None,
        max_participations: int | None = None,
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
        if noise == "central" and (min_clients is not None or colluding_clients is not None
                                   or max_participations is not None or bits is not None):
            raise ValueError("min_clients, colluding_clients, bits and max_participations apply only to "
                             "noise='distributed'")
        self.secure_aggregation = secure_aggregation
        self.max_participations = (None if max_participations is None
                                   else check_int("max_participations", max_participations, low=1))
        self.accountant = RDPAccountant()
        self._steps = 0  # accountant steps charged so far (all with the same parameters)
        self._steps_after_round: list[int] = []
        self._rdp_step: np.ndarray | None = None
        self.cohort_sizes: list[int] = []
        self.skipped_rounds: list[int] = []
        super().__init__(
            task, clients, test=test, fraction=1.0, local_epochs=local_epochs, batch_size=batch_size, lr=lr,
            rng=rng, initial_params=initial_params,
            label=label or f"DP-FedAvg (q={sample_rate:g}, z={noise_multiplier:g}, S={max_update_norm:g}, {noise})",
        )
        self._shapes = [np.shape(a) for a in task.to_numpy(self.params)]
        self.dim = int(sum(int(np.prod(s)) for s in self._shapes))
        self.participations = np.zeros(self.n_clients, dtype=np.int64)
        self.ddg: DDGParams | None = None
        if noise == "distributed":
            if self.noise_multiplier == 0:
                raise ValueError("noise_multiplier must be > 0 for noise='distributed', got 0.0")
            n_min = (max(2, int(self.sample_rate * self.n_clients // 2)) if min_clients is None
                     else check_int("min_clients", min_clients, low=2, high=self.n_clients))
            self.ddg = ddg_params(max_update_norm=self.max_update_norm, noise_multiplier=self.noise_multiplier,
                                  dim=self.dim, min_clients=n_min, max_clients=self.n_clients,
                                  colluding_clients=colluding_clients, bits=32 if bits is None else bits)

    # ---------------------------------------------------------------- accounting
    def get_epsilon(self, delta: float) -> float:
        """Client-level epsilon spent so far at ``delta`` (the package's one shape, as Opacus's accountants).

        inf once a round ran without noise. The privacy unit is one client's whole data set.
        """
        if self.noise_multiplier == 0 and self.round > 0:
            return math.inf
        return self.accountant.get_epsilon(delta)

    @property
    def epsilon(self) -> float:
        """``get_epsilon(self.delta)``: the client-level epsilon spent so far at the server's own delta."""
        return self.get_epsilon(self.delta)

    @property
    def epsilons(self) -> list[float]:
        """Epsilon after each round so far (for plots), computed on demand.

        Every step this server records has the same (noise multiplier, sample rate), so after n steps the
        accountant's RDP curve is n times the one-step curve of :func:`compute_rdp`; the last entry equals
        ``accountant.get_epsilon(delta)``.
        """
        if self.noise_multiplier == 0:
            return [math.inf] * len(self._steps_after_round)
        sigma, q = self._step_parameters()
        if self._rdp_step is None:
            self._rdp_step = compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=1, orders=self.accountant.orders)
        cache: dict[int, float] = {0: 0.0}
        out = []
        for n in self._steps_after_round:
            if n not in cache:
                cache[n] = rdp_to_epsilon(orders=self.accountant.orders, rdp=self._rdp_step * n, delta=self.delta)[0]
            out.append(cache[n])
        return out

    @property
    def epsilon_against_server(self) -> float:
        """Central noise: inf (the server sees the un-noised sum). Distributed: the same as ``epsilon``."""
        if self.noise == "central":
            return math.inf if self.round > 0 else 0.0
        return self.epsilon

    def epsilon_bound(self, rounds: int) -> float:
        """Epsilon after ``rounds`` rounds, known before the run (distributed: uses max_participations if set)."""
        r = check_int("rounds", rounds, low=0)
        if self.noise == "central":
            if self.noise_multiplier == 0:
                return math.inf if r > 0 else 0.0
            return dp_fedavg_epsilon(sample_rate=self.sample_rate, noise_multiplier=self.noise_multiplier,
                                     rounds=r, delta=self.delta, orders=self.accountant.orders)
        if self.ddg is None:  # pragma: no cover - noise is 'central' or 'distributed'
            raise RuntimeError("distributed noise without parameters")
        cap = r if self.max_participations is None else min(r, self.max_participations)
        return ddg_epsilon(self.ddg, participations=cap, delta=self.delta)

    def _step_parameters(self) -> tuple[float, float]:
        """(noise multiplier, sample rate) of every accountant step: (z, q) central; (z_eff, 1) distributed."""
        if self.ddg is None:
            return self.noise_multiplier, self.sample_rate
        return ddg_effective_noise_multiplier(self.ddg), 1.0

    def _charge(self, selected: np.ndarray) -> None:
        """Record the round in the accountant (validate, then charge, then compute)."""
        if self.noise_multiplier == 0:
            return  # no noise: epsilon is inf, nothing to account
        if self.ddg is not None:
            before = int(self.participations.max())
            self.participations[selected] += 1
            if int(self.participations.max()) == before:  # the most-exposed client did not take part again
                return
        sigma, q = self._step_parameters()
        self.accountant.step(noise_multiplier=sigma, sample_rate=q)
        self._steps += 1

    # ---------------------------------------------------------------- the round
    def sample_clients(self) -> np.ndarray:
        """Poisson sampling: each client joins independently with probability q (as the accountant assumes).

        With ``max_participations``, a sampled client that already took part that often declines.
        """
        chosen = np.flatnonzero(np.asarray(self._rng.random(self.n_clients)) < self.sample_rate)
        if self.max_participations is not None:
            chosen = chosen[self.participations[chosen] < self.max_participations]
        return chosen

    def _flat(self, params: Any) -> np.ndarray:
        return flatten_params(self.task.to_numpy(params))[0]

    def _unflat(self, flat: np.ndarray) -> Any:
        return self.task.from_numpy(unflatten_params(flat, self._shapes))

    def client_update(self, k: int, global_params: Any) -> tuple[Any, float]:
        """What client k sends: its flat delta (central) or its clipped, noised, encoded delta (distributed)."""
        new, _ = super().client_update(k, global_params)
        delta = self._flat(new) - self._flat(global_params)
        if self.ddg is not None:  # clip + discrete Gaussian share, on the client, before masking
            return distributed_dp_fedavg_encode(delta, params=self.ddg, rng=self._rng), 1.0
        return delta, 1.0

    def _secure_sum_floats(self, vectors: list[np.ndarray]) -> np.ndarray:
        return secure_aggregate_floats(vectors, rng=None)[0]  # masks and keys: always the OS CSPRNG

    def _secure_sum_ints(self, vectors: list[np.ndarray]) -> np.ndarray:
        return secure_aggregate(vectors, rng=None).total  # masks and keys: always the OS CSPRNG

    def aggregate(self, updates: Sequence[Any], weights: ArrayLike) -> Any:
        """w_t + (noisy sum) / (q K), through the pure aggregate of the noise mode."""
        qk = self.sample_rate * self.n_clients
        if self.ddg is not None:
            mean = distributed_dp_fedavg_aggregate(updates, params=self.ddg, expected_cohort=qk,
                                                   secure_sum=self._secure_sum_ints)
        else:
            mean = dp_fedavg_aggregate(
                updates, dim=self.dim, max_update_norm=self.max_update_norm,
                noise_multiplier=self.noise_multiplier, expected_cohort=qk, rng=self._rng,
                secure_sum=self._secure_sum_floats if self.secure_aggregation else None)
        return self._unflat(self._flat(self.params) + mean)

    def step(self) -> None:
        self.round += 1
        selected = self.sample_clients()
        m = len(selected)
        self.cohort_sizes.append(m)
        if self.ddg is not None and m < self.ddg.min_clients:
            # too few clients to carry the calibrated noise: the round is aborted (as SecAgg would), the
            # model is unchanged and nothing is charged; no claim relies on hiding the cohort size
            self.skipped_rounds.append(self.round)
            self._steps_after_round.append(self._steps)
            self._record(())
            return
        self._charge(selected)  # charge before the release is computed
        messages = [self.client_update(int(k), self.params)[0] for k in selected]
        self.params = self.aggregate(messages, [1.0] * m)
        self._steps_after_round.append(self._steps)
        self._record(selected)


def run_dp_fedavg(task: Task, clients: Any, *, rounds: int, test: tuple[Any, Any], progress: bool = False,
                  **kwargs: Any) -> DPFedAvgServer:
    """Build a :class:`DPFedAvgServer`, run ``rounds`` rounds, return the server (history and epsilon)."""
    server = DPFedAvgServer(task, clients, test=test, **kwargs)
    server.run(rounds, progress=progress)
    return server
