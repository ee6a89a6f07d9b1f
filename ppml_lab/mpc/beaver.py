"""Beaver multiplication triples from a trusted dealer, each usable exactly once.

A triple is a sharing of random a, b and c = a*b (Beaver, "Efficient multiparty protocols using circuit
randomization", CRYPTO 1991, DOI 10.1007/3-540-46766-1_34). To multiply shared x and y the parties open
d = x - a and e = y - b -- uniformly random because a and b are -- and compute
[z] = [c] + d[b] + e[a] + d e. The matrix version (a matrix triple C = A B) multiplies matrices with the
same two openings (Mohassel & Zhang 2017, SecureML, Sec. 4.2).

A triple must never be used twice: opening d = x - a and d' = x' - a reveals x - x' to everyone. Every
triple carries a random 63-bit id (from the OS CSPRNG, whatever ``rng`` the dealer was given, so two dealers
seeded alike still issue distinct ids). Each party refuses an id it has used before: the check is in the
party's :class:`~ppml_lab.mpc.network.TripleLedger`, which a pickled or deep-copied triple cannot reset.
The share's own ``consume()`` flag is a second, weaker guard (a copy carries a fresh flag); the raw
:func:`~ppml_lab.mpc.protocols.beaver_multiply_shares` has only that flag, which is why it is the raw level.

The dealer also hands out *truncation pairs* (kind ``'trunc'``): shares of a random r, of r >> f and of
msb(r), used once each by :func:`~ppml_lab.mpc.protocols.truncate` to divide a shared value by 2^f exactly
(see :mod:`~ppml_lab.mpc.fixed_point`).

Threat model: the dealer is trusted (it knows a, b, c but never sees inputs) and does not collude; the
parties are semi-honest. In practice the dealer is replaced by a preprocessing protocol between the
parties themselves: oblivious transfer (Gilboa 1999; MASCOT, Keller, Orsini & Scholl, CCS 2016) or
somewhat homomorphic encryption (SPDZ, Damgård et al., CRYPTO 2012; Overdrive, EUROCRYPT 2018).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_int
from ppml_lab.exceptions import TripleReuseError
from ppml_lab.mpc.sharing import RING_MODULUS, random_elements

__all__ = ["TripleShare", "TrustedDealer", "generate_triple"]


class TripleShare:
    """One party's share (a_i, b_i, c_i) of a Beaver triple. Single use; ``repr`` hides the values.

    For a truncation pair (``kind='trunc'``) the three arrays are shares of r, r >> frac_bits and msb(r).
    """

    __slots__ = ("triple_id", "party", "kind", "a", "b", "c", "frac_bits", "_used")

    def __init__(self, triple_id: int, party: int, kind: str, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                 frac_bits: int | None = None):
        self.triple_id = triple_id
        self.party = party
        self.kind = kind
        self.a, self.b, self.c = a, b, c
        self.frac_bits = frac_bits
        self._used = False

    def __repr__(self) -> str:
        state = "used" if self._used else "fresh"
        return (
            f"TripleShare(party={self.party}, kind={self.kind!r}, "
            f"a.shape={self.a.shape}, b.shape={self.b.shape}, {state}, values=<hidden>)"
        )

    def __getstate__(self) -> tuple:
        return (self.triple_id, self.party, self.kind, self.a, self.b, self.c, self.frac_bits, self._used)

    def __setstate__(self, state: tuple) -> None:
        self.triple_id, self.party, self.kind, self.a, self.b, self.c, self.frac_bits, self._used = state

    @property
    def used(self) -> bool:
        return self._used

    def consume(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (a_i, b_i, c_i) and mark the triple used; a second call raises TripleReuseError."""
        if self._used:
            raise TripleReuseError(
                f"Beaver triple {self.triple_id} was already used by party {self.party}; reusing it would "
                "reveal x - x' (d - d' = x - x'). Ask the dealer for a fresh triple."
            )
        self._used = True
        return self.a, self.b, self.c


def _split(value: np.ndarray, n: int, g: Any) -> list[np.ndarray]:
    shape = value.shape
    parts = [random_elements(shape, modulus=RING_MODULUS, rng=g) for _ in range(n - 1)]
    last = value.copy()
    for p in parts:
        last -= p  # uint64 wraps: last = v - sum(parts) mod 2^64
    return [*parts, last]


def generate_triple(
    shape_a: tuple[int, ...],
    shape_b: tuple[int, ...] | None = None,
    *,
    n_parties: int = 2,
    kind: str = "mul",
    rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Pure dealer step over Z_2^64: shares of random a, b and c = a*b (``kind='mul'``) or a@b ('matmul').

    Triples are key material: OS CSPRNG, a seed used only with ``insecure_seeded_keys=True``."""
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    shape_b = shape_a if shape_b is None else shape_b
    a = random_elements(tuple(shape_a), modulus=RING_MODULUS, rng=g)
    b = random_elements(tuple(shape_b), modulus=RING_MODULUS, rng=g)
    with np.errstate(over="ignore"):
        c = np.asarray(a * b if kind == "mul" else np.matmul(a, b), dtype=np.uint64)  # c = a b mod 2^64
    return _split(a, n_parties, g), _split(b, n_parties, g), _split(c, n_parties, g)


class TrustedDealer:
    """Hands out fresh triples (the offline phase). Counts what it issued; never sees the inputs."""

    def __init__(self, n_parties: int = 2, *, rng: RNGLike = None, insecure_seeded_keys: bool = False):
        self.n_parties = check_int("n_parties", n_parties, low=2)
        self._insecure_seeded_keys = insecure_seeded_keys
        self._rng = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)  # triples are key material
        self.issued = 0
        self.issued_elements = 0

    def __repr__(self) -> str:
        return f"TrustedDealer(n_parties={self.n_parties}, issued={self.issued} triples)"

    def _new_id(self) -> int:
        # ids only need to be unique, not secret; they come from the OS CSPRNG even when the values are
        # seeded, so two dealers seeded alike never hand out the same id (a party's ledger would refuse it)
        self.issued += 1
        return secrets.randbits(63)

    def _issue(self, kind: str, shape_a: Sequence[int], shape_b: Sequence[int] | None) -> list[TripleShare]:
        sa = tuple(int(check_int("shape", s, low=1)) for s in shape_a)
        sb = None if shape_b is None else tuple(int(check_int("shape", s, low=1)) for s in shape_b)
        if kind == "matmul":
            if sb is None or len(sa) not in (1, 2) or len(sb) not in (1, 2) or sa[-1] != sb[0]:
                raise ValueError(
                    f"matmul triple shapes must be (m, k) and (k, n) (or 1-D), got {sa} and {sb}"
                )
        a, b, c = generate_triple(sa, sb, n_parties=self.n_parties, kind=kind, rng=self._rng,
                                  insecure_seeded_keys=self._insecure_seeded_keys)
        tid = self._new_id()
        self.issued_elements += int(np.size(c[0]))
        return [TripleShare(tid, i, kind, a[i], b[i], c[i]) for i in range(self.n_parties)]

    def multiplication_triple(self, shape: Sequence[int]) -> list[TripleShare]:
        """Element-wise triple of the given shape; element i serves one multiplication."""
        return self._issue("mul", tuple(shape), None)

    def matmul_triple(self, shape_x: Sequence[int], shape_y: Sequence[int]) -> list[TripleShare]:
        """Matrix triple (A, B, C = A B) for a product of an (m, k) and a (k, n) matrix (1-D for dot)."""
        return self._issue("matmul", tuple(shape_x), tuple(shape_y))

    def truncation_pair(self, shape: Sequence[int], *, frac_bits: int) -> list[TripleShare]:
        """Shares of a random r, of r >> frac_bits and of msb(r) (0 or 1), for one exact truncation.

        Used once by :func:`~ppml_lab.mpc.protocols.truncate`: the parties open z + 2^l_x + r (uniform, so
        it hides z) and remove r on shares; msb(r) corrects the one wrap-around that can occur.
        """
        sa = tuple(int(check_int("shape", v, low=1)) for v in shape)
        f = check_int("frac_bits", frac_bits, low=1, high=62)
        r = random_elements(sa, modulus=RING_MODULUS, rng=self._rng)
        r_hi = r >> np.uint64(f)  # r >> f: the top 64 - f bits of r
        msb = r >> np.uint64(63)  # msb(r) in {0, 1}
        rs, hs, ms = (_split(v, self.n_parties, self._rng) for v in (r, r_hi, msb))
        tid = self._new_id()
        self.issued_elements += int(np.size(r))
        return [TripleShare(tid, i, "trunc", rs[i], hs[i], ms[i], frac_bits=f) for i in range(self.n_parties)]
