"""Deprecated import path: the accountants now live in :mod:`ppml_lab.dp.accounting`.

Kept so that existing ``from ppml_lab.dp.accountant import RDPAccountant`` keeps working; new code
should import from :mod:`ppml_lab.dp.accounting` (rdp, pld, zcdp, composition).
"""

from __future__ import annotations

from ppml_lab.dp.accounting import *  # noqa: F401,F403
from ppml_lab.dp.accounting import __all__ as _all
from ppml_lab.dp.accounting.rdp import _check_orders  # noqa: F401  (used by older callers)

__all__ = list(_all)
