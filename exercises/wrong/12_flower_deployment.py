"""Typical wrong answers to the coding exercise of notebook 12 (Flower's weighted FedAvg aggregation).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``weighted_average``) and checks that otter's tests for the question reject it.
"""

import numpy as np


def weighted_average_unweighted(results):
    """Plain mean over clients: ignores num_examples (a client with 5 forms counts as much as one with 500)."""
    if not results:
        raise ValueError("results is empty")
    if any(n < 0 for _, n in results) or sum(n for _, n in results) <= 0:
        raise ValueError("bad num_examples")
    return [np.mean([np.asarray(layers[j], dtype=float) for layers, _ in results], axis=0) for j in range(len(results[0][0]))]


def weighted_average_not_normalised(results):
    """sum_k n_k w_k without dividing by sum_k n_k."""
    if not results:
        raise ValueError("results is empty")
    return [sum(n * np.asarray(layers[j], dtype=float) for layers, n in results) for j in range(len(results[0][0]))]


def weighted_average_divides_by_clients(results):
    """sum_k n_k w_k / K: divides by the number of clients instead of the number of examples."""
    if not results:
        raise ValueError("results is empty")
    return [sum(n * np.asarray(layers[j], dtype=float) for layers, n in results) / len(results) for j in range(len(results[0][0]))]


def weighted_average_no_checks(results):
    """Right average, but no refusal: an empty round or all-zero counts divide by zero (nan or ZeroDivisionError)."""
    total = sum(n for _, n in results)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [sum(n * np.asarray(layers[j], dtype=float) for layers, n in results) / total
                for j in range(len(results[0][0]))] if results else []


WRONG = {"q12_weighted_average": [
    weighted_average_unweighted,
    weighted_average_not_normalised,
    weighted_average_divides_by_clients,
    weighted_average_no_checks,
]}
