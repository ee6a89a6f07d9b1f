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
    a = secure_matmul(X, Y, rng=1)
    b = secure_matmul(X, Y, rng=1, transport="processes", timeout=30)
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
