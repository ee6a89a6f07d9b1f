"""Statistical audit of a DP mechanism: a lower bound on its epsilon from samples.

What it is: run a mechanism many times on two neighbouring inputs x0, x1; pick output events E
(thresholds ``out > t``, ``out < t``, or single values for discrete outputs) on one half of the samples;
on the other half bound P[M(x0) in E] from below and P[M(x1) in E] from above with Clopper-Pearson
intervals; then epsilon >= log((p0_low - delta) / p1_high) holds with the stated confidence, because
(epsilon, delta)-DP requires P0(E) <= e^eps P1(E) + delta for every event (DR14 Def 2.4). In the
spirit of StatDP: Ding, Wang, Wang, Zhang & Kifer 2018, "Detecting Violations of Differential Privacy",
CCS 2018, arXiv:1805.10277 (event selection on separate samples, then a hypothesis test).

Threat model: black-box access to the mechanism (as a function of its input and ``rng``). A bound above
the claimed epsilon is evidence of a bug; a bound below it proves nothing (audits find violations, they
do not certify privacy).

Each sample here is a fresh, independent run of the mechanism, so Clopper-Pearson applies. To audit ONE
training run (DP-SGD with canaries, membership guesses about many records of one model), where the
guesses are not independent trials, use :mod:`ppml_lab.dp.one_run_audit` (Steinke, Nasr & Jagielski
2023). :func:`clopper_pearson` is the package's one Clopper-Pearson interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_delta, check_fraction, check_int, check_positive

__all__ = ["AuditResult", "clopper_pearson", "audit_mechanism", "floating_point_attack", "attack_accuracy"]


def clopper_pearson(successes: Any, trials: int, *, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact two-sided binomial interval (Clopper & Pearson 1934) for each count, at ``confidence``."""
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    n = check_int("trials", trials, low=1)
    k = np.asarray(successes, dtype=np.float64)
    a = 1.0 - conf
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(a / 2, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - a / 2, k + 1, n - k), 1.0)
    return low, high


@dataclass(frozen=True)
class AuditResult:
    """Outcome of :func:`audit_mechanism`."""

    epsilon_lower_bound: float
    confidence: float
    event: str
    p0: float
    p1: float
    n_samples: int
    claimed_epsilon: float | None
    claimed_delta: float

    @property
    def violation(self) -> bool:
        """True when the lower bound exceeds the claimed epsilon (the mechanism is not what it claims)."""
        return self.claimed_epsilon is not None and self.epsilon_lower_bound > self.claimed_epsilon

    def __str__(self) -> str:
        verdict = ""
        if self.claimed_epsilon is not None:
            verdict = " -> VIOLATION" if self.violation else " -> consistent with the claim"
        return (
            f"epsilon >= {self.epsilon_lower_bound:.3f} with {self.confidence:.0%} confidence "
            f"(event {self.event}: P0={self.p0:.4f}, P1={self.p1:.4f}, n={self.n_samples})"
            f"{'' if self.claimed_epsilon is None else f'; claimed {self.claimed_epsilon:g}'}{verdict}"
        )


def _events(sel0: np.ndarray, sel1: np.ndarray, n_thresholds: int) -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    pooled = np.concatenate([sel0, sel1])
    uniq = np.unique(pooled)
    events: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = []
    if uniq.size <= 64:  # discrete outputs: single values, and thresholds at every value
        for v in uniq:
            events.append((f"out == {v:g}", _event("==", float(v))))
        thresholds = uniq
    else:
        thresholds = np.unique(np.quantile(pooled, np.linspace(0.005, 0.995, n_thresholds)))
    for t in thresholds:
        events.append((f"out > {t:.4g}", _event(">", float(t))))
        events.append((f"out < {t:.4g}", _event("<", float(t))))
    return events


def _event(op: str, t: float) -> Callable[[np.ndarray], np.ndarray]:
    """The indicator of one event on the output: ``o == t``, ``o > t`` or ``o < t`` (one closure per t)."""
    if op == "==":
        return lambda o: o == t
    if op == ">":
        return lambda o: o > t
    return lambda o: o < t


def audit_mechanism(
    mechanism: Callable[[np.ndarray, Any], np.ndarray],
    x0: float,
    x1: float,
    *,
    n_samples: int = 100_000,
    claimed_epsilon: float | None = None,
    claimed_delta: float = 0.0,
    confidence: float = 0.95,
    n_thresholds: int = 50,
    rng: RNGLike = None,
) -> AuditResult:
    """Lower-bound the epsilon of ``mechanism`` from samples on neighbouring inputs ``x0`` and ``x1``.

    ``mechanism(values, rng)`` must return one scalar output per entry of ``values`` (a 1-D array
    filled with x0 or x1), so the sampling is vectorised. Both directions (x0 vs x1 and x1 vs x0) are
    searched. The selection half picks the event with the largest estimated log-ratio; the bound is
    computed on the fresh half with two one-sided Clopper-Pearson bounds, so it holds with probability at
    least ``confidence``.
    """
    n = check_int("n_samples", n_samples, low=100)
    d = check_delta("claimed_delta", claimed_delta)
    conf = check_fraction("confidence", confidence, high_inclusive=False)
    if claimed_epsilon is not None:
        claimed_epsilon = check_positive("claimed_epsilon", claimed_epsilon)
    if not callable(mechanism):
        raise TypeError(f"mechanism must be a callable (values, rng) -> outputs, got {type(mechanism).__name__}")
    g = resolve_rng(rng)
    half = n // 2
    out0 = np.asarray(mechanism(np.full(n, float(x0)), g), dtype=np.float64).ravel()
    out1 = np.asarray(mechanism(np.full(n, float(x1)), g), dtype=np.float64).ravel()
    if out0.size != n or out1.size != n:
        raise ValueError(f"mechanism must return one output per input value: got {out0.size} for {n}")
    sel0, test0 = out0[:half], out0[half:]
    sel1, test1 = out1[:half], out1[half:]
    m = test0.size

    # selection: the event whose Clopper-Pearson log-ratio bound is largest on the selection half
    # (a plug-in ratio would pick rare events seen once in one sample and never in the other)
    best: tuple[float, str, Callable[[np.ndarray], np.ndarray], bool] | None = None
    events = _events(sel0, sel1, n_thresholds)
    c0 = np.array([np.count_nonzero(ev(sel0)) for _, ev in events])
    c1 = np.array([np.count_nonzero(ev(sel1)) for _, ev in events])
    lo0, hi0 = clopper_pearson(c0, half, confidence=conf)
    lo1, hi1 = clopper_pearson(c1, half, confidence=conf)
    with np.errstate(divide="ignore"):
        fwd = np.log(np.maximum(lo0 - d, 0.0)) - np.log(hi1)
        bwd = np.log(np.maximum(lo1 - d, 0.0)) - np.log(hi0)
    for i, (name, ev) in enumerate(events):
        for swapped, score in ((False, fwd[i]), (True, bwd[i])):
            if best is None or score > best[0]:
                best = (float(score), name, ev, swapped)
    if best is None:  # pragma: no cover - _events always yields at least one event
        raise ValueError("no output events to test")
    _, name, ev, swapped = best

    # testing on fresh samples. A two-sided Clopper-Pearson interval at `conf` leaves (1 - conf)/2 in
    # each tail, so the lower bound on P_a(E) and the upper bound on P_b(E) each fail with probability
    # <= (1 - conf)/2, and both hold together with probability >= conf (union bound).
    a, b = (test1, test0) if swapped else (test0, test1)
    ka, kb = int(np.count_nonzero(ev(a))), int(np.count_nonzero(ev(b)))
    low_a, _ = clopper_pearson(ka, m, confidence=conf)
    _, high_b = clopper_pearson(kb, m, confidence=conf)
    num = float(low_a) - d
    eps_lb = math.log(num / float(high_b)) if num > 0 and high_b > 0 else 0.0
    label = name + (" (x1 vs x0)" if swapped else " (x0 vs x1)")
    return AuditResult(
        epsilon_lower_bound=max(eps_lb, 0.0),
        confidence=conf,
        event=label,
        p0=ka / m,
        p1=kb / m,
        n_samples=n,
        claimed_epsilon=claimed_epsilon,
        claimed_delta=d,
    )


# --------------------------------------------------------------------------------------------------
# Mironov's floating-point attack on the textbook Laplace sampler
# --------------------------------------------------------------------------------------------------
def _reachable_textbook(outputs: np.ndarray, x: float, scale: float, radius: int) -> np.ndarray:
    # Could `x + scale * sign * -log((j + 1) / 2^52)` (samplers.textbook_laplace) produce exactly `y`?
    # Invert the noise in floating point, then try the 2 * radius + 1 nearest 52-bit uniforms.
    diff = outputs - x
    sign = np.where(diff >= 0, 1.0, -1.0)
    u_star = np.exp(-np.abs(diff) / scale)
    j_star = np.round(u_star * 2.0**52) - 1.0
    hit = np.zeros(outputs.shape, dtype=bool)
    for r in range(-radius, radius + 1):  # loop over candidates, not over outputs
        j = np.clip(j_star + r, 0.0, 2.0**52 - 1.0)
        with np.errstate(divide="ignore"):
            y = x + scale * sign * -np.log((j + 1.0) / 2.0**52)
        hit |= y == outputs
    return hit


def floating_point_attack(outputs: Any, *, x0: float, x1: float, scale: float, radius: int = 4) -> np.ndarray:
    """Mironov 2012 (Sec 3): decide which input produced each output from its exact bits.

    For the textbook float sampler, an output y is often reachable from only one of x0, x1 (the set
    ``{x + noise}`` of doubles depends on x). Returns, per output, 0 or 1 when only that input can
    produce it, and -1 when both or neither can (the attacker learns nothing from the bits). Against a
    grid mechanism every output is a grid point reachable from both, so the answer is always -1.
    """
    y = np.asarray(outputs, dtype=np.float64)
    b = check_positive("scale", scale)
    r0 = _reachable_textbook(y, float(x0), b, radius)
    r1 = _reachable_textbook(y, float(x1), b, radius)
    return np.where(r0 & ~r1, 0, np.where(r1 & ~r0, 1, -1))


def attack_accuracy(decisions_x0: Any, decisions_x1: Any) -> float:
    """Balanced accuracy of an attack from its decisions on outputs of x0 and of x1 (-1 = coin flip).

    An epsilon-DP mechanism caps it at e^eps / (1 + e^eps) for any attack (Wasserman & Zhou 2010;
    Kairouz, Oh & Viswanath 2015, Thm 2.1 with delta = 0).
    """
    d0 = np.asarray(decisions_x0)
    d1 = np.asarray(decisions_x1)
    acc0 = np.mean(np.where(d0 == -1, 0.5, (d0 == 0).astype(float)))
    acc1 = np.mean(np.where(d1 == -1, 0.5, (d1 == 1).astype(float)))
    return float((acc0 + acc1) / 2.0)
