"""Typical wrong answers to the coding exercise of notebook 05 (encrypted weighted sum with Paillier)."""


def adds_ciphertexts(ciphertexts, weights, *, public_key):
    """Adds ciphertexts and multiplies by the weight (plaintext arithmetic on ciphertexts)."""
    return sum(int(c) * int(w) for c, w in zip(ciphertexts, weights)) % public_key.nsquare


def reduces_mod_n(ciphertexts, weights, *, public_key):
    """Right operations, but reduces modulo n instead of n^2."""
    out = 1
    for c, w in zip(ciphertexts, weights):
        out = out * pow(int(c), int(w), public_key.n) % public_key.n
    return out


def ignores_weights(ciphertexts, weights, *, public_key):
    """Multiplies the ciphertexts (adds the plaintexts) but forgets the weights."""
    out = 1
    for c in ciphertexts:
        out = out * int(c) % public_key.nsquare
    return out


def multiplies_exponents(ciphertexts, weights, *, public_key):
    """Raises the ciphertext to w and ALSO multiplies by w (mixing the two homomorphisms)."""
    out = 1
    for c, w in zip(ciphertexts, weights):
        out = out * (pow(int(c), int(w), public_key.nsquare) * int(w)) % public_key.nsquare
    return out


WRONG = {"q05_weighted_sum": [adds_ciphertexts, reduces_mod_n, ignores_weights, multiplies_exponents]}
