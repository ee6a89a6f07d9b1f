"""Exercise checks for notebook 09 (secure aggregation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ppml_lab.exercises import CheckResult, failed, not_answered, passed


def check_pair_masks(answer: Any, *, n_clients: int = 5) -> CheckResult:
    """How many pairwise masks does ONE client add to its vector in a round with n clients?"""
    name = f"pairwise masks per client (n={n_clients})"
    if answer is None:
        return not_answered(name, "Each client agrees one seed with every other client.")
    if not isinstance(answer, (int, np.integer)) or isinstance(answer, bool):
        return failed(name, f"expected a whole number, got {answer!r}")
    if answer == n_clients - 1:
        return passed(name, f"{n_clients - 1}: one per other client; the cost per client grows linearly with n.")
    if answer == n_clients * (n_clients - 1) // 2:
        return failed(name, f"{answer} is the number of pairs in the whole round",
                      "Count only the pairs that include this client.")
    if answer == n_clients:
        return failed(name, "a client does not mask against itself", "It has a self-mask b_u, but that is not a pair mask.")
    return failed(name, f"{answer} is not right", "Which peers does client u agree a seed s_uv with?")


def check_max_dropouts(answer: Any, *, n_clients: int = 5, threshold: int = 3) -> CheckResult:
    """With n clients and threshold t, how many clients can drop out and the round still succeed?"""
    name = f"tolerated dropouts (n={n_clients}, t={threshold})"
    if answer is None:
        return not_answered(name, "The server needs at least t clients at every phase.")
    if not isinstance(answer, (int, np.integer)) or isinstance(answer, bool):
        return failed(name, f"expected a whole number, got {answer!r}")
    if answer == n_clients - threshold:
        return passed(name, f"n - t = {n_clients - threshold}")
    if answer == threshold:
        return failed(name, "that is how many must stay, not how many may leave", "Subtract from n.")
    return failed(name, f"{answer} is not n - t", "At least t clients must answer at every phase.")


def check_two_party_leak(answer: Any, *, my_update: Any, aggregate: Any, other_update: Any) -> CheckResult:
    """With only two clients, recover the other client's update from the aggregate and your own."""
    name = "two-client sum leaks"
    if answer is None:
        return not_answered(name, "What is aggregate minus your own update?")
    try:
        a = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return failed(name, f"expected a vector, got {type(answer).__name__}")
    truth = np.asarray(other_update, dtype=np.float64)
    if a.shape == truth.shape and np.allclose(a, truth, atol=1e-4):
        return passed(name, "the sum of two is no secret from either of them: secure aggregation needs many clients "
                            "(and DP on top, notebook 11).")
    if a.shape == truth.shape and np.allclose(a, -truth, atol=1e-4):
        return failed(name, "right magnitude, wrong sign", "aggregate - mine, not mine - aggregate.")
    return failed(name, "that is not the other client's update", "Subtract your update from the aggregate.")


def check_strip_masks(strip: Any) -> CheckResult:
    """Coding exercise: write ``strip(y, self_mask, pair_masks, me)`` that recovers x_u from y_u.

    ``y = x + self_mask + sum_v Delta_uv pair_masks[v]  (mod 2^64)``, all uint64 vectors, Delta_uv = +1 if
    me < v else -1 — what the server can do once it knows every mask of one client (the ask-twice attack).
    The check runs ``strip`` on random cases, including values that wrap around 2^64, and says what went
    wrong without giving the code.
    """
    name = "strip every mask from y_u"
    if strip is None:
        return not_answered(name, "Subtract the self mask, then undo each pair mask with the right sign.")
    if not callable(strip):
        return failed(name, f"expected a function strip(y, self_mask, pair_masks, me), got {type(strip).__name__}")
    g = np.random.default_rng(909)
    for case in range(20):
        n, length, me = 2 + case % 4, 1 + case % 7, case % 3
        x = g.integers(0, 2**64, size=length, dtype=np.uint64)
        self_mask = g.integers(0, 2**64, size=length, dtype=np.uint64)
        peers = [v for v in range(n + 1) if v != me][:n]
        pair = {v: g.integers(0, 2**64, size=length, dtype=np.uint64) for v in peers}
        y = x + self_mask
        for v, m in pair.items():
            y = y + m if me < v else y - m
        try:
            out = strip(y.copy(), self_mask.copy(), {v: m.copy() for v, m in pair.items()}, me)
        except Exception as err:  # noqa: BLE001 - a student's function may raise anything; report it
            return failed(name, f"your function raised {type(err).__name__}: {err}",
                          "It is called as strip(y, self_mask, pair_masks, me) with uint64 arrays and a dict.")
        arr = np.asarray(out)
        if arr.shape != x.shape:
            return failed(name, f"expected a vector of shape {x.shape}, got shape {arr.shape}")
        if arr.dtype != np.uint64:
            return failed(name, f"the result has dtype {arr.dtype}, so it is not exact in Z_2^64",
                          "Stay in uint64: numpy's uint64 arithmetic wraps around 2^64 exactly, floats do not.")
        if np.array_equal(arr, x):
            continue
        if np.array_equal(arr, x + self_mask):
            return failed(name, "the pair masks are gone but the self mask is still there", "Subtract PRG(b_u) too.")
        flipped = x.copy()  # what "undoing" each pair mask with the wrong sign leaves: x + 2 sum Delta * pair
        for v, m in pair.items():
            flipped = flipped + m + m if me < v else flipped - m - m
        if np.array_equal(arr, flipped):
            return failed(name, "each pair mask was undone with the wrong sign",
                          "Client u ADDED pair_masks[v] when u < v and SUBTRACTED it when u > v.")
        return failed(name, "that is not x_u", "Undo exactly what the client did: y = x + self + sum Delta * pair.")
    return passed(name, "x_u recovered in all 20 cases: once a server knows b_u and every s_uv, nothing hides x_u "
                        "— which is why a client must never reveal both shares of a peer.")
