"""ppml_lab: privacy-preserving machine learning, built from scratch and checked against the field.

Sub-packages: ``dp`` (differential privacy), ``he`` (homomorphic encryption), ``mpc`` (secret sharing),
``fl`` (federated learning), ``attacks`` (why any of this matters), plus ``data`` (offline data sets)
and ``exercises`` (self-checks for the notebooks). Sub-packages are imported on demand, so a prototype
that needs only Paillier does not pay for torch.
"""

from ppml_lab._rng import SecureGenerator, seeded_rng
from ppml_lab.exceptions import PPMLError

__version__ = "0.1.0"
__all__ = ["SecureGenerator", "seeded_rng", "PPMLError", "__version__"]
