"""CKKS approximate homomorphic encryption: a thin, typed, safe wrapper over TenSEAL (Microsoft SEAL).

CKKS (Cheon, Kim, Kim & Song, "Homomorphic Encryption for Arithmetic of Approximate Numbers",
ASIACRYPT 2017, doi:10.1007/978-3-319-70694-8_15) encrypts a vector of up to N/2 real numbers (the
*slots*) scaled by 2^scale_bits into one ciphertext; additions and multiplications act slot-wise (SIMD).
Every multiplication is followed by a *rescale* that divides by one prime of the modulus chain, so a
chain ``[q0, q1, ..., qL, special]`` allows L multiplications in sequence (the multiplicative *depth*).
The backend is TenSEAL (Benaissa et al. 2021, arXiv:2104.03152); nothing cryptographic is
re-implemented here. This module adds what TenSEAL leaves to the user:

- parameters validated up front: total modulus bits within the 128-bit bound of the
  HomomorphicEncryption.org standard (Albrecht et al. 2018, Table 1, ternary secrets), inner primes equal
  to the scale (otherwise results are silently wrong), vectors no longer than the slot count;
- depth tracking per ciphertext: an operation that would exhaust the chain raises
  :class:`~ppml_lab.exceptions.DepthExhaustedError` naming the depth used and available, instead of
  SEAL's "scale out of bounds";
- roles: the key owner's :class:`CKKSContext` makes a public copy (no secret key) for the computing
  party; decrypting there raises :class:`~ppml_lab.exceptions.SecretKeyMissingError`;
- column-wise SIMD packing, an encrypted linear layer and least-squares polynomial sigmoids;
- serialised sizes of ciphertexts and contexts.

Threat model: semi-honest computing party that sees ciphertexts, the public key and evaluation keys.
Plain CKKS is IND-CPA only. It is *not* IND-CPA^D (IND-CPA with a decryption oracle, Li & Micciancio,
EUROCRYPT 2021, doi:10.1007/978-3-030-77870-5_23): a raw decryption m + e, together with its ciphertext,
gives the receiver a linear equation in the secret key, and two full-slot decryptions recover the key
(:mod:`ppml_lab.attacks.ckks_key_recovery` runs that attack on TenSEAL ciphertexts). Hence two levels:

- :meth:`CKKSCiphertext.decrypt` is the *raw* decryption, for the key owner's own eyes only; its output
  must never leave the key owner;
- :func:`decrypt_for_release` is the only way a decryption should leave the key owner: it adds
  noise-flooding noise from the OS CSPRNG, sized from the ciphertext's tracked noise, level and scale to a
  stated statistical security (the model is OpenFHE's ``NOISE_FLOODING_DECRYPT`` mode, after Li, Micciancio,
  Schultz & Sorrell, CRYPTO 2022, doi:10.1007/978-3-031-15802-5_20).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, SecureGenerator, resolve_rng
from ppml_lab._validation import check_array, check_bool, check_int, check_positive, check_real, check_type
from ppml_lab.exceptions import (
    CKKSBackendError,
    DepthExhaustedError,
    InsecureParameterError,
    KeyMismatchError,
    PPMLError,
    PrecisionError,
    ProtocolError,
    SecretKeyMissingError,
)

__all__ = [
    "SECURITY_BOUND_128",
    "MAX_PRIME_BITS",
    "PRESETS",
    "CKKSBackendError",
    "CKKSParams",
    "CKKSContext",
    "CKKSCiphertext",
    "EncryptedColumns",
    "SigmoidApprox",
    "validate_params",
    "select_params",
    "preset",
    "polyval_depth",
    "sum_rotations",
    "expected_error",
    "fit_sigmoid",
    "encrypted_linear",
    "encrypted_logistic",
    "DEFAULT_FLOODING_SECURITY",
    "MIN_FLOODING_SECURITY",
    "MAX_FLOODING_SECURITY",
    "SEAL_NOISE_STD",
    "fresh_noise_std",
    "flooding_std",
    "decrypt_for_release",
]

#: Largest total coefficient-modulus bit count for 128-bit classical security with a ternary secret,
#: per ring degree N (HomomorphicEncryption.org security standard, Albrecht et al. 2018, Table 1; the
#: same values SEAL enforces as ``sec_level_type::tc128``).
SECURITY_BOUND_128: Mapping[int, int] = MappingProxyType(
    {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}
)
#: SEAL's CoeffModulus::Create accepts primes of at most 60 bits.
MAX_PRIME_BITS = 60
#: Standard deviation of SEAL's encryption error (``seal::util::global_variables::noise_standard_deviation``).
SEAL_NOISE_STD = 3.2
#: Statistical security (bits) of a released decryption by default: OpenFHE's CKKS_NOISE_FLOODING.md
#: recommends s >= 30 ("bound any adversary's success probability to at most 2^-30").
DEFAULT_FLOODING_SECURITY = 30
#: Smallest statistical security :func:`decrypt_for_release` accepts (the same recommendation).
MIN_FLOODING_SECURITY = 30
#: Largest accepted: beyond this the flooding noise (2^(s/2) times the ciphertext noise) swamps any value.
MAX_FLOODING_SECURITY = 128


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CKKSParams:
    """Validated CKKS parameters. Build with :func:`validate_params`, :func:`select_params` or :func:`preset`.

    ``coeff_mod_bit_sizes = (q0, q1, ..., qL, special)``: q0 holds the result's integer part plus the scale
    (``integer_bits = q0 - scale_bits``), q1..qL equal the scale (one is dropped per rescale), and the
    special prime is only used for key switching.
    """

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    insecure: bool = False

    @property
    def depth(self) -> int:
        """Multiplicative depth: number of rescales the chain allows (inner primes)."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def total_bits(self) -> int:
        return int(sum(self.coeff_mod_bit_sizes))

    @property
    def integer_bits(self) -> int:
        """Bits left for the integer part of a decrypted value: |result| < 2^integer_bits."""
        return self.coeff_mod_bit_sizes[0] - self.scale_bits

    @property
    def security_bound(self) -> int | None:
        return SECURITY_BOUND_128.get(self.poly_modulus_degree)

    @property
    def security_bits(self) -> int:
        """128 when within the standard's bound, else 0 (below 128 bits; not estimated here)."""
        bound = self.security_bound
        return 128 if bound is not None and self.total_bits <= bound else 0

    def describe(self) -> dict[str, Any]:
        return {
            "N": self.poly_modulus_degree,
            "chain": list(self.coeff_mod_bit_sizes),
            "scale_bits": self.scale_bits,
            "depth": self.depth,
            "slots": self.slots,
            "total_bits": self.total_bits,
            "bound_128": self.security_bound,
            "security": f"{self.security_bits}-bit" if self.security_bits else "INSECURE",
        }


def validate_params(
    *,
    poly_modulus_degree: int,
    coeff_mod_bit_sizes: Sequence[int],
    scale_bits: int,
    allow_insecure: bool = False,
) -> CKKSParams:
    """Check CKKS parameters before TenSEAL sees them, with messages that say what to change.

    Raises InsecureParameterError when the total modulus exceeds the 128-bit bound for N (unless
    ``allow_insecure=True``; note that TenSEAL's SEAL build refuses such contexts anyway), and
    PrecisionError when an inner prime differs from the scale or q0 leaves no room for an integer part.
    """
    n = check_int("poly_modulus_degree", poly_modulus_degree, low=1024)
    if n & (n - 1):
        raise ValueError(f"poly_modulus_degree must be a power of two >= 1024, got {n}")
    check_bool("allow_insecure", allow_insecure)
    s = check_int("scale_bits", scale_bits, low=1, high=MAX_PRIME_BITS)
    if isinstance(coeff_mod_bit_sizes, (str, bytes)) or not isinstance(coeff_mod_bit_sizes, Sequence):
        raise TypeError(
            f"coeff_mod_bit_sizes must be a sequence of ints, got {type(coeff_mod_bit_sizes).__name__}"
        )
    chain = tuple(check_int(f"coeff_mod_bit_sizes[{i}]", b) for i, b in enumerate(coeff_mod_bit_sizes))
    if len(chain) < 3:
        raise ValueError(
            f"coeff_mod_bit_sizes must have at least 3 primes (q0, one inner prime, special) for depth >= 1, "
            f"got {list(chain)}"
        )
    # each prime must be = 1 mod 2N, so it needs more bits than 2N; SEAL caps primes at 60 bits
    low_bits = int(math.log2(2 * n)) + 1
    for i, b in enumerate(chain):
        if not low_bits <= b <= MAX_PRIME_BITS:
            raise ValueError(
                f"coeff_mod_bit_sizes[{i}] must be in [{low_bits}, {MAX_PRIME_BITS}] for N={n}, got {b}"
            )
    total = sum(chain)
    bound = SECURITY_BOUND_128.get(n)
    insecure = bound is None or total > bound
    if insecure and not allow_insecure:
        limit = "no 128-bit bound is tabulated" if bound is None else f"the 128-bit bound is {bound} bits"
        raise InsecureParameterError(
            f"sum(coeff_mod_bit_sizes) must be <= the 128-bit security bound for N={n}; {limit}, got "
            f"{total} bits {list(chain)}. Use fewer or smaller primes, a larger N, or pass "
            "allow_insecure=True for a toy demonstration"
        )
    # Rescaling divides by q_i; the scale stays 2^s only if every inner prime is ~2^s (Cheon et al. 2017, §3)
    bad = [(i, b) for i, b in enumerate(chain[1:-1], start=1) if b != s]
    if bad:
        i, b = bad[0]
        raise PrecisionError(
            f"inner prime coeff_mod_bit_sizes[{i}] must equal scale_bits={s} (rescaling divides by it), "
            f"got {b} bits; otherwise the scale drifts and decryptions are silently wrong"
        )
    if chain[0] <= s:
        raise PrecisionError(
            f"coeff_mod_bit_sizes[0] must exceed scale_bits={s} to hold the integer part of results, "
            f"got {chain[0]}; use scale_bits + 10 to 20"
        )
    if chain[-1] < max(chain[:-1]):
        raise ValueError(
            f"the special prime coeff_mod_bit_sizes[-1] must be >= every other prime ({max(chain[:-1])} "
            f"bits) for key switching to stay accurate, got {chain[-1]}"
        )
    return CKKSParams(n, chain, s, insecure=insecure)


def select_params(
    *, depth: int, scale_bits: int = 40, integer_bits: int = 20, allow_insecure: bool = False
) -> CKKSParams:
    """The smallest N whose 128-bit bound fits ``[scale+integer] + [scale]*depth + [scale+integer]``.

    This is the parameter walk-through of notebook 06 as a function: depth fixes the number of inner
    primes, precision fixes their size, and security then fixes the ring degree N.
    """
    d = check_int("depth", depth, low=1)
    s = check_int("scale_bits", scale_bits, low=14, high=MAX_PRIME_BITS - 1)
    ib = check_int("integer_bits", integer_bits, low=1, high=MAX_PRIME_BITS - s)
    chain = [s + ib] + [s] * d + [s + ib]
    total = sum(chain)
    for n, bound in SECURITY_BOUND_128.items():
        if total <= bound and n >= 4096:  # CKKS below N=4096 leaves too few slots and bits to be useful
            return validate_params(poly_modulus_degree=n, coeff_mod_bit_sizes=chain, scale_bits=s)
    if allow_insecure:
        return validate_params(
            poly_modulus_degree=32768, coeff_mod_bit_sizes=chain, scale_bits=s, allow_insecure=True
        )
    raise InsecureParameterError(
        f"depth={d} at scale_bits={s} needs {total} modulus bits, more than the largest 128-bit bound "
        f"({SECURITY_BOUND_128[32768]} bits at N=32768); lower the depth or the scale, or bootstrap"
    )


def _p(n: int, chain: list[int], s: int) -> CKKSParams:
    return validate_params(poly_modulus_degree=n, coeff_mod_bit_sizes=chain, scale_bits=s)


#: Named presets by depth and precision (all 128-bit secure; none at N=32768, whose keys do not fit a
#: 2 GB Binder). ``scale_bits`` sets the precision: the per-slot error is about B_clean / 2^scale_bits
#: (see :func:`expected_error`), roughly 1e-8 at 40 bits, 1e-6 at 35, 1e-3 at 25 for values near 1.
PRESETS: Mapping[str, CKKSParams] = MappingProxyType(
    {
        "depth1-n4096": _p(4096, [42, 25, 42], 25),
        "depth2-n8192": _p(8192, [60, 40, 40, 60], 40),
        "depth3-n8192": _p(8192, [50, 35, 35, 35, 50], 35),
        "depth6-n8192-lowprec": _p(8192, [34, 25, 25, 25, 25, 25, 25, 34], 25),
        "depth4-n16384": _p(16384, [60, 40, 40, 40, 40, 60], 40),
        "depth7-n16384": _p(16384, [60, 40, 40, 40, 40, 40, 40, 40, 60], 40),
        # for released aggregates: a 50-bit scale leaves room for the 2^(s/2)-times-larger flooding noise
        "depth1-n8192-release": _p(8192, [60, 50, 60], 50),
    }
)


def preset(name: str) -> CKKSParams:
    """A named preset from :data:`PRESETS` (e.g. ``"depth2-n8192"``, TenSEAL's tutorial parameters)."""
    check_type("name", name, str)
    if name not in PRESETS:
        raise ValueError(f"name must be one of {', '.join(map(repr, PRESETS))}, got {name!r}")
    return PRESETS[name]


def polyval_depth(degree: int) -> int:
    """Levels TenSEAL's polyval uses for a degree-d polynomial: ceil(log2(d + 1)) (powers by squaring)."""
    d = check_int("degree", degree, low=1)
    return int(math.ceil(math.log2(d + 1)))


def sum_rotations(size: int) -> int:
    """Rotations TenSEAL's slot sum (``sum``, and ``dot`` after its product) performs for ``size`` slots.

    Mirrors ``sum_vector`` in TenSEAL's ``tenseal/cpp/tensors/utils/utils.cpp``: with b the largest power of
    two <= size, it rotates once by b to split off the remaining size - b slots (summed recursively), then
    log2(b) rotate-and-add steps. So 30 slots cost 1 + 8 + 4 = 13 rotations, not ceil(log2(30)) = 5.
    """
    n = check_int("size", size, low=1)
    if n == 1:
        return 0
    b = 1 << (n.bit_length() - 1)
    rest = 0 if b == n else 1 + sum_rotations(n - b)
    return rest + (b.bit_length() - 1)


def expected_error(params: CKKSParams, *, levels: int = 0, magnitude: float = 1.0) -> float:
    """A per-slot error bound derived from the scale: (levels + 1) * max(1, magnitude) * B_clean / 2^scale.

    B_clean = 8*sqrt(2)*sigma*N + 6*sigma*sqrt(N) + 16*sigma*sqrt(h*N) is the fresh-encryption noise
    bound of Cheon et al. 2017 (Lemma 1) with sigma = 3.2 and h = N/2 (ternary secret); each rescale adds
    noise of the same order or less, and a product scales the error by the magnitude of its operands.
    A deliberately loose, explainable tolerance for tests, not a tight estimate.
    """
    check_type("params", params, CKKSParams)
    lv = check_int("levels", levels, low=0)
    m = check_positive("magnitude", magnitude)
    n, sigma, h = params.poly_modulus_degree, 3.2, params.poly_modulus_degree / 2
    b_clean = 8 * math.sqrt(2) * sigma * n + 6 * sigma * math.sqrt(n) + 16 * sigma * math.sqrt(h * n)
    return (lv + 1) * max(1.0, m) * b_clean / 2.0**params.scale_bits


# ---------------------------------------------------------------------------------------------
# Backend errors with context
# ---------------------------------------------------------------------------------------------


@contextmanager
def _backend(operation: str) -> Iterator[None]:
    """Re-raise TenSEAL/SEAL errors with the operation and a likely cause."""
    try:
        yield
    except PPMLError:
        raise
    except (ValueError, RuntimeError) as err:
        msg = str(err)
        if "scale out of bounds" in msg:
            raise DepthExhaustedError(
                f"{operation}: TenSEAL reports 'scale out of bounds': the modulus chain is exhausted or the "
                "scale grew past q0; use a preset with more depth or fewer multiplications"
            ) from err
        if "secret_key" in msg or "secret key" in msg:
            raise SecretKeyMissingError(
                f"{operation}: this context holds no secret key (TenSEAL: {msg})"
            ) from err
        if "parameters are not set correctly" in msg:
            raise InsecureParameterError(
                f"{operation}: SEAL rejected the parameters (it enforces the 128-bit bound itself; "
                f"TenSEAL: {msg})"
            ) from err
        raise CKKSBackendError(f"{operation} failed in TenSEAL: {msg}") from err


# ---------------------------------------------------------------------------------------------
# Context (keys) and roles
# ---------------------------------------------------------------------------------------------


class CKKSContext:
    """TenSEAL context plus its validated parameters. The key owner creates it; :meth:`make_public`
    gives the computing party a copy without the secret key.

    Galois (rotation) keys are generated only on request (``galois_keys=True``): they are needed for
    ``dot``/``sum`` inside one ciphertext and weigh tens of MB at N=8192, hundreds at N=32768. Column-wise
    packing (:meth:`encrypt_columns`) never needs them.
    """

    def __init__(self, params: CKKSParams, *, galois_keys: bool = False, n_threads: int | None = None):
        check_type("params", params, CKKSParams)
        check_bool("galois_keys", galois_keys)
        if n_threads is not None:
            check_int("n_threads", n_threads, low=1)
        import tenseal as ts

        with _backend(f"creating a CKKS context N={params.poly_modulus_degree} {list(params.coeff_mod_bit_sizes)}"):
            ctx = ts.context(
                ts.SCHEME_TYPE.CKKS,
                poly_modulus_degree=params.poly_modulus_degree,
                coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
                n_threads=n_threads,
            )
            ctx.global_scale = 2.0**params.scale_bits
            if galois_keys:
                ctx.generate_galois_keys()
        self._init(params, ctx)

    def _init(self, params: CKKSParams, ctx: Any) -> None:
        self.params = params
        self._ctx = ctx
        self._fingerprint: str | None = None
        # the release budget of this key (decrypt_for_release): the secret key lives only in this object
        # (serialize() never writes it), so counting here counts every release under the key
        self._released = 0
        self._release_budget: int | None = None
        self._release_lock = threading.Lock()

    @property
    def released(self) -> int:
        """Decryptions released under this key so far (:func:`decrypt_for_release`)."""
        return self._released

    @classmethod
    def _wrap(cls, params: CKKSParams, ctx: Any) -> CKKSContext:
        obj = cls.__new__(cls)
        obj._init(params, ctx)
        return obj

    # -- properties ---------------------------------------------------------------------------
    @property
    def tenseal_context(self) -> Any:
        """The underlying ``tenseal.Context`` (for side-by-side comparisons)."""
        return self._ctx

    @property
    def is_private(self) -> bool:
        return bool(self._ctx.is_private())

    @property
    def has_galois_keys(self) -> bool:
        return bool(self._ctx.has_galois_keys())

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the public key and parameters: equal for a key pair's private and public contexts."""
        if self._fingerprint is None:
            blob = self._ctx.serialize(
                save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
            )
            self._fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        p = self.params
        role = "private (holds secret key)" if self.is_private else "public"
        return (
            f"CKKSContext(N={p.poly_modulus_degree}, chain={list(p.coeff_mod_bit_sizes)}, "
            f"scale=2^{p.scale_bits}, depth={p.depth}, {role}, galois_keys={self.has_galois_keys})"
        )

    # -- keys and roles -----------------------------------------------------------------------
    def generate_galois_keys(self) -> None:
        """Add rotation keys (needed by ``dot``/``sum``); requires the secret key."""
        if not self.is_private:
            raise SecretKeyMissingError(
                "generate_galois_keys needs the secret key; ask the key owner to generate them before "
                "calling make_public()"
            )
        with _backend("generating Galois keys"):
            self._ctx.generate_galois_keys()

    def make_public(self, *, galois_keys: bool = True) -> CKKSContext:
        """A copy for the computing party: public, relinearisation (and optionally Galois) keys only.

        Goes through serialisation, exactly as it would over a network, so nothing secret is shared.
        """
        check_bool("galois_keys", galois_keys)
        return CKKSContext.from_bytes(self.serialize(galois_keys=galois_keys), self.params)

    def serialize(self, *, galois_keys: bool = True) -> bytes:
        """Public material only (public, relinearisation, optionally Galois keys); never the secret key."""
        check_bool("galois_keys", galois_keys)
        with _backend("serialising the context"):
            return bytes(
                self._ctx.serialize(
                    save_public_key=True,
                    save_secret_key=False,
                    save_galois_keys=galois_keys and self.has_galois_keys,
                    save_relin_keys=True,
                )
            )

    @classmethod
    def from_bytes(cls, data: bytes, params: CKKSParams) -> CKKSContext:
        """Load a context serialised by :meth:`serialize`; ``params`` must be the ones it was made with."""
        check_type("data", data, bytes)
        check_type("params", params, CKKSParams)
        import tenseal as ts

        with _backend("loading a serialised context"):
            ctx = ts.context_from(data)
        return cls._wrap(params, ctx)

    def nbytes(self, *, galois_keys: bool = True) -> int:
        """Size in bytes of the public context as it would be sent (see :meth:`serialize`)."""
        return len(self.serialize(galois_keys=galois_keys))

    # -- encryption ---------------------------------------------------------------------------
    def encrypt(self, values: Any) -> CKKSCiphertext:
        """Encrypt a 1-D vector of at most ``slots`` finite reals into one ciphertext."""
        arr = check_array("values", values, ndim=1)
        self._check_slots("values", arr.shape[0])
        bound = 2.0 ** (self.params.integer_bits - 1)
        if np.max(np.abs(arr)) >= bound:
            raise PrecisionError(
                f"values must have |x| < 2^{self.params.integer_bits - 1} = {bound:g} to decrypt correctly "
                f"with q0={self.params.coeff_mod_bit_sizes[0]} bits and scale 2^{self.params.scale_bits}, "
                f"got max |x| = {np.max(np.abs(arr)):g}; rescale the data or raise q0"
            )
        import tenseal as ts

        with _backend("encrypting"):
            vec = ts.ckks_vector(self._ctx, arr.tolist())
        mag = float(np.max(np.abs(arr))) if arr.size else 0.0
        return CKKSCiphertext(vec, self, arr.shape[0], 0, fresh_noise_std(self.params), mag)

    def _check_slots(self, name: str, length: int) -> None:
        if length > self.params.slots:
            raise ValueError(
                f"{name} must have at most {self.params.slots} entries (N/2 slots for "
                f"N={self.params.poly_modulus_degree}), got {length}; split the batch or use a larger N"
            )

    def encrypt_columns(self, X: Any) -> EncryptedColumns:
        """SIMD packing: one ciphertext per feature (column), the samples in its slots.

        A linear model then costs d plaintext-scalar multiplications for the whole batch, instead of one
        rotation-heavy dot product per sample.
        """
        Xa = check_array("X", X, ndim=2)
        self._check_slots("X rows (samples)", Xa.shape[0])
        cols = tuple(self.encrypt(Xa[:, j]) for j in range(Xa.shape[1]))
        return EncryptedColumns(cols, Xa.shape[0])

    def load_columns(
        self,
        data: Sequence[bytes],
        n_samples: int,
        *,
        noise_std: float | None = None,
        magnitude: float | None = None,
    ) -> EncryptedColumns:
        """Load column-packed ciphertexts serialised by :meth:`EncryptedColumns.serialize`.

        ``noise_std``/``magnitude`` apply to every column (see :meth:`load_vector`).
        """
        if isinstance(data, (bytes, str)) or not isinstance(data, Sequence) or len(data) == 0:
            raise TypeError(f"data must be a non-empty sequence of bytes, got {type(data).__name__}")
        cols = tuple(self.load_vector(b, n_samples, noise_std=noise_std, magnitude=magnitude) for b in data)
        return EncryptedColumns(cols, int(n_samples))

    def load_vector(
        self,
        data: bytes,
        size: int,
        *,
        noise_std: float | None = None,
        magnitude: float | None = None,
    ) -> CKKSCiphertext:
        """Load a serialised ciphertext under this context; its level is read from the ciphertext.

        A ciphertext's noise cannot be read from its bytes. The party that computed it knows it
        (``CKKSCiphertext.noise_std``) and sends it along; pass it as ``noise_std`` (and the value bound as
        ``magnitude``) so that :func:`decrypt_for_release` can size its flooding noise. Without it the loaded
        vector's noise is unknown and :func:`decrypt_for_release` refuses it (raw :meth:`CKKSCiphertext.decrypt`
        still works for the key owner).
        """
        check_type("data", data, bytes)
        n = check_int("size", size, low=1)
        self._check_slots("size", n)
        if noise_std is not None:
            noise_std = check_positive("noise_std", noise_std)
        if magnitude is not None:
            magnitude = check_real("magnitude", magnitude)
            if magnitude < 0:
                raise ValueError(f"magnitude must be >= 0 (a bound on |slot values|), got {magnitude}")
        import tenseal as ts

        with _backend("loading a serialised ciphertext"):
            vec = ts.ckks_vector_from(self._ctx, data)
        if vec.size() != n:
            raise ValueError(f"size must match the ciphertext's {vec.size()} slots in use, got {n}")
        return CKKSCiphertext(vec, self, n, _levels_used(vec, self.params), noise_std, magnitude)


def _levels_used(vec: Any, params: CKKSParams) -> int:
    # a fresh ciphertext lives modulo q0*q1*...*qL (L+1 primes); each rescale drops one
    return params.depth + 1 - int(vec.ciphertext()[0].coeff_modulus_size())


# ---------------------------------------------------------------------------------------------
# Noise tracking (a per-coefficient standard deviation, in integer units at the ciphertext's scale)
# ---------------------------------------------------------------------------------------------
# The decryption c0 + c1*s = Delta*m + e; ``noise_std`` estimates the standard deviation of one coefficient
# of e with the central-limit heuristic of Costache & Smart 2016 ("Which ring based somewhat homomorphic
# encryption scheme is best?", CT-RSA, §3) and of OpenFHE's static noise estimation: an estimate, not a
# worst-case bound, exactly what OpenFHE's NOISE_FLOODING_DECRYPT mode feeds its flooding formula.
# Additions use the triangle inequality on standard deviations (sound for correlated operands, e.g. x + x).


def fresh_noise_std(params: CKKSParams) -> float:
    """Std of one coefficient of a fresh public-key encryption's error: sigma * sqrt(1 + 4N/3).

    SEAL encrypts as (u*pk0 + e1, u*pk1 + e2) with pk0 = -(a*s + e), u and s uniform ternary (2/3 of their
    N coefficients nonzero) and e, e1, e2 of std sigma = 3.2; decryption leaves u*e + e1 + e2*s, whose
    coefficients have variance N*(2/3)*sigma^2 + sigma^2 + N*(2/3)*sigma^2.
    """
    check_type("params", params, CKKSParams)
    return SEAL_NOISE_STD * math.sqrt(1.0 + 4.0 * params.poly_modulus_degree / 3.0)


def _rescale_std(n: int) -> float:
    # rounding (c0, c1)/q: tau0 + tau1*s with tau uniform on [-1/2, 1/2] (variance 1/12 per coefficient)
    return math.sqrt((1.0 + 2.0 * n / 3.0) / 12.0)


def _keyswitch_std(params: CKKSParams) -> float:
    # key switching (relinearisation, rotation): sum over the L+1 RNS digits of d_j*e_j / P, |d_j| <= q_j/2
    # <= P/2, e_j of std sigma, plus the rounding of the division by the special prime P. The central-limit
    # estimate sqrt(N/12)*sigma per digit undershoots SEAL's measured rotation noise 10-50x at the course
    # presets, so this takes the loose N*sigma/2 per digit (the coefficient-wise worst case over d_j), which
    # covers the measurements (tests/he/test_ckks.py::test_noise_estimate_covers_measured_error).
    n = params.poly_modulus_degree
    return math.sqrt(params.depth + 1) * n * SEAL_NOISE_STD / 2.0 + _rescale_std(n)


def _add_opt(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


# ---------------------------------------------------------------------------------------------
# Ciphertexts with depth tracking
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CKKSCiphertext:
    """One CKKS ciphertext holding ``size`` slots, with the number of levels (rescales) already used."""

    _vec: Any = field(repr=False)
    context: CKKSContext = field(repr=False)
    size: int
    level: int
    #: Estimated std of one error coefficient (integer units at :attr:`scale`); None when unknown (loaded).
    noise_std: float | None = None
    #: A bound on |slot values| (from the encrypted data and the operations since); None when unknown.
    magnitude: float | None = None

    @property
    def depth(self) -> int:
        return self.context.params.depth

    @property
    def scale(self) -> float:
        """The ciphertext's current scale Delta (2^scale_bits when fresh, about that after each rescale)."""
        return float(self._vec.ciphertext()[0].scale)

    @property
    def levels_left(self) -> int:
        return self.depth - self.level

    def __repr__(self) -> str:
        return f"CKKSCiphertext(size={self.size}, level={self.level}/{self.depth})"

    @property
    def tenseal_vector(self) -> Any:
        return self._vec

    # -- checks ---------------------------------------------------------------------------------
    def _need(self, levels: int, operation: str) -> None:
        if self.level + levels > self.depth:
            raise DepthExhaustedError(
                f"{operation} needs {levels} more level(s) but this ciphertext has used {self.level} of "
                f"depth {self.depth} ({self.levels_left} left); use a preset with depth >= "
                f"{self.level + levels} or restructure to multiply fewer times in sequence"
            )

    def _same_key(self, other: CKKSCiphertext) -> None:
        if other.context is not self.context and other.context.fingerprint != self.context.fingerprint:
            raise KeyMismatchError(
                "cannot combine ciphertexts under different keys (context fingerprints "
                f"{self.context.fingerprint} and {other.context.fingerprint}); TenSEAL would return garbage"
            )
        if other.size != self.size:
            raise ValueError(f"ciphertext sizes must match, got {self.size} and {other.size}")

    def _plain(self, other: Any, name: str = "other") -> float | list[float]:
        if isinstance(other, (bool, np.bool_)):
            raise TypeError(f"{name} must be a number, an array or an CKKSCiphertext, got bool")
        if isinstance(other, (int, float, np.integer, np.floating)):
            return check_real(name, other)
        arr = check_array(name, other, ndim=1)
        if arr.shape[0] != self.size:
            raise ValueError(f"{name} must have {self.size} entries to match the ciphertext, got {arr.shape[0]}")
        return arr.tolist()

    def _wrap(self, vec: Any, noise_std: float | None, magnitude: float | None) -> CKKSCiphertext:
        # _need() checked the predicted cost before the call; the ciphertext's remaining primes are the
        # ground truth afterwards (e.g. a product with an all-zero plaintext skips the rescale)
        return CKKSCiphertext(
            vec, self.context, self.size, _levels_used(vec, self.context.params), noise_std, magnitude
        )

    @staticmethod
    def _plain_max(plain: float | list[float]) -> float:
        return abs(plain) if isinstance(plain, float) else float(np.max(np.abs(plain)))

    def _plain_mul_noise(self, wmax: float) -> tuple[float | None, float | None]:
        # (Delta*m + e)(Delta*w)/q = Delta*m*w + e*w + rescale rounding; |e*w| per coefficient <= max|w| std
        n = self.context.params.poly_modulus_degree
        noise = None if self.noise_std is None else wmax * self.noise_std + _rescale_std(n)
        mag = None if self.magnitude is None else self.magnitude * wmax
        return noise, mag

    def _ct_mul_noise(self, other: CKKSCiphertext) -> tuple[float | None, float | None]:
        # (Delta m1 + e1)(Delta m2 + e2)/Delta = Delta m1 m2 + m1 e2 + m2 e1 + e1 e2/Delta, then relinearise
        # (key-switching noise) and rescale (rounding noise)
        if None in (self.noise_std, other.noise_std, self.magnitude, other.magnitude):
            return None, None
        p = self.context.params
        m1, m2 = float(self.magnitude), float(other.magnitude)  # type: ignore[arg-type]
        e1, e2 = float(self.noise_std), float(other.noise_std)  # type: ignore[arg-type]
        noise = m1 * e2 + m2 * e1 + e1 * e2 / self.scale + _keyswitch_std(p) + _rescale_std(p.poly_modulus_degree)
        return noise, m1 * m2

    def _rotation_sum_noise(self, noise: float | None, mag: float | None) -> tuple[float | None, float | None]:
        # TenSEAL's slot sum adds ``size`` rotated images of the error (triangle inequality: the constant
        # coefficient is fixed by every automorphism, so its copies add up coherently), plus one key switch
        # per rotation (sum_rotations)
        p = self.context.params
        if noise is None:
            return None, None
        out = self.size * noise + sum_rotations(self.size) * _keyswitch_std(p)
        return out, None if mag is None else self.size * mag

    # -- arithmetic -----------------------------------------------------------------------------
    def __add__(self, other: Any) -> CKKSCiphertext:
        if isinstance(other, CKKSCiphertext):
            self._same_key(other)
            with _backend("ciphertext + ciphertext"):
                return self._wrap(
                    self._vec + other._vec,
                    _add_opt(self.noise_std, other.noise_std),
                    _add_opt(self.magnitude, other.magnitude),
                )
        plain = self._plain(other)
        with _backend("ciphertext + plaintext"):
            return self._wrap(self._vec + plain, self.noise_std, _add_opt(self.magnitude, self._plain_max(plain)))

    __radd__ = __add__

    def __neg__(self) -> CKKSCiphertext:
        with _backend("negation"):
            return self._wrap(-self._vec, self.noise_std, self.magnitude)

    def __sub__(self, other: Any) -> CKKSCiphertext:
        if isinstance(other, CKKSCiphertext):
            self._same_key(other)
            with _backend("ciphertext - ciphertext"):
                return self._wrap(
                    self._vec - other._vec,
                    _add_opt(self.noise_std, other.noise_std),
                    _add_opt(self.magnitude, other.magnitude),
                )
        plain = self._plain(other)
        with _backend("ciphertext - plaintext"):
            return self._wrap(self._vec - plain, self.noise_std, _add_opt(self.magnitude, self._plain_max(plain)))

    def __rsub__(self, other: Any) -> CKKSCiphertext:
        return (-self) + other

    def __mul__(self, other: Any) -> CKKSCiphertext:
        # every product is rescaled: one level (Cheon et al. 2017, §3.3 RS)
        if isinstance(other, CKKSCiphertext):
            self._same_key(other)
            lv = max(self.level, other.level)
            if lv + 1 > self.depth:
                worst = self if self.level >= other.level else other
                worst._need(1, "ciphertext * ciphertext")
            with _backend("ciphertext * ciphertext"):
                return self._wrap(self._vec * other._vec, *self._ct_mul_noise(other))
        plain = self._plain(other)
        self._need(1, "ciphertext * plaintext")
        with _backend("ciphertext * plaintext"):
            return self._wrap(self._vec * plain, *self._plain_mul_noise(self._plain_max(plain)))

    __rmul__ = __mul__

    def square(self) -> CKKSCiphertext:
        self._need(1, "square")
        with _backend("square"):
            return self._wrap(self._vec.square(), *self._ct_mul_noise(self))

    def polyval(self, coefficients: Any) -> CKKSCiphertext:
        """p(x) = c0 + c1 x + ... + cd x^d slot-wise; uses :func:`polyval_depth` (d) levels."""
        c = check_array("coefficients", coefficients, ndim=1)
        nz = np.flatnonzero(c)
        if nz.size == 0 or nz[-1] == 0:
            raise ValueError(
                f"coefficients must describe a polynomial of degree >= 1 (a nonzero c1..cd), got {c.tolist()}"
            )
        c = c[: nz[-1] + 1]  # trailing zeros make TenSEAL fail with 'vector::reserve'
        cost = polyval_depth(len(c) - 1)
        self._need(cost, f"polyval of degree {len(c) - 1}")
        noise: float | None = None
        mag: float | None = None
        if self.noise_std is not None and self.magnitude is not None:
            # first-order propagation: |p(m + e) - p(m)| <= sum_i |c_i| i M^(i-1) |e|, with one key switch and
            # one rescale per level on top (a heuristic estimate, like every noise figure here)
            p = self.context.params
            big = max(1.0, float(self.magnitude))
            per_level = _keyswitch_std(p) + _rescale_std(p.poly_modulus_degree)
            base = float(self.noise_std) + cost * per_level
            noise = sum(abs(float(ci)) * i * big ** (i - 1) for i, ci in enumerate(c) if i) * base
            mag = sum(abs(float(ci)) * big**i for i, ci in enumerate(c))
        with _backend("polyval"):
            return self._wrap(self._vec.polyval(c.tolist()), noise, mag)

    def dot(self, weights: Any) -> CKKSCiphertext:
        """<x, w> for a plaintext w, result in slot 0: one level plus :func:`sum_rotations` rotations (Galois keys)."""
        w = check_array("weights", weights, ndim=1)
        if w.shape[0] != self.size:
            raise ValueError(f"weights must have {self.size} entries to match the ciphertext, got {w.shape[0]}")
        self._require_galois("dot")
        self._need(1, "dot")
        with _backend("dot"):
            out = self._vec.dot(w.tolist())
        noise, _ = self._plain_mul_noise(float(np.max(np.abs(w))))
        noise, _ = self._rotation_sum_noise(noise, None)
        mag = None if self.magnitude is None else float(np.sum(np.abs(w))) * self.magnitude
        return CKKSCiphertext(out, self.context, 1, _levels_used(out, self.context.params), noise, mag)

    def sum(self) -> CKKSCiphertext:
        """Sum of the slots into slot 0 (rotations: needs Galois keys; no level used)."""
        self._require_galois("sum")
        with _backend("sum"):
            out = self._vec.sum()
        noise, mag = self._rotation_sum_noise(self.noise_std, self.magnitude)
        return CKKSCiphertext(out, self.context, 1, _levels_used(out, self.context.params), noise, mag)

    def _require_galois(self, operation: str) -> None:
        if not self.context.has_galois_keys:
            raise ValueError(
                f"{operation} rotates slots and needs Galois keys; create the context with "
                "galois_keys=True (or generate_galois_keys()) before make_public(), or pack column-wise"
            )

    # -- decryption and transport ---------------------------------------------------------------
    def decrypt(self) -> np.ndarray:
        """RAW decryption with the context's secret key, for the key owner's own use only.

        The output is m + e/Delta with the encryption error e intact. Together with the ciphertext (which
        the computing party has), e is a linear equation in the secret key: two full-slot raw decryptions
        give the key away (Li & Micciancio 2021; :func:`ppml_lab.attacks.ckks_key_recovery.recover_secret_key`).
        Its output must never leave the key owner. Anything released (to the server, to clients, in a
        report) goes through :meth:`decrypt_for_release`.
        """
        if not self.context.is_private:
            raise SecretKeyMissingError(
                "decrypt needs the secret key but this ciphertext's context is public (made by "
                "make_public()); send the ciphertext back to the key owner to decrypt"
            )
        with _backend("decrypting"):
            return np.asarray(self._vec.decrypt(), dtype=np.float64)

    def decrypt_for_release(
        self,
        *,
        statistical_security: int = DEFAULT_FLOODING_SECURITY,
        rng: RNGLike = None,
        adversarial_queries: int = 1,
        insecure_seeded_noise: bool = False,
    ) -> np.ndarray:
        """Decrypt and flood with CSPRNG noise before the result leaves the key owner (see :func:`decrypt_for_release`)."""
        return decrypt_for_release(
            self,
            statistical_security=statistical_security,
            rng=rng,
            adversarial_queries=adversarial_queries,
            insecure_seeded_noise=insecure_seeded_noise,
        )

    def serialize(self) -> bytes:
        with _backend("serialising a ciphertext"):
            return bytes(self._vec.serialize())

    @property
    def nbytes(self) -> int:
        """Serialised size in bytes (shrinks as levels are used: fewer primes left)."""
        return len(self.serialize())


@dataclass(frozen=True, eq=False)
class EncryptedColumns:
    """A batch packed column-wise: ``columns[j]`` encrypts feature j of all ``n_samples`` samples."""

    columns: tuple[CKKSCiphertext, ...] = field(repr=False)
    n_samples: int

    @property
    def n_features(self) -> int:
        return len(self.columns)

    @property
    def context(self) -> CKKSContext:
        return self.columns[0].context

    def __repr__(self) -> str:
        return f"EncryptedColumns(n_samples={self.n_samples}, n_features={self.n_features})"

    def serialize(self) -> list[bytes]:
        return [c.serialize() for c in self.columns]

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.columns)

    def with_context(self, context: CKKSContext) -> EncryptedColumns:
        """Move to another party's context by serialising each column (as over a network)."""
        check_type("context", context, CKKSContext)
        stds = [c.noise_std for c in self.columns]
        mags = [c.magnitude for c in self.columns]
        noise = None if None in stds else max(stds)  # type: ignore[type-var]
        mag = None if None in mags else max(mags)  # type: ignore[type-var]
        return context.load_columns(self.serialize(), self.n_samples, noise_std=noise, magnitude=mag)


# ---------------------------------------------------------------------------------------------
# Encrypted inference building blocks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigmoidApprox:
    """A least-squares polynomial fit of the logistic sigmoid on ``interval``, with its measured error."""

    coefficients: tuple[float, ...]
    interval: tuple[float, float]
    max_abs_error: float
    rms_error: float

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1

    @property
    def depth(self) -> int:
        return polyval_depth(self.degree)

    def __call__(self, z: Any) -> np.ndarray:
        """Evaluate the polynomial in plaintext (what the encrypted evaluation approximates)."""
        za = check_array("z", z, ndim=(0, 1, 2))
        return np.polynomial.polynomial.polyval(za, np.asarray(self.coefficients))


def fit_sigmoid(*, degree: int = 3, interval: tuple[float, float] = (-8.0, 8.0), n_points: int = 2001) -> SigmoidApprox:
    """Least-squares fit of sigma(z) = 1/(1+e^-z) by a degree-d polynomial on a uniform grid over ``interval``.

    Minimises sum_i (p(z_i) - sigma(z_i))^2 (cf. the degree-3 fits of Kim et al. 2018, "Logistic
    regression model training based on the approximate homomorphic encryption", BMC Med. Genomics,
    doi:10.1186/s12920-018-0401-7). Outside the interval the polynomial diverges: keep |z| inside it.
    """
    d = check_int("degree", degree, low=1, high=15)
    if not isinstance(interval, (tuple, list)) or len(interval) != 2:
        raise TypeError(f"interval must be a pair (low, high), got {interval!r}")
    lo = check_real("interval[0]", interval[0])
    hi = check_real("interval[1]", interval[1])
    if not lo < hi:
        raise ValueError(f"interval must satisfy low < high, got ({lo}, {hi})")
    m = check_int("n_points", n_points, low=d + 1)
    z = np.linspace(lo, hi, m)
    target = 1.0 / (1.0 + np.exp(-z))
    coef = np.polynomial.polynomial.polyfit(z, target, d)  # least squares on the grid
    err = np.polynomial.polynomial.polyval(z, coef) - target
    return SigmoidApprox(
        tuple(float(c) for c in coef), (lo, hi), float(np.max(np.abs(err))), float(np.sqrt(np.mean(err**2)))
    )


def encrypted_linear(batch: EncryptedColumns, weights: Any, bias: float = 0.0) -> CKKSCiphertext:
    """z = sum_j w_j [x_j] + b for every sample at once (one level; no rotations, no Galois keys)."""
    check_type("batch", batch, EncryptedColumns)
    w = check_array("weights", weights, ndim=1)
    b = check_real("bias", bias)
    if w.shape[0] != batch.n_features:
        raise ValueError(f"weights must have {batch.n_features} entries (one per feature), got {w.shape[0]}")
    nz = np.flatnonzero(w)
    if nz.size == 0:
        raise ValueError("weights must not be all zero (the result would not depend on the ciphertexts)")
    acc = batch.columns[nz[0]] * float(w[nz[0]])  # plaintext-scalar multiply: [w_j x_j], one rescale
    for j in nz[1:]:
        acc = acc + batch.columns[j] * float(w[j])  # sums of same-level ciphertexts use no level
    return acc + b


def encrypted_logistic(
    batch: EncryptedColumns, weights: Any, bias: float = 0.0, *, approx: SigmoidApprox | None = None
) -> CKKSCiphertext:
    """Encrypted logistic-regression scores: p(w.x + b) with a polynomial sigmoid (default degree 3)."""
    sig = fit_sigmoid() if approx is None else check_type("approx", approx, SigmoidApprox)
    z = encrypted_linear(batch, weights, bias)
    return z.polyval(sig.coefficients)


def _check_security(statistical_security: Any) -> int:
    if isinstance(statistical_security, bool) or not isinstance(statistical_security, (int, np.integer)):
        raise TypeError(
            f"statistical_security must be an int number of bits, got {type(statistical_security).__name__}"
        )
    sec = int(statistical_security)
    if sec < MIN_FLOODING_SECURITY:
        raise InsecureParameterError(
            f"statistical_security must be >= {MIN_FLOODING_SECURITY} bits for a released decryption "
            f"(OpenFHE's recommended minimum), got {sec}; below it the flooding noise no longer hides the "
            "encryption error that reveals the secret key"
        )
    if sec > MAX_FLOODING_SECURITY:
        raise ValueError(
            f"statistical_security must be <= {MAX_FLOODING_SECURITY} bits, got {sec}; the flooding noise "
            "grows like 2^(s/2) and would swamp every value"
        )
    return sec


def flooding_std(
    vector: CKKSCiphertext,
    *,
    statistical_security: int = DEFAULT_FLOODING_SECURITY,
    adversarial_queries: int = 1,
) -> float:
    """Std of the Gaussian noise :func:`decrypt_for_release` adds to each released slot (value units).

    This is the precision a release costs: every released value is off by about this much (times a few).
    """
    check_type("vector", vector, CKKSCiphertext)
    sec = _check_security(statistical_security)
    tau = check_int("adversarial_queries", adversarial_queries, low=1)
    if vector.noise_std is None:
        raise ValueError(
            "vector.noise_std must be known to size the flooding noise, got None (a loaded ciphertext); pass "
            "noise_std= (the computing party's CKKSCiphertext.noise_std) to CKKSContext.load_vector"
        )
    n = vector.context.params.poly_modulus_degree
    # t: a bound on every error coefficient except with probability 2^-s (Gaussian tail, union over N):
    # 2N exp(-t^2 / (2 sd^2)) <= 2^-s  <=>  t = sd * sqrt(2 ln(2N) + 2 s ln 2)
    # floor: every ciphertext produced by encryption carries at least one Gaussian error sample of std sigma,
    # so a caller-supplied noise_std below that (a typo, or an understating computing party) cannot shrink
    # the flood below what a fresh symmetric encryption already needs
    sd = max(float(vector.noise_std), SEAL_NOISE_STD)
    t = sd * math.sqrt(2.0 * math.log(2.0 * n) + 2.0 * sec * math.log(2.0))
    # sigma = sqrt(12 tau) 2^(s/2) ct.t   (OpenFHE src/pke/examples/CKKS_NOISE_FLOODING.md, section
    # "Solution: Noise Flooding": Li, Micciancio, Schultz & Sorrell, CRYPTO 2022, Corollary 2,
    # without its sqrt(2n) factor, which that note's footnote 1 shows is not needed in the coefficient
    # embedding); tau = number of decryptions the adversary sees of ciphertexts under this key
    sigma_coef = math.sqrt(12.0 * tau) * 2.0 ** (sec / 2.0) * t
    # OpenFHE adds z ~ D(sigma) to c0 + c1*s in the coefficient embedding. Decoding evaluates the polynomial
    # at the N/2 slot roots: that map is sqrt(N/2) times an orthogonal map (Parseval over the N odd 2N-th
    # roots of unity), so the real parts TenSEAL releases receive i.i.d. N(0, (N/2) sigma^2 / Delta^2) each.
    # Adding that noise to the released real slots is the same distribution, applied after decoding.
    return sigma_coef * math.sqrt(n / 2.0) / vector.scale


def decrypt_for_release(
    vector: CKKSCiphertext,
    *,
    statistical_security: int = DEFAULT_FLOODING_SECURITY,
    rng: RNGLike = None,
    adversarial_queries: int = 1,
    insecure_seeded_noise: bool = False,
) -> np.ndarray:
    """Decrypt ``vector`` and flood it with Gaussian noise, so the result may leave the key owner.

    This is the release API: the only decryption whose output may be sent to another party (the server of
    a federated round, a client, a report). It implements CKKS^D decryption by noise flooding, modelled on
    OpenFHE's ``NOISE_FLOODING_DECRYPT``: ``Dec(ct) = c0 + c1*s + z``, ``z`` Gaussian with standard deviation
    ``sqrt(12 * adversarial_queries) * 2^(s/2) * t``, where ``t`` bounds the ciphertext's error (estimated
    from its tracked ``noise_std``, its level and its scale; see :func:`flooding_std` for the derivation).

    Security: IND-CPA^D (Li & Micciancio, EUROCRYPT 2021; eprint 2020/1533) — security against an adversary
    that, besides ciphertexts and public/evaluation keys, sees decryptions of ciphertexts it computed —
    with ``s = statistical_security`` bits, for up to ``adversarial_queries`` released decryptions under
    this key (enforced: the key owner's :class:`CKKSContext` counts its releases; the first release fixes
    tau for the key, a release sized differently or beyond tau raises ProtocolError), and as long as
    ``vector.noise_std`` does not understate the true noise (a semi-honest computing party reports the noise
    of what it computed). Raw :meth:`CKKSCiphertext.decrypt` is only
    IND-CPA: its output must stay with the key owner.

    Cost: every released value carries extra noise of std :func:`flooding_std` (sqrt(12 tau) 2^(s/2) times a
    tail bound on the ciphertext's own error: 1.7e-2 for a fresh ciphertext at scale 2^40, 1.7e-5 at 2^50,
    per ``benchmarks/ckks.py``); use a larger scale (e.g. the ``"depth1-n8192-release"`` preset, 2^50) to keep
    precision.

    Randomness: the noise comes from the OS CSPRNG. A seeded generator (an int or a
    ``numpy.random.Generator``) is refused with :class:`~ppml_lab.exceptions.InsecureParameterError`:
    whoever knows the seed regenerates the noise, subtracts it and is back to a raw decryption. Only
    ``insecure_seeded_noise=True`` (reproducible teaching and tests) lets a seeded generator through.
    """
    check_type("vector", vector, CKKSCiphertext)
    check_bool("insecure_seeded_noise", insecure_seeded_noise)
    std = flooding_std(vector, statistical_security=statistical_security, adversarial_queries=adversarial_queries)
    if rng is None or isinstance(rng, SecureGenerator):
        g: np.random.Generator | SecureGenerator = SecureGenerator()
    elif isinstance(rng, bool) or not isinstance(rng, (int, np.integer, np.random.Generator)):
        raise TypeError(
            f"rng must be None (the OS CSPRNG) or, with insecure_seeded_noise=True, an int seed or a "
            f"numpy.random.Generator, got {type(rng).__name__}"
        )
    elif not insecure_seeded_noise:
        raise InsecureParameterError(
            f"rng must be None (the OS CSPRNG) for a released decryption, got a seeded "
            f"{type(rng).__name__}: whoever knows the seed subtracts the flooding noise and recovers the "
            "secret key; pass insecure_seeded_noise=True only for reproducible teaching"
        )
    else:
        g = resolve_rng(rng)
    tau = int(adversarial_queries)  # validated by flooding_std
    ctx = vector.context
    if not ctx.is_private:
        raise SecretKeyMissingError(
            "decrypt_for_release needs the secret key but this ciphertext's context is public (made by "
            "make_public()); send the ciphertext back to the key owner to release it"
        )
    with ctx._release_lock:
        # the noise is sized for tau releases under this key: every release must be sized alike, and the
        # (tau + 1)-th is refused (IND-CPA^D holds for at most tau decryptions seen by the adversary)
        if ctx._release_budget is not None and tau != ctx._release_budget:
            raise ProtocolError(
                f"adversarial_queries must be {ctx._release_budget} for every release under this key (the first "
                f"release was sized for that many), got {tau}; size tau for all releases up front"
            )
        if ctx._released >= tau:
            raise ProtocolError(
                f"this key has released {ctx._released} of adversarial_queries={tau} decryptions; the flooding "
                "noise was sized for that many: a further release voids IND-CPA^D. Generate a new key "
                "(CKKSContext) or size adversarial_queries for every release up front"
            )
        raw = vector.decrypt()
        ctx._release_budget = tau
        ctx._released += 1
    return raw + std * np.asarray(g.standard_normal(raw.shape), dtype=np.float64)
