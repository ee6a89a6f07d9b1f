"""Exercise checks for notebook 05 (Paillier homomorphic encryption)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, failed, not_answered, passed

#: Exercise 1: decrypt by hand. n = 17 * 19 = 323, g = n + 1, and the ciphertext below.
TOY_P, TOY_Q = 17, 19
_TOY_M, _TOY_R = 200, 5
TOY_N = TOY_P * TOY_Q
TOY_CIPHERTEXT = (1 + _TOY_M * TOY_N) * pow(_TOY_R, TOY_N, TOY_N**2) % TOY_N**2

#: Exercise 2: two salaries encrypted with the SAME randomness r (a bug).
_SALARIES = (73_000, 58_500)


@lru_cache(maxsize=1)
def reused_randomness_challenge() -> tuple[Any, int, int]:
    """(public_key, c1, c2): Enc(s1; r) and Enc(s2; r) under a 512-bit teaching key, same r in both.

    The key comes from the OS CSPRNG (a new one per process): the exercise needs no private key at all."""
    from ppml_lab.he.paillier import generate_paillier_keypair

    pub, _ = generate_paillier_keypair(key_bits=512, allow_insecure=True)
    r = 3**200 % pub.n
    return pub, pub.raw_encrypt(_SALARIES[0], r=r), pub.raw_encrypt(_SALARIES[1], r=r)


def _as_int(answer: Any) -> int | None:
    if isinstance(answer, bool):
        return None
    try:
        value = int(answer)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if value == answer else None


def check_toy_decryption(answer: Any) -> CheckResult:
    """The plaintext of TOY_CIPHERTEXT under p = 17, q = 19."""
    name = "decrypt by hand"
    if answer is None:
        return not_answered(name, "lambda = lcm(p-1, q-1); m = L(c^lambda mod n^2) * mu mod n with L(u) = (u-1)/n.")
    value = _as_int(answer)
    if value is None:
        return failed(name, f"expected an integer plaintext, got {answer!r}")
    if value == _TOY_M:
        return passed(name, f"m = {_TOY_M}: L(c^lambda mod n^2) * mu mod n recovers the plaintext.")
    if value == TOY_CIPHERTEXT % TOY_N:
        return failed(name, f"{value} is c mod n, which is r^n mod n — the random part, not the message",
                      "Raise c to lambda first: that kills r^n, since r^(n*lambda) = 1 mod n^2.")
    return failed(name, f"{value} is not the plaintext",
                  "Check lambda = lcm(16, 18) = 144 and mu = L(g^lambda mod n^2)^-1 mod n with g = n + 1.")


def check_reused_randomness(answer: Any) -> CheckResult:
    """s1 - s2 recovered from two ciphertexts that share r (no private key needed)."""
    name = "reused randomness"
    if answer is None:
        return not_answered(name, "c1 / c2 = (1+n)^(s1-s2) mod n^2 when r is shared; (1+n)^d = 1 + d*n.")
    value = _as_int(answer)
    if value is None:
        return failed(name, f"expected an integer difference, got {answer!r}")
    truth = _SALARIES[0] - _SALARIES[1]
    if value == truth:
        return passed(name, f"s1 - s2 = {truth}: reusing r leaks the difference to anyone with the public key.")
    if value == -truth:
        return failed(name, "right size, wrong sign", "Compute c1 * c2^-1, not c2 * c1^-1.")
    return failed(name, f"{value} is not the difference",
                  "d = c1 * pow(c2, -1, n^2) % n^2, then (d - 1) // n.")


def packing_slots(*, key_bits: int, bound: int, parties: int) -> int:
    """Slots per plaintext: slot_bits = bit_length(2 * bound * parties); n_slots = (key_bits - 1) // slot_bits."""
    return (key_bits - 1) // (2 * bound * parties).bit_length()


#: How many values with |v| <= bound, summed over `parties` vectors, fit in one key_bits plaintext?
check_packing_slots = NumericExercise(
    "slots per {key_bits}-bit plaintext", expected=packing_slots, tol=0.0, whole=True,
    params={"key_bits": 2048, "bound": 1000, "parties": 50},
    ask="Each slot must hold a sum of `parties` values shifted to [0, 2*bound].",
    right="{truth:g} slots: each slot is sized for the sum of all parties' values.",
    hint="n_slots = (key_bits - 1) // bit_length(2 * bound * parties).",
    wrong="{value:g} is not the slot count",
    mistakes=(Mistake("{value:g} slots leave no headroom for {parties} additions: sums would carry",
                      "Size the slot for the SUM: bit_length(2 * bound * parties).",
                      value=lambda key_bits, bound, parties: (key_bits - 1) // (2 * bound).bit_length()),
              Mistake("{value:g} is one slot too many or uses the full n",
                      "Keep the plaintext below n: use key_bits - 1 bits.",
                      value=lambda key_bits, bound, parties: key_bits // math.ceil(math.log2(2 * bound * parties)))))
