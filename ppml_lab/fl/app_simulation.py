"""Old import path of :mod:`ppml_lab.fl.deploy.simulation` (the app in Flower's simulation engine).

Kept so that ``from ppml_lab.fl.app_simulation import FlowerSimulation, run_simulation_reference`` keeps
working; new code imports from :mod:`ppml_lab.fl.deploy`.
"""

from ppml_lab.fl.deploy.simulation import FlowerSimulation, run_simulation_reference

__all__ = ["FlowerSimulation", "run_simulation_reference"]
