"""Reference answers pass and typical wrong answers fail for the zero-knowledge notebook's exercises."""

from __future__ import annotations

from ppml_lab.exercises import nb14


def test_toy_response():
    assert nb14.check_toy_response(4)  # (5 + 7*3) mod 11
    assert not nb14.check_toy_response(26)
    assert not nb14.check_toy_response(3)  # 26 mod 23
    assert not nb14.check_toy_response(None).answered


def reference_verify(big_x, a, c, z):
    return pow(4, z, 23) == a * pow(big_x, c, 23) % 23


def test_verifier_reference_passes():
    assert nb14.check_verifier(reference_verify)


def test_verifier_that_accepts_everything_fails():
    res = nb14.check_verifier(lambda big_x, a, c, z: True)
    assert not res and "should reject" in res.message


def test_verifier_ignoring_statement_fails():
    # hashes nothing, checks only g^z == A g^(c): the statement X is never used
    assert not nb14.check_verifier(lambda big_x, a, c, z: pow(4, z, 23) == a * pow(4, c, 23) % 23)


def test_verifier_reducing_mod_q_fails():
    assert not nb14.check_verifier(lambda big_x, a, c, z: pow(4, z, 23) % 11 == a * pow(big_x, c, 23) % 11)


def test_verifier_that_raises_fails():
    def bad(*args):
        raise ZeroDivisionError("oops")

    assert not nb14.check_verifier(bad)


def test_bits_per_coordinate():
    assert nb14.check_bits_per_coordinate(8, bound=100)
    assert not nb14.check_bits_per_coordinate(7, bound=100)
    assert not nb14.check_bits_per_coordinate(9, bound=100)


def test_proof_bytes():
    assert nb14.check_proof_bytes(62 * 8 * 128 + 32)
    assert not nb14.check_proof_bytes(62 * 8 * 128)
    assert not nb14.check_proof_bytes(62 * 8 * 160 + 32)
