"""Transports: in-process and loopback processes agree, count rounds and bytes, and fail cleanly."""

import os
import time

import numpy as np
import psutil
import pytest

from ppml_lab.exceptions import PartyTimeoutError, ProtocolError, TripleReuseError
from ppml_lab.mpc.network import HEADER_BYTES, run_protocol
from ppml_lab.mpc.protocols import open_shares, secure_matmul


def _echo_party(party, value):
    return open_shares(party, np.full(4, value, dtype=np.uint64))


def _dying_party(party, value):
    if party.party_id == 1:
        os._exit(3)
    return open_shares(party, np.full(4, value, dtype=np.uint64))


def _slow_party(party, value):
    if party.party_id == 1:
        time.sleep(5.0)
    return open_shares(party, np.full(4, value, dtype=np.uint64))


def _raising_party(party, value):
    if party.party_id == 0:
        raise TripleReuseError("party 0 refused a triple")
    return open_shares(party, np.full(4, value, dtype=np.uint64))


@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_open_counts_one_round_and_exact_bytes(transport):
    run = run_protocol(_echo_party, [(1,), (2,), (3,)], transport=transport, timeout=20, start_method="fork")
    for out in run.outputs:
        np.testing.assert_array_equal(out, np.full(4, 6, dtype=np.uint64))
    for s in run.stats:
        assert s.rounds == 1
        assert s.messages_sent == 2
        assert s.bytes_sent == 2 * (HEADER_BYTES + 32)
        assert s.bytes_received == s.bytes_sent


def test_processes_transport_with_spawn_matches_inprocess():
    g = np.random.default_rng(0)
    X, Y = g.normal(size=(8, 5)), g.normal(size=(5, 2))
    # bit-for-bit equal runs need the same shares and triples: a replay, so the insecure flag is explicit
    a = secure_matmul(X, Y, rng=1, insecure_seeded_keys=True)
    b = secure_matmul(X, Y, rng=1, transport="processes", timeout=30, insecure_seeded_keys=True)
    np.testing.assert_array_equal(a.value, b.value)
    assert [s.bytes_sent for s in a.run.stats] == [s.bytes_sent for s in b.run.stats]
    assert b.run.transport == "processes"


def _children():
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_dead_party_raises_protocol_error_and_leaves_no_process():
    before = _children()
    with pytest.raises(ProtocolError, match=r"party 1 died \(exit code 3\)"):
        run_protocol(_dying_party, [(1,), (2,)], transport="processes", timeout=10, start_method="fork")
    time.sleep(0.2)
    assert _children() - before == set()


def test_slow_party_times_out_and_is_terminated():
    before = _children()
    t0 = time.monotonic()
    with pytest.raises(PartyTimeoutError, match="party 1"):
        run_protocol(_slow_party, [(1,), (2,)], transport="processes", timeout=1.0, start_method="fork")
    assert time.monotonic() - t0 < 4.5  # gave up before the slow party woke up
    time.sleep(0.2)
    assert _children() - before == set()


def test_slow_party_times_out_inprocess():
    with pytest.raises(PartyTimeoutError, match=r"parties \[1\] did not finish within timeout=0.5 s"):
        run_protocol(_slow_party, [(1,), (2,)], transport="inprocess", timeout=0.5)


@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_party_exception_is_reraised_with_its_type(transport):
    with pytest.raises(TripleReuseError, match="party 0 refused"):
        run_protocol(_raising_party, [(1,), (2,)], transport=transport, timeout=10, start_method="fork")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="transport must be one of 'inprocess', 'processes', got 'udp'"):
        run_protocol(_echo_party, [(1,), (2,)], transport="udp")
    with pytest.raises(ValueError, match=r"number of parties \(len\(party_args\)\) must be an integer >= 2, got 1"):
        run_protocol(_echo_party, [(1,)])
    with pytest.raises(TypeError, match="fn must be callable"):
        run_protocol(3, [(1,), (2,)])
    with pytest.raises(ValueError, match="timeout must be a finite number > 0"):
        run_protocol(_echo_party, [(1,), (2,)], timeout=0)


# ---- Beaver triple reuse: each party's ledger, on every transport --------------------------------
import copy  # noqa: E402
import pickle  # noqa: E402
import socket  # noqa: E402

from ppml_lab.exceptions import FrameTooLargeError  # noqa: E402
from ppml_lab.mpc.beaver import TrustedDealer  # noqa: E402
from ppml_lab.mpc.network import (  # noqa: E402
    _HEADER,
    _HELLO,
    TripleLedger,
    _accept_peers,
    _SocketChannel,
)
from ppml_lab.mpc.protocols import beaver_multiply_shares, share_input  # noqa: E402


def _opening_party(party, x, triple, copy_inside):
    """Beaver's first step, as an eavesdropper records it: open d = x - a (public in the protocol).

    With ``copy_inside`` the party also tries the same triple again through a deep copy (a fresh
    ``used`` flag), as a bug or a careless prototype would."""
    spare = copy.deepcopy(triple) if copy_inside else None  # copied while fresh: its flag says unused
    xs = share_input(party, x, owner=0, shape=(3,))
    a, _b, _c = party.use_triple(triple)
    d = open_shares(party, xs - a)
    if copy_inside:
        a2, _b2, _c2 = party.use_triple(spare)
        return d, open_shares(party, xs - a2)
    return d


X1 = np.array([37, 61, 45], dtype=np.int64).view(np.uint64)
X2 = np.array([52, 58, 45], dtype=np.int64).view(np.uint64)


def _raw_leak_through_a_copy():
    """Raw level: the openings of two multiplications under one triple, the second through a deep copy."""
    t = TrustedDealer(2, rng=0).multiplication_triple((3,))
    t_copy = copy.deepcopy(t)  # fresh `used` flags: the only guard beaver_multiply_shares has
    y = np.arange(3, dtype=np.uint64)
    x1s, x2s, ys = [X1 - np.uint64(9), np.full(3, 9, np.uint64)], [X2 - np.uint64(4), np.full(3, 4, np.uint64)], [y, y * 0]
    _, d1, _ = beaver_multiply_shares(x1s, ys, t, return_openings=True)
    _, d2, _ = beaver_multiply_shares(x2s, ys, t_copy, return_openings=True)
    return (d1 - d2).view(np.int64)


@pytest.mark.attack
def test_triple_reuse_leaks_the_difference_on_the_raw_path_and_not_through_a_party():
    np.testing.assert_array_equal(_raw_leak_through_a_copy(), X1.view(np.int64) - X2.view(np.int64))  # x1 - x2 leaks
    t = TrustedDealer(2, rng=0).multiplication_triple((3,))
    with pytest.raises(TripleReuseError, match="already used Beaver triple"):  # default: the party's ledger
        run_protocol(_opening_party, [(X1, t[0], True), (None, t[1], True)], timeout=10)


@pytest.mark.attack
@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_triple_reuse_across_runs_leaks_without_ledgers_and_is_refused_by_default(transport):
    t = TrustedDealer(2, rng=0).multiplication_triple((3,))
    kw = dict(transport=transport, timeout=20, start_method="fork")
    # raw: parties that forget what they used (a fresh ledger per run, as when each run had its own
    # pickled copy) open d1 and d2 under the same triple -> everyone learns x1 - x2
    forgetful = lambda: [TripleLedger(), TripleLedger()]  # noqa: E731
    r1 = run_protocol(_opening_party, [(X1, copy.deepcopy(t[0]), False), (None, copy.deepcopy(t[1]), False)],
                      ledgers=forgetful(), **kw)
    r2 = run_protocol(_opening_party, [(X2, copy.deepcopy(t[0]), False), (None, copy.deepcopy(t[1]), False)],
                      ledgers=forgetful(), **kw)
    leak = (r1.outputs[1] - r2.outputs[1]).view(np.int64)
    np.testing.assert_array_equal(leak, X1.view(np.int64) - X2.view(np.int64))
    # default: every party's ledger outlives the run, so the second run is refused whatever copy it gets
    fresh = TrustedDealer(2, rng=0).multiplication_triple((3,))
    run_protocol(_opening_party, [(X1, fresh[0], False), (None, fresh[1], False)], **kw)
    assert not fresh[0].used or transport == "inprocess"  # processes: the caller's objects look unused
    with pytest.raises(TripleReuseError, match=r"party [01] already used Beaver triple \d+"):
        run_protocol(_opening_party, [(X2, copy.deepcopy(fresh[0]), False), (None, copy.deepcopy(fresh[1]), False)], **kw)


@pytest.mark.attack
@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_deep_copied_triple_within_one_run_is_refused_by_every_party(transport):
    np.testing.assert_array_equal(_raw_leak_through_a_copy(), X1.view(np.int64) - X2.view(np.int64))  # raw: leaks
    t = TrustedDealer(2, rng=1).multiplication_triple((3,))
    books = [TripleLedger(), TripleLedger()]
    with pytest.raises(TripleReuseError, match="already used Beaver triple"):
        run_protocol(_opening_party, [(X1, t[0], True), (None, t[1], True)], transport=transport, timeout=20,
                     start_method="fork", ledgers=books)
    assert t[0].triple_id in books[0] and t[1].triple_id in books[1]  # both parties recorded it
    assert len(books[0]) == len(books[1]) == 1


def test_pickled_triple_share_is_refused_by_its_party_ledger():
    t = TrustedDealer(2, rng=2).multiplication_triple((3,))
    book = TripleLedger()
    book.claim(t[0].triple_id, party=0)
    clone = pickle.loads(pickle.dumps(t[0]))
    assert not clone.used  # the copy's own flag says fresh ...
    with pytest.raises(TripleReuseError, match="party 0 already used"):
        book.claim(clone.triple_id, party=0)  # ... the ledger does not


def test_ledger_cannot_be_copied_or_pickled():
    book = TripleLedger()
    with pytest.raises(TypeError, match="must not be pickled or copied"):
        copy.deepcopy(book)
    with pytest.raises(TypeError, match="must not be pickled or copied"):
        pickle.dumps(book)


def test_dealers_seeded_alike_issue_distinct_triple_ids():
    a = TrustedDealer(2, rng=5).multiplication_triple((2,))
    b = TrustedDealer(2, rng=5).multiplication_triple((2,))
    assert a[0].triple_id != b[0].triple_id


def test_bad_ledgers_argument_raises():
    with pytest.raises(ValueError, match="ledgers must be a list of 2 TripleLedger objects"):
        run_protocol(_echo_party, [(1,), (2,)], ledgers=[TripleLedger()])
    with pytest.raises(TypeError, match=r"ledgers\[1\] must be a TripleLedger, got set"):
        run_protocol(_echo_party, [(1,), (2,)], ledgers=[TripleLedger(), set()])


def test_triple_of_another_party_is_refused():
    t = TrustedDealer(2, rng=3).multiplication_triple((3,))
    with pytest.raises(ValueError, match="triple share belongs to party 1, not party 0"):
        run_protocol(_opening_party, [(X1, t[1], False), (None, t[0], False)], timeout=5)


# ---- the mesh: bounded frames, validated peers ----------------------------------------------------
def _big_party(party, n):
    return open_shares(party, np.zeros(n, dtype=np.uint64))


@pytest.mark.parametrize("transport", ["inprocess", "processes"])
def test_oversized_message_is_refused_before_sending(transport):
    with pytest.raises(FrameTooLargeError, match="a message of 800 bytes to party 1 exceeds max_frame_bytes=512"):
        run_protocol(_big_party, [(100,), (100,)], transport=transport, timeout=10, start_method="fork",
                     max_frame_bytes=512)
    run = run_protocol(_big_party, [(64,), (64,)], transport=transport, timeout=10, start_method="fork",
                       max_frame_bytes=512)
    assert run.outputs[0].shape == (64,)


def _channel_pair(max_frame_bytes=1024):
    a, b = socket.socketpair()
    return _SocketChannel(0, {1: a}, max_frame_bytes), b


def test_frame_announcing_too_many_bytes_is_refused_without_allocating():
    ch, peer = _channel_pair()
    try:
        peer.sendall(_HEADER.pack(2**40, 0, 1, 2**37, 0, 0, 0))  # "a 1 TiB array follows"
        with pytest.raises(FrameTooLargeError, match=r"announces 1099511627776 bytes, above max_frame_bytes=1024"):
            ch.recv(1, time.monotonic() + 5)
    finally:
        ch.close()
        peer.close()


def test_frame_whose_shape_does_not_match_its_size_is_refused():
    ch, peer = _channel_pair()
    try:
        peer.sendall(_HEADER.pack(16, 0, 2, 2**32, 2**32, 0, 0))  # shape 2^64 elements claimed as 16 bytes
        with pytest.raises(ProtocolError, match=r"frame size mismatch from party 1: shape \(4294967296, 4294967296\)"):
            ch.recv(1, time.monotonic() + 5)
    finally:
        ch.close()
        peer.close()


def test_frame_with_unknown_dtype_or_too_many_dims_is_refused():
    for header in (_HEADER.pack(8, 9, 1, 1, 0, 0, 0), _HEADER.pack(8, 0, 5, 1, 0, 0, 0)):
        ch, peer = _channel_pair()
        try:
            peer.sendall(header)
            with pytest.raises(ProtocolError, match="malformed frame from party 1"):
                ch.recv(1, time.monotonic() + 5)
        finally:
            ch.close()
            peer.close()


def test_mesh_rejects_wrong_token_and_unexpected_or_duplicate_peer_ids():
    token = b"t" * 16
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    port = lst.getsockname()[1]
    clients = []

    def dial(tok, pid, who):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(_HELLO.pack(tok, pid) + who)  # `who` marks which dialer the acceptor ended up with
        clients.append(c)

    try:
        dial(b"x" * 16, 2, b"S")  # a stray process without the run token, claiming id 2
        dial(token, 0, b"Z")  # party 0 is not a peer that connects to party 0
        dial(token, 7, b"N")  # no such party
        dial(token, 1, b"1")  # the real party 1
        dial(token, 1, b"I")  # an impostor claiming id 1 again
        dial(token, 2, b"2")  # the real party 2
        socks = _accept_peers(0, 3, lst, token, 5.0)
        assert sorted(socks) == [1, 2]
        assert socks[1].recv(1) == b"1" and socks[2].recv(1) == b"2"  # the real peers, nobody else
        for s in socks.values():
            s.close()
        # nobody valid arrives: the error names what was rejected
        dial(token, 9, b"N")
        with pytest.raises(ProtocolError, match=r"parties \[1\] did not connect .*party id 9 is not one of the expected \[1\]"):
            _accept_peers(0, 2, lst, token, 0.5)
    finally:
        for c in clients:
            c.close()
        lst.close()


def test_bad_max_frame_bytes_raises():
    with pytest.raises(ValueError, match="max_frame_bytes must be an integer >= 1, got 0"):
        run_protocol(_echo_party, [(1,), (2,)], max_frame_bytes=0)
