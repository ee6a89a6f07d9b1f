"""ppml_lab: privacy-preserving machine learning, built from scratch and checked against the field.

Sub-packages: ``dp`` (differential privacy), ``he`` (homomorphic encryption), ``mpc`` (secret sharing),
``fl`` (federated learning), ``zk`` (zero-knowledge proofs), ``lm`` (a small language model),
``attacks`` (why any of this matters), ``viz`` (protocol figures), plus ``data`` (offline data sets),
``report`` and ``exercises`` (self-checks for the notebooks). Sub-packages are imported on demand, so a
prototype that needs only Paillier does not pay for torch.

Re-export policy (one rule for every sub-package):

* Every module lists its public API in ``__all__``. Modules and names that start with ``_`` are private
  and may change without notice; so may anything a module does not list.
* Every sub-package ``__init__`` has a docstring naming its modules and an ``__all__``. It re-exports the
  public names of its modules that need only numpy, scipy and cryptography; a module that loads torch,
  TenSEAL, Flower/Ray or ezkl is not imported by the ``__init__`` and is imported from itself
  (``from ppml_lab.dp.dp_sgd import DPSGD``), so importing a sub-package stays light.
* The defining module is the canonical import path (the API reference documents objects there); a
  re-export is the same object, never a wrapper or a second copy.
* Every error class lives in :mod:`ppml_lab.exceptions` and derives from :class:`PPMLError`.
"""

from ppml_lab._rng import SecureGenerator, seeded_rng
from ppml_lab.exceptions import PPMLError

__version__ = "0.1.0"
__all__ = ["SecureGenerator", "seeded_rng", "PPMLError", "__version__"]
