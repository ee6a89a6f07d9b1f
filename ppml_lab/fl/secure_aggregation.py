"""Secure aggregation — compatibility re-export of the old public names.

The protocol now lives in :mod:`ppml_lab.fl.secagg` (pure masks, client, server, in-process runner;
hardened against an active server by default, the honest-but-curious level kept as ``level="raw"``),
the cost-comparison aggregators in :mod:`ppml_lab.fl.aggregators`. Import from there in new code.
"""

from __future__ import annotations

from ppml_lab.fl.aggregators import (
    AggregationResult,
    CKKSAggregator,
    MaskingAggregator,
    PaillierAggregator,
    PlaintextAggregator,
)
from ppml_lab.fl.secagg import (
    LEVELS,
    PHASES,
    RawSecAggClient,
    RawSecAggServer,
    SecAggClient,
    SecAggResult,
    SecAggServer,
    minimum_threshold,
    prg_mask,
    secure_aggregate,
    secure_aggregate_floats,
    secure_fedavg_aggregate,
)

__all__ = [
    "LEVELS",
    "PHASES",
    "SecAggResult",
    "SecAggClient",
    "SecAggServer",
    "RawSecAggClient",
    "RawSecAggServer",
    "secure_aggregate",
    "secure_aggregate_floats",
    "secure_fedavg_aggregate",
    "minimum_threshold",
    "prg_mask",
    "AggregationResult",
    "MaskingAggregator",
    "PaillierAggregator",
    "CKKSAggregator",
    "PlaintextAggregator",
]
