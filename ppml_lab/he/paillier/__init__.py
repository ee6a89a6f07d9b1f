"""Paillier's additively homomorphic public-key encryption, from scratch.

Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes", EUROCRYPT 1999,
LNCS 1592, pp. 223-238, doi:10.1007/3-540-48910-X_16. Threat model: IND-CPA against anyone without the
factors of n under the Decisional Composite Residuosity (DCR) assumption (Paillier 1999, Scheme 1); the
scheme is malleable by design (that is the homomorphism), so it gives no integrity and no IND-CCA security.

Modules (each imports only those above it):

* :mod:`.encoding` — signed fixed point (pure functions);
* :mod:`.keys` — key pairs, key generation, the raw integer layer, and the checks EVERY key passes however
  it is built (size >= 2048 bits per NIST SP 800-57, balanced primes per FIPS 186-4; toy keys need
  ``allow_insecure=True``), and :func:`check_same_key`, the one key-mismatch check;
* :mod:`.ciphertext` — :class:`EncryptedNumber` / :class:`PaillierVector` with public bounds;
* :mod:`.packing` — many bounded values per plaintext; :mod:`.serialization` — JSON; :mod:`.interop` — phe.

Two levels, as in python-paillier (``phe``):

* ``raw_encrypt`` / ``raw_decrypt`` work on integers in [0, n) with g = n + 1, so that
  g^m = (1 + n)^m = 1 + m*n (mod n^2) and encryption is one multiplication plus a random n-th power;
  decryption uses the Chinese remainder theorem with values precomputed from p and q (Sect. 7). Raw
  arithmetic wraps around n silently: that is what the notebook derives and what the safe layer prevents.
* ``encrypt`` / ``decrypt`` encode signed ints and floats in fixed point (``precision`` fractional bits),
  track a public bound on every ciphertext's plaintext so that an operation that could wrap around n
  raises :class:`~ppml_lab.exceptions.PrecisionError` instead of returning a wrong number, check the
  overflow band and the bound again on decryption, and re-randomise results before they leave their owner.

Randomness. Primes and every encryption's randomness come from the OS CSPRNG (``ppml_lab._rng.key_rng``):
an ``rng`` seed passed for a reproducible notebook is ignored for them unless ``insecure_seeded_keys=True``.
Textbook encryption costs one r^n mod n^2 with a full-size r. Two cheaper options, with the assumption
each rests on:

* ``randomness="short_exponent"`` (the default for public-key encryption): the Damgård-Jurik-Nielsen
  variant (Damgård, Jurik, Nielsen, "A generalization of Paillier's public-key system with applications to
  electronic voting", Int. J. Inf. Secur. 9(6), 2010). h = -y^2 mod n for a fixed y derived by hashing n,
  hs = h^n mod n^2 is computed once, and each encryption uses hs^a for a uniform a of key_bits/2 bits,
  evaluated with a precomputed fixed-base table (about key_bits/10 multiplications instead of a
  key_bits-bit exponentiation). Security needs DCR **plus** a short-exponent assumption: that hs^a with a
  short a is indistinguishable from a uniform element of the subgroup hs generates (the analogue of the
  short-exponent discrete-log assumptions, Koshiba & Kurosawa, PKC 2004). It is an extra assumption;
  pass ``randomness="full"`` to rely on DCR alone.
* ``PaillierPrivateKey.encrypt`` (the key owner encrypting): a full-size uniform r, but r^n computed mod
  p^2 and mod q^2 with exponents reduced mod p(p-1) and q(q-1), then recombined by CRT. The ciphertext is
  bit-for-bit the textbook one, so this needs no assumption beyond DCR; it only needs the secret factors.

Big integers go through gmpy2 when it is installed; :mod:`ppml_lab.he._paillier_backend` has a pure-Python
fallback that gives identical answers. Neither is constant-time: this is teaching and prototyping code.
"""

from __future__ import annotations

from ppml_lab.he import _paillier_backend as _bk
from ppml_lab.he.paillier.ciphertext import EncryptedNumber, PaillierVector
from ppml_lab.he.paillier.encoding import DEFAULT_BOUND_BITS, DEFAULT_PRECISION, MAX_PRECISION, decode, encode
from ppml_lab.he.paillier.keys import (
    DEFAULT_KEY_BITS,
    MIN_SECURE_KEY_BITS,
    PRIME_DISTANCE_MARGIN_BITS,
    TRIAL_DIVISION_LIMIT,
    PaillierPrivateKey,
    PaillierPublicKey,
    check_same_key,
    generate_paillier_keypair,
)
from ppml_lab.he.paillier.packing import PackedPaillierVector, PackingScheme, encrypt_packed, packing_scheme
from ppml_lab.he.paillier.serialization import SerializationError

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_SECURE_KEY_BITS",
    "TRIAL_DIVISION_LIMIT",
    "PRIME_DISTANCE_MARGIN_BITS",
    "DEFAULT_PRECISION",
    "MAX_PRECISION",
    "DEFAULT_BOUND_BITS",
    "SerializationError",
    "PaillierPublicKey",
    "PaillierPrivateKey",
    "EncryptedNumber",
    "PaillierVector",
    "PackingScheme",
    "PackedPaillierVector",
    "generate_paillier_keypair",
    "check_same_key",
    "encode",
    "decode",
    "packing_scheme",
    "encrypt_packed",
    "use_backend",
    "backend_name",
]

use_backend = _bk.use_backend
backend_name = _bk.backend_name
