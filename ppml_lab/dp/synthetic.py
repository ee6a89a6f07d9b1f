"""Differentially private synthetic tabular data by measuring noisy marginals (MWEM).

MWEM — Hardt, Ligett & McSherry, "A Simple and Practical Algorithm for Differentially Private Data
Release", NeurIPS 2012 (arXiv:1012.4763), Algorithm 1 — keeps an explicit distribution A over the whole
(discretised) domain. Each of T rounds spends an equal share: half to *select*, with the exponential
mechanism, the workload query A answers worst; half to *measure* that query on the real data with
Laplace noise; then a multiplicative update moves A towards every measurement so far (we fit by
iterative proportional fitting, which converges in a few passes where the paper's fixed-rate step
needs hundreds for sparse marginals; both are post-processing). As in the practical variants used since
(e.g. McKenna et al.'s benchmarks), the queries are whole marginals (all cells of a 1- or 2-way table).

Neighbouring tables and sensitivity (the privacy unit is one record, i.e. one row):

* ``neighbours="add_remove"`` (the default, as in notebook 01): D' = D with one record added or removed.
  The record count n is then private too, so a share ``count_fraction`` of epsilon releases a noisy
  count n~ = n + Lap(1 / epsilon_count), and A is scaled to n~, never to n (scaling to the true n would
  make the selection scores depend on n and publish n in the row count). One record changes one cell of
  a marginal by 1: L1 sensitivity 1 for the measurement and for the L1-error score.
* ``neighbours="replace"``: D' = D with one record replaced; n is public. One record moves one unit of
  mass from one cell to another, so a marginal changes by 2 in L1: the measurement and the score both
  have sensitivity 2 (Hardt et al.'s sensitivity-1 analysis is for add/remove).

Budget split (basic composition, Dwork & Roth 2014, Thm 3.16): count_fraction (add/remove only) for the
count, init_fraction for the noisy 1-way marginals of the warm start, and the rest in 2T equal parts.
Everything after the measurements (fitting, sampling) is post-processing, so the release is epsilon-DP
(pure DP, delta = 0) per record under the declared neighbour relation.

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
    "NEIGHBOURS",
    "DEFAULT_COUNT_FRACTION",
    "DEFAULT_INIT_FRACTION",
    "sensitivity_for",
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


NEIGHBOURS = ("add_remove", "replace")
DEFAULT_COUNT_FRACTION = 0.05  # share of epsilon for the noisy record count (add/remove neighbours)
DEFAULT_INIT_FRACTION = 0.2  # share of epsilon for the warm start (noisy 1-way marginals)


def sensitivity_for(neighbours: str) -> float:
    """L1 sensitivity of a marginal (and of a marginal's L1 error) for one record: 1 add/remove, 2 replace."""
    check_choice("neighbours", neighbours, NEIGHBOURS)
    return 1.0 if neighbours == "add_remove" else 2.0


@dataclass(frozen=True)
class MWEMResult:
    """MWEM's output distribution (scaled to ``count``) and the marginals it chose to measure.

    ``count`` is the released number of records: n + Lap(1/epsilon_count) under add/remove neighbours,
    the public n under replace. ``budget`` lists each step's epsilon; they sum to ``epsilon``.
    """

    histogram: np.ndarray = field(repr=False)
    selected: tuple[tuple[str, ...], ...]
    epsilon: float
    iterations: int
    neighbours: str = "add_remove"
    count: float = 0.0
    budget: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class _MWEMPlan:
    epsilon: float
    iterations: int
    workload: tuple[tuple[str, ...], ...]
    update_passes: int
    init_fraction: float
    count_fraction: float
    neighbours: str


def _plan_mwem(table: Table, *, epsilon: Any, iterations: Any, workload: Any, update_passes: Any,
               init_fraction: Any, count_fraction: Any, neighbours: Any) -> _MWEMPlan:
    """Validate every MWEM argument (no data is touched, nothing is spent)."""
    if not isinstance(table, Table):
        raise TypeError(f"table must be a ppml_lab.data.Table, got {type(table).__name__}")
    eps = check_positive("epsilon", epsilon)
    t_max = check_int("iterations", iterations, low=1)
    passes = check_int("update_passes", update_passes, low=1)
    nb = check_choice("neighbours", neighbours, NEIGHBOURS)
    if isinstance(init_fraction, bool) or not isinstance(init_fraction, (int, float, np.floating)):
        raise TypeError(f"init_fraction must be a real number in [0, 1), got {type(init_fraction).__name__}")
    f0 = float(init_fraction)
    if not 0.0 <= f0 < 1.0:
        raise ValueError(f"init_fraction must be a finite number in [0, 1), got {init_fraction!r}")
    if count_fraction is None:
        fc = DEFAULT_COUNT_FRACTION if nb == "add_remove" else 0.0
    else:
        if isinstance(count_fraction, bool) or not isinstance(count_fraction, (int, float, np.floating)):
            raise TypeError(f"count_fraction must be a real number or None, got {type(count_fraction).__name__}")
        fc = float(count_fraction)
        if nb == "replace" and fc != 0.0:
            raise ValueError(f"count_fraction must be 0 with neighbours='replace' (n is public), got {count_fraction!r}")
        if nb == "add_remove" and not 0.0 < fc < 1.0:
            raise ValueError(f"count_fraction must be a finite number in (0, 1) with neighbours='add_remove' "
                             f"(n is private and is released with noise), got {count_fraction!r}")
    if not f0 + fc < 1.0:
        raise ValueError(f"init_fraction + count_fraction must be < 1 (something must be left for the rounds), "
                         f"got {f0!r} + {fc!r}")
    default = [w for w in two_way_workload(table) if len(w) == 2] if f0 > 0 else two_way_workload(table)
    work = tuple(tuple(w) for w in (workload if workload is not None else default))
    if not work:
        raise ValueError("workload must contain at least one marginal")
    for w in work:
        table.axes(w)
    if t_max > len(work):
        raise ValueError(f"iterations must be <= the {len(work)} marginals of the workload (each is measured at most once), got {t_max}")
    return _MWEMPlan(eps, t_max, work, passes, f0, fc, nb)


def _noisy_count(table: Table, *, epsilon: float, rng: Any) -> float:
    """n + Lap(1/epsilon): the record count under add/remove neighbours (sensitivity 1), at least 1."""
    return max(float(laplace_mechanism(float(table.n), epsilon=epsilon, sensitivity=1.0, rng=rng)), 1.0)


def mwem(
    table: Table,
    *,
    epsilon: float,
    iterations: int = 3,
    workload: Sequence[Sequence[str]] | None = None,
    update_passes: int = 10,
    init_fraction: float = DEFAULT_INIT_FRACTION,
    count_fraction: float | None = None,
    neighbours: str = "add_remove",
    rng: RNGLike = None,
) -> MWEMResult:
    """MWEM (Hardt, Ligett & McSherry 2012, Alg. 1) over marginal queries; epsilon-DP per record overall.

    Budget: ``count_fraction`` of epsilon for the noisy count (add/remove neighbours; default 5 %, must be
    0 or None under replace), ``init_fraction`` for the warm start (every 1-way marginal, A starts from
    their product; 0 gives the paper's uniform start), and the rest in 2T equal parts: per iteration one
    exponential-mechanism selection over the workload's L1 errors and one Laplace measurement of the
    chosen marginal, both with sensitivity :func:`sensitivity_for` (1 add/remove, 2 replace).
    """
    plan = _plan_mwem(table, epsilon=epsilon, iterations=iterations, workload=workload,
                      update_passes=update_passes, init_fraction=init_fraction, count_fraction=count_fraction,
                      neighbours=neighbours)
    return _run_mwem(table, plan, resolve_rng(rng))


def _run_mwem(table: Table, plan: _MWEMPlan, g: Any) -> MWEMResult:
    eps, t_max, work = plan.epsilon, plan.iterations, plan.workload
    sens = sensitivity_for(plan.neighbours)
    budget: list[tuple[str, float]] = []
    if plan.neighbours == "add_remove":
        eps_n = eps * plan.count_fraction
        n = _noisy_count(table, epsilon=eps_n, rng=g)  # n~ = n + Lap(1/eps_n): n is private under add/remove
        budget.append(("count", eps_n))
    else:
        n = float(table.n)  # public under replace-one neighbours
    real = table.histogram()
    true_marg = [marginal(real, table, w) for w in work]
    if plan.init_fraction > 0:
        eps_0 = eps * plan.init_fraction
        A = independent_marginals(table, epsilon=eps_0, neighbours=plan.neighbours, rng=g)  # probabilities
        A = np.maximum(A, 1e-12)
        A *= n / A.sum()
        budget.append(("warm start (1-way marginals)", eps_0))
    else:
        A = np.full(table.sizes, n / table.domain_size)  # A_0: uniform over the domain, total n~
    eps_t = eps * (1.0 - plan.init_fraction - plan.count_fraction) / (2 * t_max)
    measurements: list[tuple[tuple[str, ...], np.ndarray]] = []
    candidates = list(range(len(work)))
    for _ in range(t_max):
        # select: exponential mechanism, score = L1 error of the marginal (sensitivity 1 add/remove, 2
        # replace), among the marginals not measured yet (the candidate set depends only on earlier outputs)
        errors = np.array([np.abs(marginal(A, table, work[c]) - true_marg[c]).sum() for c in candidates])
        i = candidates.pop(int(exponential_mechanism(errors, epsilon=eps_t, sensitivity=sens, rng=g)))
        # measure: Laplace(sens / eps_t) on every cell of the chosen marginal (L1 sensitivity sens)
        m = np.asarray(laplace_mechanism(true_marg[i], epsilon=eps_t, sensitivity=sens, rng=g))
        measurements.append((work[i], m))
        budget += [(f"select {len(measurements)}", eps_t), (f"measure {len(measurements)}", eps_t)]
        for _ in range(plan.update_passes):
            for w, mm in measurements:
                # multiplicative update towards the measurement. Hardt et al.'s rate, exp(q(x)(m - q(A))/(2n)),
                # barely moves a single cell of a large marginal; we scale it per cell to (m + 1)/(q(A) + 1)
                # (iterative proportional fitting, Deming & Stephan 1940, with one pseudo-count against noise).
                # Post-processing of the noisy measurements: the privacy guarantee is unchanged.
                qa = marginal(A, table, w)
                A = A * _broadcast((np.clip(mm, 0.0, None) + 1.0) / (qa + 1.0), table, w)
                A *= n / A.sum()
    return MWEMResult(A, tuple(w for w, _ in measurements), eps, t_max, plan.neighbours, n, tuple(budget))


def independent_marginals(table: Table, *, epsilon: float, neighbours: str = "add_remove",
                          rng: RNGLike = None) -> np.ndarray:
    """Noisy 1-way marginals (epsilon / d each, Laplace), combined as if the columns were independent.

    Returns a probability distribution over the domain (sums to 1): it does not use the record count,
    which is private under add/remove neighbours. Sensitivity per marginal: :func:`sensitivity_for`.
    """
    eps = check_positive("epsilon", epsilon)
    sens = sensitivity_for(neighbours)
    g = resolve_rng(rng)
    real = table.histogram()
    d = len(table.columns)
    joint = np.ones(table.sizes)
    for c in table.columns:
        m = np.asarray(laplace_mechanism(marginal(real, table, (c,)), epsilon=eps / d, sensitivity=sens, rng=g))
        p = np.clip(m, 0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(p.size, 1.0 / p.size)
        joint = joint * _broadcast(p, table, (c,))
    return joint


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
    neighbours: str = "add_remove",
    init_fraction: float = DEFAULT_INIT_FRACTION,
    count_fraction: float | None = None,
    ledger: Any = None,
    unit: str = "record",
    purpose: str = "DP synthetic data release",
    rng: RNGLike = None,
) -> Table:
    """An epsilon-DP synthetic table (``method``: 'mwem' or 'independent'), recorded in ``ledger`` if given.

    Validate, then charge, then compute: every argument (MWEM's included) is checked before the ledger is
    charged, so a bad ``iterations`` costs nothing; an over-budget request raises PrivacyBudgetExceeded
    and releases nothing. ``unit`` is the privacy unit one row of ``table`` stands for (the ledger refuses
    a unit other than its own). The number of rows released is ``n`` if given (public), else the noisy
    count (add/remove neighbours) or the public n (replace).
    """
    check_choice("method", method, ("mwem", "independent"))
    eps = check_positive("epsilon", epsilon)
    size = None if n is None else check_int("n", n, low=1)
    if method == "mwem":
        plan = _plan_mwem(table, epsilon=eps, iterations=iterations, workload=None, update_passes=10,
                          init_fraction=init_fraction, count_fraction=count_fraction, neighbours=neighbours)
        fc = plan.count_fraction
    else:
        if not isinstance(table, Table):
            raise TypeError(f"table must be a ppml_lab.data.Table, got {type(table).__name__}")
        check_choice("neighbours", neighbours, NEIGHBOURS)
        probe = _plan_mwem(table, epsilon=eps, iterations=1, workload=None, update_passes=1, init_fraction=0.0,
                           count_fraction=count_fraction, neighbours=neighbours)
        fc = probe.count_fraction
    if ledger is not None:
        if not callable(getattr(ledger, "spend", None)):
            raise TypeError(f"ledger must be a PrivacyLedger or None, got {type(ledger).__name__}")
        ledger.spend(mechanism=f"synthetic data ({method})", epsilon=eps, delta=0.0, purpose=purpose, unit=unit,
                     parameters={"iterations": iterations if method == "mwem" else None,
                                 "neighbours": neighbours, "count_fraction": fc,
                                 "records": size if size is not None else ("noisy count" if fc > 0 else "n (public)"),
                                 "columns": list(table.columns)})
    g = resolve_rng(rng)
    if method == "mwem":
        res = _run_mwem(table, plan, g)
        hist, count = res.histogram, res.count
    else:
        count = _noisy_count(table, epsilon=eps * fc, rng=g) if fc > 0 else float(table.n)
        hist = independent_marginals(table, epsilon=eps * (1.0 - fc), neighbours=neighbours, rng=g)
    rows = size if size is not None else max(int(round(count)), 1)
    return sample_from_histogram(hist, table, rows, rng=g)


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
