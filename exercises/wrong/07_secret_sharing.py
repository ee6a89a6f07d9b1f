"""Typical wrong answers to the coding exercise of notebook 07 (Beaver multiplication mod 2^64)."""

import numpy as np


def _open(shares):
    return sum(shares[1:], shares[0].copy())


def every_party_adds_de(x_shares, y_shares, triple):
    """Every party adds the public d*e (the product is off by (n - 1) d e)."""
    a, b, c = triple
    d = _open([xi - ai for xi, ai in zip(x_shares, a)])
    e = _open([yi - bi for yi, bi in zip(y_shares, b)])
    return [ci + d * bi + e * ai + d * e for ai, bi, ci in zip(a, b, c)]


def forgets_e_times_a(x_shares, y_shares, triple):
    """Drops the e*[a] term."""
    a, b, c = triple
    d = _open([xi - ai for xi, ai in zip(x_shares, a)])
    e = _open([yi - bi for yi, bi in zip(y_shares, b)])
    z = [ci + d * bi for bi, ci in zip(b, c)]
    z[0] = z[0] + d * e
    return z


def opens_x_and_y(x_shares, y_shares, triple):
    """Opens x and y, multiplies in the clear and re-shares (right product, no privacy at all)."""
    x, y = _open(list(x_shares)), _open(list(y_shares))
    n = len(x_shares)
    zero = np.zeros_like(x)
    return [x * y] + [zero.copy() for _ in range(n - 1)]


def local_d_and_e(x_shares, y_shares, triple):
    """Uses each party's local x_i - a_i instead of the opened d (never communicates)."""
    a, b, c = triple
    z = []
    for i, (xi, yi, ai, bi, ci) in enumerate(zip(x_shares, y_shares, a, b, c)):
        d, e = xi - ai, yi - bi
        z.append(ci + d * bi + e * ai + (d * e if i == 0 else np.zeros_like(d)))
    return z


def float_arithmetic(x_shares, y_shares, triple):
    """Converts shares to float64, losing the wrap-around modulo 2^64."""
    a, b, c = ([s.astype(np.float64) for s in part] for part in triple)
    xs, ys = [s.astype(np.float64) for s in x_shares], [s.astype(np.float64) for s in y_shares]
    d = sum(xi - ai for xi, ai in zip(xs, a))
    e = sum(yi - bi for yi, bi in zip(ys, b))
    z = [ci + d * bi + e * ai for ai, bi, ci in zip(a, b, c)]
    z[0] = z[0] + d * e
    return [np.mod(zi, 2.0**64).astype(np.uint64) for zi in z]


WRONG = {"q07_beaver_multiply": [every_party_adds_de, forgets_e_times_a, opens_x_and_y, local_d_and_e, float_arithmetic]}
