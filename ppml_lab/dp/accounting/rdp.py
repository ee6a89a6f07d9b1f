"""Renyi DP of the Poisson-subsampled Gaussian, its (epsilon, delta) conversion, and the RDP accountant.

What it is: the RDP curve of one (subsampled) Gaussian release at a list of orders, composed by addition,
converted to (epsilon, delta); a thin stateful accountant that holds the history (the Opacus layout).

Papers:
- Renyi DP: Mironov 2017, arXiv:1702.07476 (Prop 1: composition adds; Prop 7: Gaussian alpha/(2 sigma^2)).
- RDP of the Poisson-subsampled Gaussian: Mironov, Talwar & Zhang 2019, "Renyi Differential Privacy of the
  Sampled Gaussian Mechanism", arXiv:1908.10530 (Sec 3.3, the A_alpha series).
- RDP -> (epsilon, delta): Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis Testing Interpretations
  and Renyi Differential Privacy", AISTATS 2020, arXiv:1905.09982, Thm 21 (the conversion Opacus uses).

Privacy model: add/remove-one neighbouring datasets, sensitivity 1 after clipping (noise_multiplier =
sigma / sensitivity), an adversary who sees every release. RDP is an upper bound on the privacy loss;
:mod:`ppml_lab.dp.accounting.pld` is tighter for the same mechanism.

The RDP numbers equal Opacus' ``RDPAccountant`` and dp_accounting's ``RdpAccountant`` on their common
orders (tests/dp/test_accountant.py); the A_alpha series are vectorised with numpy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ppml_lab._validation import check_array, check_delta, check_int, check_positive
from ppml_lab.dp.accounting._common import check_noise_multiplier, check_sample_rate

__all__ = [
    "DEFAULT_ORDERS",
    "OPACUS_ORDERS",
    "DP_ACCOUNTING_ORDERS",
    "compute_rdp",
    "rdp_to_epsilon",
    "RDPAccountant",
    "find_noise_multiplier",
    "MAX_NOISE_MULTIPLIER",
]

#: Opacus ``RDPAccountant.DEFAULT_ALPHAS`` (opacus 1.6): 1.1, 1.2, ..., 10.9, 12, 13, ..., 63.
OPACUS_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)])
#: dp_accounting ``rdp.DEFAULT_RDP_ORDERS`` (0.6.0): 1.1, ..., 10.9, 11, ..., 63, 128, 256, 512, 1024.
DP_ACCOUNTING_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(11, 64)] + [128.0, 256.0, 512.0, 1024.0]
)
#: Orders searched by default: the union of both lists. Epsilon is a minimum over orders, so ours is never
#: above either library's. The large orders (128 ... 1024) matter for small epsilon (much noise, few
#: steps or a tiny sample rate), where the best order of Opacus' list would be its last one, 63: at
#: q = 0.01, sigma = 5, 100 steps, delta = 1e-5 they lower epsilon from 0.116 to 0.072 (tests pin it).
DEFAULT_ORDERS: tuple[float, ...] = tuple(sorted(set(OPACUS_ORDERS) | set(DP_ACCOUNTING_ORDERS)))

#: The noise-multiplier search gives up above this (Opacus ``MAX_SIGMA``): the budget is too small.
MAX_NOISE_MULTIPLIER = 1e6

_LOG_TERM_FLOOR = -30.0  # stop the fractional-order series once both terms fall below e^-30 (as Opacus)


# --------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------
def _check_orders(orders: Any) -> np.ndarray:
    if isinstance(orders, (int, float, np.integer, np.floating)) and not isinstance(orders, bool):
        orders = [orders]
    arr = check_array("orders", orders, ndim=1)
    if np.any(arr <= 1.0):
        bad = float(arr[arr <= 1.0][0])
        raise ValueError(f"orders must all be finite numbers > 1 (Renyi orders), got {bad!r}")
    return arr


_check_sigma = check_noise_multiplier
_check_rate = check_sample_rate


# --------------------------------------------------------------------------------------------------
# RDP of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019, Sec 3.3)
# --------------------------------------------------------------------------------------------------
def _log_a_int(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    """log A_alpha for integer orders, all orders at once (one row per order)."""
    # A_alpha = sum_{i=0}^{alpha} C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i) / (2 sigma^2))   (MTZ19 Sec 3.3)
    # The binomial weights sum to 1, so A_alpha - 1 = sum_{i>=2} w_i expm1((i^2 - i) / (2 sigma^2)): every
    # term is positive and log A = log1p(A - 1) keeps full relative precision when A is close to 1.
    a = alphas[:, None]
    i = np.arange(2, int(alphas.max()) + 1, dtype=np.float64)[None, :]
    valid = i <= a
    i_safe = np.where(valid, i, 2.0)
    log_w = (
        special.gammaln(a + 1) - special.gammaln(i_safe + 1) - special.gammaln(np.maximum(a - i_safe, 0) + 1)
        + i_safe * math.log(q) + (a - i_safe) * math.log1p(-q)
    )
    c = (i_safe * i_safe - i_safe) / (2.0 * sigma**2)
    # log(e^c - 1), stable for tiny c (large sigma) and huge c (small sigma)
    log_expm1 = np.where(c > 30.0, c + np.log1p(-np.exp(-c)), np.log(np.expm1(np.minimum(c, 30.0))))
    terms = np.where(valid, log_w + log_expm1, -np.inf)
    log_a_minus_1 = special.logsumexp(terms, axis=1)
    return np.logaddexp(0.0, log_a_minus_1)  # log A = log(1 + (A - 1))


def _log_erfc(x: np.ndarray) -> np.ndarray:
    # log erfc(x) = log 2 + log Phi(-x sqrt 2), accurate for large x
    return math.log(2.0) + special.log_ndtr(-x * math.sqrt(2.0))


def _log_a_frac(q: float, sigma: float, alphas: np.ndarray, chunk: int = 64) -> np.ndarray:
    """log A_alpha for fractional orders, all orders at once (rows), terms in chunks (columns)."""
    # A_alpha = A0 + A1 with, for i = 0, 1, ... (MTZ19 Sec 3.3, fractional alpha):
    #   A0 = sum C(alpha,i) q^i (1-q)^(alpha-i) exp((i^2-i)/(2 s^2)) * erfc((i - z0)/(sqrt2 s)) / 2
    #   A1 = sum C(alpha,i) q^(alpha-i) (1-q)^i exp((j^2-j)/(2 s^2)) * erfc((z0 - j)/(sqrt2 s)) / 2, j = alpha - i
    #   z0 = s^2 log(1/q - 1) + 1/2
    # The generalised binomial C(alpha, i) changes sign for i > alpha, so positive and negative terms are
    # summed separately in log space and subtracted at the end (Opacus does it term by term). As in
    # Opacus, the series stops after the first i where both terms are below e^-30.
    z0 = sigma**2 * math.log(1.0 / q - 1.0) + 0.5
    log_q, log_1q = math.log(q), math.log1p(-q)
    a = alphas[:, None]
    n = alphas.size
    neg_inf = np.full(n, -np.inf)
    acc = {key: neg_inf.copy() for key in ("p0", "n0", "p1", "n1")}
    active = np.ones(n, dtype=bool)
    start = 0
    while active.any():
        i = np.arange(start, start + chunk, dtype=np.float64)[None, :]
        coef = special.binom(a, i)
        log_coef = np.log(np.abs(coef))
        j = a - i
        log_t0 = log_coef + i * log_q + j * log_1q
        log_t1 = log_coef + j * log_q + i * log_1q
        log_e0 = math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2.0) * sigma))
        log_e1 = math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2.0) * sigma))
        log_s0 = log_t0 + (i * i - i) / (2.0 * sigma**2) + log_e0
        log_s1 = log_t1 + (j * j - j) / (2.0 * sigma**2) + log_e1
        below = np.maximum(log_s0, log_s1) < _LOG_TERM_FLOOR
        # keep terms up to and including the first "below" one, only for rows still active
        first_below = np.where(below.any(axis=1), np.argmax(below, axis=1), chunk)
        keep = (np.arange(chunk)[None, :] <= first_below[:, None]) & active[:, None]
        pos = coef > 0
        for key, vals, sign in (("p0", log_s0, pos), ("n0", log_s0, ~pos), ("p1", log_s1, pos), ("n1", log_s1, ~pos)):
            part = special.logsumexp(np.where(keep & sign, vals, -np.inf), axis=1)
            acc[key] = np.logaddexp(acc[key], part)
        active &= ~below.any(axis=1)
        start += chunk

    def _signed(lp: np.ndarray, ln: np.ndarray) -> np.ndarray:
        # log(exp(lp) - exp(ln)); the series is alternating-convergent, so lp > ln
        with np.errstate(divide="ignore", invalid="ignore"):
            out = lp + np.log1p(-np.exp(ln - lp))
        return np.where(ln == -np.inf, lp, out)

    return np.logaddexp(_signed(acc["p0"], acc["n0"]), _signed(acc["p1"], acc["n1"]))


def _rdp_per_step(q: float, sigma: float, alphas: np.ndarray) -> np.ndarray:
    if q == 1.0:
        return alphas / (2.0 * sigma**2)  # plain Gaussian mechanism (Mironov 2017, Prop 7)
    out = np.empty_like(alphas)
    is_int = alphas == np.round(alphas)
    if is_int.any():  # RDP = log(A_alpha) / (alpha - 1)   (MTZ19 Sec 3.3)
        out[is_int] = _log_a_int(q, sigma, alphas[is_int]) / (alphas[is_int] - 1.0)
    if (~is_int).any():
        out[~is_int] = _log_a_frac(q, sigma, alphas[~is_int]) / (alphas[~is_int] - 1.0)
    return out


def compute_rdp(
    *, sample_rate: float, noise_multiplier: float, steps: int, orders: ArrayLike = DEFAULT_ORDERS
) -> np.ndarray:
    """RDP of ``steps`` compositions of the Poisson-subsampled Gaussian mechanism, one value per order.

    ``sample_rate`` q in (0, 1] (q = 1: no subsampling, RDP = alpha / (2 sigma^2)); ``noise_multiplier``
    sigma = noise std / L2 sensitivity; ``steps`` >= 0. RDP composes additively (Mironov 2017, Prop 1),
    hence the factor ``steps``. Returns an array with the shape of ``orders``.
    """
    q = _check_rate(sample_rate)
    sigma = _check_sigma(noise_multiplier)
    n = check_int("steps", steps, low=0)
    alphas = _check_orders(orders)
    per_step = _rdp_per_step(q, sigma, alphas)
    return per_step * n  # composition over steps (Mironov 2017, Prop 1)


def rdp_to_epsilon(*, orders: ArrayLike, rdp: ArrayLike, delta: float) -> tuple[float, float]:
    """Convert an RDP curve to (epsilon, best_order) at ``delta``: Balle et al. 2020, Thm 21.

    epsilon = min_alpha  rdp(alpha) + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1).
    This is Opacus' ``get_privacy_spent``; it is tighter than Mironov 2017 Prop 3
    (rdp + log(1/delta)/(alpha - 1)). Returns (inf, nan) when every order gives an infinite bound.
    """
    alphas = _check_orders(orders)
    curve = check_array("rdp", rdp, ndim=1, finite=False)
    if curve.shape != alphas.shape:
        raise ValueError(f"rdp must have one value per order: got {curve.size} values for {alphas.size} orders")
    if np.any(np.isnan(curve)) or np.any(curve < 0):
        raise ValueError("rdp must contain numbers >= 0 (inf allowed), got NaN or a negative value")
    d = check_delta("delta", delta, allow_zero=False)
    # Balle et al. 2020, Thm 21
    eps = curve - (math.log(d) + np.log(alphas)) / (alphas - 1.0) + np.log((alphas - 1.0) / alphas)
    if not np.any(np.isfinite(eps)):
        return math.inf, math.nan
    idx = int(np.nanargmin(eps))
    return float(eps[idx]), float(alphas[idx])


# --------------------------------------------------------------------------------------------------
# stateful RDP accountant
# --------------------------------------------------------------------------------------------------
class RDPAccountant:
    """Holds (noise_multiplier, sample_rate, steps) triples; epsilon is computed on demand.

    Mirrors ``opacus.accountants.RDPAccountant``: consecutive steps with the same parameters are merged.
    """

    def __init__(self, orders: ArrayLike = DEFAULT_ORDERS) -> None:
        self.orders: tuple[float, ...] = tuple(float(a) for a in _check_orders(orders))
        self.history: list[tuple[float, float, int]] = []

    def __repr__(self) -> str:
        total = sum(h[2] for h in self.history)
        return f"RDPAccountant(segments={len(self.history)}, steps={total})"

    def __len__(self) -> int:
        return len(self.history)

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        """Record ``steps`` releases of the subsampled Gaussian with these parameters."""
        sigma = _check_sigma(noise_multiplier)
        q = _check_rate(sample_rate)
        n = check_int("steps", steps, low=0)
        if n == 0:
            return
        if self.history and self.history[-1][0] == sigma and self.history[-1][1] == q:
            last = self.history.pop()
            self.history.append((sigma, q, last[2] + n))
        else:
            self.history.append((sigma, q, n))

    def rdp(self) -> np.ndarray:
        """The composed RDP curve over ``self.orders``."""
        total = np.zeros(len(self.orders))
        for sigma, q, n in self.history:
            total += compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=n, orders=self.orders)
        return total

    def get_privacy_spent(self, *, delta: float) -> tuple[float, float]:
        """(epsilon, best order) spent so far; (0.0, nan) before any step."""
        d = check_delta("delta", delta, allow_zero=False)
        if not self.history:
            return 0.0, math.nan
        return rdp_to_epsilon(orders=self.orders, rdp=self.rdp(), delta=d)

    def get_epsilon(self, delta: float) -> float:
        """Epsilon spent so far at ``delta`` (the accountants' common question; Opacus' shape)."""
        return self.get_privacy_spent(delta=delta)[0]


def find_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    orders: ArrayLike = DEFAULT_ORDERS,
    tolerance: float = 0.01,
) -> float:
    """Smallest noise multiplier (to ``tolerance`` in epsilon) whose RDP epsilon is <= ``target_epsilon``.

    Same search as Opacus ``get_noise_multiplier``: double sigma from 20 until epsilon <= target, then
    bisect until target - epsilon <= tolerance. The returned sigma always meets the target (it is the
    upper end of the bracket). Raises ValueError when sigma would exceed ``MAX_NOISE_MULTIPLIER``.
    """
    target = check_positive("target_epsilon", target_epsilon)
    d = check_delta("delta", delta, allow_zero=False)
    q = _check_rate(sample_rate)
    n = check_int("steps", steps, low=1)
    alphas = _check_orders(orders)
    tol = check_positive("tolerance", tolerance)

    def eps_at(sigma: float) -> float:
        return rdp_to_epsilon(
            orders=alphas, rdp=compute_rdp(sample_rate=q, noise_multiplier=sigma, steps=n, orders=alphas), delta=d
        )[0]

    sigma_low, sigma_high, eps_high = 0.0, 10.0, math.inf
    while eps_high > target:
        sigma_high *= 2.0
        eps_high = eps_at(sigma_high)
        if sigma_high > MAX_NOISE_MULTIPLIER:
            raise ValueError(
                f"target_epsilon={target!r} is too small for delta={d!r}, sample_rate={q!r}, steps={n}: "
                f"it needs noise_multiplier > {MAX_NOISE_MULTIPLIER:g}; raise epsilon or lower steps"
            )
    while target - eps_high > tol:
        sigma = (sigma_low + sigma_high) / 2.0
        eps = eps_at(sigma)
        if eps < target:
            sigma_high, eps_high = sigma, eps
        else:
            sigma_low = sigma
    return sigma_high
