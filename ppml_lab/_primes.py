"""Primality testing for every module that accepts or generates a prime (Paillier keys, Shamir fields,
Schnorr groups): one implementation, robust against adversarially chosen composites.

Trial division by the primes below 2000, then Miller-Rabin (Rabin 1980) with ``rounds`` witnesses drawn
from the OS CSPRNG: a composite passes with probability at most 4^-rounds (Rabin 1980, Thm 1) whoever chose
it. Fixed witness sets are deterministic only below known bounds and can be fooled above them by
constructed composites (Arnault 1995; Albrecht, Massimo, Paterson & Somorovsky, "Prime and Prejudice",
CCS 2018, which found such gaps in several libraries): 318665857834031151167461 is a strong pseudoprime to
every prime base up to 37. Parameters received from someone else must therefore be tested this way.
"""

from __future__ import annotations

import functools
import math
import secrets

__all__ = ["is_probable_prime", "miller_rabin", "SMALL_PRIMES", "DEFAULT_ROUNDS"]

#: 4^-40 = 2^-80 error for an adversarially chosen composite (the bound FIPS 186-5 App. B.3 uses for keys)
DEFAULT_ROUNDS = 40
SMALL_PRIMES: tuple[int, ...] = tuple(p for p in range(2, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1)))
_SMALL_PRODUCT = math.prod(SMALL_PRIMES)


def miller_rabin(n: int, rounds: int) -> bool:
    """``rounds`` Miller-Rabin tests of odd n > 3 with witnesses uniform in [2, n - 2] from the CSPRNG."""
    d, s = n - 1, 0
    while d % 2 == 0:  # n - 1 = 2^s d with d odd
        d //= 2
        s += 1
    for _ in range(rounds):
        a = 2 + secrets.randbelow(n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False  # a is a witness: n is composite
    return True


@functools.lru_cache(maxsize=512)
def _cached(n: int, rounds: int) -> bool:
    return miller_rabin(n, rounds)


def is_probable_prime(n: int, *, rounds: int = DEFAULT_ROUNDS) -> bool:
    """True if n is prime, except with probability <= 4^-rounds for a composite n (however chosen).

    A passing n is remembered (the same n is asked about on every share of a field), so the cost is paid once.
    """
    n = int(n)
    if n < 2:
        return False
    if n < 2000:
        return n in SMALL_PRIMES
    if math.gcd(n, _SMALL_PRODUCT) != 1:
        return False
    return _cached(n, int(rounds))
