"""Secure multi-party computation: secret sharing, fixed point, Beaver triples, protocols, transports.

Modules: :mod:`~ppml_lab.mpc.sharing` (additive over Z_2^64 or GF(p), the Share type),
:mod:`~ppml_lab.mpc.shamir` (Shamir t-of-n over GF(p)),
:mod:`~ppml_lab.mpc.fixed_point` (encoding; exact truncation with a dealer pair, SecureML's local shift as
the raw level), :mod:`~ppml_lab.mpc.beaver` (dealer triples and truncation pairs, one use each),
:mod:`~ppml_lab.mpc.network` (parties, each with a ledger of used triple ids; round/byte counting;
in-process and loopback-socket transports with bounded frames),
:mod:`~ppml_lab.mpc.protocols` (secure multiply, dot, matmul, linear/logistic inference).

Threat model: semi-honest parties, a trusted non-colluding dealer, no authentication on the mesh
(loopback only); see each module's docstring.
"""

from ppml_lab.mpc.beaver import TrustedDealer
from ppml_lab.mpc.fixed_point import FixedPoint
from ppml_lab.mpc.network import TripleLedger, run_protocol
from ppml_lab.mpc.protocols import secure_dot, secure_inference, secure_matmul, secure_multiply, secure_sum
from ppml_lab.mpc.shamir import shamir_reconstruct, shamir_share
from ppml_lab.mpc.sharing import DEFAULT_PRIME, RING_MODULUS, Share, reconstruct, share

__all__ = [
    "DEFAULT_PRIME",
    "RING_MODULUS",
    "Share",
    "reconstruct",
    "shamir_reconstruct",
    "shamir_share",
    "share",
    "FixedPoint",
    "TrustedDealer",
    "TripleLedger",
    "run_protocol",
    "secure_sum",
    "secure_multiply",
    "secure_dot",
    "secure_matmul",
    "secure_inference",
]
