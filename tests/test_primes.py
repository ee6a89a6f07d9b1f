"""One primality test for the package, robust against composites built to fool fixed witnesses."""

import pytest

from ppml_lab import _primes
from ppml_lab.he import _paillier_backend as bk
from ppml_lab.mpc import sharing
from ppml_lab.zk import group

# 399165290221 * 798330580441: a strong pseudoprime to every prime base up to 37 (Jaeschke 1993's psi_12)
PSI_12 = 318665857834031151167461


def _strong(n, a):
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    x = pow(a, d, n)
    return x in (1, n - 1) or any(pow(x, 2**r, n) == n - 1 for r in range(1, s))


@pytest.mark.attack
def test_a_composite_that_fools_fixed_bases_is_refused():
    assert PSI_12 == 399165290221 * 798330580441
    # raw: Miller-Rabin with the fixed bases 2..37 (what two modules used to do) accepts it
    assert all(_strong(PSI_12, a) for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37))
    # default: random CSPRNG witnesses refuse it (error <= 4^-40)
    assert not _primes.is_probable_prime(PSI_12)
    assert not sharing.is_probable_prime(PSI_12)
    assert not bk.is_probable_prime(PSI_12)


def test_every_module_uses_the_one_test():
    assert sharing.is_probable_prime is _primes.is_probable_prime
    assert group.is_probable_prime is _primes.is_probable_prime
    assert bk.miller_rabin is _primes.miller_rabin


def test_known_primes_and_composites():
    assert [n for n in range(60) if _primes.is_probable_prime(n)] == [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
    assert _primes.is_probable_prime(2**127 - 1) and _primes.is_probable_prime(2**521 - 1)
    assert not _primes.is_probable_prime(2**127 + 1) and not _primes.is_probable_prime(3215031751)
    assert not _primes.is_probable_prime(2003 * 2011)
