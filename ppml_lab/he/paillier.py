"""Paillier's additively homomorphic public-key encryption, from scratch.

Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes", EUROCRYPT 1999,
LNCS 1592, pp. 223-238, doi:10.1007/3-540-48910-X_16. Threat model: IND-CPA against anyone without the
factors of n under the Decisional Composite Residuosity (DCR) assumption (Paillier 1999, Scheme 1); the
scheme is malleable by design (that is the homomorphism), so it gives no integrity and no IND-CCA security.

Two levels, as in python-paillier (``phe``):

* ``raw_encrypt`` / ``raw_decrypt`` work on integers in [0, n) with g = n + 1, so that
  g^m = (1 + n)^m = 1 + m*n (mod n^2) and encryption is one multiplication plus a random n-th power;
  decryption uses the Chinese remainder theorem with values precomputed from p and q (Sect. 7).
* ``encrypt`` / ``decrypt`` encode signed ints and floats in fixed point (``precision`` fractional bits),
  track a public bound on every ciphertext's plaintext so that an operation that could wrap around n
  raises :class:`~ppml_lab.exceptions.PrecisionError` instead of returning a wrong number, check the
  overflow band again on decryption, and re-randomise results before they leave their owner.

Randomness. Textbook encryption costs one r^n mod n^2 with a full-size r. Two cheaper options, with the
assumption each rests on:

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

Packing (:func:`packing_scheme`, :func:`encrypt_packed`) puts many bounded values into one plaintext, each
in a slot wide enough for ``max_additions`` summands, so an aggregation of vectors costs one encryption per
slot-full rather than one per value.

Big integers go through gmpy2 when it is installed; :mod:`ppml_lab.he._paillier_backend` has a pure-Python
fallback that gives identical answers. Neither is constant-time: this is teaching and prototyping code.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ppml_lab._rng import RNGLike, SecureGenerator, resolve_rng, secure_randbelow, secure_randbits
from ppml_lab._validation import check_bool, check_choice, check_int, check_real
from ppml_lab.exceptions import InsecureParameterError, KeyMismatchError, PPMLError, PrecisionError
from ppml_lab.he import _paillier_backend as _bk

__all__ = [
    "DEFAULT_KEY_BITS",
    "MIN_SECURE_KEY_BITS",
    "DEFAULT_PRECISION",
    "MAX_PRECISION",
    "DEFAULT_BOUND_BITS",
    "SerializationError",
    "PaillierPublicKey",
    "PaillierPrivateKey",
    "EncryptedNumber",
    "EncryptedVector",
    "PackingScheme",
    "PackedEncryptedVector",
    "generate_paillier_keypair",
    "encode",
    "decode",
    "packing_scheme",
    "encrypt_packed",
    "use_backend",
    "backend_name",
]

#: Default modulus size. NIST SP 800-57 Part 1 Rev. 5, Table 2: a 3072-bit factoring modulus gives about
#: 128-bit security, 2048 bits about 112-bit security (acceptable through 2030).
DEFAULT_KEY_BITS = 3072
#: Smallest modulus accepted without ``allow_insecure=True`` (same table: 112-bit security).
MIN_SECURE_KEY_BITS = 2048
_MIN_TOY_KEY_BITS = 16
_MAX_KEY_BITS = 16384
#: Fractional bits used for floats when ``precision`` is not given: resolution 2^-32 ~ 2.3e-10.
#: A multiple of 4 so the encoding maps onto python-paillier's base-16 exponents (exponent = -precision/4).
DEFAULT_PRECISION = 32
MAX_PRECISION = 1024
#: Without an explicit ``bound``, plaintexts must satisfy |value| < 2^64: this public bound is what lets the
#: safe layer prove that sums and products cannot wrap around n.
DEFAULT_BOUND_BITS = 64

Randomness = Literal["short_exponent", "full"]
_RANDOMNESS = ("short_exponent", "full")

use_backend = _bk.use_backend
backend_name = _bk.backend_name


class SerializationError(PPMLError, ValueError):
    """A serialised key or ciphertext is malformed (missing fields, wrong types, values out of range)."""


# ---------------------------------------------------------------------------------------------------------
# randomness helpers: CSPRNG by default, a seeded generator only when passed explicitly (teaching)
# ---------------------------------------------------------------------------------------------------------
def _source(rng: RNGLike) -> Any:
    """None or SecureGenerator -> None (use `secrets`); a seed or numpy Generator -> that generator."""
    if rng is None:
        return None
    g = resolve_rng(rng)
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


# ---------------------------------------------------------------------------------------------------------
# fixed-point encoding (pure functions)
# ---------------------------------------------------------------------------------------------------------
def _check_precision(precision: Any) -> int:
    return check_int("precision", precision, low=0, high=MAX_PRECISION)


def _round_shift(mantissa: int, k: int) -> int:
    """round(mantissa / 2^k), ties to even (matches numpy.rint)."""
    q, r = divmod(mantissa, 1 << k)
    half = 1 << (k - 1)
    if r > half or (r == half and q & 1):
        q += 1
    return q


def encode(value: Any, *, precision: int) -> int:
    """Signed fixed point: the integer round(value * 2^precision) (ints exactly, floats ties-to-even).

    Raises TypeError for non-numbers (and bool), ValueError for NaN or inf. The result is not reduced mod n.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"value must be an int or a float, got {type(value).__name__} {value!r}")
    f = _check_precision(precision)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value) << f
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"value must be a finite number, got {x!r}")
    if x == 0.0:
        return 0
    m, e = math.frexp(x)  # x = m * 2^e, 0.5 <= |m| < 1
    mant, exp2 = int(math.ldexp(m, 53)), e - 53  # x = mant * 2^exp2 exactly
    shift = exp2 + f
    return mant << shift if shift >= 0 else _round_shift(mant, -shift)


def decode(encoded: int, *, precision: int) -> int | float:
    """Inverse of :func:`encode`: an int when precision is 0, else encoded / 2^precision (correctly rounded)."""
    f = _check_precision(precision)
    if f == 0:
        return int(encoded)
    try:
        return int(encoded) / (1 << f)
    except OverflowError:
        raise PrecisionError(
            f"decoded value {int(encoded)} / 2^{f} is too large for a float; decode with precision 0"
        ) from None


def _encode_array(values: Any, precision: int) -> list[int]:
    """Vectorised :func:`encode` for a 1-D array of ints or floats."""
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise TypeError(f"values must be a numeric array of ints or floats, got dtype {arr.dtype}")
    arr = arr.reshape(-1)
    if arr.dtype.kind in "iu":
        return [int(v) << precision for v in arr.tolist()]
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"values must contain only finite numbers, got {int(np.sum(~np.isfinite(arr)))} NaN or inf")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(arr.astype(np.float64), precision))  # exact: scaling by 2^f, then ties-to-even
    if not np.all(np.isfinite(scaled)):
        raise PrecisionError(f"values * 2^{precision} overflow a float; lower precision")
    if scaled.size == 0 or np.max(np.abs(scaled)) < 2.0**62:
        return scaled.astype(np.int64).tolist()
    return [int(v) for v in scaled.tolist()]


def _center(m: int, n: int, max_int: int) -> int:
    """Signed plaintext from m in [0, n): [0, max_int] positive, [n - max_int, n) negative, else overflow."""
    if m <= max_int:
        return m
    if m >= n - max_int:
        return m - n
    raise PrecisionError(
        "decrypted plaintext lies in the overflow band (max_int, n - max_int): the computation wrapped "
        "around n, or the ciphertext was made with another key. Use a larger key or smaller values."
    )


def _fingerprint(n: int) -> str:
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PaillierPublicKey:
    """The public key n = p*q (g = n + 1 implicitly). ``repr`` shows only the size and a fingerprint."""

    n: int = field(repr=False)
    _cache: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = check_int("n", self.n, low=15)
        if n % 2 == 0:
            raise ValueError(f"n must be an odd product of two primes, got an even number of {n.bit_length()} bits")
        object.__setattr__(self, "n", n)
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
        self, plaintext: int, *, r: int | None = None, randomness: Randomness = "short_exponent", rng: RNGLike = None
    ) -> int:
        """c = g^m * r^n mod n^2 for an integer m in [0, n) (Paillier 1999, Scheme 1).

        ``r`` fixes the randomness (known-answer tests, interoperability); otherwise ``randomness`` picks
        the textbook r^n ("full") or the short-exponent hs^a ("short_exponent", see the module docstring).
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
            obf = self._obfuscator(randomness, _source(rng))
        return int(self._nude(m) * obf % nsq)

    # -- safe layer --------------------------------------------------------------------------------
    def _bound_enc(self, bound: Any, f: int) -> int:
        if bound is None:
            return min(1 << (DEFAULT_BOUND_BITS + f), self.max_int)
        b = check_real("bound", bound, low=0.0, low_inclusive=False) if not isinstance(bound, int) else bound
        if isinstance(b, int):
            if b <= 0:
                raise ValueError(f"bound must be a number > 0, got {b}")
            be = b << f
        else:
            be = math.ceil(math.ldexp(b, f))
        if be > self.max_int:
            raise PrecisionError(
                f"bound * 2^precision = {be} exceeds the key's max_int ({self.key_bits}-bit n allows about "
                f"2^{self.max_int.bit_length()}); lower the bound or the precision, or use a larger key"
            )
        return be

    def _check_in_bound(self, enc: int, bound_enc: int, value: Any) -> None:
        if abs(enc) > bound_enc:
            raise PrecisionError(
                f"value {value!r} is outside the encodable range: |value| * 2^precision must be <= {bound_enc} "
                f"(the public bound); pass a larger bound= (at most max_int) or a lower precision"
            )

    def encrypt(
        self,
        value: Any,
        *,
        precision: int | None = None,
        bound: float | int | None = None,
        randomness: Randomness = "short_exponent",
        rng: RNGLike = None,
    ) -> EncryptedNumber:
        """Encrypt an int (exactly, precision 0 by default) or a float (``DEFAULT_PRECISION`` bits).

        ``bound`` is a PUBLIC bound on |value| (default 2^64); it is what lets later sums and products
        prove they cannot wrap around n. Values outside it raise PrecisionError.
        """
        f = _default_precision(value, precision)
        check_choice("randomness", randomness, _RANDOMNESS)
        enc = encode(value, precision=f)
        be = self._bound_enc(bound, f)
        self._check_in_bound(enc, be, value)
        nsq = self._consts()[1]
        c = self._nude(enc % self.n) * self._obfuscator(randomness, _source(rng)) % nsq
        return EncryptedNumber(self, c, precision=f, bound=be, _fresh=True)

    def encrypt_vector(
        self,
        values: Any,
        *,
        precision: int | None = None,
        bound: float | int | None = None,
        randomness: Randomness = "short_exponent",
        rng: RNGLike = None,
    ) -> EncryptedVector:
        """Encrypt a 1-D array element-wise (ints exactly; floats with ``precision`` fractional bits)."""
        arr = _as_1d(values, "values")
        f = _check_precision(precision) if precision is not None else (0 if arr.dtype.kind in "iu" else DEFAULT_PRECISION)
        check_choice("randomness", randomness, _RANDOMNESS)
        encs = _encode_array(arr, f)
        be = self._bound_enc(bound, f)
        if encs:
            worst = max(encs, key=abs)
            self._check_in_bound(worst, be, worst / (1 << f) if f else worst)
        src = _source(rng)
        nsq = self._consts()[1]
        cs = [self._nude(e % self.n) * self._obfuscator(randomness, src) % nsq for e in encs]
        return EncryptedVector(self, cs, precision=f, bound=be, _fresh=True)

    # -- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"type": "paillier_public_key", "version": 1, "n": hex(self.n)}

    @classmethod
    def from_dict(cls, data: Any) -> PaillierPublicKey:
        d = _expect_dict(data, "paillier_public_key")
        return cls(_hex_field(d, "n"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any) -> PaillierPublicKey:
        return cls.from_dict(_loads(text))

    # -- python-paillier interop -------------------------------------------------------------------
    def to_phe(self) -> Any:
        import phe

        return phe.PaillierPublicKey(self.n)

    @classmethod
    def from_phe(cls, key: Any) -> PaillierPublicKey:
        return cls(int(key.n))


@dataclass(frozen=True, eq=False)
class PaillierPrivateKey:
    """The factors p, q of n with the CRT values for decryption. Secret: ``repr`` shows no key material."""

    public_key: PaillierPublicKey = field(repr=False)
    p: int = field(repr=False)
    q: int = field(repr=False)
    _cache: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(self.public_key).__name__}")
        p = check_int("p", self.p, low=3)
        q = check_int("q", self.q, low=3)
        if p * q != self.public_key.n:
            raise KeyMismatchError("p * q must equal the public key's n; these factors belong to another key")
        if p == q:
            raise ValueError("p and q must be distinct primes, got p == q")
        if not (_bk.is_probable_prime(p) and _bk.is_probable_prime(q)):
            raise ValueError("p and q must be primes, got a composite factor")
        if math.gcd(self.public_key.n, (p - 1) * (q - 1)) != 1:
            raise ValueError("gcd(n, (p-1)(q-1)) must be 1 (Paillier 1999, key generation), got a common factor")
        # keep p < q ordering-free; phe accepts either
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "q", q)

    @classmethod
    def from_primes(cls, p: int, q: int, *, allow_insecure: bool = False) -> PaillierPrivateKey:
        """A private key from chosen primes (e.g. the notebook's tiny example); size-checked like keygen."""
        p = check_int("p", p, low=3)
        q = check_int("q", q, low=3)
        _check_key_bits((p * q).bit_length(), check_bool("allow_insecure", allow_insecure), exact=False)
        return cls(PaillierPublicKey(p * q), p, q)

    def __repr__(self) -> str:
        pk = self.public_key
        return f"PaillierPrivateKey(key_bits={pk.key_bits}, fingerprint='{pk.fingerprint}', secret=<hidden>)"

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

    def raw_encrypt(self, plaintext: int, *, rng: RNGLike = None) -> int:
        """Textbook encryption by the key owner, r^n evaluated by CRT (about twice as fast, same ciphertext)."""
        pk = self.public_key
        m = check_int("plaintext", plaintext, low=0, high=pk.n - 1)
        return int(pk._nude(m) * self._crt_obfuscator(_source(rng)) % pk._consts()[1])

    def encrypt(
        self, value: Any, *, precision: int | None = None, bound: float | int | None = None, rng: RNGLike = None
    ) -> EncryptedNumber:
        """Safe encryption by the key owner: full-size randomness via CRT (DCR only, no extra assumption)."""
        pk = self.public_key
        f = _default_precision(value, precision)
        enc = encode(value, precision=f)
        be = pk._bound_enc(bound, f)
        pk._check_in_bound(enc, be, value)
        c = pk._nude(enc % pk.n) * self._crt_obfuscator(_source(rng)) % pk._consts()[1]
        return EncryptedNumber(pk, c, precision=f, bound=be, _fresh=True)

    # -- safe layer --------------------------------------------------------------------------------
    def _check_key(self, x: Any) -> None:
        if x.public_key is not self.public_key and x.public_key != self.public_key:
            raise KeyMismatchError(
                f"ciphertext was encrypted under key {x.public_key.fingerprint}, this private key is "
                f"{self.public_key.fingerprint}; decrypt with the matching key"
            )

    def decrypt(self, x: EncryptedNumber | EncryptedVector | PackedEncryptedVector) -> Any:
        """Decrypt and decode; raises PrecisionError if the plaintext is in the overflow band."""
        if isinstance(x, PackedEncryptedVector):
            return self.decrypt_packed(x)
        if isinstance(x, EncryptedVector):
            self._check_key(x)
            pk = self.public_key
            signed = [_center(self._raw_decrypt(c), pk.n, pk.max_int) for c in x._cs]
            return _decode_list(signed, x.precision)
        if not isinstance(x, EncryptedNumber):
            raise TypeError(
                f"decrypt expects an EncryptedNumber, EncryptedVector or PackedEncryptedVector, got "
                f"{type(x).__name__}; use raw_decrypt for integers"
            )
        self._check_key(x)
        pk = self.public_key
        return decode(_center(self._raw_decrypt(x._c), pk.n, pk.max_int), precision=x.precision)

    def decrypt_packed(self, x: PackedEncryptedVector) -> np.ndarray:
        """Unpack the slot sums of a packed aggregate: slot_i - count*B, over 2^precision."""
        if not isinstance(x, PackedEncryptedVector):
            raise TypeError(f"decrypt_packed expects a PackedEncryptedVector, got {type(x).__name__}")
        self._check_key(x)
        s = x.scheme
        mask = (1 << s.slot_bits) - 1
        out: list[int] = []
        for c in x._cs:
            m = self._raw_decrypt(c)
            if m >> (s.slot_bits * s.n_slots):
                raise PrecisionError("packed plaintext has bits above the last slot: wrong key or tampering")
            out.extend(((m >> (s.slot_bits * i)) & mask) - x.count * s.bound_enc for i in range(s.n_slots))
        return _decode_list(out[: x.length], s.precision)

    # -- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """SECRET material (p and q): store it like a password, never next to the ciphertexts' recipients."""
        return {"type": "paillier_private_key", "version": 1, "n": hex(self.public_key.n),
                "p": hex(self.p), "q": hex(self.q)}

    @classmethod
    def from_dict(cls, data: Any) -> PaillierPrivateKey:
        d = _expect_dict(data, "paillier_private_key")
        n, p, q = _hex_field(d, "n"), _hex_field(d, "p"), _hex_field(d, "q")
        try:
            return cls(PaillierPublicKey(n), p, q)
        except (ValueError, TypeError) as err:
            raise SerializationError(f"serialised private key is inconsistent: {err}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any) -> PaillierPrivateKey:
        return cls.from_dict(_loads(text))

    def to_phe(self) -> Any:
        import phe

        return phe.PaillierPrivateKey(self.public_key.to_phe(), self.p, self.q)

    @classmethod
    def from_phe(cls, key: Any) -> PaillierPrivateKey:
        return cls(PaillierPublicKey(int(key.public_key.n)), int(key.p), int(key.q))


def _check_key_bits(key_bits: Any, allow_insecure: bool, *, exact: bool = True) -> int:
    kb = check_int("key_bits", key_bits, low=_MIN_TOY_KEY_BITS if exact else 4, high=_MAX_KEY_BITS)
    if exact and kb % 2:
        raise ValueError(f"key_bits must be even (two primes of key_bits/2 bits), got {kb}")
    if kb < MIN_SECURE_KEY_BITS and not allow_insecure:
        raise InsecureParameterError(
            f"key_bits must be >= {MIN_SECURE_KEY_BITS} (NIST SP 800-57: ~112-bit security), got {kb}; "
            "pass allow_insecure=True only for toy examples"
        )
    return kb


def generate_paillier_keypair(
    *, key_bits: int = DEFAULT_KEY_BITS, allow_insecure: bool = False, rng: RNGLike = None
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A key pair with two primes of key_bits/2 bits each; n has exactly key_bits bits.

    ``rng=None`` draws the primes from the OS CSPRNG. A seed or seeded generator makes the keys
    reproducible for teaching; such keys are public knowledge and must never protect real data.
    """
    kb = _check_key_bits(key_bits, check_bool("allow_insecure", allow_insecure))
    src = _source(rng)
    half = kb // 2
    while True:
        p = _generate_prime(half, src)
        q = _generate_prime(half, src)
        if p == q:
            continue
        n = p * q
        # gcd(n, phi(n)) = 1 (Paillier 1999); automatic for equal-length primes, checked anyway
        if n.bit_length() == kb and math.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    pub = PaillierPublicKey(n)
    return pub, PaillierPrivateKey(pub, p, q)


def _default_precision(value: Any, precision: Any) -> int:
    if precision is not None:
        return _check_precision(precision)
    return 0 if isinstance(value, (numbers.Integral, np.integer)) else DEFAULT_PRECISION


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be a 1-D numeric array, got {type(values).__name__}")
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array of ints or floats, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _decode_list(signed: list[int], precision: int) -> np.ndarray:
    if precision == 0:
        big = any(abs(v) >= 2**63 for v in signed)
        return np.array(signed, dtype=object if big else np.int64)
    return np.array([decode(v, precision=precision) for v in signed], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# ciphertexts
# ---------------------------------------------------------------------------------------------------------
def _check_bound(bound: int, pk: PaillierPublicKey, what: str) -> int:
    if bound > pk.max_int:
        raise PrecisionError(
            f"{what} could exceed the plaintext space: its bound 2^{bound.bit_length()} > max_int "
            f"2^{pk.max_int.bit_length()} of a {pk.key_bits}-bit key, so the result could wrap around n. "
            "Use a larger key, a lower precision or a tighter bound= at encryption"
        )
    return bound


def _scalar_encoding(k: Any) -> tuple[int, int]:
    """(integer, precision) for a plaintext scalar, exactly: ints as they are, a float as mant * 2^-f with
    the fewest fractional bits f that represent it exactly (as phe does), so 1/k keeps 53 significant bits."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"scalar must be an int or a float, got {type(k).__name__} {k!r}")
    if isinstance(k, (numbers.Integral, np.integer)):
        return int(k), 0
    x = float(k)
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"scalar must be a finite number, got {x!r}")
    num, den = x.as_integer_ratio()  # den is a power of two
    return num, den.bit_length() - 1


def _scalar_pow(c: Any, k: int, pk: PaillierPublicKey) -> Any:
    """c^k mod n^2 for a signed k: negative k via (c^-1)^|k| (Dec(c^k) = k*Dec(c) mod n)."""
    nsq = pk._consts()[1]
    if k < 0:
        return _bk.powmod(_bk.invert(c, nsq), -k, nsq)
    return _bk.powmod(c, k, nsq)


class EncryptedNumber:
    """One Paillier ciphertext with its fixed-point precision and a public bound on |encoded plaintext|.

    Supports ``+`` (ciphertext or plaintext), ``-``, unary ``-``, ``*`` and ``/`` by plaintext scalars.
    Results of operations are not re-randomised until they leave (``ciphertext()``, serialisation).
    """

    __slots__ = ("public_key", "_c", "precision", "bound", "_fresh")

    def __init__(self, public_key: PaillierPublicKey, ciphertext: Any, *, precision: int, bound: int,
                 _fresh: bool = False) -> None:
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
        self.public_key = public_key
        self._c = ciphertext
        self.precision = _check_precision(precision)
        self.bound = _check_bound(check_int("bound", bound, low=0), public_key, "ciphertext")
        self._fresh = bool(_fresh)

    @classmethod
    def _make(cls, public_key: PaillierPublicKey, c: Any, f: int, bound: int, fresh: bool = False) -> EncryptedNumber:
        """Internal constructor for results whose fields were already checked (skips validation)."""
        obj = object.__new__(cls)
        obj.public_key, obj._c, obj.precision, obj.bound, obj._fresh = public_key, c, f, bound, fresh
        return obj

    def __repr__(self) -> str:
        return (f"EncryptedNumber(key_bits={self.public_key.key_bits}, fingerprint='{self.public_key.fingerprint}', "
                f"precision={self.precision})")

    # -- leaving the owner ---------------------------------------------------------------------------
    def rerandomize(self, *, randomness: Randomness = "short_exponent", rng: RNGLike = None) -> EncryptedNumber:
        """c * (fresh n-th residue): same plaintext, unlinkable ciphertext (self-blinding, Paillier 1999)."""
        check_choice("randomness", randomness, _RANDOMNESS)
        pk = self.public_key
        c = self._c * pk._obfuscator(randomness, _source(rng)) % pk._consts()[1]
        return EncryptedNumber(pk, c, precision=self.precision, bound=self.bound, _fresh=True)

    def ciphertext(self, be_secure: bool = True) -> int:
        """The ciphertext integer; re-randomised first (in place) unless it already is (as phe does)."""
        if be_secure and not self._fresh:
            fresh = self.rerandomize()
            self._c, self._fresh = fresh._c, True
        return int(self._c)

    @property
    def is_rerandomized(self) -> bool:
        return self._fresh

    # -- arithmetic ----------------------------------------------------------------------------------
    def _same_key(self, other: Any) -> None:
        if other.public_key is not self.public_key and other.public_key != self.public_key:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under keys {self.public_key.fingerprint} and "
                f"{other.public_key.fingerprint}; re-encrypt under one key"
            )

    def _at_precision(self, f: int) -> EncryptedNumber:
        if f == self.precision:
            return self
        shift = f - self.precision  # Enc(m)^(2^s) = Enc(m * 2^s): same value, s more fractional bits
        bound = _check_bound(self.bound << shift, self.public_key, "raising precision")
        c = _bk.powmod(self._c, 1 << shift, self.public_key._consts()[1])
        return EncryptedNumber(self.public_key, c, precision=f, bound=bound, _fresh=self._fresh)

    def __add__(self, other: Any) -> EncryptedNumber:
        pk = self.public_key
        nsq = pk._consts()[1]
        if isinstance(other, EncryptedNumber):
            self._same_key(other)
            f = max(self.precision, other.precision)
            a, b = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(a.bound + b.bound, pk, "the sum")
            return EncryptedNumber._make(pk, a._c * b._c % nsq, f, bound)  # Enc(a)Enc(b) = Enc(a+b)
        if isinstance(other, (EncryptedVector, PackedEncryptedVector)):
            return NotImplemented
        f0 = _default_precision(other, None)
        f = max(self.precision, f0)
        k = encode(other, precision=f)
        a = self._at_precision(f)
        bound = _check_bound(a.bound + abs(k), pk, "the sum")
        return EncryptedNumber(pk, a._c * pk._nude(k % pk.n) % nsq, precision=f, bound=bound)  # Enc(a) g^k

    __radd__ = __add__

    def __neg__(self) -> EncryptedNumber:
        nsq = self.public_key._consts()[1]
        return EncryptedNumber(self.public_key, _bk.invert(self._c, nsq), precision=self.precision,
                               bound=self.bound)  # Enc(a)^-1 = Enc(-a)

    def __sub__(self, other: Any) -> EncryptedNumber:
        return self + (-other)

    def __rsub__(self, other: Any) -> EncryptedNumber:
        return (-self) + other

    def __mul__(self, other: Any) -> EncryptedNumber:
        if isinstance(other, (EncryptedNumber, EncryptedVector, PackedEncryptedVector)):
            if isinstance(other, EncryptedNumber):
                raise TypeError("Paillier cannot multiply two ciphertexts (only ciphertext * plaintext); "
                                "use CKKS or an MPC protocol for that")
            return NotImplemented
        k, fk = _scalar_encoding(other)
        if self.precision + fk > MAX_PRECISION:
            raise PrecisionError(
                f"the product would carry {self.precision + fk} fractional bits (> MAX_PRECISION={MAX_PRECISION}); "
                "decrypt and re-encrypt, or multiply by a coarser scalar"
            )
        bound = _check_bound(self.bound * abs(k), self.public_key, "the product")
        c = _scalar_pow(self._c, k, self.public_key)  # Enc(a)^k = Enc(k*a)
        return EncryptedNumber._make(self.public_key, c, _check_precision(self.precision + fk), bound)

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> EncryptedNumber:
        check_real("scalar", scalar)
        if scalar == 0:
            raise ZeroDivisionError("division of an EncryptedNumber by zero")
        return self * (1.0 / float(scalar))

    # -- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Re-randomises first: a serialised ciphertext has left its owner."""
        return {"type": "paillier_ciphertext", "version": 1, "key": self.public_key.fingerprint,
                "ciphertext": hex(self.ciphertext()), "precision": self.precision, "bound": hex(self.bound)}

    @classmethod
    def from_dict(cls, data: Any, *, public_key: PaillierPublicKey) -> EncryptedNumber:
        d = _expect_dict(data, "paillier_ciphertext")
        _check_key_field(d, public_key)
        c = _ciphertext_value(_hex_field(d, "ciphertext"), public_key)
        f, bound = _precision_bound_fields(d, public_key)
        return cls(public_key, _bk.mpz(c), precision=f, bound=bound, _fresh=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, public_key: PaillierPublicKey) -> EncryptedNumber:
        return cls.from_dict(_loads(text), public_key=public_key)

    # -- python-paillier interop ---------------------------------------------------------------------
    def to_phe(self, public_key: Any = None) -> Any:
        """A ``phe.EncryptedNumber`` (base-16 exponent = -precision/4; precision must be a multiple of 4)."""
        import phe

        if self.precision % 4:
            raise PrecisionError(f"phe uses base-16 exponents: precision must be a multiple of 4, got {self.precision}")
        pub = public_key if public_key is not None else self.public_key.to_phe()
        if int(pub.n) != self.public_key.n:
            raise KeyMismatchError("the phe public key has a different n")
        return phe.EncryptedNumber(pub, self.ciphertext(), -(self.precision // 4))

    @classmethod
    def from_phe(cls, x: Any, *, public_key: PaillierPublicKey | None = None, bound: int | None = None
                 ) -> EncryptedNumber:
        """Wrap a ``phe.EncryptedNumber``. ``bound`` is the caller's public bound on |encoded| (default 2^(64+precision))."""
        pk = public_key if public_key is not None else PaillierPublicKey(int(x.public_key.n))
        if int(x.public_key.n) != pk.n:
            raise KeyMismatchError("the phe ciphertext was made under a different n")
        c = _bk.mpz(_ciphertext_value(int(x.ciphertext(be_secure=False)), pk))
        e = int(x.exponent)
        if e > 0:  # value = m * 16^e: fold 16^e into the plaintext
            c = _bk.powmod(c, 16**e, pk._consts()[1])
            e = 0
        f = -4 * e
        be = min(1 << (DEFAULT_BOUND_BITS + f), pk.max_int) if bound is None else check_int("bound", bound, low=0)
        return cls(pk, c, precision=f, bound=be)


class EncryptedVector:
    """A 1-D array of ciphertexts under one key, one precision and one public per-element bound.

    Element-wise ``+``/``-`` with another EncryptedVector, a scalar or a numpy array; ``*`` by a plaintext
    scalar or array (float arrays are encoded with ``DEFAULT_PRECISION`` fractional bits, int arrays
    exactly); ``sum()``; ``dot(w)`` for encrypted linear scoring. Each element is a big integer, so
    the per-element work is a list comprehension over gmpy2 operations (numpy cannot hold them natively).
    """

    __slots__ = ("public_key", "_cs", "precision", "bound", "_fresh")

    def __init__(self, public_key: PaillierPublicKey, ciphertexts: Sequence[Any], *, precision: int, bound: int,
                 _fresh: bool = False) -> None:
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
        self.public_key = public_key
        self._cs = list(ciphertexts)
        self.precision = _check_precision(precision)
        self.bound = _check_bound(check_int("bound", bound, low=0), public_key, "ciphertext")
        self._fresh = bool(_fresh)

    def __repr__(self) -> str:
        return (f"EncryptedVector(len={len(self._cs)}, key_bits={self.public_key.key_bits}, "
                f"fingerprint='{self.public_key.fingerprint}', precision={self.precision})")

    def __len__(self) -> int:
        return len(self._cs)

    @property
    def shape(self) -> tuple[int]:
        return (len(self._cs),)

    def __getitem__(self, i: int) -> EncryptedNumber:
        i = check_int("index", i, low=-len(self._cs), high=len(self._cs) - 1)
        return EncryptedNumber(self.public_key, self._cs[i], precision=self.precision, bound=self.bound,
                               _fresh=self._fresh)

    def __iter__(self) -> Iterable[EncryptedNumber]:
        return (self[i] for i in range(len(self._cs)))

    def _new(self, cs: list[Any], f: int, bound: int, fresh: bool = False) -> EncryptedVector:
        return EncryptedVector(self.public_key, cs, precision=f, bound=bound, _fresh=fresh)

    def _same_key(self, other: Any) -> None:
        if other.public_key is not self.public_key and other.public_key != self.public_key:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under keys {self.public_key.fingerprint} and "
                f"{other.public_key.fingerprint}; re-encrypt under one key"
            )

    def _at_precision(self, f: int) -> EncryptedVector:
        if f == self.precision:
            return self
        shift = f - self.precision
        bound = _check_bound(self.bound << shift, self.public_key, "raising precision")
        nsq = self.public_key._consts()[1]
        e = 1 << shift
        return self._new([_bk.powmod(c, e, nsq) for c in self._cs], f, bound, self._fresh)

    def _plain(self, other: Any, name: str) -> tuple[list[int], int]:
        arr = np.asarray(other)
        if arr.dtype == object or arr.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be numeric (int or float), got {type(other).__name__} dtype {arr.dtype}")
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != len(self)):
            raise ValueError(f"{name} must be a scalar or have shape ({len(self)},), got shape {arr.shape}")
        f = 0 if arr.dtype.kind in "iu" else DEFAULT_PRECISION
        vals = _encode_array(np.broadcast_to(arr, (len(self),)), f)
        return vals, f

    def __add__(self, other: Any) -> EncryptedVector:
        pk = self.public_key
        nsq = pk._consts()[1]
        if isinstance(other, EncryptedVector):
            self._same_key(other)
            if len(other) != len(self):
                raise ValueError(f"EncryptedVectors must have the same length, got {len(self)} and {len(other)}")
            f = max(self.precision, other.precision)
            a, b = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(a.bound + b.bound, pk, "the sum")
            return self._new([x * y % nsq for x, y in zip(a._cs, b._cs)], f, bound)
        if isinstance(other, EncryptedNumber):
            self._same_key(other)
            f = max(self.precision, other.precision)
            a, b = self._at_precision(f), other._at_precision(f)
            bound = _check_bound(a.bound + b.bound, pk, "the sum")
            return self._new([x * b._c % nsq for x in a._cs], f, bound)
        vals, f0 = self._plain(other, "other")
        f = max(self.precision, f0)
        if f > f0:
            vals = [v << (f - f0) for v in vals]
        a = self._at_precision(f)
        bound = _check_bound(a.bound + max(map(abs, vals), default=0), pk, "the sum")
        return self._new([x * pk._nude(v % pk.n) % nsq for x, v in zip(a._cs, vals)], f, bound)

    __radd__ = __add__

    def __neg__(self) -> EncryptedVector:
        nsq = self.public_key._consts()[1]
        return self._new([_bk.invert(c, nsq) for c in self._cs], self.precision, self.bound)

    def __sub__(self, other: Any) -> EncryptedVector:
        return self + (-other if isinstance(other, (EncryptedVector, EncryptedNumber)) else -np.asarray(other))

    def __rsub__(self, other: Any) -> EncryptedVector:
        return (-self) + other

    def __mul__(self, other: Any) -> EncryptedVector:
        if isinstance(other, (EncryptedVector, EncryptedNumber)):
            raise TypeError("Paillier cannot multiply two ciphertexts (only ciphertext * plaintext)")
        ks, fk = self._plain(other, "other")
        pk = self.public_key
        bound = _check_bound(self.bound * max(map(abs, ks), default=0), pk, "the product")
        return self._new([_scalar_pow(c, k, pk) for c, k in zip(self._cs, ks)], self.precision + fk, bound)

    __rmul__ = __mul__

    def sum(self) -> EncryptedNumber:
        """Enc(sum_i x_i) = prod_i Enc(x_i) mod n^2."""
        pk = self.public_key
        nsq = pk._consts()[1]
        bound = _check_bound(self.bound * len(self._cs), pk, "the sum")
        acc = _bk.mpz(1)
        for c in self._cs:
            acc = acc * c % nsq
        return EncryptedNumber(pk, acc, precision=self.precision, bound=bound)

    def dot(self, weights: Any) -> EncryptedNumber:
        """Enc(w . x) = prod_i Enc(x_i)^(w_i) mod n^2: the server never sees x (additive homomorphism)."""
        ws, fw = self._plain(weights, "weights")
        if np.asarray(weights).ndim != 1:
            raise ValueError(f"weights must be 1-D of length {len(self)}, got shape {np.shape(weights)}")
        pk = self.public_key
        nsq = pk._consts()[1]
        bound = _check_bound(self.bound * sum(map(abs, ws)), pk, "the dot product")
        acc = _bk.mpz(1)
        for c, w in zip(self._cs, ws):
            if w:
                acc = acc * _scalar_pow(c, w, pk) % nsq
        return EncryptedNumber(pk, acc, precision=self.precision + fw, bound=bound)

    def rerandomize(self, *, randomness: Randomness = "short_exponent", rng: RNGLike = None) -> EncryptedVector:
        check_choice("randomness", randomness, _RANDOMNESS)
        pk = self.public_key
        src = _source(rng)
        nsq = pk._consts()[1]
        return self._new([c * pk._obfuscator(randomness, src) % nsq for c in self._cs], self.precision,
                         self.bound, True)

    def ciphertexts(self, be_secure: bool = True) -> list[int]:
        if be_secure and not self._fresh:
            fresh = self.rerandomize()
            self._cs, self._fresh = fresh._cs, True
        return [int(c) for c in self._cs]

    def to_dict(self) -> dict:
        return {"type": "paillier_vector", "version": 1, "key": self.public_key.fingerprint,
                "ciphertexts": [hex(c) for c in self.ciphertexts()], "precision": self.precision,
                "bound": hex(self.bound)}

    @classmethod
    def from_dict(cls, data: Any, *, public_key: PaillierPublicKey) -> EncryptedVector:
        d = _expect_dict(data, "paillier_vector")
        _check_key_field(d, public_key)
        raw = d.get("ciphertexts")
        if not isinstance(raw, list):
            raise SerializationError(f"field 'ciphertexts' must be a list of hex strings, got {type(raw).__name__}")
        cs = [_bk.mpz(_ciphertext_value(_parse_hex(v, "ciphertexts[]"), public_key)) for v in raw]
        f, bound = _precision_bound_fields(d, public_key)
        return cls(public_key, cs, precision=f, bound=bound, _fresh=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: Any, *, public_key: PaillierPublicKey) -> EncryptedVector:
        return cls.from_dict(_loads(text), public_key=public_key)


# ---------------------------------------------------------------------------------------------------------
# packing many bounded values into one plaintext
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackingScheme:
    """Slots of ``slot_bits`` bits; each holds v + B (B = bound * 2^precision) summed over <= max_additions
    vectors, so a slot never exceeds 2*B*max_additions < 2^slot_bits and never carries into its neighbour."""

    key_fingerprint: str
    bound_enc: int
    precision: int
    max_additions: int
    slot_bits: int
    n_slots: int


def packing_scheme(public_key: PaillierPublicKey, *, bound: float | int, max_additions: int,
                   precision: int = 0) -> PackingScheme:
    """Plan slots for values with |v| <= bound that will be summed over at most ``max_additions`` vectors."""
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    f = _check_precision(precision)
    check_real("bound", bound, low=0.0, low_inclusive=False)
    k = check_int("max_additions", max_additions, low=1)
    be = bound << f if isinstance(bound, int) else math.ceil(math.ldexp(float(bound), f))
    slot_bits = (2 * be * k).bit_length()  # holds sum of k values in [0, 2B]
    n_slots = (public_key.key_bits - 1) // slot_bits  # packed plaintext < 2^(key_bits-1) <= n
    if n_slots < 1:
        raise PrecisionError(
            f"one slot needs {slot_bits} bits but the {public_key.key_bits}-bit key has room for none; "
            "lower bound, precision or max_additions"
        )
    return PackingScheme(public_key.fingerprint, be, f, k, slot_bits, n_slots)


class PackedEncryptedVector:
    """A vector packed ``scheme.n_slots`` values per ciphertext; supports ``+`` (aggregation) only."""

    __slots__ = ("public_key", "scheme", "_cs", "length", "count")

    def __init__(self, public_key: PaillierPublicKey, scheme: PackingScheme, ciphertexts: list[Any], *,
                 length: int, count: int) -> None:
        if scheme.key_fingerprint != public_key.fingerprint:
            raise KeyMismatchError("the packing scheme was planned for another key")
        if count > scheme.max_additions:
            raise PrecisionError(
                f"{count} packed vectors summed but the scheme has headroom for max_additions="
                f"{scheme.max_additions}; slots would carry into each other. Plan a scheme with more headroom"
            )
        self.public_key, self.scheme, self._cs, self.length, self.count = public_key, scheme, ciphertexts, length, count

    def __repr__(self) -> str:
        return (f"PackedEncryptedVector(len={self.length}, ciphertexts={len(self._cs)}, "
                f"slots={self.scheme.n_slots}x{self.scheme.slot_bits} bits, summands={self.count})")

    def __len__(self) -> int:
        return self.length

    @property
    def n_ciphertexts(self) -> int:
        return len(self._cs)

    def __add__(self, other: Any) -> PackedEncryptedVector:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:  # lets sum() start from 0
            return self
        if not isinstance(other, PackedEncryptedVector):
            return NotImplemented
        if other.public_key != self.public_key:
            raise KeyMismatchError(
                f"cannot combine ciphertexts under keys {self.public_key.fingerprint} and "
                f"{other.public_key.fingerprint}; re-encrypt under one key"
            )
        if other.scheme != self.scheme or other.length != self.length:
            raise ValueError("packed vectors must share one packing scheme and length")
        nsq = self.public_key._consts()[1]
        cs = [a * b % nsq for a, b in zip(self._cs, other._cs)]  # slot-wise sums: Enc(A)Enc(B) = Enc(A+B)
        return PackedEncryptedVector(self.public_key, self.scheme, cs, length=self.length,
                                     count=self.count + other.count)

    __radd__ = __add__

    def rerandomize(self, *, rng: RNGLike = None) -> PackedEncryptedVector:
        pk = self.public_key
        src = _source(rng)
        nsq = pk._consts()[1]
        cs = [c * pk._obfuscator("short_exponent", src) % nsq for c in self._cs]
        return PackedEncryptedVector(pk, self.scheme, cs, length=self.length, count=self.count)


def encrypt_packed(public_key: PaillierPublicKey, values: Any, scheme: PackingScheme, *,
                   randomness: Randomness = "short_exponent", rng: RNGLike = None) -> PackedEncryptedVector:
    """Encrypt a 1-D array as ceil(len / n_slots) ciphertexts: m = sum_i (v_i + B) * 2^(slot_bits * i)."""
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    if not isinstance(scheme, PackingScheme):
        raise TypeError(f"scheme must be a PackingScheme, got {type(scheme).__name__}")
    if scheme.key_fingerprint != public_key.fingerprint:
        raise KeyMismatchError("the packing scheme was planned for another key")
    check_choice("randomness", randomness, _RANDOMNESS)
    arr = _as_1d(values, "values")
    encs = _encode_array(arr, scheme.precision)
    if encs and max(map(abs, encs)) > scheme.bound_enc:
        raise PrecisionError(f"values must satisfy |v| * 2^precision <= {scheme.bound_enc}, got a larger value")
    src = _source(rng)
    nsq = public_key._consts()[1]
    w, B = scheme.slot_bits, scheme.bound_enc
    cs = []
    for start in range(0, len(encs), scheme.n_slots):
        m = 0
        for v in reversed(encs[start : start + scheme.n_slots]):
            m = (m << w) | (v + B)  # slot i holds v_i + B in [0, 2B]
        cs.append(public_key._nude(m) * public_key._obfuscator(randomness, src) % nsq)
    return PackedEncryptedVector(public_key, scheme, cs, length=len(encs), count=1)


# ---------------------------------------------------------------------------------------------------------
# serialisation helpers
# ---------------------------------------------------------------------------------------------------------
def _loads(text: Any) -> Any:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise SerializationError(f"serialised data must be UTF-8 JSON: {err}") from None
    if not isinstance(text, str):
        raise TypeError(f"serialised data must be str or bytes, got {type(text).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SerializationError(f"serialised data is not valid JSON: {err}") from None


def _expect_dict(data: Any, kind: str) -> dict:
    if not isinstance(data, dict):
        raise TypeError(f"serialised {kind} must be a dict, got {type(data).__name__}")
    if data.get("type") != kind:
        raise SerializationError(f"expected a serialised {kind!r}, got type={data.get('type')!r}")
    if data.get("version") != 1:
        raise SerializationError(f"unsupported {kind} version {data.get('version')!r}; this code reads version 1")
    return data


def _parse_hex(v: Any, name: str) -> int:
    if not isinstance(v, str):
        raise SerializationError(f"field {name!r} must be a hex string, got {type(v).__name__}")
    try:
        return int(v, 16)
    except ValueError:
        raise SerializationError(f"field {name!r} is not a hex integer: {v[:40]!r}") from None


def _hex_field(d: dict, name: str) -> int:
    if name not in d:
        raise SerializationError(f"missing field {name!r}")
    return _parse_hex(d[name], name)


def _check_key_field(d: dict, public_key: PaillierPublicKey) -> None:
    if not isinstance(public_key, PaillierPublicKey):
        raise TypeError(f"public_key must be a PaillierPublicKey, got {type(public_key).__name__}")
    if d.get("key") != public_key.fingerprint:
        raise KeyMismatchError(
            f"serialised ciphertext belongs to key {d.get('key')!r}, not {public_key.fingerprint!r}"
        )


def _ciphertext_value(c: int, pk: PaillierPublicKey) -> int:
    # a valid ciphertext is a unit of Z_{n^2}: 0 < c < n^2 and gcd(c, n) = 1
    if not 0 < c < pk.nsquare or math.gcd(c, pk.n) != 1:
        raise SerializationError("ciphertext must be a unit modulo n^2 (0 < c < n^2, gcd(c, n) = 1)")
    return c


def _precision_bound_fields(d: dict, pk: PaillierPublicKey) -> tuple[int, int]:
    f = d.get("precision")
    if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f <= MAX_PRECISION:
        raise SerializationError(f"field 'precision' must be an int in [0, {MAX_PRECISION}], got {f!r}")
    bound = _hex_field(d, "bound")
    if bound > pk.max_int:
        raise SerializationError("field 'bound' exceeds the key's max_int")
    return f, bound
