"""One-run privacy auditing with canaries: an epsilon lower bound from ONE DP-SGD training run.

What it is: m canaries are each included in the training set independently with probability 1/2 (the
secret S in {-1, +1}^m). After training, an auditor scores every canary, guesses "in" for its k+ highest
scores and "out" for its k- lowest, and abstains on the rest (r = k+ + k- guesses, v of them correct).
Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1) Training Run", NeurIPS 2023,
arXiv:2305.08846, Theorem 3 (and the code of their Algorithm/Figure for it): if training is (epsilon,
delta)-DP with respect to adding or removing one canary, then

    P[W >= v] <= f(v) + 2 m delta * max_{i in 1..v} (f(v - i) - f(v)) / i,
    f(v) = P[Binomial(r, e^eps / (1 + e^eps)) >= v],

so a count of correct guesses whose p-value is below 1 - confidence refutes epsilon; the largest refuted
epsilon is a lower bound valid with probability >= ``confidence``. The guesses need not be independent:
the theorem only uses that each canary's inclusion is an independent fair coin the auditor does not see.

White-box Dirac canaries (Steinke et al. Sec. 6; Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini
& Terzis 2023, "Tight Auditing of Differentially Private Machine Learning", USENIX Security 2023,
arXiv:2302.07956): a canary is a record whose clipped gradient is C e_j (one coordinate j per canary),
inserted into the clipped per-sample gradients of a real DP-SGD run built from ``ppml_lab.dp.dp_sgd``'s
primitives; the auditor reads coordinate j of every released noisy gradient. This is the strongest
auditor the DP-SGD threat model allows (it sees every intermediate model and chooses the gradients).

Two deliberately broken DP-SGD variants (teaching only) show that the audit catches a false claim: noise
smaller than the accountant is charged for (``actual_noise_fraction < 1``), and shuffled fixed-size
batches in a public order charged as Poisson sampling (``batching="shuffle"``).

Threat model: the audit can REFUTE a claimed epsilon (a lower bound above it means a bug in the code,
the accountant or the claim); a lower bound below the claim certifies nothing. The unit of every epsilon
here is one canary, i.e. one record of the training set (add/remove neighbours).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import (
    check_array,
    check_choice,
    check_delta,
    check_fraction,
    check_int,
    check_positive,
    check_real,
)

__all__ = [
    "one_run_p_value",
    "one_run_epsilon",
    "one_run_ceiling",
    "guesses_from_scores",
    "OneRunAuditResult",
    "one_run_audit",
    "default_k_grid",
    "gdp_epsilon",
    "GaussianAuditResult",
    "gaussian_audit",
    "CanaryRun",
    "dirac_canary_dp_sgd",
    "canary_scores",
    "simulate_claimed_run",
]


def _check_counts(m: Any, r: Any, v: Any) -> tuple[int, int, int]:
    m_ = check_int("m", m, low=1)
    r_ = check_int("r", r, low=0, high=m_)
    v_ = check_int("v", v, low=0, high=r_)
    return m_, r_, v_


def _p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    q = float(special.expit(epsilon))  # e^eps / (1 + e^eps): accuracy of eps-DP randomized response
    beta = float(stats.binom.sf(v - 1, r, q))  # f(v) = P[Binomial(r, q) >= v]
    if v == 0 or delta == 0.0:
        return min(beta, 1.0)
    # (f(v - i) - f(v)) / i = P[v > Binomial(r, q) >= v - i] / i, for i = 1..v   (Theorem 3)
    pmf = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[B = v - 1], P[B = v - 2], ..., P[B = 0]
    alpha = max(0.0, float(np.max(np.cumsum(pmf) / np.arange(1, v + 1))))
    return min(beta + 2.0 * m * delta * alpha, 1.0)  # f(v) + 2 m delta max_i (f(v - i) - f(v)) / i


def one_run_p_value(*, m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least v of r guesses correct] for an (epsilon, delta)-DP training run (Steinke et al. 2023, Thm 3).

    ``m`` canaries (each included with probability 1/2), ``r`` guesses (the rest abstain), ``v`` correct.
    """
    m_, r_, v_ = _check_counts(m, r, v)
    e = check_real("epsilon", epsilon, low=0.0)
    d = check_delta("delta", delta)
    return _p_value(m_, r_, v_, e, d)


def one_run_epsilon(*, m: int, r: int, v: int, delta: float, confidence: float = 0.95) -> float:
    """Largest epsilon refuted at level 1 - ``confidence`` by v correct of r guesses among m canaries.

    Bisection on the p-value as in Steinke et al.'s code (it returns the refuted end of the bracket, so the
    bound errs low); 0.0 when not even epsilon = 0 is refuted.
    """
    m_, r_, v_ = _check_counts(m, r, v)
    d = check_delta("delta", delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    p = 1.0 - conf
    if _p_value(m_, r_, v_, 0.0, d) >= p:
        return 0.0
    lo, hi = 0.0, 1.0  # invariant: p_value(lo) < p <= p_value(hi)
    while _p_value(m_, r_, v_, hi, d) < p:
        lo, hi = hi, hi + 1.0
        if hi > 1e4:  # pragma: no cover - only with astronomically many correct guesses
            return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _p_value(m_, r_, v_, mid, d) < p:
            lo = mid
        else:
            hi = mid
    return lo


def one_run_ceiling(*, m: int, r: int, delta: float, confidence: float = 0.95) -> float:
    """The largest bound r guesses can give among m canaries: all r correct (no auditor can do better)."""
    return one_run_epsilon(m=m, r=r, v=r, delta=delta, confidence=confidence)


def default_k_grid(m: int) -> tuple[tuple[int, int], ...]:
    """(k+, k-) pairs tried by :func:`one_run_audit`: guess 'in' for the top k+ and 'out' for the bottom k-."""
    m_ = check_int("m", m, low=2)
    ks = sorted({k for k in (10, 30, 100, 300, 1000, 3000) if 2 * k <= m_} | {max(1, m_ // 20)})
    return tuple((k, k) for k in ks) + tuple((k, 0) for k in ks)


def guesses_from_scores(scores: Any, *, k_positive: int, k_negative: int) -> np.ndarray:
    """+1 for the ``k_positive`` highest scores, -1 for the ``k_negative`` lowest, 0 (abstain) otherwise.

    Ties are broken by position (a stable sort), which does not depend on the secret inclusion bits.
    """
    s = check_array("scores", scores, ndim=1)
    kp = check_int("k_positive", k_positive, low=0, high=s.size)
    kn = check_int("k_negative", k_negative, low=0, high=s.size - kp)
    order = np.argsort(-s, kind="stable")
    g = np.zeros(s.size, dtype=np.int64)
    g[order[:kp]] = 1
    if kn:
        g[order[s.size - kn :]] = -1
    return g


def _down3(x: float) -> str:
    """A lower bound printed with 3 decimals, rounded DOWN (a printed bound never claims more leakage)."""
    return f"{math.floor(x * 1000) / 1000:.3f}" if math.isfinite(x) else f"{x}"


def _up3(x: float) -> str:
    """A claimed (accountant) epsilon printed with 3 decimals, rounded UP (never a smaller spend)."""
    return f"{math.ceil(x * 1000) / 1000:.3f}" if math.isfinite(x) else f"{x}"


@dataclass(frozen=True)
class OneRunAuditResult:
    """A one-run lower bound on epsilon (per canary), valid with probability ``confidence``."""

    epsilon: float
    confidence: float
    delta: float
    m: int
    r: int
    v: int
    k_positive: int
    k_negative: int
    n_candidates: int  # (k+, k-) pairs tried; the confidence is split over them (Bonferroni)
    claimed_epsilon: float | None = None

    @property
    def violation(self) -> bool:
        """True when the lower bound exceeds the claimed epsilon: the claim is refuted."""
        return self.claimed_epsilon is not None and self.epsilon > self.claimed_epsilon

    def __str__(self) -> str:
        claim = ""
        if self.claimed_epsilon is not None:
            claim = f"; claimed {_up3(self.claimed_epsilon)} -> " + ("VIOLATION" if self.violation else "not refuted")
        return (
            f"epsilon >= {_down3(self.epsilon)} per record (canary) with {self.confidence:.0%} confidence "
            f"(delta={self.delta:g}; {self.v}/{self.r} guesses correct, k+={self.k_positive}, "
            f"k-={self.k_negative}, m={self.m}, {self.n_candidates} (k+, k-) tried){claim}"
        )


def one_run_audit(
    scores: Any,
    included: Any,
    *,
    delta: float,
    confidence: float = 0.95,
    k_grid: Sequence[tuple[int, int]] | None = None,
    claimed_epsilon: float | None = None,
) -> OneRunAuditResult:
    """Best one-run bound over a grid of (k+, k-), each at level (1 - confidence) / len(grid) (union bound).

    ``scores`` (m,): higher = "more likely included"; ``included`` (m,) bool: the secret coin flips, which
    must have been drawn independently with probability 1/2 BEFORE training and never used for scoring.
    """
    s = check_array("scores", scores, ndim=1)
    inc = np.asarray(included)
    if inc.dtype != bool:
        raise TypeError(f"included must be a boolean array, got dtype {inc.dtype}")
    if inc.shape != s.shape:
        raise ValueError(f"included must have the shape of scores {s.shape}, got {inc.shape}")
    d = check_delta("delta", delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    if claimed_epsilon is not None:
        claimed_epsilon = check_positive("claimed_epsilon", claimed_epsilon)
    m = s.size
    grid = default_k_grid(m) if k_grid is None else tuple(k_grid)
    if not grid:
        raise ValueError("k_grid must hold at least one (k_positive, k_negative) pair, got an empty grid")
    level = 1.0 - (1.0 - conf) / len(grid)  # Bonferroni: every candidate bound holds at once w.p. >= conf
    sign = np.where(inc, 1, -1)
    best: OneRunAuditResult | None = None
    for pair in grid:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"k_grid must hold (k_positive, k_negative) pairs, got {pair!r}")
        kp, kn = pair
        g = guesses_from_scores(s, k_positive=kp, k_negative=kn)
        r = int(np.count_nonzero(g))
        v = int(np.count_nonzero(g * sign == 1))  # W = sum_i max(0, T_i S_i)
        eps = one_run_epsilon(m=m, r=r, v=v, delta=d, confidence=level) if r else 0.0
        if best is None or eps > best.epsilon:
            best = OneRunAuditResult(eps, conf, d, m, r, v, int(kp), int(kn), len(grid), claimed_epsilon)
    if best is None:  # the grid was checked non-empty above; kept as a typed error under python -O
        raise ValueError("the guess-count grid must not be empty")
    return best


# --------------------------------------------------------------------------------------------------
# A parametric audit for full-batch Dirac canaries: the score IS a Gaussian shift
# --------------------------------------------------------------------------------------------------
def gdp_epsilon(mu: float, *, delta: float) -> float:
    """epsilon(delta) of mu-Gaussian DP: delta = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2).

    Dong, Roth & Su 2019 ("Gaussian Differential Privacy", arXiv:1905.02383), Corollary 2.13.
    """
    m_ = check_real("mu", mu, low=0.0)
    d = check_delta("delta", delta, allow_zero=False)
    if m_ == 0.0:
        return 0.0

    def excess(e: float) -> float:
        return float(stats.norm.cdf(-e / m_ + m_ / 2) - math.exp(e) * stats.norm.cdf(-e / m_ - m_ / 2)) - d

    if excess(0.0) <= 0.0:
        return 0.0
    hi = 1.0
    while excess(hi) > 0.0:
        hi *= 2.0
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-12))


@dataclass(frozen=True)
class GaussianAuditResult:
    """A lower confidence bound on mu (Gaussian DP) and the epsilon(delta) it implies, per canary."""

    mu_lower: float
    mu_hat: float
    epsilon: float
    confidence: float
    delta: float
    n_in: int
    n_out: int
    claimed_epsilon: float | None = None

    @property
    def violation(self) -> bool:
        return self.claimed_epsilon is not None and self.epsilon > self.claimed_epsilon

    def __str__(self) -> str:
        claim = ""
        if self.claimed_epsilon is not None:
            claim = f"; claimed {_up3(self.claimed_epsilon)} -> " + ("VIOLATION" if self.violation else "not refuted")
        return (
            f"mu >= {_down3(self.mu_lower)} (estimate {self.mu_hat:.3f}) -> epsilon >= {_down3(self.epsilon)} per record (canary) "
            f"at delta={self.delta:g}, {self.confidence:.0%} confidence, assuming Gaussian scores{claim}"
        )


def gaussian_audit(
    scores: Any, included: Any, *, delta: float, confidence: float = 0.95, claimed_epsilon: float | None = None
) -> GaussianAuditResult:
    """Fit mu = (mean_in - mean_out) / sd to canary scores and bound it from below (Nasr et al. 2023 style).

    VALID ONLY under an assumption the caller must be able to defend: each score is Gaussian with the same
    variance whether or not its canary was included (true for full-batch DP-SGD, q = 1, with Dirac
    canaries summed over steps: the score is then N(S_i T C, T sigma^2 C^2) up to the real data's
    gradients). Not for Poisson sampling (q < 1: a mixture, not a shift). The standardised mean difference
    d has variance ~ 1/n_in + 1/n_out + d^2 / (2 (n_in + n_out)) (Hedges & Olkin 1985, Eq. 5.14); the
    bound is d - z_conf * sd(d), then epsilon(delta) of mu-GDP.
    """
    s = check_array("scores", scores, ndim=1)
    inc = np.asarray(included)
    if inc.dtype != bool:
        raise TypeError(f"included must be a boolean array, got dtype {inc.dtype}")
    if inc.shape != s.shape:
        raise ValueError(f"included must have the shape of scores {s.shape}, got {inc.shape}")
    d = check_delta("delta", delta, allow_zero=False)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    if claimed_epsilon is not None:
        claimed_epsilon = check_positive("claimed_epsilon", claimed_epsilon)
    a, b = s[inc], s[~inc]
    if a.size < 2 or b.size < 2:
        raise ValueError(f"gaussian_audit needs >= 2 included and >= 2 excluded canaries, got {a.size} and {b.size}")
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    mu_hat = float((a.mean() - b.mean()) / max(pooled, 1e-300))
    sd = math.sqrt(1 / a.size + 1 / b.size + mu_hat**2 / (2 * (a.size + b.size)))
    mu_low = max(0.0, mu_hat - float(stats.norm.ppf(conf)) * sd)  # one-sided lower confidence bound
    return GaussianAuditResult(mu_low, mu_hat, gdp_epsilon(mu_low, delta=d), conf, d, int(a.size), int(b.size),
                               claimed_epsilon)


# --------------------------------------------------------------------------------------------------
# DP-SGD with white-box Dirac canaries, built from ppml_lab.dp.dp_sgd's public primitives
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryRun:
    """What the white-box auditor sees of one DP-SGD run with Dirac canaries, and what was claimed."""

    observations: np.ndarray = field(repr=False)  # (m, T): canary coordinate of each noisy gradient sum / C
    included: np.ndarray = field(repr=False)  # (m,) bool: the secret coin flips
    schedule: np.ndarray | None = field(repr=False)  # (m, T) bool: public batch order (shuffle only)
    known_data: np.ndarray = field(repr=False)  # (m, T): clipped gradient sum of ALL real records there / C
    noise_multiplier: float  # the CLAIMED (accounted) noise multiplier
    sample_rate: float  # the CLAIMED (accounted) Poisson rate
    steps: int
    batching: str
    actual_noise_fraction: float
    epsilon: float  # the accountant's epsilon at `delta`, per canary (one record), PLD
    delta: float

    @property
    def m(self) -> int:
        return int(self.included.size)


def _canary_rows(coords: np.ndarray, shapes: dict[str, tuple[int, ...]], c: float, dtype: Any) -> dict[str, Any]:
    """Per-sample gradients of the canaries in a lot: row i is C e_{coords[i]} (a Dirac), as {name: (k, *shape)}."""
    import torch

    n_total = sum(int(np.prod(s)) for s in shapes.values())
    flat = torch.zeros((coords.size, n_total), dtype=dtype)
    flat[torch.arange(coords.size), torch.as_tensor(coords, dtype=torch.long)] = c
    out, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = flat[:, start : start + size].reshape(coords.size, *shape)
        start += size
    return out


def dirac_canary_dp_sgd(
    model: Any,
    data: Any,
    *,
    n_canaries: int,
    noise_multiplier: float,
    max_grad_norm: float,
    sample_rate: float,
    steps: int,
    lr: float,
    delta: float,
    batching: str = "poisson",
    actual_noise_fraction: float = 1.0,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    rng: RNGLike = None,
) -> CanaryRun:
    """Train ``model`` with DP-SGD on ``data`` plus ``n_canaries`` Dirac canaries; return the auditor's view.

    Each canary is included with probability 1/2 (independently, drawn before training). Every step:
    Poisson lot of the real records and the included canaries (rate q); real per-sample gradients from
    :func:`~ppml_lab.dp.dp_sgd.per_sample_gradients`; a sampled canary's gradient is C e_j; all rows are
    clipped by :func:`~ppml_lab.dp.clipping.clip_per_sample` and summed with noise by
    :func:`~ppml_lab.dp.dp_sgd.noisy_mean` over the constant q (N + m); plain SGD step. The accountant
    (:class:`~ppml_lab.dp.PLDAccountant`) is charged (noise_multiplier, sample_rate) per step.

    Deliberately broken variants (teaching only, to show the audit catching a false claim):
    ``actual_noise_fraction < 1`` adds noise_multiplier * fraction while charging noise_multiplier;
    ``batching="shuffle"`` cuts a public random order of the N + m slots into fixed-size batches of
    round(q (N + m)) per epoch (each present record is used exactly once an epoch) but is charged as
    Poisson sampling at rate q.
    """
    import torch

    from ppml_lab.dp.accounting import PLDAccountant
    from ppml_lab.dp.clipping import clip_per_sample
    from ppml_lab.dp.dp_sgd import as_tensors, check_module, noisy_mean, per_sample_gradients

    check_module(model)
    sigma = check_positive("noise_multiplier", noise_multiplier)
    c = check_positive("max_grad_norm", max_grad_norm)
    q = check_fraction("sample_rate", sample_rate)
    t_steps = check_int("steps", steps, low=1)
    eta = check_positive("lr", lr)
    d = check_delta("delta", delta, allow_zero=False)
    check_choice("batching", batching, ("poisson", "shuffle"))
    frac = check_real("actual_noise_fraction", actual_noise_fraction, low=0.0, high=1.0, low_inclusive=False)
    X, y = as_tensors(data)
    n = int(X.shape[0])
    shapes = {k: tuple(v.shape) for k, v in model.named_parameters() if v.requires_grad}
    n_params = sum(int(np.prod(s)) for s in shapes.values())
    m = check_int("n_canaries", n_canaries, low=2, high=n_params)
    lf = torch.nn.functional.cross_entropy if loss_fn is None else loss_fn
    g = resolve_rng(rng)
    gen = torch.Generator()
    gen.manual_seed(int(g.integers(0, 2**62)))
    included = np.asarray(g.random(m)) < 0.5  # S_i: independent fair coins, drawn before training
    coords = np.sort(np.asarray(g.choice(n_params, size=m, replace=False)))  # one coordinate per canary
    denom = q * (n + m)  # a constant (not the realised lot size), so it reveals nothing
    obs = np.empty((m, t_steps))
    known = np.empty((m, t_steps))
    schedule = np.zeros((m, t_steps), dtype=bool) if batching == "shuffle" else None
    batch = max(1, round(q * (n + m)))
    order, cursor = np.empty(0, dtype=np.int64), n + m
    dtype = next(model.parameters()).dtype
    params = dict(model.named_parameters())
    for t in range(t_steps):
        if batching == "poisson":
            data_lot = np.flatnonzero(np.asarray(g.random(n)) < q)
            canary_lot = np.flatnonzero(included & (np.asarray(g.random(m)) < q))
        else:
            if cursor >= n + m:  # a new epoch: a fresh public order of slots (0..n-1 data, n..n+m-1 canaries)
                order, cursor = np.asarray(g.permutation(n + m)), 0
            slots = order[cursor : cursor + batch]
            cursor += batch
            data_lot = slots[slots < n]
            cslots = slots[slots >= n] - n
            if schedule is None:
                raise RuntimeError("shuffle batching needs its public schedule")
            schedule[cslots, t] = True  # public: where each canary WOULD be, whether or not it is present
            canary_lot = cslots[included[cslots]]
        # Gradients of EVERY real record at the current model: the auditor knows D minus the canaries and
        # every intermediate model, so it can compute their sum at the canary coordinates (known_data).
        grads = per_sample_gradients(model, lf, X, y)
        rows = _canary_rows(coords[canary_lot], shapes, c, dtype)
        stacked = {k: torch.cat([grads[k].to(dtype), rows[k]], dim=0) for k in shapes}
        clipped_all, _ = clip_per_sample(stacked, max_grad_norm=c)  # the one home of clipping
        full = torch.cat([clipped_all[k][:n].sum(dim=0).reshape(-1) for k in shapes]).detach().numpy()
        known[:, t] = full[coords] / c
        keep = torch.as_tensor(np.concatenate([data_lot, n + np.arange(canary_lot.size)]), dtype=torch.long)
        clipped = {k: v[keep] for k, v in clipped_all.items()}  # the lot: sampled records + sampled canaries
        noisy = noisy_mean(clipped, noise_multiplier=sigma * frac, max_grad_norm=c,
                           expected_batch_size=denom, rng=gen)
        flat = torch.cat([noisy[k].reshape(-1) for k in shapes]).detach().numpy()
        obs[:, t] = flat[coords] * denom / c  # the released noisy sum at each canary's coordinate, in units of C
        with torch.no_grad():
            for k, p in params.items():
                if k in shapes:
                    p -= eta * noisy[k].to(p.dtype)
    acct = PLDAccountant()
    acct.step(noise_multiplier=sigma, sample_rate=q, steps=t_steps)  # what the implementation CLAIMS
    return CanaryRun(obs, included, schedule, known, sigma, q, t_steps, batching, frac, float(acct.get_epsilon(d)), d)


def simulate_claimed_run(run: CanaryRun, *, rng: RNGLike = None) -> CanaryRun:
    """The same canaries and coins through the mechanism the accountant was charged for, with nothing else.

    Each step, an included canary is sampled with probability q (the claimed rate) and adds 1 to its
    coordinate; every coordinate gets N(0, sigma^2) with the claimed sigma (units of C; no real records).
    Auditing this run shows what the same auditor can reach against a mechanism exactly as private as
    claimed, the yardstick for "how close is the audit" (Steinke et al. 2023 compare with the same
    idealised setting, Sec. 7).
    """
    if not isinstance(run, CanaryRun):
        raise TypeError(f"run must be a CanaryRun, got {type(run).__name__}")
    g = resolve_rng(rng)
    m, t_steps = run.observations.shape
    sampled = np.asarray(g.random((m, t_steps))) < run.sample_rate
    obs = (sampled & run.included[:, None]).astype(np.float64) + np.asarray(
        g.normal(0.0, run.noise_multiplier, size=(m, t_steps)))
    return CanaryRun(obs, run.included, None, np.zeros_like(obs), run.noise_multiplier, run.sample_rate,
                     t_steps, "poisson", 1.0, run.epsilon, run.delta)


def canary_scores(run: CanaryRun, *, score: str = "likelihood", subtract_known: bool = True) -> np.ndarray:
    """Per-canary membership scores from a :class:`CanaryRun` (higher = more likely included).

    ``"sum"``: sum_t x_t (Steinke et al.'s white-box score). ``"likelihood"``: sum_t log(1 - q + q
    exp((x_t - 1/2) / sigma^2)), the log-likelihood ratio of "included" for the CLAIMED subsampled Gaussian
    (Neyman-Pearson optimal when the real records do not touch the canary coordinates). ``"schedule"``:
    sum of x_t over the steps where the public batch order put the canary (shuffle only).
    ``subtract_known`` first removes what the auditor can compute: q times the real records' clipped
    gradient sum at the canary's coordinate (exact for q = 1; its mean under Poisson sampling).
    """
    if not isinstance(run, CanaryRun):
        raise TypeError(f"run must be a CanaryRun, got {type(run).__name__}")
    check_choice("score", score, ("sum", "likelihood", "schedule"))
    if not isinstance(subtract_known, bool):
        raise TypeError(f"subtract_known must be True or False, got {type(subtract_known).__name__}")
    x = run.observations - run.sample_rate * run.known_data if subtract_known else run.observations
    if score == "sum":
        return x.sum(axis=1)
    if score == "schedule":
        if run.schedule is None:
            raise ValueError("score='schedule' needs a public batch order (batching='shuffle'); Poisson lots are secret")
        return np.where(run.schedule, x, 0.0).sum(axis=1)
    s2, q = run.noise_multiplier**2, run.sample_rate
    # log[(1 - q) N(x; 0, s^2) + q N(x; 1, s^2)] - log N(x; 0, s^2) = log(1 - q + q e^{(x - 1/2)/s^2})
    z = (x - 0.5) / s2
    if q == 1.0:
        return z.sum(axis=1)
    return np.logaddexp(math.log1p(-q), math.log(q) + z).sum(axis=1)
