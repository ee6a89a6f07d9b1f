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
Semi-honest model: messages are neither authenticated nor encrypted (loopback only).
"""

from __future__ import annotations

import multiprocessing as mp
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

from ppml_lab._rng import RNGLike, SecureGenerator, random_seed, resolve_rng, seeded_rng
from ppml_lab._validation import check_choice, check_int, check_positive
from ppml_lab.exceptions import PartyTimeoutError, ProtocolError, TripleReuseError

__all__ = ["CommStats", "Party", "ProtocolRun", "run_protocol", "TRANSPORTS", "HEADER_BYTES"]

TRANSPORTS = ("inprocess", "processes")
_DTYPES = {0: np.dtype(np.uint64), 1: np.dtype(np.int64), 2: np.dtype(np.float64)}
_CODES = {v: k for k, v in _DTYPES.items()}
_MAX_DIM = 4
# frame header: payload bytes (Q), dtype code (B), ndim (B), shape (4 x Q)
_HEADER = struct.Struct("<QBB" + "Q" * _MAX_DIM)
HEADER_BYTES = _HEADER.size


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
    def __init__(self, me: int, socks: dict[int, socket.socket]):
        self.me, self.socks = me, socks
        self._queues: dict[int, queue.Queue] = {}
        self._errors: list[BaseException] = []
        self._threads = []
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
            raise ProtocolError(f"party {self.me}: malformed frame from party {frm}")
        out = np.empty(tuple(shape[:ndim]), dtype=_DTYPES[code])
        if out.nbytes != nbytes:
            raise ProtocolError(f"party {self.me}: frame size mismatch from party {frm}")
        if nbytes:
            self._read_exact(s, memoryview(out).cast("B"), frm, deadline)
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

    def __init__(self, party_id: int, n_parties: int, channel: Any, *, deadline: float, rng: Any):
        self.party_id = party_id
        self.n_parties = n_parties
        self._channel = channel
        self._deadline = deadline
        self.rng = rng
        self.stats = CommStats()
        self._used_triples: set[int] = set()

    def __repr__(self) -> str:
        return f"Party({self.party_id} of {self.n_parties}, rounds={self.stats.rounds}, sent={self.stats.bytes_sent} B)"

    @property
    def others(self) -> list[int]:
        return [j for j in range(self.n_parties) if j != self.party_id]

    def send(self, to: int, arr: np.ndarray) -> None:
        """Send an array to one party (the caller counts the round: see :meth:`round`)."""
        arr = np.asarray(arr)
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
        """Consume a :class:`~ppml_lab.mpc.beaver.TripleShare`, refusing any id this party already used."""
        if triple.party != self.party_id:
            raise ValueError(f"triple share belongs to party {triple.party}, not party {self.party_id}")
        if triple.triple_id in self._used_triples:
            raise TripleReuseError(
                f"party {self.party_id} already used Beaver triple {triple.triple_id}; reuse reveals x - x'"
            )
        abc = triple.consume()
        self._used_triples.add(triple.triple_id)
        return abc


# ------------------------------------------------------------------------------------------------
# runners
# ------------------------------------------------------------------------------------------------
def _party_rngs(rng: RNGLike, n: int) -> list[Any]:
    g = resolve_rng(rng)
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


def _run_inprocess(fn: Callable, args: Sequence[tuple], timeout: float, rngs: list[Any]) -> ProtocolRun:
    n = len(args)
    queues = {(i, j): queue.Queue() for i in range(n) for j in range(n) if i != j}
    abort = threading.Event()
    outputs: list[Any] = [None] * n
    errors: dict[int, BaseException] = {}
    t0 = time.monotonic()
    deadline = t0 + timeout
    parties = [Party(i, n, _InProcessChannel(i, queues, abort), deadline=deadline, rng=rngs[i]) for i in range(n)]

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


def _child_main(i: int, n: int, conn: Any, fn: Callable, args: tuple, rng: Any, timeout: float) -> None:
    """Entry point of party i's process: bind, publish port, build the mesh, run, report, shut down."""
    socks: dict[int, socket.socket] = {}
    channel = None
    try:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.bind(("127.0.0.1", 0))  # the kernel picks a free port
        lst.listen(n)
        conn.send(("port", lst.getsockname()[1]))
        kind, ports = conn.recv()
        for j in range(i):  # connect to lower ids, accept higher ids: one TCP connection per pair
            s = socket.create_connection(("127.0.0.1", ports[j]), timeout=10.0)
            s.sendall(struct.pack("<Q", i))
            socks[j] = s
        lst.settimeout(10.0)
        for _ in range(i + 1, n):
            s, _addr = lst.accept()
            s.settimeout(10.0)
            (j,) = struct.unpack("<Q", s.recv(8, socket.MSG_WAITALL))
            socks[int(j)] = s
        lst.close()
        for s in socks.values():
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        channel = _SocketChannel(i, socks)
        conn.send(("ready", None))
        conn.recv()  # go
        t0 = time.monotonic()
        party = Party(i, n, channel, deadline=t0 + timeout, rng=rng)
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
    fn: Callable, args: Sequence[tuple], timeout: float, rngs: list[Any], start_method: str, startup_timeout: float
) -> ProtocolRun:
    n = len(args)
    ctx = mp.get_context(start_method)
    pipes = [ctx.Pipe(duplex=True) for _ in range(n)]
    procs = [
        ctx.Process(target=_child_main, args=(i, n, pipes[i][1], fn, tuple(args[i]), rngs[i], timeout),
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
        for c in conns:
            c.send(("ports", [ports[i] for i in range(n)]))
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
) -> ProtocolRun:
    """Run ``fn(party, *party_args[i])`` for every party i and collect outputs and communication.

    ``transport``: 'inprocess' (threads) or 'processes' (one process per party, TCP on 127.0.0.1; ``fn``
    and the arguments must be picklable, i.e. defined at module level). ``timeout`` bounds the protocol
    phase in seconds. ``rng``: each party gets its own generator -- CSPRNG by default, or seeded from
    ``rng`` for reproducible teaching runs.

    With ``start_method='spawn'`` (the default: safe in threaded hosts such as Jupyter) each party is a
    fresh interpreter, so a script calling this must guard its entry point with
    ``if __name__ == "__main__":``; ``'fork'`` starts faster and accepts functions defined anywhere.
    An in-process party that hangs cannot be killed: after the timeout its thread is abandoned (daemon).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(party_args, (str, bytes)) or not isinstance(party_args, Sequence):
        raise TypeError(f"party_args must be a list with one tuple of arguments per party, got {type(party_args).__name__}")
    n = check_int("number of parties (len(party_args))", len(party_args), low=2)
    check_choice("transport", transport, TRANSPORTS)
    t = check_positive("timeout", timeout)
    check_choice("start_method", start_method, ("spawn", "fork", "forkserver"))
    rngs = _party_rngs(rng, n)
    args = [tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in party_args]
    if transport == "inprocess":
        return _run_inprocess(fn, args, t, rngs)
    return _run_processes(fn, args, t, rngs, start_method, check_positive("startup_timeout", startup_timeout))
