"""Additive and Shamir sharing: round trips, linearity, any-t-of-n, secrecy of t-1 shares, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from ppml_lab.exceptions import (
    InsecureParameterError,
    InsufficientSharesError,
    PrecisionError,
    ShareMismatchError,
)
from ppml_lab.mpc.sharing import (
    DEFAULT_PRIME,
    MERSENNE_127,
    RING_MODULUS,
    Share,
    is_probable_prime,
    lagrange_coefficients,
    reconstruct,
    shamir_reconstruct,
    shamir_share,
    share,
)

int64s = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20)
field_elems = st.lists(st.integers(0, DEFAULT_PRIME - 1), min_size=1, max_size=20)


# ---- round trips and linearity (hypothesis) -------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(int64s, st.integers(2, 6))
def test_additive_ring_round_trip(values, n):
    x = np.array(values, dtype=np.int64)
    shares = share(x, n_shares=n)
    assert all(s.value.dtype == np.uint64 for s in shares)
    np.testing.assert_array_equal(reconstruct(shares, signed=True), x)


@settings(max_examples=60, deadline=None)
@given(field_elems, st.integers(2, 5))
def test_additive_field_round_trip(values, n):
    x = np.array(values, dtype=np.int64)
    np.testing.assert_array_equal(reconstruct(share(x, n_shares=n, modulus=DEFAULT_PRIME)), x)


@settings(max_examples=60, deadline=None)
@given(int64s, st.integers(-1000, 1000), st.integers(0, 2**63))
def test_additive_linearity(values, k, c):
    x = np.array(values, dtype=np.int64)
    y = x[::-1].copy()
    sx, sy = share(x, n_shares=3), share(y, n_shares=3)
    summed = [k * a + b for a, b in zip(sx, sy)]
    expected = (x.view(np.uint64) * np.int64(k).astype(np.uint64) + y.view(np.uint64))
    np.testing.assert_array_equal(reconstruct(summed), expected)
    shifted = [s.add_public(c) for s in sx]
    np.testing.assert_array_equal(reconstruct(shifted), x.view(np.uint64) + np.uint64(c))
    np.testing.assert_array_equal(reconstruct([a - b for a, b in zip(sx, sy)]), x.view(np.uint64) - y.view(np.uint64))
    np.testing.assert_array_equal(reconstruct([-a for a in sx], signed=True), -x)


@settings(max_examples=60, deadline=None)
@given(field_elems, st.integers(2, 7), st.data())
def test_shamir_any_t_of_n(values, n, data):
    t = data.draw(st.integers(2, n))
    subset = data.draw(st.lists(st.integers(0, n - 1), min_size=t, max_size=n, unique=True))
    x = np.array(values, dtype=np.int64)
    shares = shamir_share(x, threshold=t, n_shares=n)
    np.testing.assert_array_equal(shamir_reconstruct([shares[i] for i in subset]), x)


@settings(max_examples=40, deadline=None)
@given(field_elems, st.integers(-50, 50), st.integers(0, DEFAULT_PRIME - 1))
def test_shamir_linearity(values, k, c):
    x = np.array(values, dtype=np.int64)
    sx = shamir_share(x, threshold=2, n_shares=4)
    sy = shamir_share(x[::-1].copy(), threshold=3, n_shares=4)
    comb = [(k * a + b).add_public(c) for a, b in zip(sx, sy)]
    assert comb[0].threshold == 3
    expected = (k * x + x[::-1] + c) % DEFAULT_PRIME
    np.testing.assert_array_equal(shamir_reconstruct(comb[1:]), expected)


def test_wide_prime_shamir_shares_128_bit_secrets():
    secret = np.array([2**126 + 12345, 7, 0], dtype=object)
    shares = shamir_share(secret, threshold=3, n_shares=5, prime=MERSENNE_127, rng=1)
    assert shares[0].value.dtype == object
    assert list(shamir_reconstruct(shares[2:])) == list(secret)
    assert list(reconstruct(share(secret, n_shares=3, modulus=MERSENNE_127))) == list(secret)


def test_lagrange_matches_reference_polynomial():
    # f(z) = 5 + 3 z + 2 z^2 over GF(13): f(1)=10, f(2)=19=6, f(4)=49=10
    lam = lagrange_coefficients([1, 2, 4], prime=13)
    assert sum(l_ * y for l_, y in zip(lam, [10, 6, 10])) % 13 == 5


def test_lagrange_against_scipy_real_interpolation():
    # the same interpolation over the reals: scipy's Lagrange polynomial at 0 on integer data
    from scipy.interpolate import lagrange

    xs, ys = np.array([1.0, 3.0, 4.0]), np.array([7.0, 31.0, 52.0])  # f(z) = 3 z^2 + 4, f(0) = 4
    f0 = lagrange(xs, ys)(0.0)
    lam = lagrange_coefficients([1, 3, 4], prime=DEFAULT_PRIME)
    ours = sum(l_ * int(y) for l_, y in zip(lam, ys)) % DEFAULT_PRIME
    assert int(round(f0)) % DEFAULT_PRIME == ours


def test_seeded_sharing_is_reproducible_only_with_the_insecure_flag_and_default_is_csprng():
    a = share(np.arange(5), rng=7, insecure_seeded_keys=True)
    b = share(np.arange(5), rng=7, insecure_seeded_keys=True)
    np.testing.assert_array_equal(a[0].value, b[0].value)
    c, d = share(np.arange(5)), share(np.arange(5))
    assert not np.array_equal(c[0].value, d[0].value)


def test_repr_hides_values():
    secret = np.array([123456789], dtype=np.int64)
    for s in share(secret, rng=1) + shamir_share(secret, threshold=2, n_shares=3, rng=1):
        text = repr(s) + str(s)
        assert "hidden" in text
        assert str(int(s.value[0])) not in text and "123456789" not in text


# ---- secrecy: fewer than t shares look uniform whatever the secret ------------------------------
def test_fewer_than_t_shamir_shares_are_uniform_and_secret_independent():
    # GF(11), t=3 of n=5: the pair (f(1), f(2)) must be uniform on 11^2 cells for any secret.
    # 60,500 draws -> 500 per cell; chi-square at alpha=1e-3 (false failure rate 0.1 % per secret).
    p, draws = 11, 60_500
    for secret in (0, 10):
        shares = shamir_share(np.full(draws, secret), threshold=3, n_shares=5, prime=p, rng=100 + secret)
        cells = shares[0].value.astype(np.int64) * p + shares[1].value.astype(np.int64)
        counts = np.bincount(cells, minlength=p * p)
        assert stats.chisquare(counts).pvalue > 1e-3
    # and t shares do determine it: the same test on f(0) reconstructed would be degenerate
    shares = shamir_share(np.full(100, 4), threshold=3, n_shares=5, prime=p, rng=3)
    assert set(shamir_reconstruct(shares[:3]).tolist()) == {4}


def test_additive_n_minus_1_ring_shares_do_not_depend_on_secret():
    # two-sample KS on the top 53 bits of share 0 of 3: secret 0 vs secret 2^63 (alpha 1e-3)
    a = share(np.zeros(20_000, dtype=np.int64), n_shares=3, rng=11)
    b = share(np.full(20_000, -(2**63), dtype=np.int64), n_shares=3, rng=12)
    u = (a[1].value >> np.uint64(11)).astype(float)
    v = (b[1].value >> np.uint64(11)).astype(float)
    assert stats.ks_2samp(u, v).pvalue > 1e-3
    assert stats.kstest(u / 2.0**53, "uniform").pvalue > 1e-3


# ---- bad input ------------------------------------------------------------------------------
def test_threshold_above_n_raises():
    with pytest.raises(ValueError, match=r"threshold must be an integer in \[2, n_shares=3\], got 4"):
        shamir_share([1], threshold=4, n_shares=3)


def test_threshold_below_one_raises():
    with pytest.raises(ValueError, match="threshold must be an integer >= 1, got 0"):
        shamir_share([1], threshold=0, n_shares=3)


def test_threshold_wrong_type_raises():
    with pytest.raises(TypeError, match="threshold must be an integer, got float"):
        shamir_share([1], threshold=2.0, n_shares=3)


def test_non_prime_raises():
    with pytest.raises(ValueError, match="prime must be a prime number >= 3, got 15"):
        shamir_share([1], threshold=2, n_shares=3, prime=15)


def test_too_many_shares_for_prime_raises():
    with pytest.raises(ValueError, match="n_shares must be < prime=5"):
        shamir_share([1], threshold=2, n_shares=5, prime=5)


def test_fewer_than_t_shares_cannot_reconstruct():
    shares = shamir_share([1, 2], threshold=3, n_shares=5)
    with pytest.raises(InsufficientSharesError, match="at least threshold=3 shares, got 2"):
        shamir_reconstruct(shares[:2])


def test_additive_missing_share_raises():
    with pytest.raises(InsufficientSharesError, match="needs all 3 shares, got 2"):
        reconstruct(share([1], n_shares=3)[:2])


def test_mixed_sharings_raise():
    a, b = share([1], n_shares=2), share([1], n_shares=2)
    with pytest.raises(ShareMismatchError, match="different sharings"):
        reconstruct([a[0], b[1]])


def test_mixed_moduli_raise():
    a = share([1], n_shares=2)
    b = share([1], n_shares=2, modulus=DEFAULT_PRIME)
    with pytest.raises(ShareMismatchError, match="different moduli"):
        reconstruct([a[0], b[1]])
    with pytest.raises(ShareMismatchError, match="same holder, scheme and modulus"):
        a[0] + b[0]


def test_mixed_schemes_raise():
    with pytest.raises(ShareMismatchError, match="expected shamir shares"):
        shamir_reconstruct(share([1], n_shares=2))
    a = shamir_share([1], threshold=2, n_shares=2)
    with pytest.raises(ShareMismatchError, match="expected additive shares"):
        reconstruct(a)


def test_shape_mismatch_raises():
    a, b = share([1, 2], n_shares=2), share([1, 2, 3], n_shares=2)
    with pytest.raises(ShareMismatchError, match="share shapes must match"):
        a[0] + b[0]


def test_duplicate_share_raises():
    s = shamir_share([1], threshold=2, n_shares=3)
    with pytest.raises(ShareMismatchError, match="may appear once"):
        shamir_reconstruct([s[0], s[0]])


def test_float_secret_raises():
    with pytest.raises(TypeError, match="encode reals with ppml_lab.mpc.fixed_point"):
        share([1.5])


def test_bad_shares_container_raises():
    with pytest.raises(TypeError, match="got a single Share"):
        reconstruct(share([1])[0])
    with pytest.raises(TypeError, match=r"shares\[1\] must be Share"):
        reconstruct([share([1])[0], 3])
    with pytest.raises(InsufficientSharesError, match="must not be empty"):
        reconstruct([])


def test_share_times_share_refused():
    a = share([1])
    with pytest.raises(TypeError, match="beaver_multiply"):
        a[0] * a[0]
    with pytest.raises(TypeError, match="public integer"):
        a[0] * 1.5


def test_n_shares_below_two_for_additive_raises():
    with pytest.raises(ValueError, match="n_shares must be an integer >= 2, got 1"):
        share([1], n_shares=1)


def test_primality():
    assert is_probable_prime(DEFAULT_PRIME) and is_probable_prime(MERSENNE_127)
    assert not is_probable_prime(2**31 + 1) and not is_probable_prime(3215031751)  # strong pseudoprime to 2,3,5,7
    assert RING_MODULUS == 2**64 and Share.__repr__


# ---- refusals: secrets a reduction would change, threshold 1 -------------------------------------
def test_shamir_threshold_one_is_refused():
    # t = 1: f is the constant x, so every share IS the secret
    with pytest.raises(InsecureParameterError, match="threshold must be >= 2, got 1: .*every share equals the secret"):
        shamir_share([42], threshold=1, n_shares=3)


def test_shamir_secret_at_or_above_the_prime_is_refused():
    p = DEFAULT_PRIME
    with pytest.raises(PrecisionError, match=rf"secret must lie in \[-{p // 2}, {p - 1}\] .* got {p}"):
        shamir_share([1, p], threshold=2, n_shares=3)
    with pytest.raises(PrecisionError, match=f"got {2**40}"):
        shamir_share(np.array([2**40]), threshold=2, n_shares=3)
    with pytest.raises(PrecisionError, match=f"got {2**127}"):  # wide prime: object back end
        shamir_share(np.array([2**127], dtype=object), threshold=2, n_shares=3, prime=MERSENNE_127)


def test_shamir_secret_below_the_signed_range_is_refused():
    p = DEFAULT_PRIME
    with pytest.raises(PrecisionError, match=f"got {-(p // 2) - 1}"):
        shamir_share([-(p // 2) - 1], threshold=2, n_shares=3)


def test_additive_field_and_ring_secrets_out_of_range_are_refused():
    with pytest.raises(PrecisionError, match=f"got {DEFAULT_PRIME + 5}"):
        share([DEFAULT_PRIME + 5], modulus=DEFAULT_PRIME)
    with pytest.raises(PrecisionError, match=rf"modulo 2\*\*64 .* got {2**64}"):
        share(2**64)
    with pytest.raises(PrecisionError, match=f"got {-(2**63) - 1}"):
        share(np.array([-(2**63) - 1], dtype=object))


def test_secrets_at_the_edges_of_the_range_round_trip():
    p = DEFAULT_PRIME
    edge = np.array([-(p // 2), p - 1, 0, p // 2])
    sh = shamir_share(edge, threshold=2, n_shares=3, rng=1)
    np.testing.assert_array_equal(shamir_reconstruct(sh[:2]) % p, edge % p)
    assert shamir_reconstruct(sh[1:], signed=True)[0] == -(p // 2)
    assert shamir_reconstruct(sh[1:])[1] == p - 1
    big = np.array([2**64 - 1, -(2**63)], dtype=object)
    assert [int(v) for v in reconstruct(share(big, rng=2))] == [2**64 - 1, 2**63]


def test_shamir_has_its_own_module_and_the_old_import_path_still_works():
    import ppml_lab.mpc.sharing as sharing_mod
    from ppml_lab.mpc import shamir

    assert sharing_mod.shamir_share is shamir.shamir_share is shamir_share
    assert sharing_mod.lagrange_coefficients is shamir.lagrange_coefficients
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        sharing_mod.nope  # noqa: B018


@pytest.mark.attack
def test_a_teaching_seed_does_not_make_shares_or_triples_predictable():
    # raw/teaching level: with insecure_seeded_keys=True, whoever knows the seed recomputes every share
    from ppml_lab.mpc.beaver import TrustedDealer
    from ppml_lab.mpc.sharing import shamir_share, share

    seeded = [share(np.arange(4), n_shares=2, rng=7, insecure_seeded_keys=True)[0].value for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    # default: the seed is ignored for key material, so replaying it predicts nothing
    a = share(np.arange(4), n_shares=2, rng=7)[0].value
    b = share(np.arange(4), n_shares=2, rng=7)[0].value
    assert not np.array_equal(a, b)
    s1 = shamir_share(np.arange(4), threshold=2, n_shares=3, rng=7)[0].value
    s2 = shamir_share(np.arange(4), threshold=2, n_shares=3, rng=7)[0].value
    assert not np.array_equal(s1, s2)
    t1 = TrustedDealer(2, rng=7).multiplication_triple((4,))[0]
    t2 = TrustedDealer(2, rng=7).multiplication_triple((4,))[0]
    assert not np.array_equal(t1.a, t2.a)
