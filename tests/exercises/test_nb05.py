import math

from ppml_lab.exercises import nb05
from ppml_lab.he.paillier import PaillierPrivateKey, generate_paillier_keypair, packing_scheme


def test_toy_decryption_reference_and_wrong_answers():
    lam = math.lcm(nb05.TOY_P - 1, nb05.TOY_Q - 1)
    n = nb05.TOY_N
    mu = pow((pow(n + 1, lam, n * n) - 1) // n, -1, n)
    m = (pow(nb05.TOY_CIPHERTEXT, lam, n * n) - 1) // n * mu % n
    assert nb05.check_toy_decryption(m).ok
    sk = PaillierPrivateKey.from_primes(nb05.TOY_P, nb05.TOY_Q, allow_insecure=True)
    assert nb05.check_toy_decryption(sk.raw_decrypt(nb05.TOY_CIPHERTEXT)).ok
    bad = nb05.check_toy_decryption(nb05.TOY_CIPHERTEXT % n)
    assert not bad.ok and "lambda" in bad.hint
    assert not nb05.check_toy_decryption(m + 1).ok
    assert not nb05.check_toy_decryption("200x").ok
    assert not nb05.check_toy_decryption(200.5).ok


def test_reused_randomness():
    pub, c1, c2 = nb05.reused_randomness_challenge()
    d = c1 * pow(c2, -1, pub.nsquare) % pub.nsquare
    diff = (d - 1) // pub.n
    assert nb05.check_reused_randomness(diff).ok
    assert not nb05.check_reused_randomness(-diff).ok
    assert "sign" in nb05.check_reused_randomness(-diff).message
    assert not nb05.check_reused_randomness(73_000).ok


def test_packing_slots_matches_the_package():
    pub, _ = generate_paillier_keypair(key_bits=512, allow_insecure=True, rng=1)
    assert nb05.packing_slots(key_bits=512, bound=1000, parties=50) == packing_scheme(
        pub, bound=1000, max_additions=50).n_slots
    truth = nb05.packing_slots(key_bits=2048, bound=1000, parties=50)
    assert truth == 2047 // 17
    assert nb05.check_packing_slots(truth).ok
    assert not nb05.check_packing_slots(2047 // 11).ok  # no headroom
    assert not nb05.check_packing_slots(truth + 5).ok


def test_unanswered_is_not_a_pass():
    for check in (nb05.check_toy_decryption, nb05.check_reused_randomness, nb05.check_packing_slots):
        result = check(None)
        assert not result.ok and not result.answered and "not answered" in str(result)
