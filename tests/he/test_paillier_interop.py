"""Interoperability with python-paillier (phe): same p, q -> each side decrypts the other's ciphertexts."""

import numpy as np
import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.exceptions import KeyMismatchError, PrecisionError
from ppml_lab.he.paillier import (
    EncryptedNumber,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)

PUB, PRIV = generate_paillier_keypair(key_bits=1024, allow_insecure=True, rng=21)
PHE_PUB = phe.PaillierPublicKey(PUB.n)
PHE_PRIV = phe.PaillierPrivateKey(PHE_PUB, PRIV.p, PRIV.q)
HYP = settings(max_examples=30, deadline=None)


def test_key_conversion_both_ways():
    assert PRIV.to_phe() == PHE_PRIV and PUB.to_phe() == PHE_PUB
    assert PaillierPrivateKey.from_phe(PHE_PRIV, allow_insecure=True) == PRIV
    assert PaillierPublicKey.from_phe(PHE_PUB, allow_insecure=True) == PUB
    assert PHE_PUB.max_int == PUB.max_int  # same signed-encoding convention


def test_raw_known_answer_same_r():
    m, r = 2**200 + 12345, 3**100
    assert PUB.raw_encrypt(m, r=r) == PHE_PUB.raw_encrypt(m, r_value=r)


@HYP
@given(st.integers(0, 2**1000))
def test_raw_ours_to_phe_and_back(m):
    m %= PUB.n
    assert PHE_PRIV.raw_decrypt(PUB.raw_encrypt(m)) == m
    assert PHE_PRIV.raw_decrypt(PRIV.raw_encrypt(m)) == m  # CRT path too
    assert PRIV.raw_decrypt(PHE_PUB.raw_encrypt(m)) == m


@HYP
@given(st.integers(-(2**62), 2**62) | st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_safe_encoding_interoperates(x):
    ours = PUB.encrypt(x)
    assert PHE_PRIV.decrypt(ours.to_phe()) == PRIV.decrypt(ours)
    assert PRIV.decrypt(ours) == pytest.approx(x, abs=2**-32)
    theirs = PHE_PUB.encrypt(x, precision=2**-32 if isinstance(x, float) else None)
    assert PRIV.decrypt(EncryptedNumber.from_phe(theirs, public_key=PUB)) == PHE_PRIV.decrypt(theirs)


@HYP
@given(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40), st.integers(-(2**20), 2**20))
def test_encrypted_sums_and_scalar_products_agree(a, b, k):
    ea, eb = PUB.encrypt(a), PUB.encrypt(b)
    pa, pb = ea.to_phe(), eb.to_phe()
    # same ciphertext integers after the homomorphic operation (both compute c_a * c_b and c^k mod n^2)
    assert (ea + eb).ciphertext(be_secure=False) == (pa + pb).ciphertext(be_secure=False)
    assert PHE_PRIV.decrypt(pa + pb) == PRIV.decrypt(ea + eb) == a + b
    assert PHE_PRIV.decrypt(pa * k) == PRIV.decrypt(ea * k) == a * k
    # mixed: a phe ciphertext added to ours
    mixed = ea + EncryptedNumber.from_phe(pb, public_key=PUB, bound=2**40)
    assert PHE_PRIV.decrypt(mixed.to_phe()) == a + b


def test_float_scalar_product_agrees_with_phe():
    x, k = 3.14159, -0.001
    ours = PUB.encrypt(x) * k
    theirs = PHE_PUB.encrypt(x, precision=2**-32) * k
    assert PRIV.decrypt(ours) == pytest.approx(PHE_PRIV.decrypt(theirs), rel=1e-12)


def test_vector_interop_with_phe_decryption():
    x = np.array([0.5, -1.25, 1e6])
    v = PUB.encrypt_vector(x)
    got = [PHE_PRIV.decrypt(v[i].to_phe()) for i in range(3)]
    np.testing.assert_array_equal(got, x)


def test_phe_positive_exponent_is_folded():
    theirs = phe.EncryptedNumber(PHE_PUB, PHE_PUB.raw_encrypt(3), exponent=2)  # value 3 * 16^2
    assert PRIV.decrypt(EncryptedNumber.from_phe(theirs, public_key=PUB)) == 768


def test_phe_interop_errors():
    other_pub, _ = generate_paillier_keypair(key_bits=512, allow_insecure=True, rng=22)
    with pytest.raises(KeyMismatchError):
        PUB.encrypt(1).to_phe(other_pub.to_phe())
    with pytest.raises(KeyMismatchError):
        EncryptedNumber.from_phe(PHE_PUB.encrypt(1), public_key=other_pub)
    with pytest.raises(PrecisionError, match="multiple of 4"):
        PUB.encrypt(1.5, precision=5).to_phe()


def test_2048_bit_interop():
    pub, priv = generate_paillier_keypair(key_bits=2048, rng=2048)
    psk = priv.to_phe()
    assert psk.decrypt(pub.encrypt(-7.75).to_phe()) == -7.75
    assert priv.decrypt(EncryptedNumber.from_phe(psk.public_key.encrypt(42) * 3)) == 126
