"""Privacy accounting: composition, zCDP and the RDP accountant of the (subsampled) Gaussian.

What it is: functions that say how much privacy a sequence of releases spends, and thin stateful
accountants that hold the history and call them (the Opacus layout).

Papers:
- Basic and advanced composition: Dwork, Rothblum & Vadhan 2010, "Boosting and Differential Privacy",
  FOCS 2010, doi:10.1109/FOCS.2010.12 (Thm III.3); also Dwork & Roth 2014, Thm 3.16 and 3.20.
- zCDP: Bun & Steinke 2016, "Concentrated Differential Privacy: Simplifications, Extensions, and Lower
  Bounds", TCC 2016, arXiv:1605.02065 (Prop 1.3, 1.4, 1.6; Lemma 2.3).
- Renyi DP: Mironov 2017, arXiv:1702.07476 (Prop 3, 7: Gaussian alpha/(2 sigma^2), composition).
- RDP of the Poisson-subsampled Gaussian: Mironov, Talwar & Zhang 2019, "Renyi Differential Privacy of the
  Sampled Gaussian Mechanism", arXiv:1908.10530 (Sec 3.3, the A_alpha series).
- RDP -> (epsilon, delta): Balle, Barthe, Gaboardi, Hsu & Sato 2020, "Hypothesis Testing Interpretations
  and Renyi Differential Privacy", AISTATS 2020, arXiv:1905.09982, Thm 21 (the conversion Opacus uses).

Privacy model: every bound is for add/remove-one neighbouring datasets, sensitivity 1 after clipping
(noise_multiplier = sigma / sensitivity), and holds for an adversary who sees every release.

The RDP numbers equal Opacus' ``RDPAccountant`` (tests/dp/test_accountant.py checks 1e-6 relative on a
grid); the A_alpha series are vectorised with numpy instead of Python loops over terms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ppml_lab._validation import (
    check_array,
    check_delta,
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
    check_real,
)

__all__ = [
    "DEFAULT_ORDERS",
    "compute_rdp",
    "rdp_to_epsilon",
    "RDPAccountant",
    "find_noise_multiplier",
    "basic_composition",
    "advanced_composition",
    "advanced_composition_epsilon_per_step",
    "gaussian_zcdp",
    "pure_dp_to_zcdp",
    "zcdp_to_epsilon",
    "zcdp_to_rdp",
    "ZCDPAccountant",
    "MAX_NOISE_MULTIPLIER",
]

#: RDP orders searched by default: Opacus' ``RDPAccountant.DEFAULT_ALPHAS`` (1.1, 1.2, ..., 10.9, 12, ..., 63).
DEFAULT_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(12, 64)])

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


def _check_sigma(noise_multiplier: Any) -> float:
    return check_positive("noise_multiplier", noise_multiplier)


def _check_rate(sample_rate: Any) -> float:
    return check_fraction("sample_rate", sample_rate)


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
    *, sample_rate: float, noise_multiplier: float, steps: int, orders: Sequence[float] = DEFAULT_ORDERS
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


def rdp_to_epsilon(*, orders: Sequence[float], rdp: Sequence[float], delta: float) -> tuple[float, float]:
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

    def __init__(self, orders: Sequence[float] = DEFAULT_ORDERS) -> None:
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
        """Epsilon spent so far at ``delta``."""
        return self.get_privacy_spent(delta=delta)[0]


def find_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    orders: Sequence[float] = DEFAULT_ORDERS,
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


# --------------------------------------------------------------------------------------------------
# composition theorems for (epsilon, delta)-DP
# --------------------------------------------------------------------------------------------------
def basic_composition(epsilons: Sequence[float], deltas: Sequence[float] | None = None) -> tuple[float, float]:
    """Sequential composition: (sum epsilon_i, sum delta_i)  (Dwork & Roth 2014, Thm 3.16)."""
    eps = check_array("epsilons", epsilons, ndim=1)
    if np.any(eps < 0):
        raise ValueError(f"epsilons must all be >= 0, got {float(eps[eps < 0][0])!r}")
    if deltas is None:
        dl = np.zeros_like(eps)
    else:
        dl = check_array("deltas", deltas, ndim=1)
        if dl.shape != eps.shape:
            raise ValueError(f"deltas must have one value per epsilon: got {dl.size} for {eps.size}")
        if np.any((dl < 0) | (dl >= 1)):
            raise ValueError("deltas must all be in [0, 1)")
    return float(eps.sum()), float(min(dl.sum(), 1.0))


def advanced_composition(*, epsilon: float, delta: float, k: int, delta_prime: float) -> tuple[float, float]:
    """k-fold adaptive composition of (epsilon, delta)-DP mechanisms (Dwork, Rothblum & Vadhan 2010, Thm III.3).

    Returns (eps', k delta + delta') with eps' = sqrt(2 k ln(1/delta')) eps + k eps (e^eps - 1).
    """
    e = check_positive("epsilon", epsilon)
    d = check_delta("delta", delta)
    n = check_int("k", k, low=1)
    dp = check_delta("delta_prime", delta_prime, allow_zero=False)
    eps_total = math.sqrt(2.0 * n * math.log(1.0 / dp)) * e + n * e * math.expm1(e)  # DRV10 Thm III.3
    return eps_total, n * d + dp


def advanced_composition_epsilon_per_step(*, target_epsilon: float, k: int, delta_prime: float) -> float:
    """Largest per-step epsilon whose k-fold advanced composition stays within ``target_epsilon``.

    The composed epsilon is increasing in the per-step epsilon, so this is a bisection.
    """
    target = check_positive("target_epsilon", target_epsilon)
    n = check_int("k", k, low=1)
    dp = check_delta("delta_prime", delta_prime, allow_zero=False)
    lo, hi = 0.0, target
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid == 0.0 or advanced_composition(epsilon=mid, delta=0.0, k=n, delta_prime=dp)[0] <= target:
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------------------------------
# zero-concentrated DP (Bun & Steinke 2016)
# --------------------------------------------------------------------------------------------------
def gaussian_zcdp(*, noise_multiplier: float, steps: int = 1) -> float:
    """rho of ``steps`` Gaussian releases with std sigma * sensitivity: steps / (2 sigma^2).

    Bun & Steinke 2016, Prop 1.6 (rho = Delta^2 / (2 sigma^2)) and Lemma 2.3 (rho adds up).
    """
    sigma = _check_sigma(noise_multiplier)
    n = check_int("steps", steps, low=0)
    return n / (2.0 * sigma**2)


def pure_dp_to_zcdp(*, epsilon: float) -> float:
    """An epsilon-DP mechanism is (epsilon^2 / 2)-zCDP (Bun & Steinke 2016, Prop 1.4)."""
    e = check_positive("epsilon", epsilon)
    return e * e / 2.0


def zcdp_to_rdp(*, rho: float, orders: Sequence[float] = DEFAULT_ORDERS) -> np.ndarray:
    """rho-zCDP means (alpha, rho * alpha)-RDP at every order alpha > 1 (Bun & Steinke 2016, Def 1.1)."""
    r = check_nonnegative("rho", rho)
    return r * _check_orders(orders)


def zcdp_to_epsilon(*, rho: float, delta: float, method: str = "bun_steinke") -> float:
    """Epsilon at ``delta`` of a rho-zCDP mechanism.

    ``method="bun_steinke"``: eps = rho + 2 sqrt(rho ln(1/delta))  (Bun & Steinke 2016, Prop 1.3).
    ``method="rdp"``: the RDP curve rho * alpha through Balle et al. 2020 Thm 21 on a fine grid of
    orders (always at most the Bun-Steinke bound, up to the grid).
    """
    r = check_nonnegative("rho", rho)
    d = check_delta("delta", delta, allow_zero=False)
    if method == "bun_steinke":
        return r + 2.0 * math.sqrt(r * math.log(1.0 / d))  # BS16 Prop 1.3
    if method == "rdp":
        if r == 0.0:
            return 0.0
        # the optimum sits near alpha* = 1 + sqrt(ln(1/delta) / rho); search a log grid around it
        centre = 1.0 + math.sqrt(math.log(1.0 / d) / r)
        alphas = np.unique(np.concatenate([1.0 + np.geomspace(1e-3, 1e4, 2000), centre * np.geomspace(0.5, 2, 401)]))
        alphas = alphas[alphas > 1.0]
        return rdp_to_epsilon(orders=alphas, rdp=r * alphas, delta=d)[0]
    raise ValueError(f"method must be one of 'bun_steinke', 'rdp', got {method!r}")


@dataclass
class ZCDPAccountant:
    """Adds up rho over releases (zCDP composes additively, Bun & Steinke 2016 Lemma 2.3)."""

    rho: float = 0.0

    def __post_init__(self) -> None:
        self.rho = check_nonnegative("rho", self.rho)

    def add_gaussian(self, *, noise_multiplier: float, steps: int = 1) -> None:
        self.rho += gaussian_zcdp(noise_multiplier=noise_multiplier, steps=steps)

    def add_pure(self, *, epsilon: float) -> None:
        self.rho += pure_dp_to_zcdp(epsilon=epsilon)

    def add_rho(self, *, rho: float) -> None:
        self.rho += check_real("rho", rho, low=0.0)

    def get_epsilon(self, delta: float, *, method: str = "bun_steinke") -> float:
        return zcdp_to_epsilon(rho=self.rho, delta=delta, method=method)
