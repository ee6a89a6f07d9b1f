"""Memorisation attacks on a language model: exposure of canaries, extraction, membership inference.

- **Exposure** (Carlini, Liu, Erlingsson, Kos & Song 2019, "The Secret Sharer: Evaluating and Testing
  Unintended Memorization in Neural Networks", USENIX Security 2019, arXiv:1802.08232). For a canary s of a
  format with candidate space R (e.g. all 10^5 five-digit record numbers), rank every candidate r by its
  log-perplexity -log2 p(r | prefix) under the model; Def. 4: exposure(s) = log2|R| - log2 rank(s)
  (rank 1 = most likely). Computed exactly by enumerating R when |R| <= ``exact_limit`` (Sec. 4.2), else by
  the paper's extrapolation (Sec. 4.3): sample candidates uniformly, fit a skew-normal to their
  log-perplexities and read exposure ~ -log2 CDF(log-perplexity of s); the estimate's spread is
  measured by a bootstrap over the samples.
- **Extraction** (Sec. 8 of the same paper, format-constrained search): given the prefix an attacker knows
  ("Patient 4821's national ID is "), decode the secret greedily or by beam search over the format's
  candidates; success = the top candidate is exactly the secret.
- **Membership inference on whole notes**: the loss attack (Yeom et al. 2018, arXiv:1709.01604) and the
  reference-model likelihood ratio (Carlini et al. 2021, "Extracting Training Data from Large Language
  Models", USENIX Security, arXiv:2012.07805, Sec. 6.2; Mireshghallah et al. 2022, arXiv:2203.03929):
  score = loss under a public reference model - loss under the target.

Threat model: black-box access to next-character probabilities of the released model (white-box weights
give the same); the attacker knows the secret's format and the text before it, not the secret.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_choice, check_int, check_type

__all__ = [
    "NextCharModel",
    "candidate_space_size",
    "sequence_log2_probs",
    "log_perplexity",
    "ExposureResult",
    "exposure_from_rank",
    "exposure_exact",
    "exposure_extrapolated",
    "exposure",
    "fit_skewnorm_moments",
    "extract",
    "extraction_rate",
    "note_loss_scores",
    "reference_ratio_scores",
    "null_exposures",
    "canary_epsilon_lower_bound",
]

_LOG2E = 1.0 / math.log(2.0)
_DIGITS = "0123456789"


class NextCharModel(Protocol):
    """What the attacks need: a window length and log p(next char | window) for a batch of windows."""

    context: int

    def next_log_probs(self, windows: torch.Tensor) -> torch.Tensor: ...


def _check_model(model: Any) -> Any:
    if not hasattr(model, "next_log_probs") or not hasattr(model, "context"):
        raise TypeError(f"model must have .context and .next_log_probs(windows) (e.g. CharLM), got {type(model).__name__}")
    return model


def candidate_space_size(pattern: str) -> int:
    """|R| for a format: 10 ** (number of '#' digit slots). A format with no slot has no candidates."""
    check_type("pattern", pattern, str)
    slots = pattern.count("#")
    if slots == 0:
        raise ValueError(f"pattern must contain at least one '#' digit slot (otherwise there are no candidates "
                         f"to rank), got {pattern!r}")
    return 10**slots


def _check_secret(secret: str, pattern: str) -> str:
    check_type("secret", secret, str)
    ok = len(secret) == len(pattern) and all(
        (p == "#" and s in _DIGITS) or (p != "#" and s == p) for s, p in zip(secret, pattern)
    )
    if not ok:
        raise ValueError(f"secret must match pattern {pattern!r} ('#' = a digit), got {secret!r}")
    return secret


def _prefix_ids(model: Any, prefix: str) -> torch.Tensor:
    from ppml_lab.lm.char_lm import encode

    check_type("prefix", prefix, str)
    if len(prefix) > model.context:
        raise ValueError(f"prefix must be at most the model's context of {model.context} characters (the model "
                         f"never sees further back), got {len(prefix)} characters: {prefix!r}")
    return torch.from_numpy(encode(prefix))


def _windows(model: Any, ctx: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
    """The last ``context`` characters of prefix + tail for each row of ``tails`` (left-padded with -1)."""
    k = model.context
    full = torch.cat([ctx.expand(tails.shape[0], -1), tails], dim=1)
    if full.shape[1] >= k:
        return full[:, full.shape[1] - k:]
    pad = torch.full((tails.shape[0], k - full.shape[1]), -1, dtype=full.dtype)
    return torch.cat([pad, full], dim=1)


@torch.no_grad()
def sequence_log2_probs(model: NextCharModel, prefix: str, candidates: Any, *, batch_size: int = 65536) -> np.ndarray:
    """log2 p(candidate | prefix) for equal-length candidate strings: sum over characters (bits)."""
    from ppml_lab.lm.char_lm import encode

    _check_model(model)
    ctx = _prefix_ids(model, prefix)
    cands = list(candidates)
    if not cands:
        raise ValueError("candidates must not be empty, got 0 candidates")
    length = len(cands[0])
    if any(len(c) != length for c in cands) or length == 0:
        raise ValueError("candidates must be non-empty strings of one length")
    ids = torch.from_numpy(np.stack([encode(c) for c in cands]))  # (N, L)
    total = torch.zeros(len(cands), dtype=torch.float64)
    for j in range(length):  # log p(s) = sum_j log p(s_j | prefix, s_<j)
        w = _windows(model, ctx, ids[:, :j])
        for i in range(0, len(cands), batch_size):
            lp = model.next_log_probs(w[i: i + batch_size])
            total[i: i + batch_size] += lp.gather(1, ids[i: i + batch_size, j: j + 1]).squeeze(1).double()
    return (total * _LOG2E).numpy()


def log_perplexity(model: NextCharModel, prefix: str, secret: str) -> float:
    """-log2 p(secret | prefix) in bits (Carlini et al. 2019, Def. 1)."""
    return float(-sequence_log2_probs(model, prefix, [secret])[0])


@dataclass(frozen=True)
class ExposureResult:
    """Exposure in bits, how it was obtained, and its uncertainty (0 when exact)."""

    exposure: float
    space_size: int
    method: str  # "exact" or "extrapolated"
    rank: float  # exact rank, or |R| * estimated CDF
    std: float = 0.0  # bootstrap standard deviation of an extrapolated exposure
    interval: tuple[float, float] = (math.nan, math.nan)  # bootstrap 95 % interval (extrapolated)
    log_perplexity: float = math.nan
    empirical_exposure_bound: float = math.nan  # sampling-only estimate, capped at log2(samples) (extrapolated)
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def max_exposure(self) -> float:
        """log2|R|: the exposure of a canary ranked first."""
        return math.log2(self.space_size)


def exposure_from_rank(rank: Any, space_size: int) -> Any:
    """exposure = log2|R| - log2 rank   (Carlini et al. 2019, Def. 4)."""
    r = np.asarray(rank, dtype=np.float64)
    if np.any(r < 1) or np.any(r > space_size):
        raise ValueError(f"rank must be in [1, space_size={space_size}], got {rank!r}")
    return math.log2(space_size) - np.log2(r)


@torch.no_grad()
def _enumerate_log2_probs(model: Any, prefix: str, pattern: str) -> np.ndarray:
    """log2 p(r | prefix) for EVERY candidate r, in lexicographic order of its digits (a trie walk)."""
    from ppml_lab.lm.char_lm import encode

    ctx = _prefix_ids(model, prefix)
    digit_ids = torch.from_numpy(encode(_DIGITS))
    tails = torch.zeros((1, 0), dtype=torch.int64)
    logp = torch.zeros(1, dtype=torch.float64)
    for ch in pattern:
        lp = model.next_log_probs(_windows(model, ctx, tails)).double()  # one call per trie level
        if ch == "#":  # expand every partial candidate by the 10 digits
            logp = (logp.unsqueeze(1) + lp[:, digit_ids]).reshape(-1)
            tails = torch.cat([tails.repeat_interleave(10, dim=0), digit_ids.repeat(tails.shape[0]).unsqueeze(1)], 1)
        else:  # a literal character: every candidate has it
            lit = int(encode(ch)[0])
            logp = logp + lp[:, lit]
            tails = torch.cat([tails, torch.full((tails.shape[0], 1), lit, dtype=torch.int64)], 1)
    return (logp * _LOG2E).numpy()


def exposure_exact(model: NextCharModel, prefix: str, secret: str, pattern: str, *, exact_limit: int = 10**6) -> ExposureResult:
    """Exposure by ranking the secret among ALL |R| candidates (Carlini et al. 2019, Sec. 4.2)."""
    _check_model(model)
    size = candidate_space_size(pattern)
    _check_secret(secret, pattern)
    limit = check_int("exact_limit", exact_limit, low=1)
    if size > limit:
        raise ValueError(f"the candidate space of {pattern!r} has {size} candidates, more than exact_limit={limit}; "
                         "use exposure_extrapolated() (or raise exact_limit)")
    lp = _enumerate_log2_probs(model, prefix, pattern)
    index = int("".join(c for c in secret if c in _DIGITS))  # lexicographic position of the secret's digits
    rank = 1 + int(np.count_nonzero(lp > lp[index]))  # rank 1 = most likely candidate
    return ExposureResult(float(exposure_from_rank(rank, size)), size, "exact", float(rank),
                          log_perplexity=float(-lp[index]), details={"log2_probs": lp})


def fit_skewnorm_moments(x: Any) -> tuple[float, float, float]:
    """Skew-normal (shape a, loc, scale) by the method of moments (Azzalini 1985 parameterisation).

    Fast closed form used by the extrapolation's bootstrap; the test checks it against
    ``scipy.stats.skewnorm.fit`` (maximum likelihood). Sample skewness is capped at 0.99 (the family's
    maximum is ~0.995).
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size < 3:
        raise ValueError(f"x must be a 1-D sample of at least 3 values, got shape {v.shape}")
    m, s = v.mean(), v.std()
    if s == 0:
        raise ValueError("x must not be constant (a skew-normal needs a positive scale)")
    g = float(np.clip(((v - m) ** 3).mean() / s**3, -0.99, 0.99))
    # |delta| from the skewness: gamma = (4 - pi)/2 * (delta sqrt(2/pi))^3 / (1 - 2 delta^2/pi)^{3/2}
    t = abs(g) ** (2 / 3)
    d = math.copysign(math.sqrt(math.pi / 2 * t / (t + ((4 - math.pi) / 2) ** (2 / 3))), g)
    d = float(np.clip(d, -0.999, 0.999))
    scale = s / math.sqrt(1 - 2 * d * d / math.pi)
    loc = m - scale * d * math.sqrt(2 / math.pi)
    return d / math.sqrt(1 - d * d), float(loc), float(scale)


def exposure_extrapolated(
    model: NextCharModel,
    prefix: str,
    secret: str,
    pattern: str,
    *,
    samples: int = 2000,
    bootstrap: int = 50,
    rng: RNGLike = None,
) -> ExposureResult:
    """Exposure by the Secret Sharer's extrapolation (Carlini et al. 2019, Sec. 4.3).

    Score ``samples`` candidates drawn uniformly from R, fit a skew-normal to their log-perplexities
    and set exposure = -log2 CDF(log-perplexity of the secret): the fraction of R more likely than the
    secret, read off the fitted distribution. ``std`` and ``interval`` come from refitting on
    ``bootstrap`` resamples (the uncertainty of the fit from finitely many samples; the skew-normal
    *shape* is an assumption the bootstrap cannot check: the test compares it with exact ranks).
    """
    from scipy import stats

    from ppml_lab.data import random_secret

    _check_model(model)
    size = candidate_space_size(pattern)
    _check_secret(secret, pattern)
    n = check_int("samples", samples, low=10)
    b = check_int("bootstrap", bootstrap, low=0)
    g = resolve_rng(rng)
    cands = [random_secret(pattern, rng=g) for _ in range(n)]
    lps = -sequence_log2_probs(model, prefix, cands + [secret])  # log-perplexities (bits)
    sample_lp, secret_lp = lps[:-1], float(lps[-1])

    def expo(x: np.ndarray) -> float:
        a, loc, scale = fit_skewnorm_moments(x)
        # exposure = -log2 Pr_{r in R}[logppl(r) <= logppl(s)]   (Sec. 4.3)
        log_cdf = float(stats.skewnorm.logcdf(secret_lp, a, loc=loc, scale=scale))
        return min(-log_cdf * _LOG2E, math.log2(size))  # never above log2|R| (rank >= 1)

    est = expo(sample_lp)
    boot = np.array([expo(sample_lp[np.asarray(g.integers(0, n, size=n))]) for _ in range(b)])
    std = float(boot.std(ddof=1)) if b > 1 else math.nan
    interval = (float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))) if b > 1 else (math.nan, math.nan)
    below = int(np.count_nonzero(sample_lp <= secret_lp))  # direct sampling: rank ~ |R| (below + 1) / (n + 1)
    empirical = math.log2((n + 1) / (below + 1))
    return ExposureResult(est, size, "extrapolated", size * 2.0 ** (-est), std, interval, secret_lp, empirical,
                          details={"sample_log_perplexities": sample_lp})


def exposure(
    model: NextCharModel,
    prefix: str,
    secret: str,
    pattern: str,
    *,
    exact_limit: int = 10**6,
    samples: int = 2000,
    bootstrap: int = 50,
    rng: RNGLike = None,
) -> ExposureResult:
    """Exact exposure when |R| <= ``exact_limit``, else the extrapolated estimate with its uncertainty."""
    if candidate_space_size(pattern) <= check_int("exact_limit", exact_limit, low=1):
        return exposure_exact(model, prefix, secret, pattern, exact_limit=exact_limit)
    return exposure_extrapolated(model, prefix, secret, pattern, samples=samples, bootstrap=bootstrap, rng=rng)


@torch.no_grad()
def extract(
    model: NextCharModel, prefix: str, pattern: str, *, method: str = "greedy", beam_width: int = 8
) -> list[tuple[str, float]]:
    """Decode a secret of ``pattern`` after ``prefix``: [(candidate, log2 p), ...], most likely first.

    ``"greedy"``: the most likely digit at each slot (one candidate). ``"beam"``: keep the
    ``beam_width`` most likely partial candidates at each slot (Carlini et al. 2019, Sec. 8 use a
    shortest-path search over the same tree; beam search is its bounded-memory form). Literal characters
    of the format are forced, as an attacker who knows the format would.
    """
    from ppml_lab.lm.char_lm import decode, encode

    _check_model(model)
    candidate_space_size(pattern)
    m = check_choice("method", method, ("greedy", "beam"))
    width = 1 if m == "greedy" else check_int("beam_width", beam_width, low=1)
    ctx = _prefix_ids(model, prefix)
    digit_ids = torch.from_numpy(encode(_DIGITS))
    tails = torch.zeros((1, 0), dtype=torch.int64)
    logp = torch.zeros(1, dtype=torch.float64)
    for ch in pattern:
        lp = model.next_log_probs(_windows(model, ctx, tails)).double()
        if ch == "#":
            scores = (logp.unsqueeze(1) + lp[:, digit_ids]).reshape(-1)  # every (beam, digit) extension
            top = torch.topk(scores, k=min(width, scores.numel())).indices
            beam, digit = top // 10, top % 10
            tails = torch.cat([tails[beam], digit_ids[digit].unsqueeze(1)], 1)
            logp = scores[top]
        else:
            lit = int(encode(ch)[0])
            logp = logp + lp[:, lit]
            tails = torch.cat([tails, torch.full((tails.shape[0], 1), lit, dtype=torch.int64)], 1)
    order = torch.argsort(logp, descending=True)
    return [(decode(tails[i]), float(logp[i] * _LOG2E)) for i in order.tolist()]


def extraction_rate(model: NextCharModel, canaries: Any, *, method: str = "greedy", beam_width: int = 8) -> tuple[int, int]:
    """(extracted, inserted): canaries whose top decoded candidate equals the secret exactly."""
    cs = list(canaries)
    hits = sum(extract(model, c.prefix, c.pattern, method=method, beam_width=beam_width)[0][0] == c.secret for c in cs)
    return int(hits), len(cs)


def note_loss_scores(model: Any, X: torch.Tensor, Y: torch.Tensor) -> np.ndarray:
    """Loss attack score per note: minus its mean loss (higher = more likely a training note; Yeom et al. 2018)."""
    from ppml_lab.lm.char_lm import note_losses

    return -note_losses(model, X, Y).numpy()


def reference_ratio_scores(model: Any, reference: Any, X: torch.Tensor, Y: torch.Tensor) -> np.ndarray:
    """Likelihood-ratio score per note: loss under the public reference model minus loss under the target.

    log p_target(note) - log p_ref(note) (per character): a note the target finds much likelier than
    a model that never saw it is likely a member; dividing out the reference removes "easy" notes
    (Carlini et al. 2021, Sec. 6.2).
    """
    from ppml_lab.lm.char_lm import note_losses

    return (note_losses(reference, X, Y) - note_losses(model, X, Y)).numpy()


def null_exposures(model: NextCharModel, prefix: str, pattern: str, *, n: int, rng: RNGLike = None) -> np.ndarray:
    """Exact exposures of ``n`` never-inserted secrets (uniform over R) after ``prefix``, from one enumeration.

    The reference distribution of Carlini et al. 2019 (Sec. 4): with rank uniform on 1..|R|,
    Pr[exposure >= x] <= 2^-x, so these should look like Exp(ln 2) in bits whatever the model.
    """
    from ppml_lab.data import random_secret

    _check_model(model)
    size = candidate_space_size(pattern)
    k = check_int("n", n, low=1)
    if size > 10**6:
        raise ValueError(f"the candidate space of {pattern!r} has {size} candidates, more than 10**6 for exact ranks")
    lp = _enumerate_log2_probs(model, prefix, pattern)
    g = resolve_rng(rng)
    idx = np.array([int("".join(c for c in random_secret(pattern, rng=g) if c in _DIGITS)) for _ in range(k)])
    ranks = 1 + (lp[None, :] > lp[idx][:, None]).sum(axis=1)
    return np.asarray(exposure_from_rank(ranks, size), dtype=np.float64)


def canary_epsilon_lower_bound(
    exposures: Any, *, threshold_bits: float, delta: float, confidence: float = 0.95
) -> float:
    """A lower bound on the epsilon protecting the canaries' unit, from how many reach ``threshold_bits``.

    If the model were trained without a canary, its rank would be uniform on R, so
    Pr[exposure >= x] <= 2^-x. (epsilon, delta)-DP for the unit that contains the canary (one note if it
    appears once; a group of r notes if it is repeated r times) forces
    Pr[exposure >= x | inserted] <= e^epsilon 2^-x + delta (Dwork & Roth 2014, Def. 2.4). With k of m
    canaries at or above x and p_low the one-sided Clopper-Pearson lower bound on their rate:
    epsilon >= ln((p_low - delta) / 2^-x), returned as 0 when nothing is shown.

    Caveats (say them beside the number): the m canaries are treated as independent trials although they
    share one training run (the rigorous one-run version is :mod:`ppml_lab.dp.one_run_audit`); ``x`` must
    be fixed before looking at the exposures; extrapolated exposures are estimates. An audit finds
    violations; a small bound certifies nothing.
    """
    from ppml_lab._validation import check_delta, check_fraction, check_positive
    from ppml_lab.dp.audit import clopper_pearson

    e = np.asarray(exposures, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise ValueError("exposures must not be empty, got 0 canaries")
    if not np.all(np.isfinite(e)) or np.any(e < 0):  # a NaN would silently count as "not reached"
        raise ValueError(f"exposures must be finite numbers >= 0 (bits), got {e[~np.isfinite(e) | (e < 0)][:3].tolist()}")
    x = check_positive("threshold_bits", threshold_bits)
    d = check_delta("delta", delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    if conf <= 0.5:  # a one-sided bound below 50 % confidence says nothing
        raise ValueError(f"confidence must be in (0.5, 1), got {conf!r}")
    k, m = int(np.count_nonzero(e >= x)), int(e.size)
    if k == 0:
        return 0.0
    # one-sided Clopper-Pearson lower bound at `conf` = the lower end of the two-sided interval at 2 conf - 1
    p_low = float(clopper_pearson(k, m, confidence=2 * conf - 1)[0])
    if p_low <= d:
        return 0.0
    return max(0.0, math.log((p_low - d) / 2.0 ** (-x)))  # e^eps >= (p_low - delta) / Pr_null[exposure >= x]
