"""The same aggregation job under three techniques, for cost comparisons (notebooks 09 and 14, benchmarks).

* :class:`MaskingAggregator`: the masking protocol of Bonawitz et al. (CCS 2017), hardened level
  (:mod:`ppml_lab.fl.secagg`); float updates through fixed point.
* :class:`PaillierAggregator`: clients encrypt under a key holder's Paillier key (:mod:`ppml_lab.he.paillier`,
  packed); the server multiplies ciphertexts; the key holder decrypts only the sum.
* :class:`CKKSAggregator`: clients encrypt under a public CKKS context (:mod:`ppml_lab.he.ckks`); the server
  adds ciphertexts; the key owner releases the sum only through ``ckks.decrypt_for_release`` (noise
  flooding): the server never receives a raw decryption.
* :class:`PlaintextAggregator`: the limit, every update in the clear.

Each returns an :class:`AggregationResult`: the sum, the seconds all parties spent in this process, the
bytes each client sends and the trust model in one line. Threat models differ: masking trusts no single
party but needs t honest clients; the HE aggregators trust a key holder not to collude with the server.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike
from ppml_lab.exceptions import PrecisionError, ProtocolError
from ppml_lab.fl.secagg.protocol import secure_aggregate_floats

__all__ = ["AggregationResult", "PlaintextAggregator", "MaskingAggregator", "PaillierAggregator", "CKKSAggregator"]


@dataclass(frozen=True)
class AggregationResult:
    """Sum of float updates plus its cost: seconds (all parties, one process) and bytes per client."""

    method: str
    total: np.ndarray = field(repr=False)
    seconds: float
    bytes_per_client: float
    plaintext_bytes: int
    trust: str

    @property
    def expansion(self) -> float:
        return self.bytes_per_client / self.plaintext_bytes


class PlaintextAggregator:
    """The limit: clients send their float64 vectors in the clear; the server adds them."""

    method = "plaintext"
    trust = "the server sees every update"

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        total = np.sum(np.stack([np.asarray(u, dtype=np.float64) for u in updates]), axis=0)
        size = int(np.asarray(updates[0]).size)
        return AggregationResult(self.method, total, time.perf_counter() - start, 8.0 * size, 8 * size, self.trust)


class MaskingAggregator:
    """Bonawitz et al. masking (:mod:`ppml_lab.fl.secagg`), float updates via fixed point.

    ``level="hardened"`` (default): signed keys, ConsistencyCheck, answer-once unmasking; ``"raw"``: the
    honest-but-curious protocol (teaching), kept here to measure what the hardening costs.
    """

    method = "masking (Bonawitz et al.)"
    trust = "no single party sees an update; the server learns only the sum if t > (n + c) / 2 for c clients colluding with it"

    def __init__(self, *, threshold: int | None = None, level: str = "hardened", rng: RNGLike = None) -> None:
        self.threshold, self.level, self.rng = threshold, level, rng
        if level != "hardened":
            self.method = f"masking (Bonawitz et al., {level})"

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        total, res = secure_aggregate_floats(list(updates), threshold=self.threshold, level=self.level, rng=self.rng)
        size = int(np.asarray(updates[0]).size)
        return AggregationResult(self.method, total, time.perf_counter() - start, res.mean_bytes_sent, 8 * size, self.trust)


class PaillierAggregator:
    """Clients encrypt under a key holder's Paillier public key; the server multiplies ciphertexts.

    Uses :mod:`ppml_lab.he.paillier` with packing (many bounded values per plaintext, headroom for the
    number of clients). Trust: the key holder must not collude with the server.
    """

    method = "Paillier (packed)"
    trust = "a key holder, separate from the server, decrypts only the sum"

    def __init__(self, *, key_bits: int = 2048, bound: float = 8.0, precision: int = 20, rng: RNGLike = None,
                 allow_insecure: bool = False) -> None:
        from ppml_lab.he import paillier

        self._p = paillier
        self.public_key, self._private_key = paillier.generate_paillier_keypair(
            key_bits=key_bits, rng=rng, allow_insecure=allow_insecure)
        self.bound, self.precision, self.rng = bound, precision, rng

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        p = self._p
        start = time.perf_counter()
        scheme = p.packing_scheme(self.public_key, bound=self.bound, max_additions=len(updates), precision=self.precision)
        cts = [p.encrypt_packed(self.public_key, np.asarray(u, dtype=np.float64), scheme, rng=self.rng) for u in updates]
        acc = cts[0]
        for c in cts[1:]:
            acc = acc + c  # Enc(a) Enc(b) mod n^2 = Enc(a + b), slot by slot
        total = np.asarray(self._private_key.decrypt_packed(acc), dtype=np.float64)
        size = int(np.asarray(updates[0]).size)
        nbytes = cts[0].n_ciphertexts * 2 * self.public_key.key_bits / 8  # each ciphertext lives mod n^2
        return AggregationResult(self.method, total, time.perf_counter() - start, nbytes, 8 * size, self.trust)


class CKKSAggregator:
    """Clients encrypt under a public CKKS context; the server adds ciphertexts; the key owner *releases* the sum.

    The key owner never hands a raw decryption to the server: a raw CKKS decryption together with its
    ciphertext is a linear equation in the secret key, and two of them recover it (Li & Micciancio,
    EUROCRYPT 2021; :mod:`ppml_lab.attacks.ckks_key_recovery`). Every aggregate leaves the key owner through
    :func:`ppml_lab.he.ckks.decrypt_for_release` (noise flooding from the OS CSPRNG, IND-CPA^D for up to
    ``max_releases`` released decryptions under this key at ``statistical_security`` bits).

    ``preset``: the CKKS parameters; the default ``"depth1-n8192-release"`` has a 2^50 scale, which leaves
    room for the flooding noise. ``max_release_std``: the largest flooding std accepted on the released
    *mean* (std of the sum / number of clients, value units; the tracked noise bound of a sum grows with
    the number of clients); a preset whose release noise would exceed it (e.g. ``"depth1-n4096"``, 2^25
    scale) is refused with PrecisionError before anything is decrypted. After ``max_releases`` ciphertexts released the aggregator
    refuses further rounds (make a new key pair).
    """

    method = "CKKS (TenSEAL)"
    trust = ("a key holder, separate from the server, releases only the flooded sum; approximate arithmetic")

    def __init__(self, *, preset: str = "depth1-n8192-release", statistical_security: int | None = None,
                 max_releases: int = 16, max_release_std: float = 1e-3) -> None:
        from ppml_lab._validation import check_int, check_positive
        from ppml_lab.he import ckks

        self._ckks = ckks
        self.preset = preset
        self.owner = ckks.CKKSContext(ckks.preset(preset))
        self.public = self.owner.make_public(galois_keys=False)
        # checked here, before any key or round: below 30 bits (InsecureParameterError) or above 128 is refused
        self.statistical_security = (ckks.DEFAULT_FLOODING_SECURITY if statistical_security is None
                                     else ckks._check_security(statistical_security))
        self.max_releases = check_int("max_releases", max_releases, low=1)
        self.max_release_std = check_positive("max_release_std", max_release_std)
        self.releases = 0
        self.last_ciphertexts: list[Any] = []  # the summed ciphertexts of the last round: the server holds these

    def _release(self, summed: Any, size: int, n_clients: int) -> np.ndarray:
        """What crosses from the key owner to the server: a flooded decryption, never a raw one."""
        ckks = self._ckks
        # the server sends the ciphertext and the noise it tracked while adding; the key owner loads it
        vec = self.owner.load_vector(summed.serialize(), size, noise_std=summed.noise_std, magnitude=summed.magnitude)
        std = ckks.flooding_std(vec, statistical_security=self.statistical_security,
                                adversarial_queries=self.max_releases)
        if std / n_clients > self.max_release_std:
            raise PrecisionError(
                f"the release noise of preset {self.preset!r} has std {std:.3g} on the sum of {n_clients} updates "
                f"({std / n_clients:.3g} on their mean), above max_release_std={self.max_release_std:g}: its scale "
                "leaves too little room for noise flooding; use a preset with a larger scale (the default "
                "'depth1-n8192-release', 2^50) or raise max_release_std")
        if self.releases >= self.max_releases:  # aggregate() checks the whole round first; kept as the last guard
            raise ProtocolError(f"this key has released {self.releases} of max_releases={self.max_releases} "
                                "decryptions; the flooding noise was sized for that many: generate a new "
                                "CKKSAggregator (new key pair)")
        self.releases += 1
        return np.asarray(ckks.decrypt_for_release(vec, statistical_security=self.statistical_security,
                                                   adversarial_queries=self.max_releases), dtype=np.float64)

    def aggregate(self, updates: Sequence[np.ndarray]) -> AggregationResult:
        start = time.perf_counter()
        slots = self.public.params.slots
        size = int(np.asarray(updates[0]).size)
        chunks = [slice(i, min(i + slots, size)) for i in range(0, size, slots)]
        if self.releases + len(chunks) > self.max_releases:  # before anything is encrypted or released
            raise ProtocolError(
                f"this key has released {self.releases} of max_releases={self.max_releases} decryptions and this "
                f"round needs {len(chunks)} more ({size} values in {slots}-slot ciphertexts); the flooding noise "
                "was sized for max_releases: generate a new CKKSAggregator (new key pair)")
        # each client encrypts its update in ceil(size / slots) ciphertexts
        cts = [[self.public.encrypt(np.asarray(u, dtype=np.float64)[c]) for c in chunks] for u in updates]
        sums = cts[0]
        for client in cts[1:]:
            sums = [a + b for a, b in zip(sums, client)]  # ciphertext addition, no level used
        self.last_ciphertexts = list(sums)
        total = np.concatenate([self._release(s, c.stop - c.start, len(updates)) for s, c in zip(sums, chunks)])
        nbytes = float(sum(ct.nbytes for ct in cts[0]))
        return AggregationResult(self.method, total, time.perf_counter() - start, nbytes, 8 * size, self.trust)
