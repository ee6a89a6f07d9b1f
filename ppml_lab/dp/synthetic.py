"""Differentially private synthetic tabular data by measuring noisy marginals (MWEM).

MWEM — Hardt, Ligett & McSherry, "A Simple and Practical Algorithm for Differentially Private Data
Release", NeurIPS 2012 (arXiv:1012.4763), Algorithm 1 — keeps an explicit distribution A over the whole
(discretised) domain. Each of T rounds spends epsilon / T: half to *select*, with the exponential
mechanism, the workload query A answers worst; half to *measure* that query on the real data with
Laplace noise; then a multiplicative update moves A towards every measurement so far (we fit by
iterative proportional fitting, which converges in a few passes where the paper's fixed-rate step
needs hundreds for sparse marginals; both are post-processing). As in
the practical variants used since (e.g. McKenna et al.'s benchmarks), the queries here are whole
marginals (all cells of a 1- or 2-way contingency table): adding or removing one record changes a
marginal's L1 error by at most 1 and its cell counts by 1 in L1, so both steps have sensitivity 1.
The output distribution is sampled to give a synthetic table; everything after measurement is
post-processing, so the release is epsilon-DP (pure DP, delta = 0) with the record as the privacy unit.

Also here, for comparison: noisy independent 1-way marginals (DP, loses every correlation) and the
empirical sampler (resampling real rows: *not* private — rare records are copied verbatim), plus the
utility and attack measures notebook 13 uses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_array, check_choice, check_int, check_positive
from ppml_lab.data import Table
from ppml_lab.dp.mechanisms import exponential_mechanism, laplace_mechanism

__all__ = [
    "Table",
    "two_way_workload",
    "marginal",
    "MWEMResult",
    "mwem",
    "independent_marginals",
    "sample_from_histogram",
    "empirical_sampler",
    "dp_synthetic_table",
    "marginal_error",
    "cell_match_scores",
]


def two_way_workload(table: Table) -> list[tuple[str, ...]]:
    """Every 1-way and 2-way marginal of the table's columns."""
    cols = table.columns
    return [(c,) for c in cols] + list(itertools.combinations(cols, 2))


def marginal(hist: np.ndarray, table: Table, attrs: Sequence[str]) -> np.ndarray:
    """Project a full-domain histogram onto ``attrs`` (sum over the other axes)."""
    keep = table.axes(attrs)
    other = tuple(i for i in range(len(table.sizes)) if i not in keep)
    return hist.sum(axis=other)


def _broadcast(m: np.ndarray, table: Table, attrs: Sequence[str]) -> np.ndarray:
    # marginal() keeps the table's axis order, so its output reshapes straight into the full domain
    shape = [1] * len(table.sizes)
    for ax in table.axes(attrs):
        shape[ax] = table.sizes[ax]
    return m.reshape(shape)


@dataclass(frozen=True)
class MWEMResult:
    """MWEM's output distribution (scaled to n records) and the marginals it chose to measure."""

    histogram: np.ndarray = field(repr=False)
    selected: tuple[tuple[str, ...], ...]
    epsilon: float
    iterations: int


def mwem(
    table: Table,
    *,
    epsilon: float,
    iterations: int = 3,
    workload: Sequence[Sequence[str]] | None = None,
    update_passes: int = 10,
    init_fraction: float = 0.2,
    rng: RNGLike = None,
) -> MWEMResult:
    """MWEM (Hardt, Ligett & McSherry 2012, Alg. 1) over marginal queries; epsilon-DP overall.

    Each iteration spends epsilon / (2T) on the exponential mechanism over the workload's L1 errors and
    epsilon / (2T) on a Laplace measurement of the chosen marginal (L1 sensitivity 1). The record count
    n is treated as public, as in the paper. ``init_fraction`` of epsilon first measures every 1-way
    marginal and starts A from their product instead of from uniform (a common warm start, e.g. in
    McKenna, Miklau & Sheldon's MST); 0 gives the paper's uniform start.
    """
    eps = check_positive("epsilon", epsilon)
    t_max = check_int("iterations", iterations, low=1)
    check_int("update_passes", update_passes, low=1)
    default = [w for w in two_way_workload(table) if len(w) == 2] if init_fraction > 0 else two_way_workload(table)
    work = [tuple(w) for w in (workload if workload is not None else default)]
    if not work:
        raise ValueError("workload must contain at least one marginal")
    for w in work:
        table.axes(w)
    if t_max > len(work):
        raise ValueError(f"iterations must be <= the {len(work)} marginals of the workload (each is measured at most once), got {t_max}")
    for w in work:
        table.axes(w)
    f0 = float(init_fraction)
    if not 0.0 <= f0 < 1.0:
        raise ValueError(f"init_fraction must be a finite number in [0, 1), got {init_fraction!r}")
    g = resolve_rng(rng)
    n = float(table.n)
    real = table.histogram()
    true_marg = [marginal(real, table, w) for w in work]
    if f0 > 0:
        A = independent_marginals(table, epsilon=eps * f0, rng=g)  # warm start, eps * f0 of the budget
        A = np.maximum(A, 1e-12)
        A *= n / A.sum()
    else:
        A = np.full(table.sizes, n / table.domain_size)  # A_0: uniform over the domain, total n
    eps_t = eps * (1.0 - f0) / (2 * t_max)
    measurements: list[tuple[tuple[str, ...], np.ndarray]] = []
    candidates = list(range(len(work)))
    for _ in range(t_max):
        # select: exponential mechanism with score = L1 error of the marginal (sensitivity 1), among the
        # marginals not measured yet (the candidate set depends only on earlier DP outputs)
        errors = np.array([np.abs(marginal(A, table, work[c]) - true_marg[c]).sum() for c in candidates])
        i = candidates.pop(int(exponential_mechanism(errors, epsilon=eps_t, sensitivity=1.0, rng=g)))
        # measure: Laplace(1 / eps_t) on every cell of the chosen marginal (L1 sensitivity 1)
        m = np.asarray(laplace_mechanism(true_marg[i], epsilon=eps_t, sensitivity=1.0, rng=g))
        measurements.append((work[i], m))
        for _ in range(update_passes):
            for w, mm in measurements:
                # multiplicative update towards the measurement. Hardt et al.'s rate, exp(q(x)(m - q(A))/(2n)),
                # barely moves a single cell of a large marginal; we scale it per cell to (m + 1)/(q(A) + 1)
                # (iterative proportional fitting, Deming & Stephan 1940, with one pseudo-count against noise).
                # Post-processing of the noisy measurements: the privacy guarantee is unchanged.
                qa = marginal(A, table, w)
                A = A * _broadcast((np.clip(mm, 0.0, None) + 1.0) / (qa + 1.0), table, w)
                A *= n / A.sum()
    return MWEMResult(A, tuple(w for w, _ in measurements), eps, t_max)


def independent_marginals(table: Table, *, epsilon: float, rng: RNGLike = None) -> np.ndarray:
    """Noisy 1-way marginals (epsilon / d each, Laplace), combined as if the columns were independent."""
    eps = check_positive("epsilon", epsilon)
    g = resolve_rng(rng)
    real = table.histogram()
    d = len(table.columns)
    joint = np.ones(table.sizes)
    for c in table.columns:
        m = np.asarray(laplace_mechanism(marginal(real, table, (c,)), epsilon=eps / d, sensitivity=1.0, rng=g))
        p = np.clip(m, 0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(p.size, 1.0 / p.size)
        joint = joint * _broadcast(p, table, (c,))
    return joint * table.n


def sample_from_histogram(hist: Any, table: Table, n: int, *, rng: RNGLike = None) -> Table:
    """Draw n records from a non-negative histogram over ``table``'s domain (post-processing)."""
    h = np.clip(check_array("hist", hist), 0, None).ravel()
    if h.size != table.domain_size:
        raise ValueError(f"hist must have {table.domain_size} cells, got {h.size}")
    if h.sum() <= 0:
        raise ValueError("hist must have positive mass")
    k = check_int("n", n, low=1)
    g = resolve_rng(rng)
    cells = np.asarray(g.choice(table.domain_size, size=k, p=h / h.sum()))
    return Table(table.columns, table.sizes, np.stack(np.unravel_index(cells, table.sizes), axis=1))


def empirical_sampler(table: Table, n: int, *, rng: RNGLike = None) -> Table:
    """NOT PRIVATE: resample real rows with replacement (what 'just synthesise it' often means)."""
    k = check_int("n", n, low=1)
    g = resolve_rng(rng)
    idx = np.asarray(g.integers(0, table.n, size=k))
    return Table(table.columns, table.sizes, table.data[idx])


def dp_synthetic_table(
    table: Table,
    *,
    epsilon: float,
    method: str = "mwem",
    n: int | None = None,
    iterations: int = 3,
    ledger: Any = None,
    purpose: str = "DP synthetic data release",
    rng: RNGLike = None,
) -> Table:
    """An epsilon-DP synthetic table (``method``: 'mwem' or 'independent'), recorded in ``ledger`` if given.

    The ledger is charged before anything is computed, so an over-budget request raises
    PrivacyBudgetExceeded and releases nothing.
    """
    check_choice("method", method, ("mwem", "independent"))
    eps = check_positive("epsilon", epsilon)
    size = table.n if n is None else check_int("n", n, low=1)
    if ledger is not None:
        ledger.spend(mechanism=f"synthetic data ({method})", epsilon=eps, delta=0.0, purpose=purpose,
                     parameters={"iterations": iterations if method == "mwem" else None, "records": size,
                                 "columns": list(table.columns)})
    g = resolve_rng(rng)
    hist = (mwem(table, epsilon=eps, iterations=iterations, rng=g).histogram if method == "mwem"
            else independent_marginals(table, epsilon=eps, rng=g))
    return sample_from_histogram(hist, table, size, rng=g)


def marginal_error(real: Table, synthetic: Table, workload: Sequence[Sequence[str]] | None = None) -> float:
    """Mean total-variation distance between the normalised marginals of real and synthetic data (0..1)."""
    if real.columns != synthetic.columns or real.sizes != synthetic.sizes:
        raise ValueError("real and synthetic tables must share columns and sizes")
    work = [tuple(w) for w in (workload if workload is not None else two_way_workload(real))]
    hr, hs = real.histogram(), synthetic.histogram()
    tvs = []
    for w in work:
        a, b = marginal(hr, real, w), marginal(hs, real, w)
        tvs.append(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())
    return float(np.mean(tvs))


def cell_match_scores(targets: Table, synthetic: Table) -> np.ndarray:
    """Membership score per target record: how many synthetic rows equal it exactly (a DCR-0 attack).

    Higher means "more likely in the training data"; feed members' and non-members' scores to
    :func:`ppml_lab.attacks.membership_inference.roc_from_scores`.
    """
    if targets.columns != synthetic.columns or targets.sizes != synthetic.sizes:
        raise ValueError("targets and synthetic tables must share columns and sizes")
    counts = synthetic.histogram().ravel()
    return counts[np.ravel_multi_index(tuple(targets.data.T), targets.sizes)]
