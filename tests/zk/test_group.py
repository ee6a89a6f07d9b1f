"""Groups and Pedersen commitments: laws, a known answer against libsodium/cryptography, bad inputs."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from ppml_lab.exceptions import InsecureParameterError, InvalidGroupElementError
from ppml_lab.zk import (
    SchnorrGroup,
    add_commitments,
    commit,
    default_group,
    pedersen_params,
    toy_group,
    vector_commit,
    verify_opening,
)
from ppml_lab.zk.group import ED25519_ORDER, check_scalar

ED = default_group()
TOY = toy_group()
scalars = st.integers(min_value=0, max_value=ED25519_ORDER - 1)


def test_toy_group_by_hand():
    # Arrange / Act: p = 23, q = 11, g = 4; 4^11 = 1 (mod 23), 4^3 = 64 = 18 (mod 23)
    g = TOY
    # Assert
    assert (g.p, g.order, g.generator) == (23, 11, 4)
    assert g.exp(4, 11) == 1 and g.exp(4, 3) == 18
    assert sorted({g.exp(4, k) for k in range(11)}) == [1, 2, 3, 4, 6, 8, 9, 12, 13, 16, 18]  # the QRs mod 23


def test_ed25519_known_answer_against_cryptography():
    # RFC 8032 public key A = s B with s the clamped first half of SHA-512(seed): our exp vs OpenSSL's Ed25519
    seed = bytes(range(32))
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    s = int.from_bytes(h, "little")
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert ED.exp(ED.generator, s) == expected


@settings(max_examples=25, deadline=None)
@given(a=scalars, b=scalars)
def test_ed25519_exponent_laws(a, b):
    g = ED.generator
    assert ED.op(ED.exp(g, a), ED.exp(g, b)) == ED.exp(g, a + b)
    assert ED.exp(ED.exp(g, a), b) == ED.exp(g, a * b)
    assert ED.op(ED.exp(g, a), ED.inv(ED.exp(g, a))) == ED.identity


def test_ed25519_order_and_identity():
    g = ED.generator
    assert ED.exp(g, ED.order) == ED.identity
    assert ED.exp(g, ED.order + 5) == ED.exp(g, 5)
    assert ED.check_element(ED.identity) == ED.identity


@settings(max_examples=25, deadline=None)
@given(x1=st.integers(-10**6, 10**6), x2=st.integers(-10**6, 10**6), r1=scalars, r2=scalars)
def test_pedersen_homomorphism(x1, x2, r1, r2):
    pp = pedersen_params()
    c = add_commitments([commit(x1, randomness=r1, params=pp), commit(x2, randomness=r2, params=pp)], params=pp)
    assert c == commit(x1 + x2, randomness=(r1 + r2) % ED.order, params=pp)
    assert verify_opening(c, x1 + x2, randomness=(r1 + r2) % ED.order, params=pp)
    assert not verify_opening(c, x1 + x2 + 1, randomness=(r1 + r2) % ED.order, params=pp)


def test_vector_commitment_homomorphism_and_binding_to_position():
    pp = pedersen_params(vector_length=3)
    a = vector_commit([1, 2, 3], randomness=5, params=pp)
    b = vector_commit([10, 20, 30], randomness=7, params=pp)
    assert ED.op(a, b) == vector_commit([11, 22, 33], randomness=12, params=pp)
    assert vector_commit([2, 1, 3], randomness=5, params=pp) != a  # coordinates are not interchangeable


def test_generators_are_distinct_and_valid():
    pp = pedersen_params(vector_length=4)
    gens = [pp.g, pp.h, *pp.gs]
    assert len(set(gens)) == len(gens)
    for x in gens:
        assert ED.check_element(x) == x


# ---------------------------------------------------------------- bad inputs, one test each

def test_refuses_point_off_the_curve():
    bad = bytes([2]) + bytes(31)  # y = 2 has no x on edwards25519
    with pytest.raises(InvalidGroupElementError, match="prime-order subgroup"):
        ED.check_element(bad, name="commitment")


def test_refuses_small_order_point():
    low_order = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")  # order 2: (0, -1)
    with pytest.raises(InvalidGroupElementError, match="commitment"):
        ED.check_element(low_order, name="commitment")


def test_refuses_mixed_order_point():
    torsion = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
    from nacl.bindings import crypto_core_ed25519_add

    mixed = crypto_core_ed25519_add(ED.generator, torsion)  # B + T: on the curve, not in the order-l group
    with pytest.raises(InvalidGroupElementError):
        ED.check_element(mixed)


def test_refuses_wrong_length():
    with pytest.raises(InvalidGroupElementError, match="32 bytes long.*got 31"):
        ED.check_element(bytes(31), name="commitment")


def test_refuses_non_bytes_element():
    with pytest.raises(TypeError, match="32-byte point"):
        ED.check_element(12345)


def test_toy_group_refuses_non_residue():
    with pytest.raises(InvalidGroupElementError, match="quadratic residue modulo p = 23"):
        TOY.check_element(5)  # 5 is not a square mod 23


def test_toy_group_decode_wrong_length():
    with pytest.raises(InvalidGroupElementError, match="1 bytes long"):
        TOY.decode(b"\x00\x04")


def test_scalar_out_of_range():
    with pytest.raises(ValueError, match=r"randomness must be a scalar in \[0, q\)"):
        commit(1, randomness=ED25519_ORDER, params=pedersen_params())


def test_negative_scalar():
    with pytest.raises(ValueError, match="got -1"):
        check_scalar("secret", -1, ED)


def test_scalar_wrong_type():
    with pytest.raises(TypeError, match="secret must be an int"):
        check_scalar("secret", 1.5, ED)


def test_small_schnorr_group_needs_flag():
    with pytest.raises(InsecureParameterError, match="insecure_toy_group=True"):
        SchnorrGroup(23)


def test_schnorr_group_needs_safe_prime():
    with pytest.raises(ValueError, match="safe prime"):
        SchnorrGroup(29, insecure_toy_group=True)  # 14 is not prime


def test_vector_commit_wrong_length():
    with pytest.raises(ValueError, match="length 3"):
        vector_commit([1, 2], randomness=1, params=pedersen_params(vector_length=3))


# ---------------------------------------------------------------- small-order and non-canonical encodings

_P25519 = 2**255 - 19


@pytest.mark.parametrize("enc", [
    (1 + _P25519).to_bytes(32, "little"),  # y = 1 + p: a non-canonical encoding of the identity
    (1 | 1 << 255).to_bytes(32, "little"),  # the identity with the sign bit of x = 0 set ("negative zero")
    (_P25519 - 1 | 1 << 255).to_bytes(32, "little"),  # (0, -1) with the sign bit set: non-canonical, order 2
    bytes(32),  # y = 0: a point of order 4
], ids=["y-plus-p", "neg-zero-identity", "neg-zero-order-2", "order-4"])
def test_refuses_non_canonical_and_small_order_encodings(enc):
    with pytest.raises(InvalidGroupElementError, match="public must be a canonical edwards25519 point"):
        ED.check_element(enc, name="public")


@pytest.mark.attack
def test_torsion_shifted_public_key_forgery_refused():
    # X' = g^x + T with T of order 8 has no logarithm base g. The Schnorr equation g^z = A X'^c still holds
    # whenever 8 | c (T^c = 1): computed with libsodium's unchecked operations (the raw path), a prover
    # convinces for a statement that is false, 1 time in 8. The safe verifier refuses X' before any maths.
    from nacl.bindings import crypto_core_ed25519_add

    from ppml_lab.zk import prove_dlog, verify_dlog

    def unchecked_mul(k, point):  # double-and-add with libsodium's point addition and no subgroup check
        acc = None  # (libsodium's own scalar multiplication refuses points outside the subgroup)
        for bit in bin(k)[2:]:
            acc = None if acc is None else crypto_core_ed25519_add(acc, acc)
            if bit == "1":
                acc = point if acc is None else crypto_core_ed25519_add(acc, point)
        return acc

    torsion8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")  # order 8
    x = 123456789
    x_shifted = crypto_core_ed25519_add(ED.exp(ED.generator, x), torsion8)
    accepted = 0
    for k in range(1, 41):
        a = ED.exp(ED.generator, k)
        c = k  # the challenges 8, 16, 24, 32, 40 are multiples of 8
        z = (k + c * x) % ED.order
        rhs = crypto_core_ed25519_add(a, unchecked_mul(c, x_shifted))
        accepted += ED.exp(ED.generator, z) == rhs
    assert accepted == 5  # raw equation check: fooled exactly when 8 | c
    proof = prove_dlog(x, group=ED)
    with pytest.raises(InvalidGroupElementError, match="public must be a canonical edwards25519 point of order l"):
        verify_dlog(proof, public=x_shifted, group=ED)


def test_vector_commit_refuses_float_instead_of_truncating():
    with pytest.raises(TypeError, match=r"values\[2\] must be an int .*got float64"):
        import numpy as np

        vector_commit([1, 2, np.float64(0.5)], randomness=1, params=pedersen_params(vector_length=3))
