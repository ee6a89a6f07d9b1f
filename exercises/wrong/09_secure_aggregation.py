"""Typical wrong answers to the coding exercise of notebook 09 (pairwise masks, Bonawitz et al. 2017).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``mask_inputs``) and checks that otter's tests for the question reject it.
"""

import numpy as np


def mask_inputs_all_plus(inputs, pair_masks):
    """Every client ADDS every pair mask it holds (forgot Delta_uv = -1 for u > v): nothing cancels."""
    out = {}
    for u, x in inputs.items():
        y = np.array(x, dtype=np.uint64)
        for (a, b), m in pair_masks.items():
            if u in (a, b):
                y = y + m
        out[u] = y
    return out


def mask_inputs_only_lower_adds(inputs, pair_masks):
    """Only the smaller id of a pair masks (u < v adds m_uv); the larger never subtracts it."""
    out = {}
    for u, x in inputs.items():
        y = np.array(x, dtype=np.uint64)
        for (a, _b), m in pair_masks.items():
            if a == u:
                y = y + m
        out[u] = y
    return out


def mask_inputs_flipped_sign(inputs, pair_masks):
    """Delta_uv = -1 for u < v and +1 for u > v: the masks cancel, but against the protocol's convention,
    so the server's unmasking of a dropped client's pair masks (pair_sign) would subtract with the wrong sign."""
    out = {}
    for u, x in inputs.items():
        y = np.array(x, dtype=np.uint64)
        for (a, b), m in pair_masks.items():
            if a == u:
                y = y - m
            elif b == u:
                y = y + m
        out[u] = y
    return out


def mask_inputs_in_floats(inputs, pair_masks):
    """Masks in float64: 2^64-sized values lose their low bits, so the masks no longer cancel exactly."""
    out = {}
    for u, x in inputs.items():
        y = np.asarray(x, dtype=np.float64)
        for (a, b), m in pair_masks.items():
            if a == u:
                y = y + np.asarray(m, dtype=np.float64)
            elif b == u:
                y = y - np.asarray(m, dtype=np.float64)
        out[u] = y
    return out


def mask_inputs_in_place(inputs, pair_masks):
    """Right masks, but added into the caller's arrays in place (the client's x_u is overwritten)."""
    for u, x in inputs.items():
        for (a, b), m in pair_masks.items():
            if a == u:
                x += m
            elif b == u:
                x -= m
    return dict(inputs)


WRONG = {"q09_pairwise_masks": [
    mask_inputs_all_plus,
    mask_inputs_only_lower_adds,
    mask_inputs_flipped_sign,
    mask_inputs_in_floats,
    mask_inputs_in_place,
]}
