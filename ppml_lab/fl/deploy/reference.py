"""What every Flower run of the course's app is checked against, and the one loader of the app's task.

:func:`reference_fedavg` is the package's from-scratch FedAvg (McMahan et al. 2017, arXiv:1602.05629) on
the app's own split; :func:`dp_epsilon` is the hospital-level epsilon of the app's central DP by the
package's RDP accountant. :func:`load_task_module` is the single place the app's ``task.py`` is imported
from :data:`APP_DIR` (it is not a package on ``sys.path``; the SuperNodes import it from the FAB).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from ppml_lab._rng import renamed_keywords
from ppml_lab._validation import check_int, check_positive
from ppml_lab.exceptions import DeploymentError
from ppml_lab.fl.flower_app import APP_DIR

__all__ = ["APP_DIR", "load_task_module", "write_site_files", "reference_fedavg", "dp_epsilon"]

_TASK: ModuleType | None = None


def load_task_module() -> ModuleType:
    """The app's ``ppml_hospitals/task.py`` as a module (imported once per process)."""
    global _TASK
    if _TASK is None:
        spec = importlib.util.spec_from_file_location("_ppml_hospitals_task", APP_DIR / "ppml_hospitals" / "task.py")
        if spec is None or spec.loader is None:  # pragma: no cover - the file is committed
            raise DeploymentError(f"cannot load the app's task module from {APP_DIR}")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _TASK = mod
    return _TASK


@renamed_keywords(seed="rng")
def write_site_files(directory: Path, rng: int, n: int) -> tuple[tuple[str, ...], str]:
    """Each hospital's share of the split as its own file, and the held-out test file (the app's format);
    ``rng`` is the run's int seed (the app's run-config ``seed``)."""
    return load_task_module().write_site_files(str(directory), check_int("rng", rng, low=0), n)


@renamed_keywords(seed="rng")
def reference_fedavg(*, n_supernodes: int, rounds: int, local_epochs: int, lr: float, rng: int,
                     drop: dict[int, int] | None = None,
                     update_norms: list[float] | None = None) -> list[tuple[float, float]]:
    """The package's from-scratch FedAvg on the app's own split: (test loss, accuracy) after each round.

    What a deployment or simulation run of the app must reproduce (up to SecAgg+'s quantisation): the
    app's own ``task.py`` (its split of ``n_supernodes`` hospitals for the int seed ``rng``, its model, full-batch local
    training), aggregated with :func:`ppml_lab.fl.fedavg.fedavg_aggregate`, C = 1.
    ``drop={site: from_round}`` leaves a site out from that round on (the dropout experiment);
    ``update_norms``, if given, receives ||w_k - w_t|| of every local update (to choose a DP clipping norm).
    """
    import numpy as np

    from ppml_lab.fl.fedavg import fedavg_aggregate

    n = check_int("n_supernodes", n_supernodes, low=1)
    r_max = check_int("rounds", rounds, low=1)
    task_mod = load_task_module()
    seed = check_int("rng", rng, low=0)  # the app's run-config seed: an int, as DeploymentConfig.rng
    sites, (Xte, yte) = task_mod.load_split(seed, n)
    task = task_mod.make_task(Xte.shape[1], 2)
    params = task_mod.init_params(task, seed)
    out = []
    for r in range(1, r_max + 1):
        active = [s for k, s in enumerate(sites) if (drop or {}).get(k, r_max + 1) > r]
        ups = [task.to_numpy(task_mod.local_train(task, params, s, epochs=local_epochs, lr=lr)) for s in active]
        if update_norms is not None:
            update_norms += [float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(u, params)))) for u in ups]
        params = fedavg_aggregate(ups, np.array([s.n_samples for s in active], dtype=float))  # sum_k n_k/n w_k
        out.append(task_mod.evaluate(task, params, Xte, yte))
    return out


def dp_epsilon(*, noise_multiplier: float, rounds: int, delta: float, sample_rate: float = 1.0) -> float:
    """Hospital-level epsilon of central DP-FedAvg with fixed clipping, by the package's RDP accountant.

    Each round releases the sum of updates clipped to L2 norm C plus N(0, (sigma C)^2) noise (Flower's
    ``DifferentialPrivacyClientSideFixedClipping`` adds sigma C / m to the mean of m updates, the same
    thing): one Gaussian mechanism with sensitivity C for adding or removing a hospital (McMahan et al.
    2018, arXiv:1710.06963, Sec. 3). Every hospital takes part each round here, so q = 1; RDP composes
    over ``rounds`` (Mironov 2017, Prop. 1) and converts to (epsilon, delta) as in Balle et al. 2020.
    """
    from ppml_lab.dp.accounting import RDPAccountant

    check_positive("noise_multiplier", noise_multiplier)
    check_int("rounds", rounds, low=1)
    acc = RDPAccountant()
    acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=rounds)
    return float(acc.get_epsilon(delta))
