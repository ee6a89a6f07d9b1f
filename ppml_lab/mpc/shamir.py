"""Shamir t-of-n secret sharing over GF(p) (Shamir, "How to share a secret", CACM 22(11), 1979,
DOI 10.1145/359168.359176).

The secret x is f(0) of a random polynomial f of degree t-1 over GF(p); holder i gets the point f(i). Any
t points determine f by Lagrange interpolation; any t-1 points are uniformly distributed whatever x is.

Threat model: information-theoretic secrecy against fewer than t holders; no integrity (a holder can
change its share undetected; verifiable secret sharing is out of scope). ``threshold=1`` is refused
(:class:`~ppml_lab.exceptions.InsecureParameterError`: every share would equal the secret), and so are
secrets outside [-(p // 2), p - 1] (:class:`~ppml_lab.exceptions.PrecisionError`: reduced mod p they would
reconstruct to another number). Shares are :class:`~ppml_lab.mpc.sharing.Share` objects (scheme
``'shamir'``); the old import path ``ppml_lab.mpc.sharing.shamir_share`` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_int
from ppml_lab.exceptions import InsecureParameterError, InsufficientSharesError
from ppml_lab.mpc.sharing import (
    _FAST_LIMIT,
    DEFAULT_PRIME,
    Share,
    _check_prime,
    _check_shares,
    _encode,
    _new_id,
    random_elements,
    to_signed,
)

__all__ = ["shamir_share", "shamir_reconstruct", "lagrange_coefficients"]


def shamir_share(
    secret: Any,
    *,
    threshold: int,
    n_shares: int,
    prime: int = DEFAULT_PRIME,
    rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> list[Share]:
    """Shamir t-of-n sharing of every element of ``secret`` over GF(prime) (Shamir 1979).

    f(z) = x + a_1 z + ... + a_{t-1} z^{t-1} with uniform a_j; holder i (i = 1..n) gets f(i).
    Vectorised over elements and holders (Horner's rule on an (n, *shape) array).
    ``threshold`` must be >= 2 (t = 1 gives every holder the secret itself: InsecureParameterError);
    ``secret`` must lie in [-(prime // 2), prime - 1] (PrecisionError otherwise).
    The coefficients are key material: OS CSPRNG, a seed used only with ``insecure_seeded_keys=True``.
    """
    n = check_int("n_shares", n_shares, low=2)
    t = check_int("threshold", threshold, low=1)
    if t < 2:
        raise InsecureParameterError(
            f"threshold must be >= 2, got {t}: with threshold=1 the polynomial is the constant x and every "
            "share equals the secret; use threshold >= 2 (e.g. a majority of n_shares)"
        )
    if t > n:
        raise ValueError(f"threshold must be an integer in [2, n_shares={n}], got {t}")
    p = _check_prime(prime)
    if n >= p:
        raise ValueError(f"n_shares must be < prime={p} (distinct nonzero evaluation points), got {n}")
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    x = _encode(secret, p, check_range=True)
    shape = tuple(np.shape(x))
    drawn = random_elements((t - 1, *shape), modulus=p, rng=g)  # a_1..a_{t-1}, one CSPRNG call for all
    coeffs = [drawn[j] for j in range(t - 1)]
    fast = p < _FAST_LIMIT
    points = (np.arange(1, n + 1, dtype=np.uint64) if fast else np.arange(1, n + 1).astype(object)).reshape(
        (n,) + (1,) * len(shape)
    )
    pp: Any = np.uint64(p) if fast else p
    # Horner: f(z) = (((a_{t-1} z + a_{t-2}) z + ...) z + x   (mod p), all points at once
    acc = np.broadcast_to(np.asarray(coeffs[-1]) if coeffs else x, (n, *shape)).copy()
    for c in ([*coeffs[-2::-1], x] if coeffs else []):
        acc = (acc * points + np.asarray(c)) % pp
    sid = _new_id(g)
    return [Share("shamir", i + 1, np.asarray(acc[i]), p, n, t, sid) for i in range(n)]


def lagrange_coefficients(points: Sequence[int], *, prime: int) -> list[int]:
    """lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p: the weights with f(0) = sum_i lambda_i f(x_i)."""
    lams = []
    for i, xi in enumerate(points):
        num, den = 1, 1
        for j, xj in enumerate(points):
            if j != i:
                num = num * xj % prime
                den = den * (xj - xi) % prime
        lams.append(num * pow(den, -1, prime) % prime)
    return lams


def shamir_reconstruct(shares: Sequence[Share], *, signed: bool = False) -> np.ndarray:
    """Lagrange interpolation at 0 from any >= t shares (vectorised over all elements)."""
    ss = _check_shares(shares, "shamir")
    t, p = ss[0].threshold, ss[0].modulus
    if len(ss) < t:
        raise InsufficientSharesError(
            f"Shamir reconstruction needs at least threshold={t} shares, got {len(ss)}; "
            f"{t - 1} or fewer shares are uniformly random whatever the secret"
        )
    lams = lagrange_coefficients([s.index for s in ss], prime=p)
    fast = p < _FAST_LIMIT
    pp: Any = np.uint64(p) if fast else p
    acc: Any = np.zeros(ss[0].shape, dtype=np.uint64) if fast else np.zeros(ss[0].shape, dtype=object)
    for lam, s in zip(lams, ss):
        # x = f(0) = sum_i lambda_i y_i  (mod p); lambda_i y_i < p^2 < 2^64 on the fast path
        acc = (acc + (np.uint64(lam) if fast else lam) * s.value) % pp
    acc = np.asarray(acc)
    return to_signed(acc, p) if signed else acc
