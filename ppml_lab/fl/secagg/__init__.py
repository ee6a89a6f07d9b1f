"""Secure aggregation (Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving Machine
Learning", CCS 2017, ePrint 2017/281): the server learns the sum of the clients' vectors and nothing else.

- :mod:`~ppml_lab.fl.secagg.masks`: the pure mask maths (PRG, self and pair masks, unmasking).
- :mod:`~ppml_lab.fl.secagg.messages`: messages bound to a session and round, the Ed25519 signing PKI.
- :mod:`~ppml_lab.fl.secagg.client`: :class:`SecAggClient` (hardened, default: signed keys,
  ConsistencyCheck, answer-once unmasking; Fig. 4 with its active-adversary parts, Sec. 6) and :class:`RawSecAggClient` (the
  honest-but-curious protocol (Fig. 4 without its active-adversary parts), kept for teaching).
- :mod:`~ppml_lab.fl.secagg.server`: the matching servers; Shamir reconstruction is
  :func:`ppml_lab.mpc.sharing.shamir_reconstruct`.
- :mod:`~ppml_lab.fl.secagg.protocol`: one round simulated in-process, with drop-outs.
- :mod:`~ppml_lab.fl.secagg.secaggplus`: SecAgg+ (Bell et al., CCS 2020, ePrint 2020/704): the same pieces
  on a random k-regular (Harary) graph with k = O(log n); :func:`secaggplus_aggregate`.

The deviating servers that break the raw level live in :mod:`ppml_lab.attacks.secagg_server`; the
Paillier/CKKS/masking cost comparison in :mod:`ppml_lab.fl.aggregators`.
"""

from ppml_lab.fl.secagg.client import RawSecAggClient, SecAggClient
from ppml_lab.fl.secagg.masks import minimum_threshold, prg_mask
from ppml_lab.fl.secagg.messages import SigningPKI, UnmaskRequest, make_identities, new_session_id
from ppml_lab.fl.secagg.protocol import (
    LEVELS,
    PHASES,
    SecAggResult,
    make_round,
    secure_aggregate,
    secure_aggregate_floats,
    secure_fedavg_aggregate,
)
from ppml_lab.fl.secagg.secaggplus import (
    SecAggPlusClient,
    SecAggPlusServer,
    disconnection_bound,
    harary_graph,
    neighbourhood_risk,
    recommended_degree,
    secaggplus_aggregate,
)
from ppml_lab.fl.secagg.server import RawSecAggServer, SecAggServer

__all__ = [
    "LEVELS",
    "PHASES",
    "RawSecAggClient",
    "RawSecAggServer",
    "SecAggClient",
    "SecAggPlusClient",
    "SecAggPlusServer",
    "SecAggResult",
    "SecAggServer",
    "SigningPKI",
    "UnmaskRequest",
    "disconnection_bound",
    "harary_graph",
    "make_identities",
    "make_round",
    "minimum_threshold",
    "neighbourhood_risk",
    "new_session_id",
    "prg_mask",
    "recommended_degree",
    "secaggplus_aggregate",
    "secure_aggregate",
    "secure_aggregate_floats",
    "secure_fedavg_aggregate",
]
