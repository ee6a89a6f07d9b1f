"""Paillier key pairs: the public modulus n (g = n + 1), the private factors p, q with their CRT constants,
key generation, the raw (integer) layer, and the checks every key passes however it is built.

Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes", EUROCRYPT 1999 (Scheme 1,
decryption by CRT in Sect. 7). Threat model: IND-CPA against anyone without the factors of n, under DCR.

**Every path that builds a key runs the same checks** (the constructors, ``from_primes``, ``from_dict`` /
``from_json``, ``from_phe`` and :func:`generate_paillier_keypair` all end in ``__post_init__``):

* public key: n odd, not prime, not a perfect square; at least :data:`MIN_SECURE_KEY_BITS` bits and no
  prime factor below :data:`TRIAL_DIVISION_LIMIT` — both waived only by ``allow_insecure=True`` (toy keys
  for teaching). A public key alone cannot prove n = pq is balanced; trial division catches a gross
  imbalance such as 65537 x P.
  Unpickling and ``copy.deepcopy`` rebuild keys through the constructor too.
* private key: p, q distinct probable primes with p * q == n and gcd(n, (p-1)(q-1)) = 1 (always, since
  decryption is wrong otherwise); balanced — the same bit length and |p - q| > 2^(bits(p) - 100), FIPS 186-4
  Appendix B.3.3 (steps 4.4 and 5.4) — waived only by the public key's ``allow_insecure``.

Refusals are :class:`~ppml_lab.exceptions.InsecureParameterError` (size, balance, small factors, prime n)
or ``ValueError`` (malformed). :func:`check_same_key` is the package's one key-mismatch check.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ppml_lab._rng import RNGLike, SecureGenerator, key_rng, secure_randbelow, secure_randbits
from ppml_lab._validation import check_bool, check_choice, check_int
from ppml_lab.exceptions import InsecureParameterError, KeyMismatchError
from ppml_lab.he import _paillier_backend as _bk

if TYPE_CHECKING:  # pragma: no cover
    from ppml_lab.he.paillier.ciphertext import EncryptedNumber, PaillierVector
    from ppml_lab.he.paillier.packing import PackedPaillierVector

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_SECURE_KEY_BITS",
    "TRIAL_DIVISION_LIMIT",
    "PRIME_DISTANCE_MARGIN_BITS",
    "PaillierPublicKey",
    "PaillierPrivateKey",
    "generate_paillier_keypair",
    "check_same_key",
]

#: Default modulus size. NIST SP 800-57 Part 1 Rev. 5, Table 2: a 3072-bit factoring modulus gives about
#: 128-bit security, 2048 bits about 112-bit security (acceptable through 2030).
DEFAULT_KEY_BITS = 3072
#: Smallest modulus accepted without ``allow_insecure=True`` (same table: 112-bit security).
MIN_SECURE_KEY_BITS = 2048
#: A secure-path modulus must have no prime factor below this (one gcd with their product, ~20 ms once).
TRIAL_DIVISION_LIMIT = 2**20
#: |p - q| must exceed 2^(bits(p) - this) (FIPS 186-4 App. B.3.3 step 5.4: 2^(nlen/2 - 100)); Fermat's
#: method factors n quickly when p and q share their top bits.
PRIME_DISTANCE_MARGIN_BITS = 100
_MIN_TOY_KEY_BITS = 16  # smallest key_bits generate_paillier_keypair makes (with allow_insecure=True)
_MAX_KEY_BITS = 16384
_MIN_N = 15  # 3 * 5: the smallest odd product of two distinct primes

Randomness = Literal["short_exponent", "full"]
_RANDOMNESS = ("short_exponent", "full")


# ---------------------------------------------------------------------------------------------------------
# randomness: key material and encryption randomness come from the OS CSPRNG (ppml_lab._rng.key_rng); a
# seeded generator is used only with insecure_seeded_keys=True (tests and teaching that replay bit for bit)
# ---------------------------------------------------------------------------------------------------------
def _source(rng: RNGLike, insecure_seeded_keys: bool = False) -> Any:
    """None (use `secrets`) unless ``insecure_seeded_keys`` and ``rng`` is a seed or a numpy Generator."""
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)
    return None if isinstance(g, SecureGenerator) else g


def _randbits(bits: int, src: Any) -> int:
    if src is None:
        return secure_randbits(bits)
    nbytes = (bits + 7) // 8
    return int.from_bytes(src.bytes(nbytes), "big") >> (8 * nbytes - bits)


def _randbelow(upper: int, src: Any) -> int:
    if src is None:
        return secure_randbelow(upper)
    bits = upper.bit_length()
    while True:  # rejection sampling: uniform on [0, upper)
        x = _randbits(bits, src)
        if x < upper:
            return x


def _generate_prime(bits: int, src: Any) -> int:
    while True:
        # top two bits set so that p*q has exactly 2*bits bits; odd
        cand = _randbits(bits, src) | (3 << (bits - 2)) | 1
        if _bk.is_probable_prime(cand):
            return cand


def _fingerprint(n: int) -> str:
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------------------------------------
def check_same_key(key: PaillierPublicKey, other: Any, *, what: str) -> None:
    """The one key-mismatch check: ``other`` (a public key, a modulus n, or a key fingerprint string) must be
    ``key``. Raises :class:`KeyMismatchError` naming both fingerprints; ``what`` says which operation."""
    if isinstance(other, PaillierPublicKey):
        same, theirs = other is key or other.n == key.n, other.fingerprint
    elif isinstance(other, str):
        same, theirs = other == key.fingerprint, other
    elif isinstance(other, int) and not isinstance(other, bool):
        same, theirs = other == key.n, (_fingerprint(other) if other > 0 else repr(other))
    else:
        raise TypeError(f"key to compare must be a PaillierPublicKey, a modulus or a fingerprint, got "
                        f"{type(other).__name__}")
    if not same:
        raise KeyMismatchError(
            f"{what}: key {theirs!r} does not match key {key.fingerprint!r}; ciphertexts, keys and packing "
            "schemes combine only under one key pair (re-encrypt under one key)"
        )


@functools.lru_cache(maxsize=128)
def _check_modulus(n: int, allow_insecure: bool) -> None:
    """Public-key checks (module docstring). Cached: keys are rebuilt from the same n (imports, phe)."""
    if n % 2 == 0:
        raise ValueError(f"n must be an odd product of two primes, got an even number of {n.bit_length()} bits")
    root = math.isqrt(n)
    if root * root == n:
        raise ValueError("n must be a product of two DISTINCT primes, got a perfect square (p == q)")
    if _bk.is_probable_prime(n):
        raise InsecureParameterError(
            f"n must be a product of two primes, got a prime of {n.bit_length()} bits: phi(n) = n - 1 is "
            "public, so anyone could decrypt"
        )
    kb = n.bit_length()
    if allow_insecure:
        return
    if kb < MIN_SECURE_KEY_BITS:
        raise InsecureParameterError(
            f"key_bits must be >= {MIN_SECURE_KEY_BITS} (NIST SP 800-57 Part 1 Rev. 5, Table 2: ~112-bit "
            f"security), got a {kb}-bit n; pass allow_insecure=True only for toy examples"
        )
    if _bk.has_factor_below(n, TRIAL_DIVISION_LIMIT):
        raise InsecureParameterError(
            f"n must have no prime factor below 2^{TRIAL_DIVISION_LIMIT.bit_length() - 1}, got a {kb}-bit n "
            "with one (found by trial division): such a modulus is factored at once; generate a balanced key"
        )


def _check_factors(p: int, q: int, n: int, allow_insecure: bool) -> None:
    """Private-key checks (module docstring): correctness always, balance unless allow_insecure."""
    if p == q:
        raise ValueError("p and q must be distinct primes, got p == q")
    if not (_bk.is_probable_prime(p) and _bk.is_probable_prime(q)):
        raise ValueError("p and q must be primes, got a composite factor")
    if math.gcd(n, (p - 1) * (q - 1)) != 1:
        raise ValueError("gcd(n, (p-1)(q-1)) must be 1 (Paillier 1999, key generation), got a common factor")
    if allow_insecure:
        return
    bp, bq = p.bit_length(), q.bit_length()
    if bp != bq:
        raise InsecureParameterError(
            f"p and q must have the same bit length (a balanced modulus, FIPS 186-4 App. B.3.3), got {bp} and "
            f"{bq} bits: the smaller factor is found far faster than n is factored; pass allow_insecure=True "
            "only for toy examples"
        )
    margin = bp - PRIME_DISTANCE_MARGIN_BITS
    if margin > 0 and abs(p - q) <= 1 << margin:
        raise InsecureParameterError(
            f"|p - q| must be > 2^{margin} (FIPS 186-4 App. B.3.3 step 5.4), got |p - q| of "
            f"{abs(p - q).bit_length()} bits: Fermat's method factors n from sqrt(n)"
        )


def _check_key_bits(key_bits: Any, allow_insecure: bool) -> int:
    kb = check_int("key_bits", key_bits, low=_MIN_TOY_KEY_BITS, high=_MAX_KEY_BITS)
    if kb % 2:
        raise ValueError(f"key_bits must be even (two primes of key_bits/2 bits), got {kb}")
    if kb < MIN_SECURE_KEY_BITS and not allow_insecure:
        raise InsecureParameterError(
            f"key_bits must be >= {MIN_SECURE_KEY_BITS} (NIST SP 800-57 Part 1 Rev. 5, Table 2: ~112-bit "
            f"security), got {kb}; pass allow_insecure=True only for toy examples"
        )
    return kb


# ---------------------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PaillierPublicKey:
    """The public key n = p*q (g = n + 1 implicitly). ``repr`` shows only the size and a fingerprint.

    ``PaillierPublicKey(n)`` refuses an n below :data:`MIN_SECURE_KEY_BITS` bits or with a small factor
    (:class:`InsecureParameterError`) unless ``allow_insecure=True`` (toy keys for teaching).
    """

    n: int = field(repr=False)
    allow_insecure: bool = field(default=False, kw_only=True, repr=False, compare=False)
    _cache: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = check_int("n", self.n, low=_MIN_N)
        allow = check_bool("allow_insecure", self.allow_insecure)
        _check_modulus(n, allow)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "allow_insecure", allow)
        object.__setattr__(self, "nsquare", n * n)
        # phe's convention: |plaintext| <= n//3 - 1; the middle third of [0, n) detects overflow
        object.__setattr__(self, "max_int", n // 3 - 1)
        object.__setattr__(self, "key_bits", n.bit_length())
        object.__setattr__(self, "fingerprint", _fingerprint(n))

    # typing help for the attributes set in __post_init__
    nsquare: int = field(init=False, repr=False, compare=False, default=0)
    max_int: int = field(init=False, repr=False, compare=False, default=0)
    key_bits: int = field(init=False, repr=False, compare=False, default=0)
    fingerprint: str = field(init=False, repr=False, compare=False, default="")

    def __repr__(self) -> str:
        return f"PaillierPublicKey(key_bits={self.key_bits}, fingerprint='{self.fingerprint}')"

    def __reduce__(self) -> tuple:
        # pickle and deepcopy rebuild through the constructor, so they run the same checks as every path
        return (_rebuild_public_key, (self.n, self.allow_insecure))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and other.n == self.n

    def __hash__(self) -> int:
        return hash(("paillier", self.n))

    # -- backend-typed constants --------------------------------------------------------------------
    def _consts(self) -> tuple[Any, Any]:
        key = ("consts", _bk.backend_name())
        if key not in self._cache:
            self._cache[key] = (_bk.mpz(self.n), _bk.mpz(self.nsquare))
        return self._cache[key]

    def _djn_table(self) -> tuple[list[list[Any]], int, int]:
        """Fixed-base table for hs^a: rows[i][d] = hs^(d * 2^(w*i)) mod n^2 (Damgård-Jurik-Nielsen 2010)."""
        key = ("djn", _bk.backend_name())
        if key not in self._cache:
            n, nsq = self._consts()
            # y from SHA-256 in counter mode over n: a nothing-up-my-sleeve value anyone can recompute
            seed = b"ppml_lab.paillier.djn" + self.n.to_bytes((self.n.bit_length() + 7) // 8, "big")
            stream, i = b"", 0
            while len(stream) * 8 < self.key_bits + 128:
                stream += hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
                i += 1
            y = int.from_bytes(stream, "big") % self.n
            h = (-(y * y)) % self.n  # h = -y^2 mod n (Jacobi symbol +1, generates a large subgroup whp)
            hs = _bk.powmod(_bk.mpz(h), n, nsq)  # hs = h^n mod n^2: an n-th residue, precomputed once
            exp_bits = max(self.key_bits // 2, 32)  # a uniform in [0, 2^(key_bits/2))
            w = 5
            rows: list[list[Any]] = []
            base = hs
            for _ in range((exp_bits + w - 1) // w):
                row = [_bk.mpz(1), base]
                for _d in range(2, 1 << w):
                    row.append(row[-1] * base % nsq)
                rows.append(row)
                base = row[-1] * base % nsq  # base^(2^w)
            self._cache[key] = (rows, w, exp_bits)
        return self._cache[key]

    def _obfuscator(self, randomness: str, src: Any) -> Any:
        """A random n-th residue mod n^2: r^n (full) or hs^a (short exponent)."""
        n, nsq = self._consts()
        if randomness == "full":
            while True:
                r = _randbelow(self.n, src)
                if r > 0 and math.gcd(r, self.n) == 1:
                    return _bk.powmod(_bk.mpz(r), n, nsq)  # r^n mod n^2, r uniform in Z*_n
        rows, w, exp_bits = self._djn_table()
        a = _randbits(exp_bits, src)
        acc = _bk.mpz(1)
        mask = (1 << w) - 1
        i = 0
        while a:
            d = a & mask
            if d:
                acc = acc * rows[i][d] % nsq  # hs^a = prod_i hs^(d_i * 2^(w i)), d_i the base-2^w digits of a
            a >>= w
            i += 1
        return acc

    # -- raw layer ---------------------------------------------------------------------------------
    def _nude(self, m: int) -> Any:
        n, nsq = self._consts()
        return (n * m + 1) % nsq  # g^m = (1+n)^m = 1 + m*n (mod n^2)   (g = n + 1)

    def raw_encrypt(
        self, plaintext: int, *, r: int | None = None, randomness: Randomness = "short_exponent",
        rng: RNGLike = None, insecure_seeded_keys: bool = False,
    ) -> int:
        """c = g^m * r^n mod n^2 for an integer m in [0, n) (Paillier 1999, Scheme 1). No encoding, no bound.

        ``r`` fixes the randomness (known-answer tests, interoperability); otherwise ``randomness`` picks
        the textbook r^n ("full") or the short-exponent hs^a ("short_exponent", see the package docstring),
        drawn from the OS CSPRNG (``rng`` is used only with ``insecure_seeded_keys=True``).
        """
        m = check_int("plaintext", plaintext, low=0, high=self.n - 1)
        n, nsq = self._consts()
        if r is not None:
            rr = check_int("r", r, low=1, high=self.n - 1)
            if math.gcd(rr, self.n) != 1:
                raise ValueError("r must be coprime to n (a unit of Z_n), got a multiple of a prime factor")
            obf = _bk.powmod(_bk.mpz(rr), n, nsq)
        else:
            check_choice("randomness", randomness, _RANDOMNESS)
            obf = self._obfuscator(randomness, _source(rng, insecure_seeded_keys))
        return int(self._nude(m) * obf % nsq)

    # -- safe layer (ppml_lab.he.paillier.ciphertext) ---------------------------------------------------
    def encrypt(
        self, value: Any, *, precision: int | None = None, bound: float | int | None = None,
        randomness: Randomness = "short_exponent", rng: RNGLike = None, insecure_seeded_keys: bool = False,
    ) -> EncryptedNumber:
        """Encrypt an int (exactly, precision 0 by default) or a float (``DEFAULT_PRECISION`` bits).

        ``bound`` is a PUBLIC bound on |value| (default 2^64); it is what lets later sums and products
        prove they cannot wrap around n. Values outside it raise PrecisionError.
        """
        from ppml_lab.he.paillier.ciphertext import encrypt_number

        return encrypt_number(self, value, precision=precision, bound=bound, randomness=randomness,
                              obfuscator=None, rng=rng, insecure_seeded_keys=insecure_seeded_keys)

    def encrypt_vector(
        self, values: Any, *, precision: int | None = None, bound: float | int | None = None,
        randomness: Randomness = "short_exponent", rng: RNGLike = None, insecure_seeded_keys: bool = False,
    ) -> PaillierVector:
        """Encrypt a 1-D array element-wise (ints exactly; floats with ``precision`` fractional bits)."""
        from ppml_lab.he.paillier.ciphertext import encrypt_vector

        return encrypt_vector(self, values, precision=precision, bound=bound, randomness=randomness, rng=rng,
                              insecure_seeded_keys=insecure_seeded_keys)

    # -- serialisation and interop (ppml_lab.he.paillier.serialization / .interop) ----------------------
    def to_dict(self) -> dict:
        return {"type": "paillier_public_key", "version": 1, "n": hex(self.n)}

    @classmethod
    def from_dict(cls, data: Any, *, allow_insecure: bool = False) -> PaillierPublicKey:
        from ppml_lab.he.paillier.serialization import public_key_from_dict

        return public_key_from_dict(data, allow_insecure=allow_insecure)

    def to_json(self) -> str:
        from ppml_lab.he.paillier.serialization import dumps

        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, allow_insecure: bool = False) -> PaillierPublicKey:
        from ppml_lab.he.paillier.serialization import loads, public_key_from_dict

        return public_key_from_dict(loads(text), allow_insecure=allow_insecure)

    def to_phe(self) -> Any:
        from ppml_lab.he.paillier.interop import public_key_to_phe

        return public_key_to_phe(self)

    @classmethod
    def from_phe(cls, key: Any, *, allow_insecure: bool = False) -> PaillierPublicKey:
        from ppml_lab.he.paillier.interop import public_key_from_phe

        return public_key_from_phe(key, allow_insecure=allow_insecure)


@dataclass(frozen=True, eq=False)
class PaillierPrivateKey:
    """The factors p, q of n with the CRT values for decryption. Secret: ``repr`` shows no key material.

    Built only from a public key that passed its checks; the factors must be distinct primes with
    p * q == n and balanced (same bit length, |p - q| > 2^(bits(p) - 100)) unless the public key was made
    with ``allow_insecure=True``.
    """

    public_key: PaillierPublicKey = field(repr=False)
    p: int = field(repr=False)
    q: int = field(repr=False)
    _cache: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(self.public_key).__name__}")
        p = check_int("p", self.p, low=3)
        q = check_int("q", self.q, low=3)
        check_same_key(self.public_key, p * q, what="the factors p * q and the public key's n")
        _check_factors(p, q, self.public_key.n, self.public_key.allow_insecure)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "q", q)

    @classmethod
    def from_primes(cls, p: int, q: int, *, allow_insecure: bool = False) -> PaillierPrivateKey:
        """A private key from chosen primes (e.g. the notebook's tiny example); checked like every key."""
        p = check_int("p", p, low=3)
        q = check_int("q", q, low=3)
        return cls(PaillierPublicKey(p * q, allow_insecure=check_bool("allow_insecure", allow_insecure)), p, q)

    def __repr__(self) -> str:
        pk = self.public_key
        return f"PaillierPrivateKey(key_bits={pk.key_bits}, fingerprint='{pk.fingerprint}', secret=<hidden>)"

    def __reduce__(self) -> tuple:
        return (_rebuild_private_key, (self.public_key, self.p, self.q))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPrivateKey) and {other.p, other.q} == {self.p, self.q}

    def __hash__(self) -> int:
        return hash(self.public_key)

    def _crt(self) -> dict:
        key = _bk.backend_name()
        if key not in self._cache:
            p, q, n = self.p, self.q, self.public_key.n
            P, Q = _bk.mpz(p), _bk.mpz(q)
            psq, qsq = P * P, Q * Q
            g = _bk.mpz(n + 1)

            def h(x: Any, xsq: Any) -> Any:
                # h_p = L_p(g^(p-1) mod p^2)^-1 mod p, with L_p(u) = (u - 1) / p   (Paillier 1999, Sect. 7)
                return _bk.invert((_bk.powmod(g, x - 1, xsq) - 1) // x, x)

            self._cache[key] = {
                "p": P, "q": Q, "psq": psq, "qsq": qsq, "p1": P - 1, "q1": Q - 1,
                "hp": h(P, psq), "hq": h(Q, qsq),
                "q_inv_p": _bk.invert(Q, P),
                # r^n mod p^2 = r^(n mod p(p-1)) mod p^2: |Z*_{p^2}| = p(p-1)
                "ep": _bk.mpz(n % (p * (p - 1))), "eq": _bk.mpz(n % (q * (q - 1))),
                "qsq_inv_psq": _bk.invert(qsq, psq),
            }
        return self._cache[key]

    # -- raw layer ---------------------------------------------------------------------------------
    def _raw_decrypt(self, c: Any) -> int:
        k = self._crt()
        P, Q = k["p"], k["q"]
        mp = (_bk.powmod(c, k["p1"], k["psq"]) - 1) // P * k["hp"] % P  # m_p = L_p(c^(p-1) mod p^2) h_p mod p
        mq = (_bk.powmod(c, k["q1"], k["qsq"]) - 1) // Q * k["hq"] % Q  # m_q = L_q(c^(q-1) mod q^2) h_q mod q
        return int(mq + (mp - mq) * k["q_inv_p"] % P * Q)  # CRT: m = m_q + q((m_p - m_q) q^-1 mod p)

    def raw_decrypt(self, ciphertext: int) -> int:
        """m in [0, n) from an integer ciphertext (no key check: a wrong key gives an unrelated number)."""
        c = check_int("ciphertext", ciphertext, low=1, high=self.public_key.nsquare - 1)
        return self._raw_decrypt(_bk.mpz(c))

    def _crt_obfuscator(self, src: Any) -> Any:
        """r^n mod n^2 for a uniform r in Z*_n, computed mod p^2 and q^2 (same value as the textbook one)."""
        k = self._crt()
        n = self.public_key.n
        while True:
            r = _randbelow(n, src)
            if r > 0 and math.gcd(r, n) == 1:
                break
        R = _bk.mpz(r)
        xp = _bk.powmod(R, k["ep"], k["psq"])
        xq = _bk.powmod(R, k["eq"], k["qsq"])
        return xq + (xp - xq) * k["qsq_inv_psq"] % k["psq"] * k["qsq"]  # CRT mod p^2, q^2 -> mod n^2

    def raw_encrypt(self, plaintext: int, *, rng: RNGLike = None, insecure_seeded_keys: bool = False) -> int:
        """Textbook encryption by the key owner, r^n evaluated by CRT (about twice as fast, same ciphertext)."""
        pk = self.public_key
        m = check_int("plaintext", plaintext, low=0, high=pk.n - 1)
        obf = self._crt_obfuscator(_source(rng, insecure_seeded_keys))
        return int(pk._nude(m) * obf % pk._consts()[1])

    # -- safe layer (ppml_lab.he.paillier.ciphertext / .packing) -------------------------------------------
    def encrypt(
        self, value: Any, *, precision: int | None = None, bound: float | int | None = None,
        rng: RNGLike = None, insecure_seeded_keys: bool = False,
    ) -> EncryptedNumber:
        """Safe encryption by the key owner: full-size randomness via CRT (DCR only, no extra assumption)."""
        from ppml_lab.he.paillier.ciphertext import encrypt_number

        return encrypt_number(self.public_key, value, precision=precision, bound=bound, randomness="full",
                              obfuscator=self._crt_obfuscator, rng=rng, insecure_seeded_keys=insecure_seeded_keys)

    def decrypt(self, x: EncryptedNumber | PaillierVector | PackedPaillierVector) -> Any:
        """Decrypt and decode. Raises PrecisionError if the plaintext lies in the overflow band or exceeds
        the ciphertext's public bound (an understated imported bound, or a wrapped computation)."""
        from ppml_lab.he.paillier.ciphertext import decrypt

        return decrypt(self, x)

    def decrypt_packed(self, x: PackedPaillierVector) -> Any:
        """Unpack the slot sums of a packed aggregate: slot_i - count*B, over 2^precision."""
        from ppml_lab.he.paillier.packing import decrypt_packed

        return decrypt_packed(self, x)

    # -- serialisation and interop -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """SECRET material (p and q): store it like a password, never next to the ciphertexts' recipients."""
        return {"type": "paillier_private_key", "version": 1, "n": hex(self.public_key.n),
                "p": hex(self.p), "q": hex(self.q)}

    @classmethod
    def from_dict(cls, data: Any, *, allow_insecure: bool = False) -> PaillierPrivateKey:
        from ppml_lab.he.paillier.serialization import private_key_from_dict

        return private_key_from_dict(data, allow_insecure=allow_insecure)

    def to_json(self) -> str:
        from ppml_lab.he.paillier.serialization import dumps

        return dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, allow_insecure: bool = False) -> PaillierPrivateKey:
        from ppml_lab.he.paillier.serialization import loads, private_key_from_dict

        return private_key_from_dict(loads(text), allow_insecure=allow_insecure)

    def to_phe(self) -> Any:
        from ppml_lab.he.paillier.interop import private_key_to_phe

        return private_key_to_phe(self)

    @classmethod
    def from_phe(cls, key: Any, *, allow_insecure: bool = False) -> PaillierPrivateKey:
        from ppml_lab.he.paillier.interop import private_key_from_phe

        return private_key_from_phe(key, allow_insecure=allow_insecure)


def _rebuild_public_key(n: int, allow_insecure: bool) -> PaillierPublicKey:
    return PaillierPublicKey(n, allow_insecure=allow_insecure)


def _rebuild_private_key(public_key: PaillierPublicKey, p: int, q: int) -> PaillierPrivateKey:
    return PaillierPrivateKey(public_key, p, q)


def generate_paillier_keypair(
    *, key_bits: int = DEFAULT_KEY_BITS, allow_insecure: bool = False, rng: RNGLike = None,
    insecure_seeded_keys: bool = False,
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A key pair with two balanced primes of key_bits/2 bits each; n has exactly key_bits bits.

    The primes come from the OS CSPRNG whatever ``rng`` is: a seed passed to make a notebook's data
    reproducible does not make its keys predictable. Only ``insecure_seeded_keys=True`` draws them from
    ``rng`` (tests and teaching that must replay a key); anyone who knows that seed knows the private key.
    """
    allow = check_bool("allow_insecure", allow_insecure)
    kb = _check_key_bits(key_bits, allow)
    src = _source(rng, check_bool("insecure_seeded_keys", insecure_seeded_keys))
    half = kb // 2
    margin = half - PRIME_DISTANCE_MARGIN_BITS
    while True:
        p = _generate_prime(half, src)
        q = _generate_prime(half, src)
        if p == q or (margin > 0 and abs(p - q) <= 1 << margin):  # FIPS 186-4 B.3.3 step 5.4
            continue
        n = p * q
        # gcd(n, phi(n)) = 1 (Paillier 1999); automatic for equal-length primes, checked anyway
        if n.bit_length() == kb and math.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    pub = PaillierPublicKey(n, allow_insecure=allow)
    return pub, PaillierPrivateKey(pub, p, q)
