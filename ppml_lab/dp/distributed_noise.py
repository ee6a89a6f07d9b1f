"""Distributed discrete Gaussian noise: integer DP noise that survives secure aggregation's modular sum.

What it is: each client turns its clipped real vector into integers, adds its own share of discrete
Gaussian noise, and reduces modulo m = 2^bits; secure aggregation sums the clients' vectors modulo m;
the server maps the sum back to real numbers. No party ever holds the un-noised sum.

Paper: Kairouz, Liu & Steinke, "The Distributed Discrete Gaussian Mechanism for Federated Learning with
Secure Aggregation", ICML 2021, arXiv:2102.06387 (KLS21): Algorithm 1 (client: clip, scale by 1/gamma,
randomized rounding, add N_Z(0, sigma^2)^d, reduce mod m), Algorithm 2 (server: sum mod m, map to
[-m/2, m/2), multiply by gamma), Theorem 1 and Proposition 14 (privacy of a sum of n independent
N_Z(0, sigma^2) vectors). Exact discrete Gaussian sampler: Canonne, Kamath & Steinke, "The Discrete
Gaussian for Differential Privacy", NeurIPS 2020, arXiv:2004.00010 (CKS20), Algorithm 3, via
:func:`ppml_lab.dp.samplers.discrete_gaussian_exact`.

Choices made here (and why they differ from KLS21's production recipe):

* **Noise that does not depend on who shows up.** Every client adds N_Z(0, sigma_c^2) with sigma_c fixed
  before the round from (min_clients, colluding_clients): any round that completes has at least
  ``min_clients`` contributions (secure aggregation aborts below that), of which at most
  ``colluding_clients`` may belong to clients who tell the server their own noise so that it can be
  subtracted. The ``min_clients - colluding_clients`` honest shares alone carry variance
  >= (z * Delta_2)^2, whatever the cohort size. More clients add more noise (never less privacy).
* **Neighbouring relation: zero-out** (Kairouz, McMahan, Song, Thakkar, Thakurta & Xu, "Practical and
  Private (Deep) Learning without Sampling or Shuffling", ICML 2021, arXiv:2103.00039): two runs differ in one
  client's update being replaced by zero; the client still sends its noise share. The privacy unit is
  one client's whole contribution (client-level DP).
* **No random rotation, worst-case wrap bound.** KLS21 flatten the vector with a randomized Hadamard
  transform so that small moduli (2^16-2^20) suffice. We skip it and choose the granularity gamma so
  that the data part of the sum can never wrap (each coordinate of each rounded client vector is at
  most c/gamma + 1 in absolute value) and the noise part wraps with probability at most
  ``overflow_probability`` per round (union bound over d coordinates of the sub-Gaussian tail of the
  noise sum: N_Z(0, sigma^2) is sigma^2-sub-Gaussian, as CKS20 show). This costs a few bits of modulus.
* **Deterministic sensitivity bound** instead of KLS21's conditional rounding: randomized rounding
  moves each coordinate by less than 1, so ||round(x / gamma)||_2 <= c / gamma + sqrt(d) = Delta_2
  always. The noise is calibrated to Delta_2 (the rounded vector's sensitivity), so the accounted
  epsilon holds exactly; ``noise_inflation`` = Delta_2 / (c / gamma) reports what the rounding costs.

Privacy (KLS21 Prop. 14, third bound; Thm 1): with n honest shares, per-client sigma (integer units) and
tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1)), the sum is rho-zCDP with
rho = (Delta_2 / (sqrt(n) sigma) + tau sqrt(d))^2 / 2, i.e. (alpha, alpha * rho)-RDP at every order alpha:
the RDP curve of a Gaussian mechanism with noise multiplier 1 / sqrt(2 rho). :func:`ddg_epsilon` feeds
that effective noise multiplier to :class:`ppml_lab.dp.accountant.RDPAccountant` with sample rate 1
(no amplification by subsampling: the server that samples the cohort is the adversary here).

Threat model: the server and up to ``colluding_clients`` clients are honest-but-curious and pool what
they know; the other clients add their noise honestly; secure aggregation reveals only the modular sum
of at least ``min_clients`` inputs or aborts. Randomness: ``rng=None`` is the OS CSPRNG; a seed is for
reproducible teaching only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_array, check_delta, check_fraction, check_int, check_positive
from ppml_lab.dp.accountant import RDPAccountant
from ppml_lab.dp.samplers import discrete_gaussian_exact
from ppml_lab.exceptions import DropoutThresholdError, PrecisionError

__all__ = [
    "DDGParams",
    "ddg_params",
    "ddg_encode",
    "ddg_decode",
    "modular_sum",
    "ddg_aggregate",
    "ddg_tau",
    "ddg_rho",
    "ddg_effective_noise_multiplier",
    "ddg_epsilon",
    "MIN_BITS",
    "MAX_BITS",
]

#: Smallest and largest modulus exponent accepted. 62 keeps every intermediate inside int64, and any
#: 2^bits divides the 2^64 ring of :mod:`ppml_lab.fl.secure_aggregation`, so (sum mod 2^64) mod 2^bits
#: is the sum mod 2^bits.
MIN_BITS, MAX_BITS = 8, 62
_MAX_CLIP_STEPS = float(2**50)


@dataclass(frozen=True)
class DDGParams:
    """Everything the clients and the server agree on before a round (all public).

    ``granularity`` gamma (real units per integer step), ``sensitivity`` Delta_2 and ``local_sigma``
    sigma_c are in integer units; the rest as passed to :func:`ddg_params`.
    """

    max_update_norm: float
    noise_multiplier: float
    dim: int
    min_clients: int
    max_clients: int
    colluding_clients: int
    bits: int
    overflow_probability: float
    granularity: float
    sensitivity: float
    local_sigma: float

    @property
    def honest_clients(self) -> int:
        """Noise shares that are guaranteed to stay secret: min_clients - colluding_clients."""
        return self.min_clients - self.colluding_clients

    @property
    def modulus(self) -> int:
        return 1 << self.bits

    @property
    def noise_inflation(self) -> float:
        """Delta_2 / (c / gamma) = 1 + gamma sqrt(d) / c: extra noise paid for rounding to integers."""
        return self.sensitivity * self.granularity / self.max_update_norm

    @property
    def guaranteed_noise_std(self) -> float:
        """Std (real units, per coordinate) of the honest clients' noise alone: z * gamma * Delta_2 >= z c."""
        return math.sqrt(self.honest_clients) * self.local_sigma * self.granularity


def ddg_params(
    *,
    max_update_norm: float,
    noise_multiplier: float,
    dim: int,
    min_clients: int,
    max_clients: int,
    colluding_clients: int | None = None,
    bits: int = 32,
    overflow_probability: float = 1e-9,
) -> DDGParams:
    """Choose gamma and the per-client sigma for the distributed discrete Gaussian.

    ``max_update_norm`` c: L2 clip of every client vector. ``noise_multiplier`` z: the honest noise alone
    has std z * Delta_2 (integer units) on the sum. ``min_clients``: a round with fewer included inputs is
    aborted. ``max_clients``: the most inputs a sum can have (the population size). ``colluding_clients``:
    clients whose noise the server may learn and subtract; default floor(min_clients / 2), i.e. t - 1 for
    the strict-majority secure-aggregation threshold t of the smallest allowed cohort. ``bits``: the sum
    lives in Z_{2^bits}. ``overflow_probability``: bound on the chance that the noise makes one round's
    sum wrap around the modulus.
    """
    c = check_positive("max_update_norm", max_update_norm)
    z = check_positive("noise_multiplier", noise_multiplier)
    d = check_int("dim", dim, low=1)
    n_min = check_int("min_clients", min_clients, low=1)
    n_max = check_int("max_clients", max_clients, low=n_min)
    t = n_min // 2 if colluding_clients is None else check_int("colluding_clients", colluding_clients, low=0)
    if t >= n_min:
        raise ValueError(
            f"colluding_clients must be < min_clients ({n_min}) so that at least one noise share stays secret, "
            f"got {t}; raise min_clients or lower colluding_clients"
        )
    b = check_int("bits", bits, low=MIN_BITS, high=MAX_BITS)
    p = check_fraction("overflow_probability", overflow_probability, high_inclusive=False)
    n_h = n_min - t
    # noise sum of n_max shares of variance sigma_c^2 = (z Delta_2)^2 / n_h is sub-Gaussian (CKS20):
    # P(|noise_j| >= u) <= 2 exp(-u^2 / (2 n_max sigma_c^2)); union over d coordinates -> u = k z Delta_2
    k = math.sqrt(2.0 * n_max * math.log(2.0 * d / p) / n_h)
    # wrap-free if n_max (c/gamma + 1) + k z (c/gamma + sqrt d) < 2^(b-1)   (data: |round(x_j/gamma)| <= c/gamma + 1)
    room = 2.0 ** (b - 1) - 1.0 - n_max - k * z * math.sqrt(d)
    if room <= 0:
        raise PrecisionError(
            f"bits must leave room for {n_max} clients' rounded vectors plus the noise tail in Z_2^bits, got {b}; "
            f"raise bits (the sum needs more than 2^{b - 1} per coordinate) or lower max_clients"
        )
    # c / gamma, the clip in integer units; capped at 2^50 so that x / gamma keeps a fractional part in
    # float64 (53-bit mantissa) and randomized rounding moves each coordinate by < 1, as Delta_2 assumes
    c_int = min(room / (n_max + k * z), _MAX_CLIP_STEPS)
    gamma = c / c_int
    delta2 = c_int + math.sqrt(d)  # ||round(x / gamma)||_2 <= c/gamma + sqrt(d): each coordinate moves < 1
    sigma_c = z * delta2 / math.sqrt(n_h)  # n_h honest shares: variance n_h sigma_c^2 = (z Delta_2)^2
    if sigma_c < 0.5:  # KLS21 Prop. 14 assumes sigma >= 1/2
        raise PrecisionError(f"per-client sigma must be >= 0.5 integer steps (KLS21 Prop. 14), got {sigma_c:g}")
    return DDGParams(
        max_update_norm=c, noise_multiplier=z, dim=d, min_clients=n_min, max_clients=n_max,
        colluding_clients=t, bits=b, overflow_probability=p, granularity=gamma, sensitivity=delta2,
        local_sigma=sigma_c,
    )


def _check_params(params: Any) -> DDGParams:
    if not isinstance(params, DDGParams):
        raise TypeError(f"params must be a DDGParams from ddg_params(), got {type(params).__name__}")
    return params


def ddg_encode(update: Any, *, params: DDGParams, rng: RNGLike = None) -> np.ndarray:
    """Client side (KLS21 Alg. 1): round(x / gamma) + N_Z(0, sigma_c^2)^d, reduced mod 2^bits, as uint64.

    ``update`` must already be clipped to L2 norm <= c (clip with the package's clip, e.g.
    :func:`ppml_lab.fl.dp_fedavg.clip_update`); an unclipped vector is refused, since the privacy bound
    assumes the clip.
    """
    prm = _check_params(params)
    x = check_array("update", update, ndim=1)
    if x.size != prm.dim:
        raise ValueError(f"update must have dim={prm.dim} coordinates, got {x.size}")
    norm = float(np.linalg.norm(x))
    if norm > prm.max_update_norm * (1.0 + 1e-9):
        raise ValueError(
            f"update must be clipped to L2 norm <= max_update_norm={prm.max_update_norm:g}, got norm {norm:g}; clip first"
        )
    g = resolve_rng(rng)
    scaled = x / prm.granularity  # x / gamma
    low = np.floor(scaled)
    up = np.asarray(g.random(prm.dim)) < (scaled - low)  # randomized rounding: unbiased, moves < 1
    rounded = low.astype(np.int64) + up.astype(np.int64)
    noise = discrete_gaussian_exact(sigma=Fraction(prm.local_sigma), size=prm.dim, rng=g)  # N_Z(0, sigma_c^2)
    return np.mod(rounded + noise, prm.modulus).astype(np.uint64)  # y_i mod m


def modular_sum(encoded: Any, *, bits: int) -> np.ndarray:
    """Sum of uint64 vectors mod 2^bits (what secure aggregation returns, without the masks)."""
    b = check_int("bits", bits, low=1, high=64)
    arr = np.asarray(encoded)
    if arr.dtype != np.uint64 or arr.ndim != 2:
        raise TypeError(f"encoded must be a 2-D uint64 array (one row per client), got {arr.dtype} with shape {arr.shape}")
    total = arr.sum(axis=0, dtype=np.uint64)  # wraps mod 2^64
    return total if b == 64 else total & np.uint64((1 << b) - 1)


def ddg_decode(total: Any, *, params: DDGParams) -> np.ndarray:
    """Server side (KLS21 Alg. 2): the sum mod 2^bits mapped to [-m/2, m/2), times gamma (real units)."""
    prm = _check_params(params)
    v = np.asarray(total)
    if v.dtype != np.uint64 or v.ndim != 1 or v.size != prm.dim:
        raise TypeError(f"total must be a uint64 vector of length {prm.dim}, got {v.dtype} with shape {v.shape}")
    v = (v & np.uint64(prm.modulus - 1)).astype(np.int64)  # mod 2^bits (2^bits divides 2^64)
    signed = np.where(v >= prm.modulus // 2, v - prm.modulus, v)  # representative in [-m/2, m/2)
    return signed.astype(np.float64) * prm.granularity


def ddg_aggregate(encoded: Any, *, params: DDGParams) -> np.ndarray:
    """Sum of the clients' encoded vectors, decoded to real units; refuses a cohort below min_clients.

    With fewer than ``min_clients`` inputs the honest noise could fall below the calibrated level, so the
    round is refused (:class:`~ppml_lab.exceptions.DropoutThresholdError`), as secure aggregation refuses it.
    """
    prm = _check_params(params)
    arr = np.asarray(encoded)
    m = 0 if arr.size == 0 else (arr.shape[0] if arr.ndim == 2 else -1)
    if m < 0:
        raise TypeError(f"encoded must be a 2-D uint64 array (one row per client), got shape {arr.shape}")
    if m < prm.min_clients:
        raise DropoutThresholdError(
            f"a distributed-noise round needs at least min_clients={prm.min_clients} inputs, got {m}; "
            "the round is aborted (too little noise)"
        )
    return ddg_decode(modular_sum(arr, bits=prm.bits), params=prm)


def ddg_tau(params: DDGParams) -> float:
    """tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1)) with n honest shares (KLS21 Thm 1)."""
    prm = _check_params(params)
    k = np.arange(1, prm.honest_clients, dtype=np.float64)
    return float(10.0 * np.sum(np.exp(-2.0 * math.pi**2 * prm.local_sigma**2 * k / (k + 1.0))))


def ddg_rho(params: DDGParams) -> float:
    """zCDP of one round: rho = (Delta_2 / (sqrt(n) sigma) + tau sqrt(d))^2 / 2   (KLS21 Prop. 14 / Thm 1)."""
    prm = _check_params(params)
    scale = prm.sensitivity / (math.sqrt(prm.honest_clients) * prm.local_sigma)  # Delta_2 / (sqrt(n) sigma)
    return 0.5 * (scale + ddg_tau(prm) * math.sqrt(prm.dim)) ** 2


def ddg_effective_noise_multiplier(params: DDGParams) -> float:
    """The Gaussian noise multiplier with the same RDP curve alpha * rho: 1 / sqrt(2 rho) (<= z)."""
    return 1.0 / math.sqrt(2.0 * ddg_rho(params))


def ddg_epsilon(params: DDGParams, *, participations: int, delta: float) -> float:
    """Epsilon of one client that took part in ``participations`` rounds, against the server that sampled them.

    RDP composes over the rounds a client took part in (Mironov 2017, Prop. 1); no amplification by
    subsampling, since the sampling server knows the cohort. Computed by the package's RDP accountant.
    """
    prm = _check_params(params)
    n = check_int("participations", participations, low=0)
    d = check_delta("delta", delta, allow_zero=False)
    acc = RDPAccountant()
    acc.step(noise_multiplier=ddg_effective_noise_multiplier(prm), sample_rate=1.0, steps=n)
    return acc.get_epsilon(d)
