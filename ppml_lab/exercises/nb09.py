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
