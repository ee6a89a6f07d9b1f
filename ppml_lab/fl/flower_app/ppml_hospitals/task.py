"""The learning task shared by the ClientApp, the ServerApp and the in-process reference.

The package's own pieces, unchanged: :class:`ppml_lab.fl.models.SoftmaxRegression` (two classes) on the
breast-cancer data of :mod:`ppml_lab.data` - a seeded, stratified 75/25 split standardised on the training
part, the training part split IID over the first ``num-partitions`` hospitals of ``ppml_lab.data.SITES``.
Local update = ClientUpdate of McMahan et al. 2017 (arXiv:1602.05629, Alg. 1) with full-batch gradient
descent (B = inf), so a round is deterministic given the global model: the deployment and
:func:`ppml_lab.fl.fedavg.run_fedavg` must agree up to SecAgg+'s quantisation.

Threat model: none here - this is the model whose updates cross the network.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ppml_lab.data import SITES, SiteData, load_dataset, split_sites, train_test_split
from ppml_lab.fl.models import SoftmaxRegression

__all__ = ["load_split", "load_site_file", "write_site_files", "make_task", "site_name", "local_train", "evaluate", "init_params"]


@lru_cache(maxsize=4)
def load_split(seed: int, num_partitions: int, dataset: str = "breast_cancer") -> tuple:
    """(tuple of SiteData per hospital, (X_test, y_test)), identical in every process for one seed."""
    ds = load_dataset(dataset)
    Xtr, Xte, ytr, yte = train_test_split(
        ds.X, ds.y, test_fraction=0.25, rng=np.random.default_rng(seed), standardize=True
    )
    names = list(SITES[:num_partitions]) if num_partitions <= len(SITES) else num_partitions
    sites = split_sites(Xtr, ytr, sites=names, scheme="iid", rng=np.random.default_rng(seed + 1))
    return tuple(sites.values()), (Xte, yte)


def load_site_file(path: str) -> SiteData:
    """A hospital's own data file (what a real SuperNode would point at with ``--node-config data-path=``)."""
    with np.load(path) as z:
        return SiteData(str(z["name"]), np.array(z["X"]), np.array(z["y"]))


def write_site_files(directory: str, seed: int, num_partitions: int, dataset: str = "breast_cancer") -> tuple:
    """Write ``site_<k>.npz`` per hospital and ``test.npz`` (held out, for the server); return the paths.

    A SuperNode then reads only numpy - no scikit-learn import in every short-lived ClientApp process.
    """
    import os

    parts, (Xte, yte) = load_split(seed, num_partitions, dataset)
    paths = []
    for k, site in enumerate(parts):
        p = os.path.join(directory, f"site_{k}.npz")
        np.savez(p, name=np.array(site.name), X=site.X, y=site.y)
        paths.append(p)
    test = os.path.join(directory, "test.npz")
    np.savez(test, name=np.array("test"), X=Xte, y=yte)
    return tuple(paths), test


def make_task(n_features: int, n_classes: int) -> SoftmaxRegression:
    return SoftmaxRegression(n_features=n_features, n_classes=n_classes)


def site_name(partition_id: int, num_partitions: int) -> str:
    return SITES[partition_id] if num_partitions <= len(SITES) else f"site_{partition_id}"


def init_params(task: SoftmaxRegression, seed: int) -> list[np.ndarray]:
    return task.init_params(rng=seed)


def local_train(task: SoftmaxRegression, params: list[np.ndarray], site: SiteData, *, epochs: int, lr: float) -> list:
    """E full-batch gradient steps from the global model (B = inf: no shuffling, deterministic)."""
    return task.train(task.from_numpy(params), site.X, site.y, epochs=epochs, batch_size=None, lr=lr, mu=0.0, rng=0)


def evaluate(task: SoftmaxRegression, params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on (X, y)."""
    return task.evaluate(task.from_numpy(params), X, y)
