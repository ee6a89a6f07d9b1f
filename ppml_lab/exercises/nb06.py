"""Exercise checks for notebook 06 (CKKS over TenSEAL: parameters, depth, packed inference)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, failed, not_answered, passed

#: Exercise 2's hospital: patients and features to pack column-wise at N=8192 (4096 slots).
HOSPITAL_PATIENTS = 10_000
HOSPITAL_FEATURES = 30
SLOTS_N8192 = 4096


def _as_int(answer: Any) -> int | None:
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None
    value = float(answer)
    return int(value) if value.is_integer() else None


def depth_for_logistic(sigmoid_degree: int) -> int:
    """Levels for [w.x + b] (one plaintext multiply) followed by a degree-d polynomial in TenSEAL."""
    from ppml_lab.he.ckks import polyval_depth

    return 1 + polyval_depth(sigmoid_degree)


def check_depth_degree7(answer: Any) -> CheckResult:
    """Multiplicative depth of packed logistic inference with a degree-7 sigmoid polynomial."""
    name = "depth for a degree-7 sigmoid"
    if answer is None:
        return not_answered(name, "Add the level of the linear layer to polyval_depth(7).")
    value = _as_int(answer)
    if value is None:
        return failed(name, f"expected a whole number of levels, got {answer!r}")
    truth = depth_for_logistic(7)
    if value == truth:
        return passed(name, f"{truth} levels: 1 for w.x, ceil(log2(8)) = 3 for x^7 by repeated squaring.")
    if value == 8:
        return failed(name, "8 counts one multiplication per power",
                      "Powers are built by squaring (x^2, x^4, then products): the depth grows like log2(degree).")
    if value == 3:
        return failed(name, "3 is the polynomial alone", "The linear layer w.x (plaintext multiply) uses a level too.")
    return failed(name, f"{value} levels is not right", "Use polyval_depth(7) and add the linear layer's level.")


def _ring_for(depth: int, scale_bits: int) -> int:
    from ppml_lab.he.ckks import select_params

    return select_params(depth=depth, scale_bits=scale_bits).poly_modulus_degree


#: Smallest 128-bit-secure N for depth 8 at scale 2^40 with 20 integer bits: the chain
#: [60, 40 x 8, 60] sums to 440 bits, two over N=16384's 438-bit bound (the notebook's presets show depth 4).
check_ring_for_depth8 = NumericExercise(
    "ring degree for depth {depth}", expected=_ring_for, tol=0.0, whole=True,
    params={"depth": 8, "scale_bits": 40},
    ask="Sum the chain [60, then {scale_bits} bits once per level, 60] and compare with SECURITY_BOUND_128.",
    right="the chain sums to 60 + {depth} x {scale_bits} + 60 bits, just over N=16384's 438-bit bound: "
          "N = {truth:g}",
    hint="Call select_params(depth=8, scale_bits=40) to check your sum.",
    wrong="{value:g} is not the smallest ring degree for this chain",
    mistakes=(Mistake("N=16384 allows only 438 bits at 128-bit security",
                      "Add up the chain: 60 + 8 x 40 + 60.", value=16384),
              Mistake("N=65536 works but is not the smallest", "Check N=32768's bound.", value=65536)))


def ciphertexts_for_hospital(patients: int = HOSPITAL_PATIENTS, features: int = HOSPITAL_FEATURES,
                             slots: int = SLOTS_N8192) -> int:
    """Column-wise packing: ceil(patients / slots) ciphertexts per feature."""
    return math.ceil(patients / slots) * features


def check_packed_ciphertexts(answer: Any) -> CheckResult:
    """Ciphertexts to pack 10,000 patients x 30 features column-wise at N=8192."""
    name = "ciphertexts for 10,000 patients"
    if answer is None:
        return not_answered(name, "Each ciphertext holds N/2 = 4096 values of one feature.")
    value = _as_int(answer)
    if value is None:
        return failed(name, f"expected a whole number of ciphertexts, got {answer!r}")
    truth = ciphertexts_for_hospital()
    if value == truth:
        return passed(name, f"ceil(10000 / 4096) = 3 ciphertexts per feature, times 30 features = {truth}.")
    if value == HOSPITAL_FEATURES:
        return failed(name, "30 assumes 10,000 patients fit one ciphertext",
                      "A ciphertext at N=8192 has only 4096 slots: split each column into batches.")
    if value == HOSPITAL_PATIENTS:
        return failed(name, "10,000 is the naive layout (one ciphertext per patient)",
                      "Pack column-wise: one feature of many patients per ciphertext.")
    return failed(name, f"{value} is not right", "ceil(patients / slots) * features.")
