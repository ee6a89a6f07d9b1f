"""Partitioning a data set across federated clients: IID, label skew, quantity skew; label histograms.

IID and label skew by Dirichlet(alpha) come from :func:`ppml_lab.data.partition_indices` (the scheme of
Hsu, Qi & Brown 2019, arXiv:1909.06335). This module adds *quantity skew* — clients of very different
sizes with the same label mix, sizes drawn from Dirichlet(beta) as in Li, Diao, Chen & He, "Federated
Learning on Non-IID Data Silos: An Experimental Study", ICDE 2022, arXiv:2102.02079, Sec. III-B — and a
plot of each client's label histogram, the first thing to look at before blaming FedAvg.

Threat model: none (data layout only). Note that the label histogram is itself sensitive: a server that
learns it learns, e.g., how many cancer patients a hospital treats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, resolve_rng
from ppml_lab._validation import check_array, check_choice, check_int, check_positive
from ppml_lab.data import SiteData, partition_indices

__all__ = ["SCHEMES", "partition", "quantity_skew_indices", "label_histogram", "plot_label_histograms", "make_clients"]

SCHEMES: tuple[str, ...] = ("iid", "dirichlet", "quantity")


def quantity_skew_indices(
    n_samples: int, n_parts: int, *, beta: float, min_size: int = 1, rng: RNGLike = None
) -> list[np.ndarray]:
    """Split ``range(n_samples)`` into ``n_parts`` random parts of Dirichlet(beta)-distributed sizes.

    q ~ Dir(beta * 1) (Li et al. 2022, Sec. III-B). Every part first gets ``min_size`` samples; the other
    r = n - k * min_size samples are cut at the Dirichlet proportions, so part k gets about
    min_size + q_k * r. Small beta (0.5): a few large clients and several tiny ones; large beta (100):
    near-equal sizes. Li et al. redraw q until every part is large enough, which can fail for valid
    inputs (n = 10, k = 8, beta = 0.25: most draws leave a part empty); giving the minimum first never
    fails. Raises ValueError only when the inputs cannot be met (k > n or min_size * k > n).
    """
    n = check_int("n_samples", n_samples, low=1)
    k = check_int("n_parts", n_parts, low=1)
    if k > n:
        raise ValueError(f"n_parts must be <= the number of samples ({n}), got {k}")
    b = check_positive("beta", beta)
    check_int("min_size", min_size, low=0)
    if min_size * k > n:
        raise ValueError(f"min_size * n_parts must be <= the number of samples ({n}), got {min_size} * {k}")
    g = resolve_rng(rng)
    sampler = g if isinstance(g, np.random.Generator) else np.random.default_rng(g.integers(0, 2**62))
    q = sampler.dirichlet(np.full(k, b))  # q ~ Dir(beta)
    rest = n - min_size * k
    extra_cuts = np.minimum((np.cumsum(q)[:-1] * rest).astype(int), rest)  # cut the rest at q's proportions
    sizes = min_size + np.diff(np.concatenate([[0], extra_cuts, [rest]]))  # each >= min_size, sum = n
    perm = sampler.permutation(n)
    return [np.sort(p) for p in np.split(perm, np.cumsum(sizes)[:-1])]


def partition(
    y: Any,
    n_parts: int,
    *,
    scheme: str = "iid",
    alpha: float | None = None,
    beta: float | None = None,
    min_size: int = 1,
    rng: RNGLike = None,
) -> list[np.ndarray]:
    """Index arrays for ``n_parts`` clients: ``"iid"``, ``"dirichlet"`` (label skew, needs ``alpha``)
    or ``"quantity"`` (size skew, needs ``beta``). Disjoint, sorted, and together they cover every sample.
    """
    ya = check_array("y", y, ndim=1, integer=True)
    check_choice("scheme", scheme, SCHEMES)
    if scheme == "quantity":
        if alpha is not None:
            raise ValueError("alpha applies only to scheme='dirichlet'; use beta for scheme='quantity'")
        if beta is None:
            raise ValueError("beta is required for scheme='quantity' (a finite number > 0, e.g. 0.5)")
        return quantity_skew_indices(len(ya), n_parts, beta=beta, min_size=min_size, rng=rng)
    if beta is not None:
        raise ValueError(f"beta applies only to scheme='quantity', got beta with scheme={scheme!r}")
    return partition_indices(ya, n_parts, scheme=scheme, alpha=alpha, min_size=min_size, rng=rng)


def make_clients(
    X: Any, y: Any, names: Sequence[str] | int, *, scheme: str = "iid", alpha: float | None = None,
    beta: float | None = None, min_size: int = 1, rng: RNGLike = None,
) -> dict[str, SiteData]:
    """Partition (X, y) into named clients ``{name: SiteData}`` with any of :data:`SCHEMES`."""
    Xa = check_array("X", X, ndim=2)
    ya = check_array("y", y, ndim=1, integer=True)
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {Xa.shape[0]} and {ya.shape[0]}")
    if isinstance(names, (int, np.integer)) and not isinstance(names, bool):
        labels = [f"client_{i}" for i in range(check_int("names", names, low=1))]
    elif isinstance(names, Sequence) and not isinstance(names, str):
        labels = [str(s) for s in names]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"names must be unique and non-empty, got {labels}")
    else:
        raise TypeError(f"names must be a sequence of names or an int, got {type(names).__name__}")
    parts = partition(ya, len(labels), scheme=scheme, alpha=alpha, beta=beta, min_size=min_size, rng=rng)
    return {name: SiteData(name, Xa[idx], ya[idx]) for name, idx in zip(labels, parts)}


def label_histogram(y: Any, parts: Any, *, n_classes: int | None = None) -> np.ndarray:
    """Counts matrix (n_parts, n_classes): entry [k, c] = samples of class c held by client k.

    ``parts`` is a list of index arrays into ``y``, or a mapping of clients (each with a ``.y``).
    """
    if hasattr(parts, "values"):
        labels = [check_array("client y", c.y, ndim=1, integer=True, allow_empty=True) for c in parts.values()]
    else:
        ya = check_array("y", y, ndim=1, integer=True)
        labels = [ya[np.asarray(p, dtype=np.int64)] for p in parts]
    if not labels:
        raise ValueError("parts must hold at least one client, got none")
    top = max((int(lab.max()) + 1 for lab in labels if lab.size), default=1)
    c = top if n_classes is None else check_int("n_classes", n_classes, low=top)
    return np.stack([np.bincount(lab, minlength=c) for lab in labels])


def plot_label_histograms(
    counts: Any, *, names: Sequence[str] | None = None, class_names: Sequence[str] | None = None,
    ax: Any = None, title: str | None = None,
) -> Any:
    """Stacked horizontal bars: one bar per client, one colour per class (counts from :func:`label_histogram`)."""
    import matplotlib.pyplot as plt

    M = check_array("counts", counts, ndim=2, integer=True)
    k, c = M.shape
    names = [f"client {i}" for i in range(k)] if names is None else list(names)
    if len(names) != k:
        raise ValueError(f"names must have one entry per client ({k}), got {len(names)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.4 * k + 1.2))
    left = np.zeros(k)
    cmap = plt.get_cmap("tab10" if c <= 10 else "tab20")
    for j in range(c):
        label = str(class_names[j]) if class_names is not None else str(j)
        ax.barh(names, M[:, j], left=left, color=cmap(j % cmap.N), label=label)
        left += M[:, j]
    ax.invert_yaxis()
    ax.set_xlabel("samples")
    ax.legend(title="class", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    return ax
