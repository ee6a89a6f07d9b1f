"""Typical wrong answers to the coding exercise of notebook 08 (FedAvg weighted by sample count)."""

import numpy as np


def unweighted_mean(updates, num_examples):
    """Plain mean of the clients' models (FedSGD-style equal weights), ignoring n_k."""
    return [np.mean([np.asarray(u[i], dtype=np.float64) for u in updates], axis=0) for i in range(len(updates[0]))]


def weighted_sum_not_normalised(updates, num_examples):
    """sum_k n_k w_k without dividing by n."""
    return [sum(n * np.asarray(u[i], dtype=np.float64) for n, u in zip(num_examples, updates)) for i in range(len(updates[0]))]


def inverse_weights(updates, num_examples):
    """Weights 1 / n_k (small clients dominate)."""
    w = 1.0 / np.asarray(num_examples, dtype=np.float64)
    w = w / w.sum()
    return [sum(f * np.asarray(u[i], dtype=np.float64) for f, u in zip(w, updates)) for i in range(len(updates[0]))]


def integer_division(updates, num_examples):
    """Computes n_k // n in integers: every weight becomes 0 (or 1 for a single client)."""
    total = sum(int(n) for n in num_examples)
    return [sum((int(n) // total) * np.asarray(u[i], dtype=np.float64) for n, u in zip(num_examples, updates))
            for i in range(len(updates[0]))]


def first_layer_only(updates, num_examples):
    """Averages the first layer correctly and returns the first client's other layers unchanged."""
    frac = np.asarray(num_examples, dtype=np.float64) / np.sum(num_examples)
    out = [np.asarray(layer, dtype=np.float64) for layer in updates[0]]
    out[0] = sum(f * np.asarray(u[0], dtype=np.float64) for f, u in zip(frac, updates))
    return out


WRONG = {"q08_fedavg": [unweighted_mean, weighted_sum_not_normalised, inverse_weights, integer_division,
                        first_layer_only]}
