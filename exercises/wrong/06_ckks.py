"""Typical wrong answers to the coding exercise of notebook 06 (rotate-and-sum over CKKS slots)."""

import numpy as np


def one_slot_at_a_time(v, rotate):
    """Right result with n - 1 rotations by 1 (linear, not logarithmic: 1,023 key switches for 1,024 slots)."""
    acc = np.asarray(v)
    cur = acc
    for _ in range(len(acc) - 1):
        cur = rotate(cur, 1)
        acc = acc + cur
    return acc


def rotates_the_input_not_the_accumulator(v, rotate):
    """Adds rotations of the ORIGINAL vector by 1, 2, 4, ... (misses most partial sums)."""
    v = np.asarray(v)
    acc, step = v, 1
    while step < len(v):
        acc = acc + rotate(v, step)
        step *= 2
    return acc


def one_step_short(v, rotate):
    """Stops one doubling early: each slot holds the sum of only half the slots."""
    acc, step = np.asarray(v), 1
    while 2 * step < len(acc):
        acc = acc + rotate(acc, step)
        step *= 2
    return acc


def reads_the_slots(v, rotate):
    """Decrypts-and-sums in effect: np.sum over the slots, no rotation (a server cannot do this)."""
    v = np.asarray(v)
    return np.full(v.shape, v.sum())


WRONG = {"q06_rotate_and_sum": [one_slot_at_a_time, rotates_the_input_not_the_accumulator, one_step_short,
                                reads_the_slots]}
