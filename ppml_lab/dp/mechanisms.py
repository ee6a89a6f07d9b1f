"""Differential-privacy mechanisms: randomized response, Laplace, Gaussian, geometric, discrete Gaussian,
exponential / report-noisy-max, and clipped count / sum / mean / histogram queries.

Papers (definitions and theorem numbers used in the comments):
- Dwork, McSherry, Nissim & Smith 2006, "Calibrating Noise to Sensitivity", TCC, doi:10.1007/11681878_14;
  Dwork & Roth 2014, "The Algorithmic Foundations of Differential Privacy" (DR14): Thm 3.6 (Laplace),
  Thm A.1 (classical Gaussian), Thm 3.10 (exponential mechanism), Claim 3.9 (report noisy max).
- Warner 1965 (randomized response); Kairouz, Oh & Viswanath 2014 / Wang et al. 2017 (k-ary RR,
  "direct encoding", USENIX Security 2017, Sec 4.1: unbiased frequency estimator and its variance).
- Balle & Wang 2018, "Improving the Gaussian Mechanism for Differential Privacy: Analytical Calibration
  and Optimal Denoising", ICML, arXiv:1805.06530, Thm 8 / Alg 1 (analytic Gaussian).
- Ghosh, Roughgarden & Sundararajan 2009 (geometric mechanism); Canonne, Kamath & Steinke 2020,
  arXiv:2004.00010 (discrete Gaussian, Thm 4 / Cor 9 for its zCDP).
- Mironov 2012, doi:10.1145/2382196.2382264 (floating-point attack; why the default outputs lie on a grid).

Privacy model: add/remove-one neighbours; ``sensitivity`` is the L1 (Laplace, geometric) or L2 (Gaussian)
sensitivity of the query, which the caller must guarantee (the clipped queries below do it by clipping).
Outputs of ``laplace_mechanism`` and ``gaussian_mechanism`` are multiples of a power-of-two grid step, so
their low-order bits carry nothing about the input (see :mod:`ppml_lab.dp.samplers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import (
    check_array,
    check_bool,
    check_choice,
    check_delta,
    check_int,
    check_positive,
    check_real,
)
from ppml_lab.dp import samplers
from ppml_lab.exceptions import PrecisionError

__all__ = [
    "NoiseStats",
    "randomized_response",
    "randomized_response_estimate",
    "randomized_response_stats",
    "k_randomized_response",
    "k_randomized_response_estimate",
    "laplace_scale",
    "laplace_mechanism",
    "laplace_grid_step",
    "laplace_mechanism_textbook",
    "laplace_stats",
    "gaussian_sigma_classical",
    "gaussian_sigma_analytic",
    "gaussian_mechanism",
    "gaussian_stats",
    "geometric_mechanism",
    "discrete_gaussian_mechanism",
    "exponential_mechanism",
    "exponential_mechanism_probabilities",
    "report_noisy_max",
    "clipped_count",
    "clipped_sum",
    "clipped_mean",
    "histogram",
]


@dataclass(frozen=True)
class NoiseStats:
    """Bias and variance of a mechanism's output around the true answer (per released value)."""

    bias: float
    variance: float

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


def _values(name: str, value: Any) -> tuple[np.ndarray, bool]:
    scalar = np.ndim(value) == 0 and not isinstance(value, (str, bytes)) and value is not None
    arr = check_array(name, np.atleast_1d(value) if scalar else value)
    return arr, scalar


def _out(arr: np.ndarray, scalar: bool) -> Any:
    return float(arr[0]) if scalar else arr


# --------------------------------------------------------------------------------------------------
# randomized response
# --------------------------------------------------------------------------------------------------
def randomized_response(bits: Any, *, epsilon: float, rng: RNGLike = None) -> np.ndarray:
    """Binary randomized response: keep each bit with p = e^eps / (1 + e^eps), flip it otherwise.

    epsilon-DP per respondent (the likelihood ratio is p / (1 - p) = e^eps; Warner 1965, DR14 Sec 3.2).
    """
    eps = check_positive("epsilon", epsilon)
    b = check_array("bits", bits, integer=True)
    if np.any((b != 0) & (b != 1)):
        raise ValueError("bits must contain only 0 and 1")
    g = resolve_rng(rng)
    p_keep = 1.0 / (1.0 + math.exp(-eps))  # e^eps / (1 + e^eps)
    flip = np.asarray(g.random(b.size)).reshape(b.shape) >= p_keep
    return np.where(flip, 1 - b, b)


def randomized_response_estimate(responses: Any, *, epsilon: float) -> float:
    """Unbiased estimate of the true fraction of 1s: (mean - (1 - p)) / (2p - 1)."""
    eps = check_positive("epsilon", epsilon)
    r = check_array("responses", responses, integer=True)
    p = 1.0 / (1.0 + math.exp(-eps))
    return float((r.mean() - (1.0 - p)) / (2.0 * p - 1.0))  # E[mean] = pi p + (1 - pi)(1 - p)


def randomized_response_stats(*, epsilon: float, n: int, true_fraction: float) -> NoiseStats:
    """Bias 0 and variance of :func:`randomized_response_estimate` for n respondents."""
    eps = check_positive("epsilon", epsilon)
    m = check_int("n", n, low=1)
    pi = check_real("true_fraction", true_fraction, low=0.0, high=1.0)
    p = 1.0 / (1.0 + math.exp(-eps))
    lam = pi * p + (1 - pi) * (1 - p)  # P(response = 1)
    return NoiseStats(0.0, lam * (1 - lam) / (m * (2 * p - 1) ** 2))


def k_randomized_response(values: Any, *, k: int, epsilon: float, rng: RNGLike = None) -> np.ndarray:
    """k-ary randomized response (direct encoding) on values in {0..k-1}.

    Report the truth with p = e^eps / (e^eps + k - 1), else one of the other k - 1 values uniformly
    (Wang et al. 2017, Sec 4.1). epsilon-DP: p / q = e^eps with q = 1 / (e^eps + k - 1).
    """
    kk = check_int("k", k, low=2)
    eps = check_positive("epsilon", epsilon)
    v = check_array("values", values, integer=True)
    if np.any((v < 0) | (v >= kk)):
        raise ValueError(f"values must be integers in [0, {kk - 1}] (k={kk})")
    g = resolve_rng(rng)
    p = math.exp(eps) / (math.exp(eps) + kk - 1)
    keep = np.asarray(g.random(v.size)).reshape(v.shape) < p
    other = np.asarray(g.integers(0, kk - 1, size=v.size)).reshape(v.shape)
    other = other + (other >= v)  # uniform over the k - 1 values != v
    return np.where(keep, v, other)


def k_randomized_response_estimate(responses: Any, *, k: int, epsilon: float) -> np.ndarray:
    """Unbiased frequency estimates: (c_j / n - q) / (p - q)  (Wang et al. 2017, Thm 2)."""
    kk = check_int("k", k, low=2)
    eps = check_positive("epsilon", epsilon)
    r = check_array("responses", responses, integer=True)
    p = math.exp(eps) / (math.exp(eps) + kk - 1)
    q = 1.0 / (math.exp(eps) + kk - 1)
    freq = np.bincount(r.ravel(), minlength=kk)[:kk] / r.size
    return (freq - q) / (p - q)


# --------------------------------------------------------------------------------------------------
# Laplace
# --------------------------------------------------------------------------------------------------
def laplace_scale(*, epsilon: float, sensitivity: float) -> float:
    """b = sensitivity / epsilon (DR14 Thm 3.6)."""
    return check_positive("sensitivity", sensitivity) / check_positive("epsilon", epsilon)


#: A vector of d values is rounded on a grid 2^ceil(log2 d) finer than a scalar (at most 2^GRID_SHRINK_MAX_BITS
#: finer), so the rounding's L1 cost d * gamma stays near one scalar's gamma without a huge grid scale.
GRID_SHRINK_MAX_BITS = 4


def laplace_grid_step(*, epsilon: float, sensitivity: float, size: int = 1) -> float:
    """The power-of-two grid gamma that :func:`laplace_mechanism` rounds ``size`` values to.

    gamma = grid_step(sensitivity / epsilon) / 2^min(ceil(log2 size), GRID_SHRINK_MAX_BITS): about b / 2^20
    for one value, finer for a vector so that its total rounding d * gamma stays small.
    """
    eps = check_positive("epsilon", epsilon)
    sens = check_positive("sensitivity", sensitivity)
    d = check_int("size", size, low=1)
    shrink = min((d - 1).bit_length(), GRID_SHRINK_MAX_BITS)  # ceil(log2 d), capped
    return math.ldexp(samplers.grid_step(sens / eps), -shrink)


def laplace_mechanism(value: Any, *, epsilon: float, sensitivity: float, rng: RNGLike = None) -> Any:
    """(epsilon, 2^-1000)-DP Laplace mechanism, hardened against the floating-point attack (the default).

    ``sensitivity`` is the L1 sensitivity of the whole ``value`` (a scalar or a vector of d entries).
    Each entry is rounded to a power-of-two grid gamma, and an integer number of grid steps drawn from
    the discrete Laplace distribution is added: out = gamma * (round(x / gamma) + K),
    P(K = k) ~ exp(-|k| gamma / b). Rounding moves each entry by at most gamma / 2, so neighbours' rounded
    vectors differ by at most sensitivity + d * gamma in L1, and b = (sensitivity + d gamma) / epsilon'
    keeps the guarantee (for d = 1 that is the scalar's sensitivity + gamma). epsilon' = epsilon minus
    :func:`~ppml_lab.dp.samplers.inversion_epsilon_margin` (the sampler's floating-point error, ~3e-6 at
    most), and the delta is :data:`~ppml_lab.dp.samplers.GRID_TAIL_DELTA` (atoms beyond ~708 scales).
    """
    eps = check_positive("epsilon", epsilon)
    sens = check_positive("sensitivity", sensitivity)
    x, scalar = _values("value", value)
    d = max(int(x.size), 1)
    gamma = laplace_grid_step(epsilon=eps, sensitivity=sens, size=d)
    l1_shift = sens + d * gamma  # |round(x) - round(x')|_1 <= sensitivity + d * gamma
    # the grid scale t = b / gamma is at most twice this once the margin (< eps / 2) is taken out
    margin = samplers.inversion_epsilon_margin(2.0 * l1_shift / (eps * gamma))
    if margin >= eps / 2.0:
        raise PrecisionError(
            f"epsilon must be > {2.0 * margin:g} for this grid (sensitivity={sens!r}, {d} values), got {eps!r}"
        )
    b = l1_shift / (eps - margin)
    grid_units = np.round(x / gamma)  # exact: gamma is a power of two
    if np.any(np.abs(grid_units) >= 2.0**52):
        raise PrecisionError(
            f"value must satisfy |value| < 2^52 * grid step = {2.0**52 * gamma:g} for epsilon={eps!r}, "
            f"sensitivity={sens!r}; clip or rescale the data"
        )
    k = samplers.discrete_laplace(scale=b / gamma, size=x.size, rng=rng).reshape(x.shape)
    return _out((grid_units + k) * gamma, scalar)


def laplace_mechanism_textbook(value: Any, *, epsilon: float, sensitivity: float, rng: RNGLike = None) -> Any:
    """INSECURE textbook Laplace mechanism: x + Lap(sensitivity / epsilon) in floating point.

    Vulnerable to Mironov 2012's attack (notebook 01 runs it). For teaching only.
    """
    b = laplace_scale(epsilon=epsilon, sensitivity=sensitivity)
    x, scalar = _values("value", value)
    noise = samplers.textbook_laplace(scale=b, size=x.size, rng=rng).reshape(x.shape)
    return _out(x + noise, scalar)


def laplace_stats(*, epsilon: float, sensitivity: float) -> NoiseStats:
    """Bias 0, variance 2 b^2 (continuous Laplace; the grid version differs by < 1e-5 relative)."""
    b = laplace_scale(epsilon=epsilon, sensitivity=sensitivity)
    return NoiseStats(0.0, 2.0 * b * b)


# --------------------------------------------------------------------------------------------------
# Gaussian
# --------------------------------------------------------------------------------------------------
def gaussian_sigma_classical(*, epsilon: float, delta: float, sensitivity: float) -> float:
    """sigma = sqrt(2 ln(1.25 / delta)) * sensitivity / epsilon, valid for epsilon < 1 (DR14 Thm A.1)."""
    eps = check_real("epsilon", epsilon, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    d = check_delta("delta", delta, allow_zero=False)
    sens = check_positive("sensitivity", sensitivity)
    return math.sqrt(2.0 * math.log(1.25 / d)) * sens / eps


def gaussian_sigma_analytic(*, epsilon: float, delta: float, sensitivity: float) -> float:
    """Smallest sigma for (epsilon, delta)-DP: the analytic Gaussian of Balle & Wang 2018, Alg 1.

    Thm 8: N(0, sigma^2) with L2 sensitivity D is (eps, delta)-DP iff
    Phi(D/(2 sigma) - eps sigma/D) - e^eps Phi(-D/(2 sigma) - eps sigma/D) <= delta. Alg 1 solves it in
    v for B+(v) = Phi(sqrt(eps v)) - e^eps Phi(-sqrt(eps (v + 2))) (or B- when delta >= B+(0)) and maps back
    with alpha = sqrt(1 + v/2) -/+ sqrt(v/2), sigma = alpha D / sqrt(2 eps). Root by Brent's method.
    """
    eps = check_positive("epsilon", epsilon)
    d = check_delta("delta", delta, allow_zero=False)
    sens = check_positive("sensitivity", sensitivity)

    def e_eps_tail(v: float) -> float:
        # e^eps * Phi(-sqrt(eps (v + 2))) in log space: e^eps alone overflows a double for eps >= 710
        return math.exp(eps + special.log_ndtr(-math.sqrt(eps * (v + 2.0))))

    def b_plus(v: float) -> float:
        return special.ndtr(math.sqrt(eps * v)) - e_eps_tail(v) - d

    def b_minus(v: float) -> float:
        return special.ndtr(-math.sqrt(eps * v)) - e_eps_tail(v) - d

    delta0 = b_plus(0.0)  # = delta_0 - delta, where delta_0 = Phi(0) - e^eps Phi(-sqrt(2 eps))
    f = b_plus if delta0 < 0 else b_minus
    hi = 1.0
    while f(0.0) * f(hi) > 0:  # double until the sign changes (Alg 1)
        hi *= 2.0
    v = optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    alpha = math.sqrt(1.0 + v / 2.0) + (-1.0 if delta0 < 0 else 1.0) * math.sqrt(v / 2.0)
    return alpha * sens / math.sqrt(2.0 * eps)


def gaussian_mechanism(
    value: Any,
    *,
    epsilon: float,
    delta: float,
    sensitivity: float,
    method: str = "analytic",
    rng: RNGLike = None,
) -> Any:
    """(epsilon, delta)-DP Gaussian mechanism; output rounded to a power-of-two grid.

    ``method="analytic"`` (Balle & Wang 2018, default) or ``"classical"`` (DR14 Thm A.1, epsilon < 1).
    The rounding is post-processing of x + N(0, sigma^2), so the guarantee is unchanged, and it removes
    the low-order bits that a floating-point attack reads.
    """
    check_choice("method", method, ("analytic", "classical"))
    if method == "analytic":
        sigma = gaussian_sigma_analytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    else:
        sigma = gaussian_sigma_classical(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    x, scalar = _values("value", value)
    gamma = samplers.grid_step(sigma)
    # x + sigma z must stay exactly representable on the grid: beyond 2^52 grid steps the double's spacing
    # exceeds gamma, the noise's low bits are rounded away, and the output starts to depend on x's bits
    limit = 2.0**52 * gamma - 40.0 * sigma  # 40 sigma: the noise exceeds it with probability < 1e-300
    if np.any(np.abs(x) >= limit):
        raise PrecisionError(
            f"value must satisfy |value| < 2^52 * grid step - 40 sigma = {limit:g} for sigma={sigma:g}, "
            f"got max |value| = {float(np.max(np.abs(x))):g}; clip or rescale the data"
        )
    g = resolve_rng(rng)
    z = np.asarray(g.standard_normal(x.size), dtype=np.float64).reshape(x.shape)
    return _out(samplers.round_to_grid(x + sigma * z, gamma), scalar)


def gaussian_stats(*, epsilon: float, delta: float, sensitivity: float, method: str = "analytic") -> NoiseStats:
    """Bias 0, variance sigma^2."""
    check_choice("method", method, ("analytic", "classical"))
    fn = gaussian_sigma_analytic if method == "analytic" else gaussian_sigma_classical
    s = fn(epsilon=epsilon, delta=delta, sensitivity=sensitivity)
    return NoiseStats(0.0, s * s)


# --------------------------------------------------------------------------------------------------
# integer-valued mechanisms
# --------------------------------------------------------------------------------------------------
def geometric_mechanism(value: Any, *, epsilon: float, sensitivity: int = 1, rng: RNGLike = None) -> Any:
    """epsilon-DP geometric mechanism for integer queries: x + K, P(K = k) ~ exp(-eps |k| / sensitivity).

    Ghosh, Roughgarden & Sundararajan 2009; the discrete analogue of Laplace, integers in, integers out.
    Variance 2a / (1 - a)^2 with a = exp(-eps / sensitivity).
    """
    eps = check_positive("epsilon", epsilon)
    sens = check_int("sensitivity", sensitivity, low=1)
    scalar = np.ndim(value) == 0 and value is not None and not isinstance(value, (str, bytes))
    x = check_array("value", np.atleast_1d(value) if scalar else value, integer=True)
    k = samplers.discrete_laplace(scale=sens / eps, size=x.size, rng=rng).reshape(x.shape)
    out = x + k
    return int(out[0]) if scalar else out


def discrete_gaussian_mechanism(
    value: Any, *, noise_multiplier: float, sensitivity: int = 1, rng: RNGLike = None
) -> tuple[Any, float]:
    """x + N_Z(0, sigma^2) with sigma = noise_multiplier * sensitivity, by the exact sampler (CKS20 Alg 3).

    Returns (output, rho): the release is rho-zCDP with rho = 1 / (2 noise_multiplier^2) for integer
    sensitivity (CKS20 Thm 4); convert with :func:`ppml_lab.dp.accountant.zcdp_to_epsilon`.
    """
    nm = check_positive("noise_multiplier", noise_multiplier)
    sens = check_int("sensitivity", sensitivity, low=1)
    scalar = np.ndim(value) == 0 and value is not None and not isinstance(value, (str, bytes))
    x = check_array("value", np.atleast_1d(value) if scalar else value, integer=True)
    k = samplers.discrete_gaussian_exact(sigma=nm * sens, size=x.size, rng=rng).reshape(x.shape)
    out = x + k
    return (int(out[0]) if scalar else out), 1.0 / (2.0 * nm * nm)


# --------------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------------
def _scores(scores: Any) -> np.ndarray:
    u = check_array("scores", scores, ndim=(1, 2))
    if u.shape[-1] < 1:
        raise ValueError(f"scores must have at least one candidate, got shape {u.shape}")
    return u


def exponential_mechanism_probabilities(scores: Any, *, epsilon: float, sensitivity: float, monotonic: bool = False) -> np.ndarray:
    """P(r) proportional to exp(eps u(r) / (2 sensitivity)) (DR14 Def 3.4; eps u / sensitivity if monotonic)."""
    eps = check_positive("epsilon", epsilon)
    sens = check_positive("sensitivity", sensitivity)
    mono = check_bool("monotonic", monotonic)
    u = _scores(scores)
    logits = eps * u / ((1.0 if mono else 2.0) * sens)
    return np.exp(logits - special.logsumexp(logits, axis=-1, keepdims=True))


def exponential_mechanism(
    scores: Any, *, epsilon: float, sensitivity: float, monotonic: bool = False, rng: RNGLike = None
) -> Any:
    """Index of the selected candidate (one per row for 2-D ``scores``). epsilon-DP (DR14 Thm 3.10).

    Sampled by the Gumbel-max trick: argmax(eps u / (2 sensitivity) + Gumbel), Gumbel = -log(Exp(1)).
    """
    eps = check_positive("epsilon", epsilon)
    sens = check_positive("sensitivity", sensitivity)
    mono = check_bool("monotonic", monotonic)
    u = _scores(scores)
    g = resolve_rng(rng)
    gumbel = -np.log(np.asarray(g.standard_exponential(u.size), dtype=np.float64)).reshape(u.shape)
    idx = np.argmax(eps * u / ((1.0 if mono else 2.0) * sens) + gumbel, axis=-1)
    return int(idx) if u.ndim == 1 else idx


def report_noisy_max(scores: Any, *, epsilon: float, sensitivity: float, rng: RNGLike = None) -> Any:
    """argmax(u + Lap(2 sensitivity / epsilon)): epsilon-DP for any scores of this sensitivity.

    DR14 Claim 3.9 proves Lap(1/eps) for counting queries (monotone, sensitivity 1); for general
    utilities the scale doubles. Noise from the hardened Laplace sampler.
    """
    eps = check_positive("epsilon", epsilon)
    sens = check_positive("sensitivity", sensitivity)
    u = _scores(scores)
    noisy = laplace_mechanism(u, epsilon=eps / 2.0, sensitivity=sens, rng=rng)
    idx = np.argmax(noisy, axis=-1)
    return int(idx) if u.ndim == 1 else idx


# --------------------------------------------------------------------------------------------------
# clipped queries (sensitivities for add/remove-one neighbours)
# --------------------------------------------------------------------------------------------------
def _bounds(lower: float, upper: float) -> tuple[float, float]:
    lo = check_real("lower", lower)
    hi = check_real("upper", upper)
    if not lo < hi:
        raise ValueError(f"lower must be < upper, got lower={lo!r}, upper={hi!r}")
    return lo, hi


def clipped_count(data: Any, *, epsilon: float, rng: RNGLike = None) -> float:
    """Noisy number of records: sensitivity 1 (one record added or removed)."""
    x = check_array("data", data, ndim=(1, 2))
    return float(laplace_mechanism(float(x.shape[0]), epsilon=epsilon, sensitivity=1.0, rng=rng))


def clipped_sum(data: Any, *, lower: float, upper: float, epsilon: float, rng: RNGLike = None) -> float:
    """Noisy sum of values clipped to [lower, upper]: sensitivity max(|lower|, |upper|)."""
    x = check_array("data", data, ndim=1)
    lo, hi = _bounds(lower, upper)
    sens = max(abs(lo), abs(hi))  # adding or removing one clipped record moves the sum by at most this
    if sens == 0.0:
        raise ValueError("lower and upper must not both be 0")
    return float(laplace_mechanism(float(np.clip(x, lo, hi).sum()), epsilon=epsilon, sensitivity=sens, rng=rng))


def clipped_mean(data: Any, *, lower: float, upper: float, epsilon: float, rng: RNGLike = None) -> float:
    """Noisy mean = noisy clipped sum / noisy count, epsilon split in half (basic composition).

    Biased towards the clipping range; the count is floored at 1 and the result clipped to [lower, upper].
    """
    eps = check_positive("epsilon", epsilon)
    g = resolve_rng(rng)
    s = clipped_sum(data, lower=lower, upper=upper, epsilon=eps / 2.0, rng=g)
    n = clipped_count(data, epsilon=eps / 2.0, rng=g)
    lo, hi = _bounds(lower, upper)
    return float(np.clip(s / max(n, 1.0), lo, hi))


def histogram(
    data: Any, *, bins: Any, epsilon: float, rng: RNGLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy histogram counts and bin edges: one record changes one count by 1, so sensitivity 1.

    ``bins`` must be fixed in advance (an int with data-independent ``range`` is not accepted: pass
    the edges), otherwise the edges themselves leak.
    """
    x = check_array("data", data, ndim=1)
    edges = check_array("bins", bins, ndim=1)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be at least two strictly increasing edges")
    counts, _ = np.histogram(x, bins=edges)
    return laplace_mechanism(counts.astype(np.float64), epsilon=epsilon, sensitivity=1.0, rng=rng), edges
