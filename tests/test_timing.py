"""The shared helpers that graduated from tests, benchmarks and notebooks: timing and free ports."""

import socket

import pytest

from ppml_lab._ports import free_port, free_port_pair
from ppml_lab.timing import timed


def test_timed_returns_the_last_result_and_counts_every_run():
    calls = []
    seconds, out = timed(lambda: calls.append(1) or len(calls), repeats=3)
    assert out == 3 and len(calls) == 3
    assert seconds >= 0.0


def test_timed_summaries_differ_as_stated():
    import ppml_lab.timing as T  # no sleeping: the statistic is checked on a fake clock

    ticks = iter([0.0, 1.0, 10.0, 13.0, 20.0, 20.5])  # runs of 1.0, 3.0 and 0.5 s
    real = T.time.perf_counter
    T.time.perf_counter = lambda: next(ticks)
    try:
        assert timed(lambda: None, repeats=3, statistic="min")[0] == 0.5
    finally:
        T.time.perf_counter = real
    ticks = iter([0.0, 1.0, 10.0, 13.0, 20.0, 20.5])
    T.time.perf_counter = lambda: next(ticks)
    try:
        assert timed(lambda: None, repeats=3, statistic="median")[0] == 1.0
    finally:
        T.time.perf_counter = real


def test_timed_refuses_bad_input():
    with pytest.raises(TypeError, match="fn must be a callable"):
        timed(3)
    with pytest.raises(ValueError, match="repeats"):
        timed(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="statistic must be one of 'min', 'median', got 'mean'"):
        timed(lambda: None, statistic="mean")


def test_free_ports_can_be_bound():
    p = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))
    q = free_port_pair()
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", q))
        b.bind(("127.0.0.1", q + 1))


def test_free_port_pair_skips_a_port_whose_successor_is_taken(monkeypatch):
    import ppml_lab._ports as P

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        candidates = iter([busy - 1, free_port_pair()])  # busy - 1 has a taken successor
        monkeypatch.setattr(P, "free_port", lambda host="127.0.0.1": next(candidates))
        assert P.free_port_pair() != busy - 1
