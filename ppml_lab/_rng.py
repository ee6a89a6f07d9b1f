"""Randomness for ppml_lab: one place, cryptographically secure by default.

Every function that draws randomness takes ``rng=None``. ``None`` means :class:`SecureGenerator`, which
draws every bit from the operating system's CSPRNG (``os.urandom``: getrandom(2) on Linux) and turns the
bytes into floats and integers with vectorised numpy code, so it stays within a small factor of numpy's
own (non-cryptographic) PCG64. Pass an explicit seed or ``numpy.random.Generator`` only to make teaching
material reproducible: a seeded generator's outputs can be predicted from its seed or from its past
outputs, which voids any DP guarantee or secrecy of keys, masks and shares.

:class:`SecureGenerator` implements the subset of ``numpy.random.Generator``'s API that the package uses
(listed in its docstring); package code must call only those methods on an ``rng`` so both kinds work.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, Union, cast

import numpy as np

__all__ = [
    "SecureGenerator",
    "RNGLike",
    "resolve_rng",
    "seeded_rng",
    "random_seed",
    "torch_generator",
    "check_torch_generator",
    "torch_seed",
    "renamed_keywords",
    "is_secure",
    "secure_randbits",
    "secure_randbelow",
    "key_rng",
]

_TWO_53 = float(2**53)
F = TypeVar("F", bound=Callable[..., Any])


def _count(size: int | Sequence[int] | None) -> int:
    if size is None:
        return 1
    if isinstance(size, (int, np.integer)):
        return int(size)
    return int(math.prod(size))


def _shape(values: np.ndarray, size: int | Sequence[int] | None) -> Any:
    if size is None:
        return values[0].item()
    return values.reshape(size)


class SecureGenerator:
    """A CSPRNG (``os.urandom``) with a numpy-Generator-like, vectorised API.

    Methods: ``bytes``, ``random``, ``uniform``, ``integers``, ``standard_normal``, ``normal``,
    ``standard_exponential``, ``exponential``, ``laplace``, ``geometric``, ``choice``, ``permutation``,
    ``shuffle``. Floats carry 53 random bits, as numpy's do. There is no state to seed or to leak.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecureGenerator(os.urandom)"

    # -- raw material -------------------------------------------------------------------------
    def bytes(self, length: int) -> bytes:
        return os.urandom(int(length))

    def _uint64(self, n: int) -> np.ndarray:
        return np.frombuffer(os.urandom(8 * n), dtype=np.uint64)

    # -- floats -------------------------------------------------------------------------------
    def random(self, size: int | Sequence[int] | None = None) -> Any:
        """Uniform floats on [0, 1): the top 53 bits of a uint64, times 2**-53."""
        n = _count(size)
        u = (self._uint64(n) >> np.uint64(11)).astype(np.float64) / _TWO_53
        return _shape(u, size)

    def _open01(self, n: int) -> np.ndarray:
        # uniform on (0, 1]: safe to take the log of
        return ((self._uint64(n) >> np.uint64(11)).astype(np.float64) + 1.0) / _TWO_53

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | Sequence[int] | None = None) -> Any:
        u = np.asarray(self.random(_count(size)), dtype=np.float64)
        return _shape(low + (high - low) * u, size)

    def standard_exponential(self, size: int | Sequence[int] | None = None) -> Any:
        n = _count(size)
        return _shape(-np.log(self._open01(n)), size)

    def exponential(self, scale: float = 1.0, size: int | Sequence[int] | None = None) -> Any:
        n = _count(size)
        return _shape(-scale * np.log(self._open01(n)), size)

    def standard_normal(self, size: int | Sequence[int] | None = None) -> Any:
        """Box–Muller transform on CSPRNG uniforms (both outputs of each pair are used)."""
        n = _count(size)
        half = (n + 1) // 2
        u1 = self._open01(half)
        u2 = self.random(half)
        r = np.sqrt(-2.0 * np.log(u1))
        theta = 2.0 * np.pi * np.asarray(u2)
        z = np.concatenate([r * np.cos(theta), r * np.sin(theta)])[:n]
        return _shape(z, size)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: int | Sequence[int] | None = None) -> Any:
        if size is None:
            size = np.broadcast(np.asarray(loc), np.asarray(scale)).shape or None
        z = self.standard_normal(size)
        return loc + np.asarray(scale) * z if size is not None else float(loc + scale * z)

    def laplace(self, loc: Any = 0.0, scale: Any = 1.0, size: int | Sequence[int] | None = None) -> Any:
        """Laplace as a random sign times an exponential (a float sampler: see dp.samplers)."""
        if size is None:
            size = np.broadcast(np.asarray(loc), np.asarray(scale)).shape or None
        n = _count(size)
        raw = self._uint64(n)
        sign = np.where((raw & np.uint64(1)) == 1, 1.0, -1.0)
        # independent exponential from a second draw
        e = -np.log(self._open01(n))
        out = loc + np.asarray(scale) * (sign * e).reshape(size if size is not None else (1,))
        return out if size is not None else float(out[0])

    def geometric(self, p: float, size: int | Sequence[int] | None = None) -> Any:
        """Number of Bernoulli(p) trials up to and including the first success (numpy's convention)."""
        n = _count(size)
        if p >= 1.0:
            return _shape(np.ones(n, dtype=np.int64), size)
        k = np.floor(np.log(self._open01(n)) / math.log1p(-p)).astype(np.int64) + 1
        return _shape(np.maximum(k, 1), size)

    # -- integers -----------------------------------------------------------------------------
    def integers(
        self,
        low: int,
        high: int | None = None,
        size: int | Sequence[int] | None = None,
        dtype: Any = np.int64,
        endpoint: bool = False,
    ) -> Any:
        """Uniform integers on [low, high) (or [low, high] with endpoint), by masked rejection."""
        if high is None:
            low, high = 0, low
        low, high = int(low), int(high)
        if endpoint:
            high += 1
        span = high - low
        if span <= 0:
            raise ValueError(f"integers: high must be > low, got low={low}, high={high}")
        n = _count(size)
        if span > 2**64:
            vals = np.array([low + secrets.randbelow(span) for _ in range(n)], dtype=object)
            return _shape(vals, size)
        mask = np.uint64((1 << (span - 1).bit_length()) - 1) if span > 1 else np.uint64(0)
        if span & (span - 1) == 0:  # a power of two (e.g. the ring Z_2^64): masking is exact, no rejection
            out = self._uint64(n) & mask
            filled = n
        else:
            out = np.empty(n, dtype=np.uint64)
            filled = 0
        while filled < n:
            need = n - filled
            cand = self._uint64(need + need // 2 + 8) & mask
            cand = cand[cand < np.uint64(span)] if span < 2**64 else cand
            take = min(need, cand.size)
            out[filled : filled + take] = cand[:take]
            filled += take
        if np.dtype(dtype) == np.uint64:
            res = out + np.uint64(low)
        else:
            res = (out.astype(np.int64) + low).astype(dtype) if span <= 2**63 else out.astype(object) + low
        return _shape(res, size)

    # -- choices ------------------------------------------------------------------------------
    def permutation(self, x: int | np.ndarray) -> np.ndarray:
        arr = np.arange(x) if isinstance(x, (int, np.integer)) else np.asarray(x)
        keys = self._uint64(len(arr))
        return arr[np.argsort(keys, kind="stable")]

    def shuffle(self, x: np.ndarray) -> None:
        x[...] = self.permutation(np.asarray(x).copy())

    def choice(
        self,
        a: int | np.ndarray,
        size: int | Sequence[int] | None = None,
        replace: bool = True,
        p: np.ndarray | None = None,
    ) -> Any:
        pool = np.arange(a) if isinstance(a, (int, np.integer)) else np.asarray(a)
        n = _count(size)
        if not replace:
            if p is not None:
                raise NotImplementedError("SecureGenerator.choice: p with replace=False is not supported")
            if n > len(pool):
                raise ValueError(f"choice: cannot take {n} from {len(pool)} without replacement")
            return _shape(self.permutation(pool)[:n], size)
        if p is None:
            idx = np.asarray(self.integers(0, len(pool), size=n))
        else:
            cdf = np.cumsum(np.asarray(p, dtype=np.float64))
            cdf /= cdf[-1]
            idx = np.searchsorted(cdf, np.asarray(self.random(n)), side="right")
            idx = np.minimum(idx, len(pool) - 1)
        return _shape(pool[idx], size)


RNGLike = Union[None, int, np.random.Generator, SecureGenerator]  # noqa: UP007 (runtime alias on 3.10)


def seeded_rng(seed: int) -> np.random.Generator:
    """A reproducible, NON-cryptographic generator for notebooks and tests. Never for production."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    return np.random.default_rng(int(seed))


def resolve_rng(rng: RNGLike = None) -> np.random.Generator | SecureGenerator:
    """Turn the ``rng`` argument into a generator: None -> CSPRNG; int -> seeded (teaching only)."""
    if rng is None:
        return SecureGenerator()
    if isinstance(rng, (np.random.Generator, SecureGenerator)):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return seeded_rng(int(rng))
    raise TypeError(
        "rng must be None (CSPRNG), an int seed or a numpy.random.Generator (both for reproducible "
        f"teaching only), got {type(rng).__name__}"
    )


def is_secure(rng: Any) -> bool:
    """True when the generator draws from the OS CSPRNG."""
    return isinstance(rng, SecureGenerator)


def random_seed(rng: RNGLike = None, bits: int = 63) -> int:
    """An integer seed drawn from ``rng`` (for seeding torch or a PRG from the caller's generator)."""
    g = resolve_rng(rng)
    if isinstance(g, SecureGenerator):
        return secrets.randbits(bits)
    return int(g.integers(0, 2**bits, dtype=np.uint64)) if bits <= 64 else int(g.integers(0, 2**62))


def torch_generator(rng: Any = None) -> Any:
    """A ``torch.Generator`` from the ``rng`` argument (what :func:`resolve_rng` accepts, or a torch.Generator).

    ``None`` (or a :class:`SecureGenerator`): seeded from the OS CSPRNG. An int: seeded with that int
    (teaching only). A ``numpy.random.Generator``: seeded with one draw from it (teaching only). A
    ``torch.Generator`` is returned as it is (the caller keeps one stream across steps).

    torch's CPU generator is a Mersenne Twister: seeding it from the CSPRNG keeps the noise unpredictable
    to an outsider, but its state is recoverable from enough outputs. Production DP-SGD should use
    Opacus' ``secure_mode`` (torchcsprng) or an equivalent; this is the teaching trade-off.
    """
    import torch

    if isinstance(rng, torch.Generator):
        return rng
    g = torch.Generator()
    g.manual_seed(torch_seed(rng))
    return g


def torch_seed(rng: RNGLike = None) -> int:
    """The integer that seeds torch for an ``rng`` argument: an int is used as it is (so ``rng=0`` replays what
    ``torch.manual_seed(0)`` did), a numpy Generator gives one draw, None or a SecureGenerator the CSPRNG."""
    if rng is None or isinstance(rng, SecureGenerator):
        return secrets.randbits(63)
    if isinstance(rng, np.random.Generator):
        return random_seed(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    raise TypeError(
        "rng must be None (CSPRNG), an int seed, a numpy.random.Generator or a torch.Generator (the last "
        f"three for reproducible teaching only), got {type(rng).__name__}"
    )


def check_torch_generator(name: str, rng: Any) -> Any:
    """``rng`` of a raw per-step function: a torch.Generator that the caller keeps for the whole run.

    An int here would re-seed every step and replay the same noise each time, so it is refused."""
    import torch

    if not isinstance(rng, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator kept for the whole run (make one with "
            f"ppml_lab._rng.torch_generator(rng)); got {type(rng).__name__}: an int or a fresh generator per "
            "step would draw the same noise at every step"
        )
    return rng


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Refuse keyword arguments that were renamed, with a TypeError that names the new keyword.

    ``@renamed_keywords(seed="rng")``: a call with ``seed=`` raises instead of being silently accepted or
    failing with Python's bare "unexpected keyword argument"."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    why = (" (randomness is always the rng argument: None for the OS CSPRNG, an int seed or a "
                           "numpy Generator for teaching)") if new == "rng" else ""
                    raise TypeError(f"{fn.__qualname__}() got {old}=, which was renamed {new}={why}")
            return fn(*args, **kwargs)

        return cast(F, wrapper)

    return deco


def secure_randbits(bits: int) -> int:
    """``bits`` random bits from the OS CSPRNG, as a Python int (for keys and large-integer masks)."""
    return secrets.randbits(int(bits))


def secure_randbelow(upper: int) -> int:
    """A uniform integer in [0, upper) from the OS CSPRNG."""
    return secrets.randbelow(int(upper))


def key_rng(rng: RNGLike = None, *, insecure_seeded_keys: bool = False) -> np.random.Generator | SecureGenerator:
    """The generator for key material, masks, shares and cryptographic noise: the OS CSPRNG.

    A seed passed as ``rng`` makes a notebook's *data* reproducible; it must not make keys, masks or shares
    predictable as well. So key material ignores ``rng`` and comes from :class:`SecureGenerator`, unless the
    caller passes ``insecure_seeded_keys=True`` (teaching and tests that need to replay a protocol bit for bit).
    With that flag, ``rng`` is resolved as usual and anyone who knows the seed knows every key.
    """
    if not isinstance(insecure_seeded_keys, bool):
        raise TypeError(f"insecure_seeded_keys must be a bool, got {type(insecure_seeded_keys).__name__}")
    if insecure_seeded_keys:
        return resolve_rng(rng)
    if rng is not None and not isinstance(rng, (int, np.integer, np.random.Generator, SecureGenerator)):
        resolve_rng(rng)  # raises the usual TypeError for a wrong kind
    return SecureGenerator()
