"""Typical wrong answers to the coding exercise of notebook 14 (a Schnorr verifier).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``verify``) and checks that otter's tests for the question reject it.
"""


def verify_equation_only(X, A, c, z, *, p, q, g):
    """Checks g^z = A X^c and nothing else: accepts forged transcripts for X outside the order-q subgroup."""
    return pow(g, z, p) == A * pow(X, c, p) % p


def verify_exponents_mod_q(X, A, c, z, *, p, q, g):
    """Reduces the group elements modulo q instead of p (confuses the group order with the modulus)."""
    return pow(g, z, q) == A * pow(X, c, q) % q


def verify_ignores_statement(X, A, c, z, *, p, q, g):
    """Compares g^z with A only (forgot X^c): any A = g^z passes, for any statement."""
    return pow(g, z, p) == A % p


def verify_no_range_check(X, A, c, z, *, p, q, g):
    """Checks membership of X and A but not that c and z lie in [0, q): z + q (a malleated response) and
    elements outside [1, p) that are congruent to members pass."""
    def member(a):
        return pow(a % p, q, p) == 1 and a % p != 0
    return member(X) and member(A) and pow(g, z, p) == A * pow(X, c, p) % p


def verify_raises(X, A, c, z, *, p, q, g):
    """Raises instead of returning False on a malformed transcript (a verifier that crashes on attacker input)."""
    if not (1 <= X < p and pow(X, q, p) == 1 and 1 <= A < p and pow(A, q, p) == 1):
        raise ValueError("not a group element")
    if not (0 <= c < q and 0 <= z < q):
        raise ValueError("exponent out of range")
    return pow(g, z, p) == A * pow(X, c, p) % p


WRONG = {"q14_schnorr_verifier": [
    verify_equation_only,
    verify_exponents_mod_q,
    verify_ignores_statement,
    verify_no_range_check,
    verify_raises,
]}
