"""Parties, channels and the runner: every protocol counts its rounds and the bytes each party sends.

Protocols are written once, SPMD style, as ``fn(party, *args)``: each party runs the same function on its
own inputs and talks through ``party.exchange`` (everyone sends to everyone: one round), ``party.send`` /
``party.recv`` (point to point). Two transports sit behind the same :class:`Party`:

* ``transport="inprocess"``: one thread per party, messages are numpy arrays handed over through queues
  (no copy); for teaching and tests. Bytes are counted as if serialised (header + payload).
* ``transport="processes"``: one OS process per party, a full mesh of TCP connections on 127.0.0.1 (ports
  picked by the kernel: bind to port 0), length-prefixed raw array frames, a sender thread per peer so
  simultaneous large sends cannot deadlock. Communication is real.

Failure model: a party that raises, dies or stays silent past ``timeout`` makes :func:`run_protocol` raise
(:class:`~ppml_lab.exceptions.PartyTimeoutError` for silence, :class:`~ppml_lab.exceptions.ProtocolError`
for a dead peer, the party's own exception otherwise); child processes are always terminated and joined.

Triple consumption (Beaver 1991: a triple opened twice reveals x - x'). Every party keeps its own
:class:`TripleLedger` -- the set of triple ids it has used -- and :meth:`Party.use_triple` refuses an id the
ledger has seen with :class:`~ppml_lab.exceptions.TripleReuseError`. The ledger lives in the process that
called :func:`run_protocol` and outlives the run (by default one per party index for the life of that
process); it refuses to be pickled or copied. A party running in a child process does not get a copy: it
asks the caller's ledger over its control pipe before it uses a triple. So a triple share that was pickled
into a child, deep-copied, or passed to a second run is refused, whatever its own ``used`` flag says.
Out of scope: a ledger does not survive a restart of the calling process (a real deployment keeps it in
each party's durable storage), and a party that deviates from the protocol can of course skip its check
(semi-honest model).

Network threat model (``transport="processes"``). Semi-honest parties on one host; messages are neither
authenticated nor encrypted (loopback only): anyone who can read loopback traffic (root on the host) sees
every share. What the mesh does check, against accidents and stray local processes rather than attackers
with root: a connecting peer must present a random per-run token (handed to each party by the caller over
its private pipe) and a party id the acceptor expects and has not seen; every frame is bounded by
``max_frame_bytes`` (:class:`~ppml_lab.exceptions.FrameTooLargeError` before any allocation) and must have
a known dtype, at most 4 dimensions and a payload size that matches its shape. Anything more -- mutual
TLS, message authentication codes, malicious security (SPDZ-style MACs on shares) -- is out of scope.
"""

from __future__ import annotations

import hmac
import math
import multiprocessing as mp
import os
import queue
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, SecureGenerator, key_rng, random_seed, seeded_rng
from ppml_lab._validation import check_choice, check_int, check_positive
from ppml_lab.exceptions import FrameTooLargeError, PartyTimeoutError, ProtocolError, TripleReuseError

__all__ = [
    "CommStats",
    "Party",
    "ProtocolRun",
    "TripleLedger",
    "default_ledgers",
    "run_protocol",
    "TRANSPORTS",
    "HEADER_BYTES",
    "MAX_FRAME_BYTES",
]

TRANSPORTS = ("inprocess", "processes")
_DTYPES = {0: np.dtype(np.uint64), 1: np.dtype(np.int64), 2: np.dtype(np.float64)}
_CODES = {v: k for k, v in _DTYPES.items()}
_MAX_DIM = 4
# frame header: payload bytes (Q), dtype code (B), ndim (B), shape (4 x Q)
_HEADER = struct.Struct("<QBB" + "Q" * _MAX_DIM)
HEADER_BYTES = _HEADER.size
#: Default bound on one message's payload (1 GiB): a peer cannot make another party allocate more.
MAX_FRAME_BYTES = 2**30
_TOKEN_BYTES = 16
_HELLO = struct.Struct(f"<{_TOKEN_BYTES}sQ")  # run token, party id: what a connecting peer sends first


class _PeerFailure(ProtocolError):
    """A peer stopped (closed its connection or aborted): a consequence, not the root cause."""


@dataclass
class CommStats:
    """What one party did on the network during one protocol run."""

    rounds: int = 0
    messages_sent: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class ProtocolRun:
    """Outputs per party, communication per party, wall-clock seconds of the protocol phase."""

    outputs: list[Any]
    stats: list[CommStats]
    seconds: float
    transport: str = "inprocess"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return max(s.rounds for s in self.stats)

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes_sent for s in self.stats)


# ------------------------------------------------------------------------------------------------
# triple ledgers: each party's used-id set, kept where a copy of a triple cannot reset it
# ------------------------------------------------------------------------------------------------
class TripleLedger:
    """One party's set of used Beaver-triple ids. Thread-safe; cannot be pickled or copied.

    :meth:`claim` records an id and refuses one it has seen (TripleReuseError): d = x - a and
    d' = x' - a opened under one triple reveal d - d' = x - x' (Beaver 1991). A copied ledger would forget,
    so copying is refused too.
    """

    __slots__ = ("_used", "_lock")

    def __init__(self) -> None:
        self._used: set[int] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TripleLedger({len(self._used)} triple ids used)"

    def __len__(self) -> int:
        return len(self._used)

    def __contains__(self, triple_id: object) -> bool:
        return triple_id in self._used

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(
            "a TripleLedger must not be pickled or copied: the copy would forget which triples were used; "
            "pass the ledger itself (run_protocol keeps it in the calling process)"
        )

    def claim(self, triple_id: int, *, party: int) -> None:
        """Record ``triple_id`` as used by ``party``; raise TripleReuseError if it was used before."""
        with self._lock:
            if triple_id in self._used:  # the per-party used-id check: one opening per triple, ever
                raise TripleReuseError(
                    f"party {party} already used Beaver triple {triple_id}; reusing it would reveal x - x' "
                    "(d - d' = x - x'). Ask the dealer for a fresh triple."
                )
            self._used.add(triple_id)


_DEFAULT_LEDGERS: dict[int, TripleLedger] = {}
_DEFAULT_LOCK = threading.Lock()


def default_ledgers(n_parties: int) -> list[TripleLedger]:
    """The calling process's ledgers for party indices 0..n-1 (created on first use, kept for its lifetime)."""
    n = check_int("n_parties", n_parties, low=1)
    with _DEFAULT_LOCK:
        return [_DEFAULT_LEDGERS.setdefault(i, TripleLedger()) for i in range(n)]


class _PipeLedger:
    """A child process's handle on its party's ledger in the caller's process: each claim is a request."""

    def __init__(self, conn: Any, party: int, deadline: float):
        self._conn, self._party, self._deadline = conn, party, deadline
        self._lock = threading.Lock()

    def claim(self, triple_id: int, *, party: int) -> None:
        with self._lock:
            self._conn.send(("claim", int(triple_id)))
            if not self._conn.poll(max(0.0, self._deadline - time.monotonic()) + 5.0):
                raise PartyTimeoutError(f"party {self._party}: the caller did not answer a triple claim in time")
            kind, detail = self._conn.recv()
        if kind != "claimed":
            raise TripleReuseError(detail)


def _frame_header(arr: np.ndarray) -> bytes:
    if arr.dtype not in _CODES:
        raise TypeError(f"messages must be uint64, int64 or float64 arrays, got dtype {arr.dtype}")
    if arr.ndim > _MAX_DIM:
        raise ValueError(f"messages may have at most {_MAX_DIM} dimensions, got {arr.ndim}")
    shape = list(arr.shape) + [0] * (_MAX_DIM - arr.ndim)
    return _HEADER.pack(arr.nbytes, _CODES[arr.dtype], arr.ndim, *shape)


# ------------------------------------------------------------------------------------------------
# channels
# ------------------------------------------------------------------------------------------------
class _InProcessChannel:
    def __init__(self, me: int, queues: dict[tuple[int, int], queue.Queue], abort: threading.Event):
        self.me, self.queues, self.abort = me, queues, abort

    def send(self, to: int, arr: np.ndarray) -> None:
        view = arr.view()
        view.flags.writeable = False  # the receiver gets the same memory: make it read-only
        self.queues[(self.me, to)].put(view)

    def recv(self, frm: int, deadline: float) -> np.ndarray:
        q = self.queues[(frm, self.me)]
        while True:
            if self.abort.is_set():
                raise _PeerFailure(f"party {self.me}: protocol aborted because another party failed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise PartyTimeoutError(f"party {self.me}: no message from party {frm} before the timeout")
            try:
                return q.get(timeout=min(0.05, left))
            except queue.Empty:
                continue

    def close(self) -> None:
        pass


class _SocketChannel:
    def __init__(self, me: int, socks: dict[int, socket.socket], max_frame_bytes: int = MAX_FRAME_BYTES):
        self.me, self.socks, self.max_frame_bytes = me, socks, max_frame_bytes
        self._queues: dict[int, queue.Queue] = {}
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        for j, s in socks.items():
            q: queue.Queue = queue.Queue()
            t = threading.Thread(target=self._sender, args=(j, s, q), daemon=True)
            t.start()
            self._queues[j], self._threads = q, [*self._threads, t]

    def _sender(self, j: int, s: socket.socket, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            try:
                header, payload = item
                s.sendall(header)
                if payload.nbytes:
                    s.sendall(memoryview(payload).cast("B"))
            except OSError as err:
                self._errors.append(_PeerFailure(f"party {self.me}: sending to party {j} failed: {err}"))
                return

    def send(self, to: int, arr: np.ndarray) -> None:
        if self._errors:
            raise self._errors[0]
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
        self._queues[to].put((_frame_header(arr), arr))

    def _read_exact(self, s: socket.socket, buf: memoryview, frm: int, deadline: float) -> None:
        got = 0
        while got < len(buf):
            left = deadline - time.monotonic()
            if left <= 0:
                raise PartyTimeoutError(f"party {self.me}: no message from party {frm} before the timeout")
            s.settimeout(min(left, 1.0))
            try:
                k = s.recv_into(buf[got:])
            except TimeoutError:
                continue
            except OSError as err:
                raise _PeerFailure(f"party {self.me}: connection to party {frm} failed: {err}") from None
            if k == 0:
                raise _PeerFailure(f"party {self.me}: party {frm} closed the connection (it died or aborted)")
            got += k

    def recv(self, frm: int, deadline: float) -> np.ndarray:
        s = self.socks[frm]
        hbuf = bytearray(HEADER_BYTES)
        self._read_exact(s, memoryview(hbuf), frm, deadline)
        nbytes, code, ndim, *shape = _HEADER.unpack(hbuf)
        if code not in _DTYPES or ndim > _MAX_DIM:
            raise ProtocolError(f"party {self.me}: malformed frame from party {frm} (dtype code {code}, ndim {ndim})")
        if nbytes > self.max_frame_bytes:  # checked before anything is allocated
            raise FrameTooLargeError(
                f"party {self.me}: frame from party {frm} announces {nbytes} bytes, above "
                f"max_frame_bytes={self.max_frame_bytes}; refused without allocating it"
            )
        dims = tuple(int(v) for v in shape[:ndim])
        if math.prod(dims) * _DTYPES[code].itemsize != nbytes:  # Python ints: no overflow
            raise ProtocolError(
                f"party {self.me}: frame size mismatch from party {frm}: shape {dims} of {_DTYPES[code]} "
                f"is not {nbytes} bytes"
            )
        out = np.empty(dims, dtype=_DTYPES[code])
        if nbytes:
            self._read_exact(s, out.data.cast("B"), frm, deadline)
        return out

    def close(self) -> None:
        for q in self._queues.values():
            q.put(None)
        for t in self._threads:
            t.join(timeout=5.0)
        for s in self.socks.values():
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# ------------------------------------------------------------------------------------------------
# the party
# ------------------------------------------------------------------------------------------------
class Party:
    """One participant: its id, its channel, its communication counters, its own rng and triple ledger."""

    def __init__(self, party_id: int, n_parties: int, channel: Any, *, deadline: float, rng: Any,
                 ledger: Any, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.party_id = party_id
        self.n_parties = n_parties
        self._channel = channel
        self._deadline = deadline
        self.rng = rng
        self.stats = CommStats()
        self._ledger = ledger  # this party's used-triple ids (TripleLedger, or a pipe to it)
        self.max_frame_bytes = max_frame_bytes

    def __repr__(self) -> str:
        return f"Party({self.party_id} of {self.n_parties}, rounds={self.stats.rounds}, sent={self.stats.bytes_sent} B)"

    @property
    def others(self) -> list[int]:
        return [j for j in range(self.n_parties) if j != self.party_id]

    def send(self, to: int, arr: np.ndarray) -> None:
        """Send an array to one party (the caller counts the round: see :meth:`round`)."""
        arr = np.asarray(arr)
        if arr.nbytes > self.max_frame_bytes:
            raise FrameTooLargeError(
                f"party {self.party_id}: a message of {arr.nbytes} bytes to party {to} exceeds "
                f"max_frame_bytes={self.max_frame_bytes}; split it or raise max_frame_bytes in run_protocol"
            )
        self._channel.send(to, arr)
        self.stats.messages_sent += 1
        self.stats.bytes_sent += HEADER_BYTES + arr.nbytes

    def recv(self, frm: int) -> np.ndarray:
        arr = self._channel.recv(frm, self._deadline)
        self.stats.bytes_received += HEADER_BYTES + arr.nbytes
        return arr

    def round(self) -> None:
        """Count one communication round (every party calls it at the same protocol step)."""
        self.stats.rounds += 1

    def exchange(self, arr: np.ndarray) -> list[np.ndarray]:
        """All-to-all: send ``arr`` to every other party, receive theirs. One round.

        Returns the list indexed by party id (own entry is ``arr`` itself).
        """
        arr = np.asarray(arr)
        for j in self.others:
            self.send(j, arr)
        out: list[np.ndarray] = [arr] * self.n_parties
        for j in self.others:
            out[j] = self.recv(j)
        self.round()
        return out

    def use_triple(self, triple: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Consume a :class:`~ppml_lab.mpc.beaver.TripleShare`, refusing any id this party already used.

        The check is against the party's :class:`TripleLedger` (which a copy of the triple cannot reset),
        then against the share's own single-use flag.
        """
        if triple.party != self.party_id:
            raise ValueError(f"triple share belongs to party {triple.party}, not party {self.party_id}")
        self._ledger.claim(triple.triple_id, party=self.party_id)  # refuses an id seen before
        return triple.consume()


# ------------------------------------------------------------------------------------------------
# runners
# ------------------------------------------------------------------------------------------------
def _party_rngs(rng: RNGLike, n: int, insecure_seeded_keys: bool) -> list[Any]:
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)  # parties' masks and shares are key material
    if isinstance(g, SecureGenerator):
        return [SecureGenerator() for _ in range(n)]
    return [seeded_rng(random_seed(g)) for _ in range(n)]


def _pick_root(errors: dict[int, BaseException]) -> BaseException:
    roots = {i: e for i, e in errors.items() if not isinstance(e, _PeerFailure)}
    timeouts = {i: e for i, e in roots.items() if isinstance(e, PartyTimeoutError)}
    others = {i: e for i, e in roots.items() if not isinstance(e, PartyTimeoutError)}
    if others:
        return others[min(others)]
    if timeouts:
        return timeouts[min(timeouts)]
    return errors[min(errors)]


def _run_inprocess(fn: Callable, args: Sequence[tuple], timeout: float, rngs: list[Any],
                   ledgers: Sequence[TripleLedger], max_frame_bytes: int) -> ProtocolRun:
    n = len(args)
    queues: dict[tuple[int, int], queue.Queue] = {(i, j): queue.Queue() for i in range(n) for j in range(n) if i != j}
    abort = threading.Event()
    outputs: list[Any] = [None] * n
    errors: dict[int, BaseException] = {}
    t0 = time.monotonic()
    deadline = t0 + timeout
    parties = [Party(i, n, _InProcessChannel(i, queues, abort), deadline=deadline, rng=rngs[i], ledger=ledgers[i],
                     max_frame_bytes=max_frame_bytes) for i in range(n)]

    def body(i: int) -> None:
        try:
            outputs[i] = fn(parties[i], *args[i])
        except BaseException as err:  # noqa: BLE001 - reported to the caller below
            errors[i] = err
            abort.set()

    threads = [threading.Thread(target=body, args=(i,), daemon=True, name=f"mpc-party-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 1.0)
    seconds = time.monotonic() - t0
    alive = [i for i, t in enumerate(threads) if t.is_alive()]
    if alive:
        abort.set()
        raise PartyTimeoutError(f"parties {alive} did not finish within timeout={timeout:g} s")
    if errors:
        root = _pick_root(errors)
        raise root
    return ProtocolRun(outputs, [p.stats for p in parties], seconds, "inprocess")


def _accept_peers(i: int, n: int, lst: socket.socket, token: bytes, wait: float) -> dict[int, socket.socket]:
    """Accept one connection from each party j > i. A connection must open with the run token and an
    expected, not yet connected party id; anything else is closed and noted (a stray local process cannot
    take a party's place). Raises ProtocolError if the expected peers have not all arrived in ``wait`` s."""
    expected = set(range(i + 1, n))
    socks: dict[int, socket.socket] = {}
    rejected: list[str] = []
    until = time.monotonic() + wait
    while expected - socks.keys():
        left = until - time.monotonic()
        if left <= 0:
            raise ProtocolError(
                f"party {i}: parties {sorted(expected - socks.keys())} did not connect within {wait:g} s"
                + (f"; rejected connections: {'; '.join(rejected)}" if rejected else "")
            )
        lst.settimeout(left)
        try:
            s, addr = lst.accept()
        except TimeoutError:
            continue
        s.settimeout(min(left, 5.0))
        try:
            hello = s.recv(_HELLO.size, socket.MSG_WAITALL)
        except OSError:
            hello = b""
        if len(hello) != _HELLO.size:
            rejected.append(f"{addr}: short greeting ({len(hello)} bytes)")
            s.close()
            continue
        their_token, j = _HELLO.unpack(hello)
        if not hmac.compare_digest(their_token, token):
            rejected.append(f"{addr}: wrong run token")
            s.close()
            continue
        if j not in expected or j in socks:  # peer ids are validated, not trusted
            rejected.append(f"{addr}: party id {j} is not one of the expected {sorted(expected - socks.keys())}")
            s.close()
            continue
        socks[int(j)] = s
    return socks


def _child_main(i: int, n: int, conn: Any, fn: Callable, args: tuple, rng: Any, timeout: float,
                max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
    """Entry point of party i's process: bind, publish port, build the mesh, run, report, shut down."""
    socks: dict[int, socket.socket] = {}
    channel = None
    try:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))  # the kernel picks a free port
        lst.listen(n)
        conn.send(("port", lst.getsockname()[1]))
        _kind, ports, token = conn.recv()
        for j in range(i):  # connect to lower ids, accept higher ids: one TCP connection per pair
            s = socket.create_connection(("127.0.0.1", ports[j]), timeout=10.0)
            s.sendall(_HELLO.pack(token, i))
            socks[j] = s
        socks.update(_accept_peers(i, n, lst, token, 10.0))
        lst.close()
        for s in socks.values():
            s.settimeout(10.0)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        channel = _SocketChannel(i, socks, max_frame_bytes)
        conn.send(("ready", None))
        conn.recv()  # go
        t0 = time.monotonic()
        party = Party(i, n, channel, deadline=t0 + timeout, rng=rng, ledger=_PipeLedger(conn, i, t0 + timeout),
                      max_frame_bytes=max_frame_bytes)
        out = fn(party, *args)
        seconds = time.monotonic() - t0
        channel.close()
        channel = None
        conn.send(("ok", (out, party.stats, seconds)))
    except BaseException as err:  # noqa: BLE001 - shipped to the parent
        try:
            conn.send(("error", err, traceback.format_exc()))
        except Exception:  # noqa: BLE001 - unpicklable exception: send its text
            conn.send(("error", ProtocolError(f"party {i}: {type(err).__name__}: {err}"), traceback.format_exc()))
    finally:
        if channel is not None:
            channel.close()
        conn.close()


def _run_processes(
    fn: Callable, args: Sequence[tuple], timeout: float, rngs: list[Any], start_method: str, startup_timeout: float,
    ledgers: Sequence[TripleLedger], max_frame_bytes: int,
) -> ProtocolRun:
    n = len(args)
    # typeshed types get_context() as BaseContext, which lacks Process; every concrete context has it
    ctx: Any = mp.get_context(start_method)
    pipes = [ctx.Pipe(duplex=True) for _ in range(n)]
    procs = [
        ctx.Process(target=_child_main,
                    args=(i, n, pipes[i][1], fn, tuple(args[i]), rngs[i], timeout, max_frame_bytes),
                    daemon=True, name=f"mpc-party-{i}")
        for i in range(n)
    ]
    conns = [p[0] for p in pipes]
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    try:
        for p in procs:
            p.start()
        for p in pipes:
            p[1].close()

        def collect(expect: str, until: float) -> dict[int, Any]:
            got: dict[int, Any] = {}
            pending = set(range(n))
            while pending:
                left = until - time.monotonic()
                if left <= 0:
                    break
                ready = mp_wait([conns[i] for i in pending] + [procs[i].sentinel for i in pending], timeout=left)
                for r in ready:
                    for i in list(pending):
                        if r is conns[i]:
                            pending.discard(i)
                            try:
                                msg = conns[i].recv()
                            except EOFError:
                                procs[i].join(timeout=1.0)
                                errors[i] = ProtocolError(
                                    f"party {i} died (exit code {procs[i].exitcode}) before reporting {expect}"
                                )
                                continue
                            if msg[0] == "claim":  # the party asks its ledger (kept here) about a triple
                                pending.add(i)
                                try:
                                    ledgers[i].claim(msg[1], party=i)
                                    answer: tuple = ("claimed", None)
                                except TripleReuseError as err:
                                    answer = ("reuse", str(err))
                                try:
                                    conns[i].send(answer)
                                except OSError:  # the party died meanwhile: its sentinel reports it
                                    pass
                                continue
                            if msg[0] == "error":
                                errors[i] = msg[1]
                                if hasattr(msg[1], "add_note"):
                                    msg[1].add_note(f"-- raised in party {i}'s process:\n{msg[2]}")
                            else:
                                got[i] = msg[1]
                        elif r == procs[i].sentinel and not conns[i].poll():
                            pending.discard(i)
                            # the sentinel can fire a moment before the child is reaped: join so that
                            # exitcode is the real one, not None
                            procs[i].join(timeout=1.0)
                            errors[i] = ProtocolError(
                                f"party {i} died (exit code {procs[i].exitcode}) before reporting {expect}"
                            )
            for i in pending:
                errors.setdefault(i, PartyTimeoutError(f"party {i} did not report {expect} in time"))
            return got

        ports = collect("its port", time.monotonic() + startup_timeout)
        if errors:
            raise _pick_root(errors)
        token = os.urandom(_TOKEN_BYTES)  # per-run: only this run's parties can join the mesh
        for c in conns:
            c.send(("ports", [ports[i] for i in range(n)], token))
        collect("readiness", time.monotonic() + startup_timeout)
        if errors:
            raise _pick_root(errors)
        t0 = time.monotonic()
        for c in conns:
            c.send(("go", None))
        results = collect("a result", t0 + timeout + 2.0)
        seconds = time.monotonic() - t0
        if errors:
            root = _pick_root(errors)
            if isinstance(root, PartyTimeoutError) and "did not report" in str(root):
                late = sorted(i for i, e in errors.items() if isinstance(e, PartyTimeoutError))
                raise PartyTimeoutError(f"parties {late} did not finish within timeout={timeout:g} s")
            raise root
        outs = [results[i][0] for i in range(n)]
        stats = [results[i][1] for i in range(n)]
        return ProtocolRun(outs, stats, seconds, "processes",
                           {"party_seconds": [results[i][2] for i in range(n)]})
    finally:
        for p in procs:
            if p.is_alive():
                p.join(timeout=0.5 if not errors else 0.05)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=2.0)
        for c in conns:
            c.close()


def run_protocol(
    fn: Callable[..., Any],
    party_args: Sequence[tuple],
    *,
    transport: str = "inprocess",
    timeout: float = 60.0,
    rng: RNGLike = None,
    start_method: str = "spawn",
    startup_timeout: float = 60.0,
    ledgers: Sequence[TripleLedger] | None = None,
    max_frame_bytes: int = MAX_FRAME_BYTES,
    insecure_seeded_keys: bool = False,
) -> ProtocolRun:
    """Run ``fn(party, *party_args[i])`` for every party i and collect outputs and communication.

    ``transport``: 'inprocess' (threads) or 'processes' (one process per party, TCP on 127.0.0.1; ``fn``
    and the arguments must be picklable, i.e. defined at module level). ``timeout`` bounds the protocol
    phase in seconds. ``rng``: each party gets its own generator for its masks and shares -- always the
    OS CSPRNG, unless ``insecure_seeded_keys=True``, when they are seeded from ``rng`` (reproducible teaching
    runs only: the seed then predicts every share).

    With ``start_method='spawn'`` (the default: safe in threaded hosts such as Jupyter) each party is a
    fresh interpreter, so a script calling this must guard its entry point with
    ``if __name__ == "__main__":``; ``'fork'`` starts faster and accepts functions defined anywhere.
    An in-process party that hangs cannot be killed: after the timeout its thread is abandoned (daemon).

    ``ledgers``: one :class:`TripleLedger` per party, the ids of the triples each party has used; by default
    :func:`default_ledgers` (kept by this process for its lifetime), so a triple is refused by every later
    run too, on either transport. Passing fresh ledgers to every run makes the parties forget what they
    used -- the raw level, which re-opens the reuse leak; keep and pass the same ledgers instead.
    ``max_frame_bytes`` bounds every message a party sends or accepts.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(party_args, (str, bytes)) or not isinstance(party_args, Sequence):
        raise TypeError(f"party_args must be a list with one tuple of arguments per party, got {type(party_args).__name__}")
    n = check_int("number of parties (len(party_args))", len(party_args), low=2)
    check_choice("transport", transport, TRANSPORTS)
    t = check_positive("timeout", timeout)
    check_choice("start_method", start_method, ("spawn", "fork", "forkserver"))
    mfb = check_int("max_frame_bytes", max_frame_bytes, low=1)
    if ledgers is None:
        books = default_ledgers(n)
    else:
        if isinstance(ledgers, (str, bytes)) or not isinstance(ledgers, Sequence) or len(ledgers) != n:
            raise ValueError(f"ledgers must be a list of {n} TripleLedger objects (one per party), got {ledgers!r}")
        for k, book in enumerate(ledgers):
            if not isinstance(book, TripleLedger):
                raise TypeError(f"ledgers[{k}] must be a TripleLedger, got {type(book).__name__}")
        books = list(ledgers)
    rngs = _party_rngs(rng, n, insecure_seeded_keys)
    args = [tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in party_args]
    if transport == "inprocess":
        return _run_inprocess(fn, args, t, rngs, books, mfb)
    return _run_processes(fn, args, t, rngs, start_method, check_positive("startup_timeout", startup_timeout),
                          books, mfb)
