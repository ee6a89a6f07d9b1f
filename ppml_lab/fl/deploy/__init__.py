"""The course's FL task on Flower's Deployment Engine (and, for reference, its simulation engine).

One SuperLink and N SuperNodes on loopback, each SuperNode one hospital; TLS, SuperNode authentication,
app signing and a SuperLink whose Control API answers local callers only. Modules:

- :mod:`~ppml_lab.fl.deploy.config`: :class:`DeploymentConfig` (validated before anything starts),
  :class:`DeploymentResult`, :func:`check_rounds` / :class:`RoundFailedError` (failure is loud);
- :mod:`~ppml_lab.fl.deploy.processes`: environment, ports, spawning with a parent-death signal, ending by PID;
- :mod:`~ppml_lab.fl.deploy.engine`: :class:`FlowerDeployment` (the launcher), :func:`run_deployment`;
- :mod:`~ppml_lab.fl.deploy.simulation`: the same app in Flower's simulation engine;
- :mod:`~ppml_lab.fl.deploy.reference`: the from-scratch FedAvg every run is checked against, DP epsilon,
  the one loader of the app's task module;
- :mod:`~ppml_lab.fl.deploy.signing`, :mod:`~ppml_lab.fl.deploy.supernode_verify`,
  :mod:`~ppml_lab.fl.deploy.superlink_guard`: who may submit code, and whose code a hospital runs;
- :mod:`~ppml_lab.fl.deploy.cli`: ``python -m ppml_lab.fl.deploy --supernodes 3 --rounds 3``.

Threat model: a network attacker between sites (TLS), an unregistered machine posing as a hospital (node
authentication), anyone reaching the SuperLink's port trying to submit code or act as the ServerApp
(local-only Control/Runtime APIs, signed apps), an honest-but-curious SuperLink (SecAgg+ hides individual
updates). Users of the coordinator's machine are trusted (flwr 1.42 has no Control API authentication
outside Flower Enterprise).
"""

from ppml_lab.fl.deploy.config import (
    DeploymentConfig,
    DeploymentResult,
    DPRoundDiscardedError,
    RoundFailedError,
    check_rounds,
)
from ppml_lab.fl.deploy.engine import FlowerDeployment, run_deployment
from ppml_lab.fl.deploy.processes import free_port, offline_env
from ppml_lab.fl.deploy.reference import APP_DIR, dp_epsilon, load_task_module, reference_fedavg
from ppml_lab.fl.deploy.signing import PUBLISHER_KEY_ID, build_fab, sign_fab, verify_fab
from ppml_lab.fl.deploy.simulation import FlowerSimulation, run_simulation_reference

__all__ = [
    "DeploymentConfig",
    "DeploymentResult",
    "FlowerDeployment",
    "RoundFailedError",
    "DPRoundDiscardedError",
    "check_rounds",
    "run_deployment",
    "dp_epsilon",
    "reference_fedavg",
    "load_task_module",
    "free_port",
    "offline_env",
    "APP_DIR",
    "PUBLISHER_KEY_ID",
    "build_fab",
    "sign_fab",
    "verify_fab",
    "FlowerSimulation",
    "run_simulation_reference",
]
