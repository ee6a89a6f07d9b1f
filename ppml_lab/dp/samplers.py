"""Noise samplers for DP: the textbook float sampler (insecure), grid samplers, and exact discrete samplers.

What it is: the random draws behind the mechanisms in :mod:`ppml_lab.dp.mechanisms`, at two levels
(STYLE.md, "two levels where security needs it"):

- :func:`textbook_laplace` computes ``scale * sign * -log(U)`` in floating point. **Insecure**: Mironov 2012
  ("On Significance of the Least Significant Bits for Differential Privacy", CCS 2012,
  doi:10.1145/2382196.2382264, Sec 3) shows that the set of doubles ``x + noise`` can reach depends on ``x``,
  so one output can identify the input with probability near 1. Kept so notebook 01 can attack it.
- :func:`discrete_laplace` / :func:`round_to_grid` are the fast defaults: the mechanism rounds its input to
  a power-of-two grid and adds an integer number of grid steps, so every output is a grid point reachable
  from every input (the defence of Mironov 2012 Sec 5 and of Google's secure noise, "granularity").
  The integer noise is drawn by inverting the two-sided geometric CDF on a CSPRNG uniform U that has 52
  significant bits at *every* magnitude: its binary exponent is drawn separately (a run of fair coin flips,
  :func:`uniform_full_precision`). A plain 52-bit uniform stops at U >= 2^-52, which leaves every atom
  beyond about 36 scales empty (3.6e-10 of the mass for the grid mechanism's scales) -- outputs that only
  some inputs can produce, so the mechanism was (epsilon, ~1e-9)-DP, not epsilon-DP. With the separate
  exponent (capped at 2^-1022) the first empty atom is beyond 708 scales, where the ideal distribution
  has mass below :data:`GRID_TAIL_DELTA` = 2^-1000. The remaining error is floating-point rounding in the
  inversion, bounded by :func:`inversion_epsilon_margin`, which the mechanisms reserve out of epsilon.
- :func:`discrete_laplace_exact` and :func:`discrete_gaussian_exact` are the exact rejection samplers of
  Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
  arXiv:2004.00010, Algorithms 1-3, using only integer arithmetic and uniform integers (no floats):
  vectorised over samples with masks (a loop over rejection rounds, not over samples), but with Python
  integers, so about 100x slower than the grid sampler.

Threat model: the adversary sees the released doubles bit for bit and knows the algorithm; the
randomness is the OS CSPRNG (``rng=None``) or, for teaching only, a seeded generator.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_int, check_positive

__all__ = [
    "textbook_laplace",
    "grid_step",
    "round_to_grid",
    "discrete_laplace",
    "discrete_laplace_variance",
    "bernoulli_exp_exact",
    "discrete_laplace_exact",
    "discrete_gaussian_exact",
    "GRID_BITS",
    "GRID_TAIL_DELTA",
    "uniform_full_precision",
    "inversion_epsilon_margin",
]

#: The grid step is about scale / 2^GRID_BITS: fine enough that rounding costs < 1e-6 of the noise's
#: standard deviation, coarse enough that every grid bucket holds millions of doubles.
GRID_BITS = 20

_TWO_52 = float(2**52)

#: The exponent of :func:`uniform_full_precision` is capped at 1021, so U >= 2^-1022 and the inversion in
#: :func:`discrete_laplace` reaches every atom |k| <= 1022 ln 2 * scale (about 708 scales). Beyond that the
#: ideal two-sided geometric has mass <= exp(-708) < 2^-1000: the grid mechanisms are
#: (epsilon, GRID_TAIL_DELTA)-DP with this delta, stated rather than rounded to 0.
GRID_TAIL_DELTA = 2.0**-1000
_MAX_EXPONENT = 1021


def _size(size: Any) -> int:
    return check_int("size", size, low=0)


# --------------------------------------------------------------------------------------------------
# the textbook (insecure) sampler
# --------------------------------------------------------------------------------------------------
def textbook_laplace(*, scale: float, size: int, rng: RNGLike = None) -> np.ndarray:
    """INSECURE textbook Laplace noise: ``scale * sign * -log(U)`` with U a 53-bit float in (0, 1].

    This is the floating-point sampler of most textbooks (and of numpy's ``laplace``). Added to a value in
    floating point, its low-order bits leak the value (Mironov 2012, Sec 3). Use it only to study the
    attack; mechanisms use the grid sampler by default.
    """
    b = check_positive("scale", scale)
    n = _size(size)
    g = resolve_rng(rng)
    k = np.floor(np.asarray(g.random(n), dtype=np.float64) * 2.0**53)  # 53-bit integer 0 .. 2^53 - 1
    sign = np.where(np.mod(k, 2.0) == 1.0, 1.0, -1.0)  # lowest bit: the sign
    u = (np.floor(k / 2.0) + 1.0) / _TWO_52  # the other 52 bits: U in (0, 1]
    return b * sign * -np.log(u)  # Laplace(b) = b * sign * Exp(1)   (inverse CDF)


# --------------------------------------------------------------------------------------------------
# grid (default) sampler
# --------------------------------------------------------------------------------------------------
def grid_step(scale: float) -> float:
    """Power-of-two grid step gamma = 2^(floor(log2(scale)) - GRID_BITS) for noise of this scale."""
    b = check_positive("scale", scale)
    return math.ldexp(1.0, math.floor(math.log2(b)) - GRID_BITS)


def round_to_grid(values: np.ndarray, step: float) -> np.ndarray:
    """Round to the nearest multiple of ``step`` (a power of two, so the division is exact)."""
    return np.round(np.asarray(values, dtype=np.float64) / step) * step


def uniform_full_precision(size: int, *, rng: RNGLike = None) -> np.ndarray:
    """Uniform floats on (0, 1) with 52 random significant bits at every magnitude, down to 2^-1022.

    U = (1 + M / 2^52) * 2^-(E + 1): the exponent E counts the leading zero bits of an endless stream of
    fair coin flips (P(E = e) = 2^-(e+1)), drawn 62 bits at a time, and the mantissa M is 52 fresh bits.
    Then P(U <= v) = v up to the 2^-52 spacing within each binade, also for tiny v -- unlike
    ``random() * 2^-53``, whose smallest non-zero value is 2^-53 (the tail that an inversion sampler
    needs is simply missing). E is capped at 1021 (probability 2^-1022 of reaching the cap).
    """
    n = _size(size)
    g = resolve_rng(rng)
    exponent = np.zeros(n, dtype=np.int64)
    open_ = np.arange(n)  # entries whose run of zero bits has not ended yet
    while open_.size:
        words = np.asarray(g.integers(0, 2**62, size=open_.size), dtype=np.int64)
        nz = words != 0
        # leading zeros of a 62-bit word = 61 - floor(log2 w); fix float rounding of log2 near powers of 2
        top = np.zeros(words.shape, dtype=np.int64)
        top[nz] = np.floor(np.log2(words[nz].astype(np.float64))).astype(np.int64)
        top = np.where(nz & (np.left_shift(np.int64(1), np.clip(top, 0, 61)) > words), top - 1, top)
        exponent[open_] += np.where(nz, 61 - top, 62)
        open_ = open_[~nz & (exponent[open_] < _MAX_EXPONENT)]
    exponent = np.minimum(exponent, _MAX_EXPONENT)
    mantissa = np.asarray(g.integers(0, 2**52, size=n), dtype=np.int64).astype(np.float64)
    return np.ldexp(1.0 + mantissa / _TWO_52, -(exponent + 1).astype(np.int32))


def inversion_epsilon_margin(scale: float) -> float:
    """Upper bound on how far floating-point rounding in :func:`discrete_laplace` moves the privacy loss.

    The sampler returns floor(q) with q = (log U + c) / log a, a = exp(-1/scale). np.log is correct to
    1 ulp and |log U| <= 1022 ln 2 < 709, so q carries an absolute error below
    709 * scale * 2^-52 (from the log, scaled by 1/|log a| = scale) + |q| * 2^-52 (two roundings, |q| <= 709
    scale): s = 2 * 709 * scale * 2^-52 in units of one atom. An atom has unit width in q and a density that
    is constant to first order across it, so each atom's probability is off by a relative 2s at most, and
    the ratio of two atoms by a log-factor below 4s + O(s^2). Mechanisms spend this margin out of epsilon.
    """
    t = check_positive("scale", scale)
    return 4.0 * (2.0 * 709.0 * t * 2.0**-52) * 1.01  # 1 % slack for the second-order term


def discrete_laplace(*, scale: float, size: int, rng: RNGLike = None) -> np.ndarray:
    """Integers K with P(K = k) proportional to exp(-|k| / scale) (two-sided geometric), as int64.

    Inversion with a = exp(-1/scale): P(|K| >= k) = 2 a^k / (1 + a) for k >= 1, so
    |K| = floor(log(U (1 + a) / 2) / log a) for U uniform on (0, 1), and an independent bit gives the sign
    (Ghosh, Roughgarden & Sundararajan 2009, the geometric mechanism). U comes from
    :func:`uniform_full_precision`, so the tail is sampled out to about 708 scales (see GRID_TAIL_DELTA).
    """
    t = check_positive("scale", scale)
    n = _size(size)
    g = resolve_rng(rng)
    sign = np.where(np.asarray(g.integers(0, 2, size=n)) == 1, 1, -1)
    u = uniform_full_precision(n, rng=g)  # U in (0, 1), 52 significant bits at every magnitude
    log_a = -1.0 / t
    log_half_1pa = math.log1p(math.exp(log_a)) - math.log(2.0)  # log((1 + a) / 2)
    magnitude = np.floor((np.log(u) + log_half_1pa) / log_a)  # |K| by inversion of the tail
    return (sign * np.maximum(magnitude, 0.0)).astype(np.int64)


def discrete_laplace_variance(scale: float) -> float:
    """Var K = 2a / (1 - a)^2 with a = exp(-1/scale); tends to 2 scale^2 for large scale."""
    t = check_positive("scale", scale)
    a = math.exp(-1.0 / t)
    return 2.0 * a / (-math.expm1(-1.0 / t)) ** 2


# --------------------------------------------------------------------------------------------------
# exact samplers (Canonne, Kamath & Steinke 2020)
# --------------------------------------------------------------------------------------------------
def _uniform_below(bounds: np.ndarray, g: Any) -> np.ndarray:
    """Uniform integers in [0, bound_i) for an object array of Python-int bounds, by masked rejection."""
    out = np.empty(bounds.shape, dtype=object)
    todo = np.arange(bounds.size)
    bits = np.array([int(b).bit_length() for b in bounds.ravel()], dtype=np.int64)
    words = max(1, int(math.ceil(bits.max() / 62)))
    flat_bounds = bounds.ravel()
    flat_out = out.ravel()
    while todo.size:
        raw = np.zeros(todo.size, dtype=object)
        for _ in range(words):  # loop over 62-bit words, not over samples
            raw = raw * (1 << 62) + np.asarray(g.integers(0, 2**62, size=todo.size), dtype=np.int64).astype(object)
        masks = np.array([(1 << int(b)) - 1 for b in bits[todo]], dtype=object)
        cand = raw & masks
        ok = cand < flat_bounds[todo]
        flat_out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return flat_out.reshape(bounds.shape)


def _bernoulli_exp_le1(num: np.ndarray, den: np.ndarray, g: Any) -> np.ndarray:
    # CKS20 Algorithm 1, gamma = num/den in [0, 1]: K = 1; repeat A ~ Bern(gamma / K), K += 1 while A;
    # return 1 iff the final K is odd   (P = exp(-gamma))
    n = num.size
    k = np.ones(n, dtype=object)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.nonzero(active)[0]
        draw = _uniform_below(den[idx] * k[idx], g)
        a = draw < num[idx]  # Bernoulli(num / (den K))
        k[idx[a]] = k[idx[a]] + 1
        active[idx[~a]] = False
    return np.array([int(x) % 2 == 1 for x in k], dtype=bool)


def bernoulli_exp_exact(num: Any, den: Any, *, rng: RNGLike = None) -> np.ndarray:
    """Exact Bernoulli(exp(-num/den)) draws for non-negative integer arrays num, den > 0 (CKS20 Alg 1)."""
    g = resolve_rng(rng)
    num_o = np.asarray(num, dtype=object).ravel()
    den_o = np.broadcast_to(np.asarray(den, dtype=object), num_o.shape).ravel().copy()
    floor = num_o // den_o
    rem = num_o - floor * den_o
    out = np.ones(num_o.size, dtype=bool)
    # gamma > 1: exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma)))   (CKS20 Alg 1, gamma > 1)
    max_floor = int(floor.max()) if num_o.size else 0
    for r in range(max_floor):
        idx = np.nonzero(out & (floor > r))[0]
        if idx.size == 0:
            break
        one = np.ones(idx.size, dtype=object)
        out[idx] = _bernoulli_exp_le1(one, one, g)
    idx = np.nonzero(out)[0]
    if idx.size:
        out[idx] = _bernoulli_exp_le1(rem[idx], den_o[idx], g)
    return out.reshape(np.shape(num))


def _as_fraction(name: str, value: Any, max_denominator: int) -> Fraction:
    if isinstance(value, Fraction):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
        return value
    v = check_positive(name, value)
    return Fraction(v).limit_denominator(max_denominator)


def discrete_laplace_exact(*, scale: Any, size: int, rng: RNGLike = None, max_denominator: int = 10**6) -> np.ndarray:
    """Exact discrete Laplace (P(k) proportional to exp(-|k|/scale)) by CKS20 Algorithm 2, as int64.

    ``scale`` is a Fraction or a float (converted to the nearest fraction with denominator <= max_denominator).
    """
    t = _as_fraction("scale", scale, max_denominator)
    n = _size(size)
    g = resolve_rng(rng)
    s_num, t_den = t.numerator, t.denominator  # scale = s/t in CKS20 notation
    out = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        u = np.asarray(g.integers(0, s_num, size=m), dtype=np.int64).astype(object)  # U ~ Unif{0..s-1}
        d = bernoulli_exp_exact(u, np.full(m, s_num, dtype=object), rng=g)  # D ~ Bern(exp(-U/s))
        v = np.zeros(m, dtype=object)
        going = d.copy()
        while going.any():  # V ~ Geometric(1 - exp(-1)): count successes of Bern(exp(-1))
            idx = np.nonzero(going)[0]
            one = np.ones(idx.size, dtype=object)
            a = bernoulli_exp_exact(one, one, rng=g)
            v[idx[a]] = v[idx[a]] + 1
            going[idx[~a]] = False
        x = u + s_num * v  # X = U + s V
        y = x // t_den  # Y = floor(X / t)
        b = np.asarray(g.integers(0, 2, size=m), dtype=np.int64)  # B ~ Bern(1/2)
        accept = d & ~((b == 1) & (y == 0))  # reject if D = 0 or (B = 1 and Y = 0)
        vals = (1 - 2 * b[accept]) * np.asarray(y[accept], dtype=np.int64)
        out[todo[accept]] = vals
        todo = todo[~accept]
    return out


def discrete_gaussian_exact(*, sigma: Any, size: int, rng: RNGLike = None, max_denominator: int = 10**6) -> np.ndarray:
    """Exact discrete Gaussian N_Z(0, sigma^2): P(k) proportional to exp(-k^2 / (2 sigma^2)) (CKS20 Alg 3).

    sigma^2 is taken as a Fraction (a float ``sigma`` is squared and converted with denominator
    <= max_denominator). Output int64.
    """
    if isinstance(sigma, Fraction):
        s2 = sigma * sigma
    else:
        s = check_positive("sigma", sigma)
        s2 = Fraction(s * s).limit_denominator(max_denominator)
    n = _size(size)
    g = resolve_rng(rng)
    t = math.floor(math.sqrt(s2)) + 1  # t = floor(sigma) + 1
    sn, sd = s2.numerator, s2.denominator
    out = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        y = discrete_laplace_exact(scale=Fraction(t), size=m, rng=g).astype(object)  # Y ~ DLap(t)
        # gamma = (|Y| - sigma^2/t)^2 / (2 sigma^2) = (|Y| t sd - sn)^2 / (2 sn sd t^2)
        absy = np.abs(y)
        num = (absy * t * sd - sn) ** 2
        den = np.full(m, 2 * sn * sd * t * t, dtype=object)
        c = bernoulli_exp_exact(num, den, rng=g)  # C ~ Bern(exp(-gamma)); accept Y if C
        out[todo[c]] = np.asarray(y[c], dtype=np.int64)
        todo = todo[~c]
    return out

