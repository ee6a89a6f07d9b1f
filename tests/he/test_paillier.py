"""Paillier from scratch: bad inputs, known answers, homomorphic properties, overflow, packing, backends."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.exceptions import InsecureParameterError, KeyMismatchError, PrecisionError
from ppml_lab.he import _paillier_backend as bk
from ppml_lab.he import paillier as P
from ppml_lab.he.paillier import (
    EncryptedNumber,
    PaillierPrivateKey,
    PaillierPublicKey,
    PaillierVector,
    SerializationError,
    decode,
    encode,
    encrypt_packed,
    generate_paillier_keypair,
    packing_scheme,
)
from ppml_lab.he.paillier import encoding as E
from ppml_lab.he.paillier import keys as K

# Small keys keep the suite fast (toy sizes need allow_insecure); drawn from the CSPRNG like any key.
PUB, PRIV = generate_paillier_keypair(key_bits=512, allow_insecure=True)
PUB2, PRIV2 = generate_paillier_keypair(key_bits=512, allow_insecure=True)
HYP = settings(max_examples=40, deadline=None)


# ----------------------------------------------------------------------------- key generation
def test_keygen_sizes_and_structure():
    for bits in (64, 256, 512):
        pub, priv = generate_paillier_keypair(key_bits=bits, allow_insecure=True, rng=bits)
        assert pub.n.bit_length() == bits
        assert priv.p * priv.q == pub.n and priv.p != priv.q
        assert priv.p.bit_length() == priv.q.bit_length() == bits // 2
        assert math.gcd(pub.n, (priv.p - 1) * (priv.q - 1)) == 1
        assert bk.is_probable_prime(priv.p) and bk.is_probable_prime(priv.q)


def test_keygen_2048_default_flag_not_needed():
    pub, priv = generate_paillier_keypair(key_bits=2048, rng=2048)
    assert pub.key_bits == 2048
    assert priv.decrypt(pub.encrypt(-1234.5)) == -1234.5


def test_default_key_bits_is_3072():
    assert P.DEFAULT_KEY_BITS == 3072
    assert generate_paillier_keypair.__kwdefaults__["key_bits"] == 3072


def test_teaching_seed_does_not_make_keys_predictable():
    # a seed passed for reproducible data is ignored for key material ...
    a = generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=5)[0]
    b = generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=5)[0]
    assert a != b
    # ... unless the caller opts in, by name, to seeded (public) keys
    c = generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=5, insecure_seeded_keys=True)[0]
    d = generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=5, insecure_seeded_keys=True)[0]
    assert c == d and c != a


def test_teaching_seed_does_not_make_encryption_randomness_predictable():
    x1 = PUB.encrypt(7, rng=3).ciphertext()
    x2 = PUB.encrypt(7, rng=3).ciphertext()
    assert x1 != x2
    y1 = PUB.encrypt(7, rng=3, insecure_seeded_keys=True).ciphertext()
    y2 = PUB.encrypt(7, rng=3, insecure_seeded_keys=True).ciphertext()
    assert y1 == y2
    assert PUB.raw_encrypt(7, rng=3) != PUB.raw_encrypt(7, rng=3)
    assert PRIV.raw_encrypt(7, rng=3) != PRIV.raw_encrypt(7, rng=3)
    scheme = packing_scheme(PUB, bound=3, max_additions=1)
    assert encrypt_packed(PUB, [1], scheme, rng=3)._cs != encrypt_packed(PUB, [1], scheme, rng=3)._cs


def test_insecure_seeded_keys_must_be_bool():
    with pytest.raises(TypeError, match="insecure_seeded_keys must be True or False"):
        generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=5, insecure_seeded_keys=1)


@pytest.mark.parametrize("bits", [1024, 2046, 512])
def test_small_key_bits_need_flag(bits):
    with pytest.raises(InsecureParameterError, match=r"key_bits must be >= 2048.*allow_insecure"):
        generate_paillier_keypair(key_bits=bits)


def test_key_bits_bad_type():
    with pytest.raises(TypeError, match="key_bits must be an integer"):
        generate_paillier_keypair(key_bits=2048.0)


def test_key_bits_odd_or_tiny():
    with pytest.raises(ValueError, match="key_bits must be even"):
        generate_paillier_keypair(key_bits=513, allow_insecure=True)
    with pytest.raises(ValueError, match="key_bits must be an integer in"):
        generate_paillier_keypair(key_bits=8, allow_insecure=True)


def test_allow_insecure_must_be_bool():
    with pytest.raises(TypeError, match="allow_insecure must be True or False"):
        generate_paillier_keypair(key_bits=512, allow_insecure="yes")


def test_from_primes_tiny_needs_flag_and_checks_primes():
    with pytest.raises(InsecureParameterError):
        PaillierPrivateKey.from_primes(11, 13)
    sk = PaillierPrivateKey.from_primes(11, 13, allow_insecure=True)
    assert sk.public_key.n == 143
    with pytest.raises(ValueError, match="must be primes"):
        PaillierPrivateKey.from_primes(15, 13, allow_insecure=True)
    with pytest.raises(ValueError, match="DISTINCT primes, got a perfect square"):
        PaillierPrivateKey(PaillierPublicKey(169, allow_insecure=True), 13, 13)
    with pytest.raises(KeyMismatchError, match="factors p \\* q .* does not match key"):
        PaillierPrivateKey(PUB, PRIV.p, PRIV2.q)


def test_repr_hides_key_material():
    for obj in (PUB, PRIV, PUB.encrypt(5), PUB.encrypt_vector([1, 2])):
        text = repr(obj)
        for secret in (PRIV.p, PRIV.q, PUB.n):
            assert str(secret) not in text and hex(secret)[2:] not in text
    assert "hidden" in repr(PRIV)


# ----------------------------------------------------------------------------- raw layer
def test_raw_known_answer_textbook_formula():
    # Paillier 1999 with g = n + 1: c = (1 + m n) r^n mod n^2
    n, nsq = PUB.n, PUB.nsquare
    m, r = 123456789, 987654321
    assert PUB.raw_encrypt(m, r=r) == (1 + m * n) * pow(r, n, nsq) % nsq
    assert PRIV.raw_decrypt(PUB.raw_encrypt(m, r=r)) == m


def test_tiny_key_by_hand():
    sk = PaillierPrivateKey.from_primes(11, 13, allow_insecure=True)
    pk = sk.public_key
    c = pk.raw_encrypt(42, r=23)
    assert c == (1 + 42 * 143) * pow(23, 143, 143**2) % 143**2
    lam = math.lcm(10, 12)
    mu = pow((pow(144, lam, 143**2) - 1) // 143, -1, 143)
    assert (pow(c, lam, 143**2) - 1) // 143 * mu % 143 == 42 == sk.raw_decrypt(c)


@pytest.mark.parametrize("randomness", ["short_exponent", "full"])
def test_raw_round_trip_and_randomised(randomness):
    c1 = PUB.raw_encrypt(7, randomness=randomness)
    c2 = PUB.raw_encrypt(7, randomness=randomness)
    assert c1 != c2
    assert PRIV.raw_decrypt(c1) == PRIV.raw_decrypt(c2) == 7


def test_crt_encryption_equals_textbook_for_same_r():
    # the key owner's CRT path computes exactly r^n mod n^2 for the same r
    src = np.random.default_rng(3)
    obf = PRIV._crt_obfuscator(src)
    r = K._randbelow(PUB.n, np.random.default_rng(3))
    assert int(obf) == pow(r, PUB.n, PUB.nsquare)
    assert PRIV.decrypt(PRIV.encrypt(-3.25)) == -3.25


def test_short_exponent_obfuscator_is_nth_residue():
    # hs^a is an n-th residue: it decrypts to 0
    obf = PUB._obfuscator("short_exponent", None)
    assert PRIV.raw_decrypt(int(obf)) == 0


@pytest.mark.parametrize("bad", [-1, PUB.n])
def test_raw_encrypt_range(bad):
    with pytest.raises(ValueError, match="plaintext must be an integer in"):
        PUB.raw_encrypt(bad)


def test_raw_encrypt_type_and_r():
    with pytest.raises(TypeError, match="plaintext must be an integer"):
        PUB.raw_encrypt(1.5)
    with pytest.raises(ValueError, match="r must be coprime"):
        PUB.raw_encrypt(1, r=PRIV.p)
    with pytest.raises(ValueError, match="randomness must be one of"):
        PUB.raw_encrypt(1, randomness="none")


def test_raw_decrypt_range():
    with pytest.raises(ValueError, match="ciphertext must be an integer in"):
        PRIV.raw_decrypt(PUB.nsquare)


# ----------------------------------------------------------------------------- encoding
def test_encode_known_values():
    assert encode(3, precision=0) == 3
    assert encode(-3, precision=4) == -48
    assert encode(0.5, precision=1) == 1
    assert encode(0.25, precision=1) == 0  # tie -> even
    assert encode(0.75, precision=1) == 2  # tie -> even
    assert encode(-0.75, precision=1) == -2
    assert decode(-48, precision=4) == -3.0 and decode(7, precision=0) == 7


@pytest.mark.parametrize("bad", ["1", None, True, [1]])
def test_encode_type_errors(bad):
    with pytest.raises(TypeError, match="value must be an int or a float"):
        PUB.encrypt(bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_encode_non_finite(bad):
    with pytest.raises(ValueError, match="value must be a finite number"):
        PUB.encrypt(bad)


@pytest.mark.parametrize("precision", [-1, P.MAX_PRECISION + 1])
def test_precision_out_of_range(precision):
    with pytest.raises(ValueError, match="precision must be an integer in"):
        PUB.encrypt(1.0, precision=precision)


def test_precision_wrong_type():
    with pytest.raises(TypeError, match="precision must be an integer"):
        PUB.encrypt(1.0, precision=2.5)


def test_values_outside_encodable_range():
    with pytest.raises(PrecisionError, match="outside the encodable range"):
        PUB.encrypt(2**64 + 1)
    with pytest.raises(PrecisionError, match="outside the encodable range"):
        PUB.encrypt(5.0, bound=4)
    with pytest.raises(PrecisionError, match="bound \\* 2\\^precision must be <= max_int"):
        PUB.encrypt(1, bound=PUB.max_int + 1)
    assert PRIV.decrypt(PUB.encrypt(2**64)) == 2**64
    assert PRIV.decrypt(PUB.encrypt(2**100, bound=2**100)) == 2**100


@HYP
@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), st.integers(0, 60))
def test_encode_decode_round_trip_float(x, f):
    assert abs(decode(encode(x, precision=f), precision=f) - x) <= 2.0 ** -(f + 1) * (1 + 1e-12) + abs(x) * 2**-52


@HYP
@given(st.integers(-(2**200), 2**200), st.integers(0, 40))
def test_encode_decode_round_trip_int(x, f):
    assert encode(x, precision=f) == x * 2**f
    assert decode(encode(x, precision=0), precision=0) == x


def test_vector_encoding_matches_scalar():
    xs = np.array([0.0, 0.25, 0.75, -0.75, 1e-9, -3.3, 1e15, 12345.678])
    assert E._encode_array(xs, 8) == [encode(float(x), precision=8) for x in xs]


# ----------------------------------------------------------------------------- homomorphisms
ints = st.integers(-(2**60), 2**60)
floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@HYP
@given(ints, ints, ints)
def test_int_homomorphisms(a, b, k):
    ea, eb = PUB.encrypt(a), PUB.encrypt(b)
    assert PRIV.decrypt(ea + eb) == a + b
    assert PRIV.decrypt(ea - eb) == a - b
    assert PRIV.decrypt(ea + b) == a + b
    assert PRIV.decrypt(b - ea) == b - a
    assert PRIV.decrypt(ea * k) == a * k
    assert PRIV.decrypt(k * ea) == a * k
    assert PRIV.decrypt(-ea) == -a


# scalars are encoded exactly (fewest fractional bits); keep them away from the tiny floats whose exact
# encoding needs more than MAX_PRECISION bits (that case raises PrecisionError, tested separately)
scalars = floats.filter(lambda k: k == 0 or abs(k) > 1e-9)


@HYP
@given(floats, floats, scalars)
def test_float_homomorphisms(a, b, k):
    tol = 1e-6
    ea, eb = PUB.encrypt(a), PUB.encrypt(b)
    assert PRIV.decrypt(ea + eb) == pytest.approx(a + b, abs=tol)
    assert PRIV.decrypt(ea + b) == pytest.approx(a + b, abs=tol)
    assert PRIV.decrypt(ea * k) == pytest.approx(a * k, abs=tol * (1 + abs(a) + abs(k)))
    assert PRIV.decrypt(-ea) == pytest.approx(-a, abs=tol)
    if abs(k) > 1e-3:
        assert PRIV.decrypt(ea / k) == pytest.approx(a / k, rel=1e-6, abs=1e-6)


def test_mixed_precision_add():
    x = PUB.encrypt(1.5, precision=4) + PUB.encrypt(0.125, precision=12) + 2
    assert x.precision == 12 and PRIV.decrypt(x) == 3.625


def test_cannot_multiply_ciphertexts():
    with pytest.raises(TypeError, match="cannot multiply two ciphertexts"):
        _ = PUB.encrypt(1) * PUB.encrypt(2)


def test_scalar_type_error():
    with pytest.raises(TypeError, match="scalar must be an int or a float"):
        _ = PUB.encrypt(1) * "2"


def test_divide_by_zero():
    with pytest.raises(ZeroDivisionError):
        _ = PUB.encrypt(1.0) / 0


# ----------------------------------------------------------------------------- overflow
def test_product_that_could_wrap_raises_before_decrypt():
    x = PUB.encrypt(3)  # public bound 2^64
    with pytest.raises(PrecisionError, match="could exceed the plaintext space"):
        _ = x * 2**460
    assert PRIV.decrypt(x * 2**400) == 3 * 2**400


def test_sum_bound_grows_and_raises():
    x = PUB.encrypt(1, bound=PUB.max_int // 2)
    y = x + x  # 2 * bound <= max_int
    with pytest.raises(PrecisionError, match="the sum could exceed"):
        _ = y + x
    assert PRIV.decrypt(y) == 2


def test_decrypt_detects_overflow_band():
    # a raw ciphertext whose plaintext lies in the middle third: wrapped or forged
    c = PUB.raw_encrypt(PUB.n // 2)
    forged = EncryptedNumber(PUB, c, precision=0, bound=1)
    with pytest.raises(PrecisionError, match="overflow band"):
        PRIV.decrypt(forged)


def test_raw_arithmetic_wraps_silently():
    # the reason the safe layer exists: raw addition is mod n
    c = PUB.raw_encrypt(PUB.n - 1) * PUB.raw_encrypt(5) % PUB.nsquare
    assert PRIV.raw_decrypt(c) == 4


@HYP
@given(st.integers(0, 2**64))
def test_overflow_boundary_of_default_bound(v):
    assert PRIV.decrypt(PUB.encrypt(v)) == v
    assert PRIV.decrypt(PUB.encrypt(-v)) == -v
    with pytest.raises(PrecisionError):
        PUB.encrypt(2**64 + 1 + v)


# ----------------------------------------------------------------------------- keys
def test_mixing_keys_raises():
    a, b = PUB.encrypt(1), PUB2.encrypt(1)
    with pytest.raises(KeyMismatchError, match="adding ciphertexts: key .* does not match key"):
        _ = a + b
    with pytest.raises(KeyMismatchError):
        _ = PUB.encrypt_vector([1, 2]) + PUB2.encrypt_vector([1, 2])
    with pytest.raises(KeyMismatchError):
        _ = PUB.encrypt_vector([1, 2]) + b


def test_decrypt_with_wrong_key():
    with pytest.raises(KeyMismatchError, match="decrypt: key .* does not match key"):
        PRIV2.decrypt(PUB.encrypt(1))
    with pytest.raises(KeyMismatchError):
        PRIV2.decrypt(PUB.encrypt_vector([1.0]))


def test_decrypt_type_error():
    with pytest.raises(TypeError, match="use raw_decrypt for integers"):
        PRIV.decrypt(12345)


# ----------------------------------------------------------------------------- re-randomisation
def test_results_are_rerandomised_before_leaving():
    x = PUB.encrypt(5)
    zero = x * 0  # c^0 = 1: a deterministic "ciphertext" that would reveal the 0
    assert not zero.is_rerandomized and int(zero._c) == 1
    c = zero.ciphertext()
    assert c != 1 and zero.is_rerandomized and PRIV.decrypt(zero) == 0
    y = x + 1
    assert y.ciphertext(be_secure=False) == int(y._c)
    r = y.rerandomize()
    assert r.ciphertext() != y.ciphertext(be_secure=False) and PRIV.decrypt(r) == 6


def test_serialised_ciphertext_is_rerandomised():
    s = PUB.encrypt(4) * 0
    d = s.to_dict()
    assert int(d["ciphertext"], 16) != 1


# ----------------------------------------------------------------------------- vectors
def test_vector_ops_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    y = rng.normal(size=8)
    w = rng.normal(size=8)
    ex, ey = PUB.encrypt_vector(x, rng=1), PUB.encrypt_vector(y, rng=2)
    np.testing.assert_allclose(PRIV.decrypt(ex + ey), x + y, atol=1e-9)
    np.testing.assert_allclose(PRIV.decrypt(ex - ey), x - y, atol=1e-9)
    np.testing.assert_allclose(PRIV.decrypt(ex + y), x + y, atol=1e-9)
    np.testing.assert_allclose(PRIV.decrypt(ex * w), x * w, atol=1e-8)
    np.testing.assert_allclose(PRIV.decrypt(ex * 3), x * 3, atol=1e-9)
    np.testing.assert_allclose(PRIV.decrypt(-ex), -x, atol=1e-9)
    assert PRIV.decrypt(ex.dot(w)) == pytest.approx(x @ w, abs=1e-7)
    assert PRIV.decrypt(ex.sum()) == pytest.approx(x.sum(), abs=1e-8)
    assert PRIV.decrypt(ex[2]) == pytest.approx(x[2], abs=1e-9)
    assert len(ex) == 8 and ex.shape == (8,)


def test_int_vectors_are_exact():
    x = np.array([3, -5, 2**40], dtype=np.int64)
    out = PRIV.decrypt(PUB.encrypt_vector(x) * np.array([2, 3, -1]))
    assert out.dtype == np.int64 and out.tolist() == [6, -15, -(2**40)]


def test_vector_bad_inputs():
    with pytest.raises(ValueError, match="must be 1-D"):
        PUB.encrypt_vector(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="numeric array"):
        PUB.encrypt_vector(["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        PUB.encrypt_vector([1.0, np.nan])
    ex = PUB.encrypt_vector([1.0, 2.0])
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        _ = ex * np.ones(3)
    with pytest.raises(ValueError, match="same length"):
        _ = ex + PUB.encrypt_vector([1.0])
    with pytest.raises(PrecisionError, match="outside the encodable range"):
        PUB.encrypt_vector([1.0, 2.0**70])


# ----------------------------------------------------------------------------- packing
def test_packed_sum_matches_numpy():
    rng = np.random.default_rng(1)
    scheme = packing_scheme(PUB, bound=1000, max_additions=10)
    parts = [rng.integers(-1000, 1001, size=100) for _ in range(10)]
    total = sum(encrypt_packed(PUB, v, scheme, rng=i) for i, v in enumerate(parts))
    assert total.n_ciphertexts == math.ceil(100 / scheme.n_slots) < 100
    np.testing.assert_array_equal(PRIV.decrypt(total), np.sum(parts, axis=0))


def test_packed_fixed_point_floats():
    scheme = packing_scheme(PUB, bound=1.0, max_additions=4, precision=16)
    v = np.linspace(-1, 1, 30)
    agg = encrypt_packed(PUB, v, scheme) + encrypt_packed(PUB, -v / 2, scheme)
    np.testing.assert_allclose(PRIV.decrypt(agg), v / 2, atol=2**-15)


def test_packed_headroom_and_bounds():
    scheme = packing_scheme(PUB, bound=10, max_additions=2)
    a = encrypt_packed(PUB, [10, -10, 3], scheme)
    ab = a + a
    with pytest.raises(PrecisionError, match="headroom"):
        _ = ab + a
    with pytest.raises(PrecisionError, match="\\|v\\|"):
        encrypt_packed(PUB, [11], scheme)
    with pytest.raises(KeyMismatchError):
        encrypt_packed(PUB2, [1], scheme)
    with pytest.raises(PrecisionError, match="room for none"):
        packing_scheme(PUB, bound=2**600, max_additions=1)
    with pytest.raises(ValueError, match="max_additions must be an integer >= 1"):
        packing_scheme(PUB, bound=1, max_additions=0)
    np.testing.assert_array_equal(PRIV.decrypt(ab), [20, -20, 6])


def test_packed_slot_boundaries_extremes():
    # all values at +B and -B after max_additions: no carry between slots
    scheme = packing_scheme(PUB, bound=7, max_additions=3)
    for v in ([7] * 50, [-7] * 50, [7, -7] * 25):
        agg = sum(encrypt_packed(PUB, v, scheme) for _ in range(3))
        np.testing.assert_array_equal(PRIV.decrypt(agg), 3 * np.array(v))


# ----------------------------------------------------------------------------- serialisation
def test_key_round_trips():
    assert PaillierPublicKey.from_json(PUB.to_json(), allow_insecure=True) == PUB
    assert PaillierPrivateKey.from_json(PRIV.to_json(), allow_insecure=True) == PRIV
    assert PaillierPublicKey.from_dict(json.loads(PUB.to_json()), allow_insecure=True) == PUB


def test_ciphertext_round_trips():
    x = PUB.encrypt(-2.5)
    y = EncryptedNumber.from_json(x.to_json(), public_key=PUB)
    assert PRIV.decrypt(y) == -2.5 and y.precision == x.precision and y.bound == x.bound
    v = PUB.encrypt_vector([1.0, -2.0])
    w = PaillierVector.from_json(v.to_json().encode(), public_key=PUB)
    np.testing.assert_array_equal(PRIV.decrypt(w), [1.0, -2.0])


def test_serialised_ciphertext_for_another_key():
    with pytest.raises(KeyMismatchError, match="serialised ciphertext: key .* does not match"):
        EncryptedNumber.from_json(PUB.encrypt(1).to_json(), public_key=PUB2)


@pytest.mark.parametrize(
    "text, match",
    [
        ("not json", "not valid JSON"),
        ('{"type": "paillier_private_key", "version": 1, "n": "0x1"}', "expected a serialised"),
        ('{"type": "paillier_public_key", "version": 2, "n": "0x1"}', "unsupported"),
        ('{"type": "paillier_public_key", "version": 1}', "missing field 'n'"),
        ('{"type": "paillier_public_key", "version": 1, "n": "xyz"}', "not a hex integer"),
        ('{"type": "paillier_public_key", "version": 1, "n": 15}', "must be a hex string"),
    ],
)
def test_malformed_public_key(text, match):
    with pytest.raises(SerializationError, match=match):
        PaillierPublicKey.from_json(text)


def test_malformed_private_key():
    d = PRIV.to_dict()
    d["q"] = hex(PRIV2.q)
    with pytest.raises(SerializationError, match="inconsistent"):
        PaillierPrivateKey.from_dict(d, allow_insecure=True)


def test_malformed_ciphertexts():
    good = PUB.encrypt(1).to_dict()
    for field, value, match in [
        ("ciphertext", hex(PUB.nsquare), "unit modulo n\\^2"),
        ("ciphertext", hex(PRIV.p), "unit modulo n\\^2"),
        ("ciphertext", "0xzz", "not a hex integer"),
        ("precision", -1, "precision"),
        ("precision", "8", "precision"),
        ("bound", hex(PUB.max_int + 1), "bound"),
    ]:
        d = dict(good, **{field: value})
        with pytest.raises(SerializationError, match=match):
            EncryptedNumber.from_dict(d, public_key=PUB)
    bad_vec = dict(PUB.encrypt_vector([1]).to_dict(), ciphertexts="0x1")
    with pytest.raises(SerializationError, match="list of hex"):
        PaillierVector.from_dict(bad_vec, public_key=PUB)


def test_from_dict_needs_a_dict_and_bytes_utf8():
    with pytest.raises(TypeError, match="must be a dict"):
        PaillierPublicKey.from_dict("n=15")
    with pytest.raises(SerializationError, match="UTF-8"):
        PaillierPublicKey.from_json(b"\xff\xfe")
    with pytest.raises(TypeError, match="str or bytes"):
        PaillierPublicKey.from_json(15)


# ----------------------------------------------------------------------------- backends
needs_gmpy2 = pytest.mark.skipif(not bk.HAVE_GMPY2, reason="gmpy2 not installed")


@needs_gmpy2
def test_backends_give_identical_answers():
    results = {}
    for name in ("gmpy2", "python"):
        with P.use_backend(name):
            assert P.backend_name() == name
            seeded = {"insecure_seeded_keys": True}  # replay bit for bit on both backends
            pub, priv = generate_paillier_keypair(key_bits=256, allow_insecure=True, rng=99, **seeded)
            x = pub.encrypt(-1.75, rng=1, **seeded)
            v = pub.encrypt_vector([1, 2, 3], rng=2, randomness="full", **seeded)
            y = (x * 3 + 2).ciphertext(be_secure=False)
            packed = encrypt_packed(pub, [5, -5], packing_scheme(pub, bound=5, max_additions=2), rng=3, **seeded)
            results[name] = (pub.n, priv.p, x.ciphertext(), v.ciphertexts(), y, int(packed._cs[0]),
                             priv.decrypt(x * 3 + 2), priv.decrypt(v).tolist(),
                             priv.raw_encrypt(9, rng=4, **seeded), priv.decrypt(packed + packed).tolist())
    assert results["gmpy2"] == results["python"]
    assert results["python"][6] == -3.25 and results["python"][9] == [10, -10]


def test_pure_python_backend_alone():
    with P.use_backend("python"):
        pub, priv = generate_paillier_keypair(key_bits=128, allow_insecure=True, rng=3)
        assert isinstance(pub._consts()[0], int)
        assert priv.decrypt(pub.encrypt(2.5) + pub.encrypt(-1.0)) == 1.5


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend must be"):
        with P.use_backend("openssl"):
            pass


@pytest.mark.parametrize("n", [0, 1, 2, 4, 1999, 2003, 561, 2**61 - 1, 2**64 + 1, (2**89 - 1) * (2**61 - 1)])
def test_primality_backends_agree(n):
    expected = {2: True, 1999: True, 2003: True, 2**61 - 1: True}.get(n, False)
    assert bk.is_probable_prime(n) is expected
    with P.use_backend("python"):
        assert bk.is_probable_prime(n) is expected


def test_precision_growth_is_capped():
    x = PUB.encrypt(2.0**-901, precision=1000, bound=2.0**-900)
    assert PRIV.decrypt(x) == 2.0**-901
    with pytest.raises(PrecisionError, match="fractional bits"):
        _ = x * 0.1
    with pytest.raises(PrecisionError, match="fractional bits"):
        _ = PUB.encrypt(1.0) * 4.66e-285


def test_packed_sum_starts_from_zero_only():
    scheme = packing_scheme(PUB, bound=3, max_additions=2)
    a = encrypt_packed(PUB, [1, 2], scheme)
    assert (0 + a) is a
    with pytest.raises(TypeError):
        _ = a + np.zeros(2)
