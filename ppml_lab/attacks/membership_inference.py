"""Membership inference: was this record in the training set?

The loss-threshold attack of Yeom, Giacomelli, Fredrikson & Jha 2018 ("Privacy Risk in Machine Learning:
Analyzing the Connection to Overfitting", CSF 2018, arXiv:1709.01604): predict "member" when the model's
loss on a record is below a threshold. Sweeping the threshold gives an ROC curve; the membership
advantage is max over thresholds of TPR - FPR (Yeom et al., Def. 4), which Theorem 1 of the same paper
bounds by e^epsilon - 1 for an epsilon-DP training algorithm.

Threat model: black-box access to the model's output probabilities and the true label of the candidate
record; the attacker knows (or calibrates) a threshold, e.g. from the average training loss.

Added for notebook 04 (privacy auditing): the likelihood-ratio attack with shadow models of Carlini et
al. 2022 (LiRA, arXiv:2112.03570), sized for a CPU: :func:`run_lira_target` attacks ONE target whose
training set was drawn by independent fair coins (the input of one-run auditing,
:mod:`ppml_lab.dp.one_run_audit`); :func:`run_lira` pools leave-one-out attacks to estimate an ROC's shape.
An empirical lower bound on epsilon from TPR/FPR with Clopper–Pearson confidence (Jagielski et al. 2020,
arXiv:2006.07709; Nasr et al. 2021, arXiv:2101.04535) is computed only for independent trials (one
training run per guess); ROCs from shared runs are flagged and refused. Threat model of LiRA: the
attacker can also train shadow models with the target's algorithm on data from the same distribution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import (
    check_array,
    check_choice,
    check_delta,
    check_fraction,
    check_int,
    check_real,
    check_type,
)

__all__ = [
    "AttackResult",
    "cross_entropy_losses",
    "roc_from_scores",
    "loss_threshold_attack",
    "logit_confidence",
    "logit_confidence_from_logits",
    "membership_masks",
    "lira_scores",
    "LiRAResult",
    "run_lira",
    "LiRATargetResult",
    "run_lira_target",
    "clopper_pearson_upper",
    "EmpiricalEpsilon",
    "empirical_epsilon",
    "epsilon_lower_bound",
]

_EPS = 1e-12


@dataclass(frozen=True)
class AttackResult:
    """ROC of a membership-inference attack (score higher = "member")."""

    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)
    auc: float
    advantage: float
    n_members: int
    n_nonmembers: int
    #: False when the guesses are not independent trials: pooled from models that share training data
    #: (leave-one-out LiRA) or several records of ONE training run (:func:`run_lira_target`). The ROC is
    #: then a description of this attack on these models; binomial confidence bounds from its counts do
    #: not hold. One run's guesses are audited with :func:`ppml_lab.dp.one_run_audit.one_run_audit`.
    independent_trials: bool = True

    @property
    def fpr_resolution(self) -> float:
        """1 / n_nonmembers: the smallest non-zero FPR the data can show; nothing below it is measured."""
        return 1.0 / self.n_nonmembers

    def tpr_at_fpr(self, target_fpr: float) -> float:
        """Highest TPR reached at an FPR no larger than ``target_fpr`` (e.g. 0.01).

        Refuses 0 < target_fpr < 1 / n_nonmembers: such an FPR is below what the non-members can resolve
        (reading it would report the TPR at zero false positives as if it were the TPR at that rate).
        """
        t = check_fraction("target_fpr", target_fpr, low_inclusive=True)
        if 0.0 < t < self.fpr_resolution:
            raise ValueError(
                f"target_fpr must be 0 or >= 1 / n_nonmembers = {self.fpr_resolution:.3g} (the ROC's resolution), "
                f"got {t!r}; use more non-members to read a lower FPR"
            )
        ok = self.fpr <= t + 1e-15
        return float(self.tpr[ok].max()) if ok.any() else 0.0

    def tpr_interval_at_fpr(self, target_fpr: float, *, confidence: float = 0.95) -> tuple[float, float, float]:
        """(TPR, low, high): the TPR at ``target_fpr`` with a two-sided Clopper-Pearson interval over the
        n_members trials it counts. The threshold is fixed by the non-members, so the FPR it reaches is an
        estimate too; the interval covers the TPR at that threshold. Needs independent trials."""
        if not self.independent_trials:
            raise ValueError(
                "independent_trials must be True for a confidence interval, got False (guesses from shared or "
                "single training runs are not binomial trials); bound epsilon with one_run_audit() instead"
            )
        conf = check_fraction("confidence", confidence, high_inclusive=False)
        tpr = self.tpr_at_fpr(target_fpr)
        k = int(round(tpr * self.n_members))
        from ppml_lab.dp.audit import clopper_pearson  # the package's one Clopper-Pearson

        low, high = (float(v) for v in clopper_pearson(k, self.n_members, confidence=conf))
        return tpr, low, high

    @property
    def balanced_accuracy(self) -> float:
        """Best accuracy on a balanced member/non-member set: (1 + advantage) / 2."""
        return 0.5 * (1.0 + self.advantage)


def cross_entropy_losses(proba: Any, y: Any) -> np.ndarray:
    """Per-sample cross-entropy -log p(y_i | x_i) from predicted class probabilities (n, k)."""
    p = check_array("proba", proba, ndim=2)
    labels = check_array("y", y, ndim=1, integer=True)
    if p.shape[0] != labels.shape[0]:
        raise ValueError(f"proba and y must have the same number of rows, got {p.shape[0]} and {labels.shape[0]}")
    if labels.min() < 0 or labels.max() >= p.shape[1]:
        raise ValueError(f"y must hold class indices in [0, {p.shape[1] - 1}], got range [{labels.min()}, {labels.max()}]")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("proba must hold probabilities in [0, 1]")
    return -np.log(np.clip(p[np.arange(len(labels)), labels], _EPS, 1.0))


def roc_from_scores(member_scores: Any, nonmember_scores: Any) -> AttackResult:
    """ROC curve, AUC and advantage for scores where higher means "member".

    Thresholds run over the distinct scores from high to low; ties are handled as scikit-learn's
    ``roc_curve`` does (one point per distinct threshold), so the AUC equals ``roc_auc_score``.
    """
    m = check_array("member_scores", member_scores, ndim=1)
    nm = check_array("nonmember_scores", nonmember_scores, ndim=1)
    scores = np.concatenate([m, nm])
    labels = np.concatenate([np.ones(m.size), np.zeros(nm.size)])
    order = np.argsort(-scores, kind="mergesort")
    s, lab = scores[order], labels[order]
    # last index of each run of equal scores: one ROC point per distinct threshold
    distinct = np.flatnonzero(np.diff(s)) if s.size > 1 else np.array([], dtype=int)
    ends = np.concatenate([distinct, [s.size - 1]])
    tp = np.cumsum(lab)[ends]
    fp = (ends + 1) - tp
    tpr = np.concatenate([[0.0], tp / m.size])
    fpr = np.concatenate([[0.0], fp / nm.size])
    thresholds = np.concatenate([[np.inf], s[ends]])
    auc = float(np.trapezoid(tpr, fpr))  # area under the piecewise-linear ROC
    advantage = float(np.max(tpr - fpr))  # Yeom et al. 2018, Def. 4: max_t TPR(t) - FPR(t)
    return AttackResult(fpr, tpr, thresholds, auc, advantage, int(m.size), int(nm.size))


def loss_threshold_attack(member_losses: Any, nonmember_losses: Any) -> AttackResult:
    """Yeom et al. 2018: score = -loss (low loss -> member), swept over every threshold."""
    m = check_array("member_losses", member_losses, ndim=1)
    nm = check_array("nonmember_losses", nonmember_losses, ndim=1)
    if np.any(m < 0) or np.any(nm < 0):
        raise ValueError("losses must be >= 0 (cross-entropy); got a negative loss")
    return roc_from_scores(-m, -nm)


# ---------------------------------------------------------------------------------------------
# Likelihood-ratio attack with shadow models (LiRA)
# ---------------------------------------------------------------------------------------------
#
# Carlini, Chien, Nasr, Song, Terzis & Tramèr 2022, "Membership Inference Attacks From First
# Principles", IEEE S&P 2022, arXiv:2112.03570. Threat model: the attacker can train models with the
# target's training algorithm on data from the same distribution (shadow models) and queries the
# target for the candidate record's class probabilities.


def logit_confidence(proba: Any, y: Any) -> np.ndarray:
    """phi = log(p_y / (1 - p_y)), the logit-scaled confidence in the true class (Carlini et al. §IV-B).

    p_y is squashed near 0 and 1; its logit is close to Gaussian across shadow models, which is what the
    likelihood-ratio test below assumes. Computed as log p_y - log(sum_{j != y} p_j). Probabilities
    saturate in float64 (phi is capped near +-27.6): prefer :func:`logit_confidence_from_logits`.
    """
    p = check_array("proba", proba, ndim=2)
    labels = _check_labels(p, y, "proba")
    rows = np.arange(len(labels))
    p_y = np.clip(p[rows, labels], _EPS, 1.0)
    rest = np.clip(p.sum(axis=1) - p[rows, labels], _EPS, None)  # sum_{j != y} p_j
    return np.log(p_y) - np.log(rest)


def logit_confidence_from_logits(logits: Any, y: Any) -> np.ndarray:
    """phi = z_y - logsumexp_{j != y} z_j: the same phi from logits (or log-probabilities), without saturation."""
    z = check_array("logits", logits, ndim=2)
    labels = _check_labels(z, y, "logits")
    if z.shape[1] < 2:
        raise ValueError(f"logits must have at least 2 classes (columns), got shape {z.shape}")
    rows = np.arange(len(labels))
    others = z.copy()
    others[rows, labels] = -np.inf
    mx = others.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(others - mx).sum(axis=1))  # logsumexp over j != y
    return z[rows, labels] - lse


def _check_labels(p: np.ndarray, y: Any, name: str) -> np.ndarray:
    labels = check_array("y", y, ndim=1, integer=True)
    if p.shape[0] != labels.shape[0]:
        raise ValueError(f"{name} and y must have the same number of rows, got {p.shape[0]} and {labels.shape[0]}")
    if labels.min() < 0 or labels.max() >= p.shape[1]:
        raise ValueError(f"y must hold class indices in [0, {p.shape[1] - 1}], got range [{labels.min()}, {labels.max()}]")
    return labels


def membership_masks(n_models: int, n_records: int, *, rng: RNGLike = None) -> np.ndarray:
    """Boolean (n_models, n_records): which records each model trains on.

    Every record is IN for exactly half of the models (Carlini et al.'s released code does the same), so
    each record has both IN and OUT shadow models to fit its two Gaussians.
    """
    k = check_int("n_models", n_models, low=2)
    n = check_int("n_records", n_records, low=2)
    g = resolve_rng(rng)
    ranks = np.argsort(np.asarray(g.random((k, n))), axis=0)  # a random permutation of models per record
    return ranks < k // 2


def lira_scores(
    target_conf: Any,
    shadow_conf: Any,
    shadow_in: Any,
    *,
    online: bool = True,
    global_variance: bool = True,
    shadow_used: Any = None,
) -> np.ndarray:
    """LiRA membership scores (higher = member) for every record.

    ``target_conf`` (n,): phi of the target model; ``shadow_conf`` (k, n): phi of k shadow models;
    ``shadow_in`` (k, n): True where the record was in that shadow's training set.

    Online (Carlini et al., Alg. 1): Lambda = log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2).
    Offline (§VI-C): Lambda = log Pr[Z < phi], Z ~ N(mu_out, s_out^2) (one-sided, OUT models only).
    ``global_variance=True`` pools one variance over all records, which Carlini et al. recommend when
    there are few shadow models (§VI-B, "fixed variance"). ``shadow_used`` (k, n) bool, default all:
    which shadow outputs enter the fits (:func:`run_lira` uses it to balance IN and OUT counts).
    """
    from scipy.stats import norm

    t = check_array("target_conf", target_conf, ndim=1)
    s = check_array("shadow_conf", shadow_conf, ndim=2)
    m = np.asarray(shadow_in)
    if m.dtype != bool:
        raise TypeError(f"shadow_in must be a boolean array, got dtype {m.dtype}")
    if s.shape != m.shape or s.shape[1] != t.shape[0]:
        raise ValueError(
            f"shadow_conf and shadow_in must have shape (k, n) with n = len(target_conf) = {t.shape[0]}, "
            f"got {s.shape} and {m.shape}"
        )
    used = np.ones(m.shape, dtype=bool) if shadow_used is None else np.asarray(shadow_used)
    if used.dtype != bool or used.shape != m.shape:
        raise ValueError(f"shadow_used must be a boolean array of shape {m.shape}, got {used.dtype} {used.shape}")
    is_in, is_out = m & used, ~m & used
    n_out = is_out.sum(axis=0)
    n_in = is_in.sum(axis=0)
    if np.any(n_out == 0) or (online and np.any(n_in == 0)):
        raise ValueError(
            "every record needs at least one OUT shadow model (and one IN model for the online attack); "
            "use membership_masks() or more shadow models"
        )
    mu_out = np.where(is_out, s, 0.0).sum(axis=0) / np.maximum(n_out, 1)
    res_out = np.where(is_out, s - mu_out, 0.0)
    if global_variance:
        sd_out = np.full(t.shape, np.sqrt((res_out**2).sum() / max(n_out.sum() - 1, 1)))
    else:
        sd_out = np.sqrt((res_out**2).sum(axis=0) / np.maximum(n_out - 1, 1))
    sd_out = np.maximum(sd_out, 1e-6)
    if not online:
        return norm.logcdf(t, loc=mu_out, scale=sd_out)  # log Pr[Z < phi | OUT]
    mu_in = np.where(is_in, s, 0.0).sum(axis=0) / n_in
    res_in = np.where(is_in, s - mu_in, 0.0)
    if global_variance:
        sd_in = np.full(t.shape, np.sqrt((res_in**2).sum() / max(n_in.sum() - 1, 1)))
    else:
        sd_in = np.sqrt((res_in**2).sum(axis=0) / np.maximum(n_in - 1, 1))
    sd_in = np.maximum(sd_in, 1e-6)
    # Lambda = log p(phi | IN) - log p(phi | OUT)   (Carlini et al. 2022, Alg. 1, line 16)
    return norm.logpdf(t, loc=mu_in, scale=sd_in) - norm.logpdf(t, loc=mu_out, scale=sd_out)


@dataclass(frozen=True)
class LiRAResult:
    """Pooled leave-one-out LiRA: each of the k models is the target once, the others its shadows."""

    roc: AttackResult
    member_scores: np.ndarray = field(repr=False)
    nonmember_scores: np.ndarray = field(repr=False)
    conf: np.ndarray = field(repr=False)  # (k, n) logit confidences
    in_mask: np.ndarray = field(repr=False)  # (k, n) training membership
    n_models: int = 0


def run_lira(
    fit_predict: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    X: Any,
    y: Any,
    *,
    n_models: int = 8,
    online: bool = True,
    global_variance: bool = True,
    outputs: str = "logits",
    rng: RNGLike = None,
    progress: bool = False,
) -> LiRAResult:
    """Train ``n_models`` models on random halves of (X, y) and attack each with the others as shadows.

    ``fit_predict(X_train, y_train, seed)`` trains one model and returns its outputs on ALL of ``X``,
    shape (n, n_classes): logits or log-probabilities (``outputs="logits"``, e.g. scikit-learn's
    ``predict_log_proba``) or probabilities (``outputs="proba"``, which saturate for confident models). Pooling the k leave-one-out attacks gives k * n membership guesses
    from k trainings, enough to estimate the ROC's shape. They are NOT independent trials (the k models
    share training data, and each record's memberships are balanced across models), so the pooled ROC is
    flagged ``independent_trials=False`` and :func:`epsilon_lower_bound` refuses it; for an audit with
    valid statistics use :func:`run_lira_target`.
    """
    k = check_int("n_models", n_models, low=3)
    Xa = check_array("X", X, ndim=2)
    ya = check_array("y", y, ndim=1, integer=True)
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {Xa.shape[0]} and {ya.shape[0]}")
    if not callable(fit_predict):
        raise TypeError(f"fit_predict must be callable (X_train, y_train, seed) -> proba, got {type(fit_predict).__name__}")
    check_choice("outputs", outputs, ("logits", "proba"))
    to_conf = logit_confidence_from_logits if outputs == "logits" else logit_confidence
    g = resolve_rng(rng)
    masks = membership_masks(k, Xa.shape[0], rng=g)
    seeds = [int(v) for v in np.asarray(g.integers(0, 2**31 - 1, size=k))]
    it: Any = range(k)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="shadow models", leave=False)
    conf = np.empty((k, Xa.shape[0]))
    for i in it:
        proba = np.asarray(fit_predict(Xa[masks[i]], ya[masks[i]], seeds[i]), dtype=np.float64)
        if proba.shape != (Xa.shape[0], proba.shape[1] if proba.ndim == 2 else -1):
            raise ValueError(f"fit_predict must return outputs of shape (n, n_classes) on all of X, got {proba.shape}")
        conf[i] = to_conf(proba, ya)
    members, nonmembers = [], []
    for t in range(k):
        others = np.arange(k) != t
        sm = masks[others]
        # Leaving the target out leaves one more OUT than IN shadow for its members and one more IN for its
        # non-members. Unequal counts bias the likelihood ratio (the side with fewer models has a noisier
        # mean, so phi looks farther from it): drop one model from the larger side, record by record.
        majority = np.where(masks[t], ~sm, sm)  # (k-1, n): models on the larger side for each record
        drop = majority & (np.cumsum(majority, axis=0) == 1)  # the first such model per record
        sc = lira_scores(conf[t], conf[others], sm, online=online, global_variance=global_variance,
                         shadow_used=~drop)
        members.append(sc[masks[t]])
        nonmembers.append(sc[~masks[t]])
    m, nm = np.concatenate(members), np.concatenate(nonmembers)
    # k models share training data: the k * n guesses are NOT independent trials (no confidence bounds)
    roc = dataclasses.replace(roc_from_scores(m, nm), independent_trials=False)
    return LiRAResult(roc, m, nm, conf, masks, k)


@dataclass(frozen=True)
class LiRATargetResult:
    """LiRA against ONE target model whose training set was drawn by independent fair coins.

    ``included[i]`` is the coin of record i (True = trained on); the shadows' training sets were drawn
    independently of it, so the n guesses are the independent-coin trials one-run auditing needs
    (:func:`ppml_lab.dp.one_run_audit.one_run_audit`). Given the one training run the guesses are not
    independent, so the ROC is flagged ``independent_trials=False`` (no Clopper-Pearson from its counts).
    """

    roc: AttackResult
    scores: np.ndarray = field(repr=False)  # (n,) LiRA scores of the target, higher = member
    included: np.ndarray = field(repr=False)  # (n,) bool: the target's secret membership coins
    target_conf: np.ndarray = field(repr=False)  # (n,) phi of the target
    n_shadows: int = 0


def run_lira_target(
    fit_predict: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    X: Any,
    y: Any,
    *,
    n_shadows: int = 8,
    online: bool = True,
    global_variance: bool = True,
    outputs: str = "logits",
    rng: RNGLike = None,
    progress: bool = False,
) -> LiRATargetResult:
    """Train one target on an independent-coin half of (X, y) and ``n_shadows`` shadows; attack the target.

    The target's memberships are i.i.d. Bernoulli(1/2) per record (Steinke, Nasr & Jagielski 2023's
    one-run setting); the shadows use :func:`membership_masks`, drawn independently of the target, so
    nothing the attacker holds carries the target's coins. The ROC's resolution is 1 / n_nonmembers.
    """
    k = check_int("n_shadows", n_shadows, low=2)
    Xa = check_array("X", X, ndim=2)
    ya = check_array("y", y, ndim=1, integer=True)
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {Xa.shape[0]} and {ya.shape[0]}")
    if not callable(fit_predict):
        raise TypeError(f"fit_predict must be callable (X_train, y_train, seed) -> proba, got {type(fit_predict).__name__}")
    check_choice("outputs", outputs, ("logits", "proba"))
    to_conf = logit_confidence_from_logits if outputs == "logits" else logit_confidence
    g = resolve_rng(rng)
    n = Xa.shape[0]
    included = np.asarray(g.random(n)) < 0.5  # the target's coins: independent, probability 1/2
    shadow_in = membership_masks(k, n, rng=g)  # drawn after and independently of the coins
    seeds = [int(v) for v in np.asarray(g.integers(0, 2**31 - 1, size=k + 1))]
    masks = np.vstack([included[None, :], shadow_in])
    it: Any = range(k + 1)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="target + shadow models", leave=False)
    conf = np.empty((k + 1, n))
    for i in it:
        out = np.asarray(fit_predict(Xa[masks[i]], ya[masks[i]], seeds[i]), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != n:
            raise ValueError(f"fit_predict must return outputs of shape (n, n_classes) on all of X, got {out.shape}")
        conf[i] = to_conf(out, ya)
    scores = lira_scores(conf[0], conf[1:], shadow_in, online=online, global_variance=global_variance)
    # n guesses about ONE training run: independent coins, but not independent trials given the run
    roc = dataclasses.replace(roc_from_scores(scores[included], scores[~included]), independent_trials=False)
    return LiRATargetResult(roc, scores, included, conf[0], k)


# ---------------------------------------------------------------------------------------------
# Empirical epsilon: a lower bound from an attack's TPR/FPR
# ---------------------------------------------------------------------------------------------
#
# An (epsilon, delta)-DP mechanism makes every membership test satisfy (Kairouz, Oh & Viswanath 2015,
# Thm 2.1; used for auditing by Jagielski, Ullman & Oprea 2020, arXiv:2006.07709, and Nasr, Song,
# Thakurta, Papernot & Carlini 2021, arXiv:2101.04535):
#     TPR <= e^eps FPR + delta    and    1 - FPR <= e^eps (1 - TPR) + delta.
# So eps >= max( log((TPR - delta) / FPR), log((1 - FPR - delta) / FNR) ). With finite trials, FPR and
# FNR are replaced by Clopper–Pearson upper confidence bounds, making the result a lower bound on
# epsilon that holds with the stated confidence.


def clopper_pearson_upper(k: Any, n: int, *, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) upper Clopper–Pearson bound on a binomial rate with k successes in n.

    The upper end of :func:`ppml_lab.dp.audit.clopper_pearson` (the package's one Clopper–Pearson) at
    two-sided confidence 1 - 2 alpha, which leaves exactly alpha above it; 1 when k = n.
    """
    from ppml_lab.dp.audit import clopper_pearson

    a = check_real("alpha", alpha, low=0.0, high=0.5, low_inclusive=False, high_inclusive=False)
    return np.asarray(clopper_pearson(k, n, confidence=1.0 - 2.0 * a)[1], dtype=np.float64)


@dataclass(frozen=True)
class EmpiricalEpsilon:
    """A lower bound on epsilon from a membership test, valid with probability ``confidence``."""

    epsilon: float
    confidence: float
    delta: float
    fpr: float  # observed rates at the threshold that gave the bound
    tpr: float
    threshold: float
    n_thresholds: int


def empirical_epsilon(
    *, tp: int, fp: int, n_members: int, n_nonmembers: int, delta: float = 0.0, confidence: float = 0.95
) -> float:
    """Lower bound on epsilon from ONE pre-chosen threshold (tp of n_members flagged, fp of n_nonmembers)."""
    check_int("n_members", n_members, low=1)
    check_int("n_nonmembers", n_nonmembers, low=1)
    check_int("tp", tp, low=0, high=n_members)
    check_int("fp", fp, low=0, high=n_nonmembers)
    d = check_delta("delta", delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    return float(_eps_from_counts(np.array([tp]), np.array([fp]), n_members, n_nonmembers, d, (1 - conf) / 2)[0])


def _eps_from_counts(
    tp: np.ndarray, fp: np.ndarray, n_m: int, n_nm: int, delta: float, alpha_each: float
) -> np.ndarray:
    fpr_hi = clopper_pearson_upper(fp, n_nm, alpha=alpha_each)
    fnr_hi = clopper_pearson_upper(n_m - tp, n_m, alpha=alpha_each)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(1.0 - delta - fnr_hi, 0.0) / fpr_hi)  # TPR <= e^eps FPR + delta
        b = np.log(np.maximum(1.0 - delta - fpr_hi, 0.0) / fnr_hi)  # TNR <= e^eps FNR + delta
    eps = np.fmax(a, b)
    return np.where(np.isfinite(eps) & (eps > 0), eps, 0.0)


def epsilon_lower_bound(result: AttackResult, *, delta: float = 0.0, confidence: float = 0.95) -> EmpiricalEpsilon:
    """The best lower bound on epsilon over ALL thresholds of an ROC, valid with probability ``confidence``.

    Picking the best threshold after looking at the data is allowed here because the confidence is split
    over every threshold and both error rates (a Bonferroni union bound): with probability ``confidence``
    all the Clopper–Pearson bounds hold at once, so the maximum is a valid lower bound too.

    The Clopper-Pearson bounds need the n_members and n_nonmembers guesses to be independent trials (one
    training run per guess, as in Jagielski et al. 2020); guesses pooled from models that share training
    data (:func:`run_lira`) or about many records of one run (:func:`run_lira_target`) are not, and are
    refused. For one run, :func:`ppml_lab.dp.one_run_audit.one_run_audit` (Steinke, Nasr & Jagielski
    2023, Thm 3) is the bound that holds, and the one this course reports.
    """
    check_type("result", result, AttackResult)
    if not result.independent_trials:
        raise ValueError(
            "result.independent_trials must be True, got False: the guesses share training runs, so their counts "
            "are not binomial; bound epsilon with run_lira_target() and one_run_audit() instead"
        )
    d = check_delta("delta", delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    tp = np.rint(result.tpr * result.n_members).astype(np.int64)
    fp = np.rint(result.fpr * result.n_nonmembers).astype(np.int64)
    n_t = len(tp)
    eps = _eps_from_counts(tp, fp, result.n_members, result.n_nonmembers, d, (1 - conf) / (2 * n_t))
    i = int(np.argmax(eps))
    return EmpiricalEpsilon(
        epsilon=float(eps[i]),
        confidence=conf,
        delta=d,
        fpr=float(result.fpr[i]),
        tpr=float(result.tpr[i]),
        threshold=float(result.thresholds[i]),
        n_thresholds=n_t,
    )
