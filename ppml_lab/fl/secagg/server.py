"""The secure-aggregation server: relays messages, tracks who dropped, unmasks the sum (Bonawitz et al. 2017).

A thin stateful shell around the pure maths of :mod:`ppml_lab.fl.secagg.masks` and the Shamir
reconstruction of :mod:`ppml_lab.mpc.sharing`. :class:`SecAggServer` runs the rounds of the version
secure against an active adversary (ePrint 2017/281, Fig. 4 with its active-adversary parts, Sec. 6: Round 3 ConsistencyCheck collects
signatures on U3); :class:`RawSecAggServer` runs the honest-but-curious rounds (Fig. 4 without its active-adversary parts) (teaching level).

Threat model: the server is *not* trusted for privacy — the clients' checks are what protect them. What
the server enforces (thresholds, well-formed messages, no duplicated ids or keys) protects correctness:
with fewer than t clients at any phase it raises DropoutThresholdError and never returns a wrong sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ppml_lab._validation import check_int
from ppml_lab.exceptions import DropoutThresholdError, ProtocolError, ShareMismatchError
from ppml_lab.fl.secagg import masks
from ppml_lab.fl.secagg.client import agree
from ppml_lab.fl.secagg.messages import (
    AdvertiseKeys,
    ConsistencySignature,
    MaskedInput,
    SigningPKI,
    UnmaskRequest,
    UnmaskResponse,
    consistency_payload,
)
from ppml_lab.mpc.sharing import shamir_reconstruct

__all__ = ["SecAggServer", "RawSecAggServer", "reconstruct_secret"]


def reconstruct_secret(shares: list[Any], *, threshold: int, what: str) -> bytes:
    """A 32-byte secret from >= t Shamir shares, through :func:`ppml_lab.mpc.sharing.shamir_reconstruct`.

    Any t shares determine the polynomial; the first t are used (Lagrange costs O(t^2) per secret). The
    threshold is the round's, not the one a share claims.
    """
    if len(shares) < threshold:
        raise DropoutThresholdError(f"only {len(shares)} shares of {what} arrived, threshold is {threshold}")
    try:
        elements = shamir_reconstruct(shares[:threshold])  # f(0) = sum_w lambda_w f(x_w)  (mod 2^31 - 1)
        return masks.elements_to_secret(np.asarray(elements))
    except ShareMismatchError as err:
        raise ProtocolError(f"the shares of {what} do not belong together: {err}") from err
    except ValueError as err:
        raise ProtocolError(f"reconstructing {what} failed: {err}") from err


class SecAggServer:
    """Aggregation server of the hardened protocol (Fig. 4, active-adversary version). One instance per session and round."""

    hardened = True
    level = "hardened"

    def __init__(self, *, threshold: int, length: int, session: bytes, round_id: int = 0,
                 pki: SigningPKI | None = None) -> None:
        self.threshold = check_int("threshold", threshold, low=2)
        self.length = check_int("length", length, low=1)
        if not isinstance(session, (bytes, bytearray)) or len(session) != masks.SESSION_BYTES:
            raise ValueError(f"session must be {masks.SESSION_BYTES} bytes, got {session!r:.40}")
        self.session = bytes(session)
        self.round_id = check_int("round_id", round_id, low=0)
        self.pki = pki
        self.keys: dict[int, AdvertiseKeys] = {}
        self.u2: list[int] = []
        self.u3: list[int] = []
        self.signatures: dict[int, bytes] = {}
        self.ys: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold}, length={self.length}, round_id={self.round_id})"

    def _need(self, alive: Iterable[int], phase: str) -> None:
        n = len(list(alive))
        if n < self.threshold:
            raise DropoutThresholdError(
                f"only {n} clients remain after the {phase} phase, threshold is {self.threshold}: "
                "the round is aborted and nothing is revealed (never a wrong sum)")

    def _check(self, msg: Any, kind: type[Any], what: str) -> None:
        if not isinstance(msg, kind):
            raise ProtocolError(f"{what}: expected {kind.__name__}, got {type(msg).__name__}")
        if msg.session != self.session or msg.round_id != self.round_id:
            raise ProtocolError(f"{what} belongs to another session or round; refused")

    # Round 0
    def collect_keys(self, messages: Iterable[AdvertiseKeys]) -> dict[int, AdvertiseKeys]:
        """AdvertiseKeys as it arrives: checked for session, duplicate ids and replayed keys."""
        keys: dict[int, AdvertiseKeys] = {}
        seen: dict[bytes, int] = {}
        for msg in messages:
            self._check(msg, AdvertiseKeys, "an AdvertiseKeys message")
            cid = msg.sender
            if len(msg.c_pk) != masks.PK_BYTES or len(msg.s_pk) != masks.PK_BYTES:
                raise ProtocolError(f"malformed AdvertiseKeys message from client {cid}")
            if cid in keys:
                raise ProtocolError(f"client id {cid} advertised keys twice (duplicate or replayed id); round aborted")
            for half in (msg.c_pk, msg.s_pk):
                if half in seen:
                    raise ProtocolError(f"client {cid} advertised a public key already used by client {seen[half]} "
                                        "(replayed keys); round aborted")
                seen[half] = cid
            keys[cid] = msg
        self._need(keys, "advertise")
        self.keys = keys
        return dict(keys)

    # Round 1
    def route_shares(self, outboxes: Mapping[int, Mapping[int, bytes]]) -> dict[int, dict[int, bytes]]:
        """Relay the encrypted share bundles; the senders form U2."""
        self._need(outboxes, "share_keys")
        self.u2 = sorted(outboxes)
        inbox: dict[int, dict[int, bytes]] = {v: {} for v in self.u2}
        for u, per_peer in outboxes.items():
            for v, ct in per_peer.items():
                if v in inbox:
                    inbox[v][u] = ct
        return inbox

    # Round 2
    def collect_masked(self, messages: Iterable[MaskedInput]) -> list[int]:
        """Collect y_u; the senders form U3."""
        ys: dict[int, np.ndarray] = {}
        for msg in messages:
            self._check(msg, MaskedInput, "a masked input")
            if len(msg.y) != 8 * self.length:
                raise ProtocolError(f"masked input of client {msg.sender} has {len(msg.y)} bytes, expected {8 * self.length}")
            if msg.sender not in self.u2:
                raise ProtocolError(f"masked input from client {msg.sender}, which is not in U2")
            ys[msg.sender] = msg.vector
        self._need(ys, "masked_input")
        self.u3 = sorted(ys)
        self.ys = ys
        return list(self.u3)

    # Round 3 (hardened only)
    def collect_signatures(self, messages: Iterable[ConsistencySignature]) -> dict[int, bytes]:
        """Collect the clients' signatures on U3 (Fig. 4, Round 3); at least t are needed to go on."""
        sigs: dict[int, bytes] = {}
        for msg in messages:
            self._check(msg, ConsistencySignature, "a ConsistencyCheck signature")
            if tuple(msg.u3) != tuple(self.u3):
                raise ProtocolError(f"client {msg.sender} signed U3={list(msg.u3)}, not the U3={self.u3} sent")
            if self.pki is not None:
                self.pki.verify(msg.sender, msg.signature,
                                consistency_payload(self.session, self.round_id, msg.sender, self.u3))
            sigs[msg.sender] = msg.signature
        self._need(sigs, "consistency")
        self.signatures = sigs
        return dict(sigs)

    def unmask_request(self) -> UnmaskRequest:
        """Round 4 request: U3 and the signatures on it; each client derives what to reveal itself."""
        return UnmaskRequest(self.session, self.round_id, tuple(self.u3), dict(self.signatures))

    # Round 4
    def unmask(self, responses: Mapping[int, UnmaskResponse]) -> np.ndarray:
        """sum_{u in U3} x_u = sum y_u - sum PRG(b_u) - dangling pair masks  (mod 2^64)  (Sec. 4, Round 4)."""
        for w, r in responses.items():
            self._check(r, UnmaskResponse, f"the unmask response of client {w}")
        self._need(responses, "unmask")
        dropped = [v for v in self.u2 if v not in self.u3]
        responders = sorted(responses)

        def shares(kind: str, v: int) -> list[Any]:
            out = []
            for w in responders:
                table = responses[w].b_shares if kind == "b" else responses[w].sk_shares
                if v not in table:
                    raise ProtocolError(f"client {w} did not send its {kind} share of client {v}")
                out.append(table[v])
            return out

        total = np.zeros(self.length, dtype=np.uint64)
        for u in self.u3:
            total += self.ys[u]  # sum_u y_u  (mod 2^64)
        self_seeds = {u: reconstruct_secret(shares("b", u), threshold=self.threshold, what=f"b_{u}") for u in self.u3}
        dangling: dict[tuple[int, int], bytes] = {}
        for v in dropped:
            s_v_sk = reconstruct_secret(shares("sk", v), threshold=self.threshold, what=f"s_{v}^SK")
            for u in self.u3:
                dangling[(u, v)] = agree(s_v_sk, self.keys[u].s_pk)  # s_uv = KA(s_v^SK, s_u^PK)
        return masks.remove_masks(total, self_seeds=self_seeds, dangling=dangling,
                                  session=self.session, round_id=self.round_id)


class RawSecAggServer(SecAggServer):
    """Server of the honest-but-curious protocol (Fig. 4 without its active-adversary parts), the teaching level: no ConsistencyCheck."""

    hardened = False
    level = "raw"

    def collect_signatures(self, messages: Iterable[ConsistencySignature]) -> dict[int, bytes]:
        raise ProtocolError("the raw (honest-but-curious) level has no ConsistencyCheck round")

    def unmask_request(self) -> UnmaskRequest:
        dropped = tuple(v for v in self.u2 if v not in self.u3)
        return UnmaskRequest(self.session, self.round_id, tuple(self.u3), {}, dropped, tuple(self.u3))
