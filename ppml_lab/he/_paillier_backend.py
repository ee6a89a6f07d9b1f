"""Big-integer arithmetic for :mod:`ppml_lab.he.paillier`: gmpy2 when installed, pure Python otherwise.

Both backends give the same answers (the operations are exact integer maths; prime search draws the same
candidates from the same ``rng``), only at different speeds. :func:`use_backend` switches for a block of
code so tests can run every path on both.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import Any

from ppml_lab._primes import miller_rabin

try:  # pragma: no cover - depends on the environment
    import gmpy2 as _gmpy2

    HAVE_GMPY2 = True
except ImportError:  # pragma: no cover
    _gmpy2 = None
    HAVE_GMPY2 = False

__all__ = ["HAVE_GMPY2", "backend_name", "use_backend", "mpz", "powmod", "invert", "is_probable_prime",
           "has_factor_below"]

# Primes below 2,000: trial division by one gcd with their product rejects ~85 % of odd candidates cheaply.
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]
_SMALL_PRODUCT = math.prod(_SMALL_PRIMES)

_state = {"name": "gmpy2" if HAVE_GMPY2 else "python"}


def backend_name() -> str:
    """``'gmpy2'`` or ``'python'``: the backend in use right now."""
    return _state["name"]


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run a block with the ``'gmpy2'`` or ``'python'`` backend, then restore the previous one."""
    if name not in ("gmpy2", "python"):
        raise ValueError(f"backend must be 'gmpy2' or 'python', got {name!r}")
    if name == "gmpy2" and not HAVE_GMPY2:
        raise ImportError("backend 'gmpy2' requested but gmpy2 is not installed (pip install gmpy2)")
    previous = _state["name"]
    _state["name"] = name
    try:
        yield
    finally:
        _state["name"] = previous


def mpz(x: int) -> Any:
    """The backend's integer type: gmpy2.mpz (fast products and remainders) or a Python int."""
    return _gmpy2.mpz(x) if _state["name"] == "gmpy2" else int(x)


def powmod(base: Any, exp: Any, mod: Any) -> Any:
    """base**exp mod mod (exp may be negative when base is invertible)."""
    if _state["name"] == "gmpy2":
        return _gmpy2.powmod(base, exp, mod)
    return pow(int(base), int(exp), int(mod))


def invert(a: Any, mod: Any) -> Any:
    """a^-1 mod mod; ZeroDivisionError when gcd(a, mod) != 1 (both backends)."""
    if _state["name"] == "gmpy2":
        return _gmpy2.invert(a, mod)
    try:
        return pow(int(a), -1, int(mod))
    except ValueError:
        raise ZeroDivisionError("not invertible") from None


def is_probable_prime(n: int, rounds: int = 40) -> bool:
    """Trial division by primes < 2000, then Miller–Rabin (error probability <= 4^-rounds)."""
    n = int(n)
    if n < 2:
        return False
    if n < 2000:
        return n == 2 or n in _SMALL_PRIMES
    if n % 2 == 0 or math.gcd(n, _SMALL_PRODUCT) != 1:
        return False
    if _state["name"] == "gmpy2":
        return bool(_gmpy2.is_prime(n, rounds))
    return miller_rabin(n, rounds)  # ppml_lab._primes: CSPRNG witnesses


@functools.lru_cache(maxsize=2)
def _primorial(limit: int) -> Any:
    """The product of all primes < limit (gmpy2.primorial, or a numpy sieve and a product tree)."""
    if HAVE_GMPY2:
        return _gmpy2.primorial(limit - 1)  # an mpz: gmpy2.gcd with it is ~5x faster than math.gcd
    import numpy as np

    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for i in range(2, math.isqrt(limit - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = False
    level = [int(p) for p in np.flatnonzero(sieve)]
    while len(level) > 1:  # balanced product tree: O(M(N) log N) instead of quadratic left-to-right
        level = [math.prod(level[i : i + 2]) for i in range(0, len(level), 2)]
    return level[0]


def has_factor_below(n: int, limit: int) -> bool:
    """True when n has a prime factor < limit: one gcd with the product of those primes (trial division)."""
    prod = _primorial(int(limit))
    if HAVE_GMPY2:
        return _gmpy2.gcd(_gmpy2.mpz(n), prod) != 1
    return math.gcd(int(n), prod) != 1
