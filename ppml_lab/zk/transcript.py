"""The Fiat-Shamir transform: a hash of the whole conversation replaces the verifier's random challenge.

Fiat and Shamir (CRYPTO 1986) turn an interactive Sigma protocol (commit A, challenge c, response z) into
a non-interactive proof by computing c = H(...). What goes into H decides soundness (Bernhard, Pereira
and Warinschi, "How not to prove yourself", ASIACRYPT 2012, Sec. 3: the *weak* transform hashes only the
announcement; the *strong* one also hashes the statement). Leaving the statement out lets a prover pick
the announcement and the response first and then *solve for a false statement* that verifies: the
"Frozen Heart" bugs found in 2022 in Bulletproofs, PlonK and Girault implementations (Trail of Bits,
"Coordinated disclosure of vulnerabilities affecting Girault, Bulletproofs, and PlonK", 2022).

- :class:`Transcript` (safe level): a Merlin-style running hash (SHA-512) that starts with a domain
  label and the group's parameters; every appended item is length-prefixed and labelled, so two different
  conversations never hash alike. The proofs of :mod:`ppml_lab.zk` append the generators, the statement
  and any context (session, round, client id) before the announcements.
- :func:`weak_challenge` (raw level, teaching): H(announcements) only, the broken transform, kept so the
  forgery can be run (``tests/zk/test_sigma.py::test_frozen_heart_dleq_forgery``).

Threat model: SHA-512 modelled as a random oracle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ppml_lab._validation import check_choice
from ppml_lab.zk.group import Group

__all__ = ["Transcript", "weak_challenge", "LEVELS", "check_level"]

#: "safe": strong Fiat-Shamir over a transcript binding domain, parameters and statement (default).
#: "raw": weak Fiat-Shamir, H(announcements) only; forgeable, for the notebook and the attack tests.
LEVELS = ("safe", "raw")


def check_level(level: str) -> str:
    return check_choice("level", level, LEVELS)


def _frame(label: bytes, data: bytes) -> bytes:
    return len(label).to_bytes(4, "big") + label + len(data).to_bytes(8, "big") + data


class Transcript:
    """A running hash of a proof's public conversation (safe Fiat-Shamir).

    ``Transcript(domain, group)`` absorbs the domain label and the group's parameters; ``append(label,
    data)`` absorbs one labelled item; ``challenge(label)`` returns a scalar mod q derived from everything
    absorbed so far and absorbs the challenge itself, so later challenges depend on earlier ones.
    """

    def __init__(self, domain: bytes, group: Group) -> None:
        if not isinstance(domain, (bytes, bytearray)) or not domain:
            raise TypeError(f"domain must be non-empty bytes (a protocol label), got {domain!r}")
        self.group = group
        self._h = hashlib.sha512()
        self._h.update(_frame(b"domain", bytes(domain)))
        self._h.update(_frame(b"group", group.params_bytes()))

    def append(self, label: bytes, data: bytes) -> None:
        self._h.update(_frame(label, bytes(data)))

    def append_elements(self, label: bytes, elements: Iterable[object]) -> None:
        enc = self.group.encode
        self._h.update(_frame(label, b"".join(enc(e) for e in elements)))

    def append_int(self, label: bytes, value: int) -> None:
        self._h.update(_frame(label, int(value).to_bytes(32, "big", signed=True)))

    def challenge(self, label: bytes = b"challenge") -> int:
        self._h.update(_frame(b"challenge-request", label))
        digest = b""
        base = self._h.copy()
        counter = 0
        need = self.group.scalar_bytes + 16  # 128 extra bits: bias of the reduction below 2^-128
        while len(digest) < need:
            h = base.copy()
            h.update(counter.to_bytes(4, "big"))
            digest += h.digest()
            counter += 1
        c = int.from_bytes(digest[:need], "big") % self.group.order
        self.append_int(b"challenge-value", c)
        return c


def weak_challenge(group: Group, announcements: Iterable[object], *, scalar_announcements: Iterable[int] = ()) -> int:
    """The WEAK Fiat-Shamir challenge H(A_1 || ... || A_m || u_1 || ...) mod q: the announcements (group
    elements, then any scalar announcements u), no statement, no domain (raw level).

    Insecure on purpose: a prover can choose the statement after the challenge (see the module docstring).
    """
    data = b"".join(group.encode(a) for a in announcements)
    data += b"".join(group.encode_scalar(u) for u in scalar_announcements)
    need = group.scalar_bytes + 16
    digest = b""
    counter = 0
    while len(digest) < need:
        digest += hashlib.sha512(counter.to_bytes(4, "big") + data).digest()
        counter += 1
    return int.from_bytes(digest[:need], "big") % group.order
