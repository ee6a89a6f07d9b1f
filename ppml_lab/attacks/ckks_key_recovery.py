"""CKKS secret-key recovery from raw decryptions (Li & Micciancio, EUROCRYPT 2021), on TenSEAL ciphertexts.

Li & Micciancio, "On the Security of Homomorphic Encryption on Approximate Numbers", EUROCRYPT 2021,
doi:10.1007/978-3-030-77870-5_23 (eprint 2020/1533): CKKS decryption returns ``m + e`` with the encryption
error ``e`` intact, so whoever sees a ciphertext ``(c0, c1)`` *and* its decryption learns
``c0 + c1*s = Delta*m + e`` exactly (re-encode the decrypted values) — a linear equation in the secret ``s``.
The paper's passive attack (its key-recovery attack on CKKS implementations) needs one decryption when all
complex slots are returned.

TenSEAL returns only the real parts of the N/2 slots. Real parts are what the *symmetric* polynomial
``p = pt + conj(pt)`` decodes to, where ``conj(a)(X) = a(X^-1)`` is the ring automorphism that conjugates
every slot. So one release gives ``p = c0 + conj(c0) + c1*s + conj(c1)*conj(s)``: still linear in s. In the
NTT domain mod the first prime q0, ``conj`` swaps evaluation points k and N-1-k (the roots psi^(2k+1) and
psi^-(2k+1)), and each release gives one equation per index pair::

    p^[k] - c0^[k] - c0^[N-1-k] = c1^[k] s^[k] + c1^[N-1-k] s^[N-1-k]    (mod q0)

Two releases give a 2x2 system per pair; solving all N/2 pairs yields s^ mod q0, an inverse NTT yields the
ternary key s, and with it the attacker decrypts *every* ciphertext under that key.

What the attacker needs, and where it comes from in TenSEAL: the ciphertext polynomials (c0, c1) in SEAL's
NTT form. TenSEAL's Python API does not expose them, but SEAL's ``Decryptor`` (``tenseal.sealapi``) runs with
*any* secret key: the attacker makes two keys s1, s2 of its own for the same public context and decrypts
with each, getting ``c0 + c1*s_i`` (NTT form, pointwise), hence ``c1 = (d1 - d2)/(s1 - s2)`` and ``c0``.
No secret of the key owner is touched.

Threat model: the computing party (semi-honest server) holds the ciphertexts it computed and receives the
key owner's raw decryptions of some of them. It is *stopped* by
:func:`ppml_lab.he.ckks.decrypt_for_release`: the flooding noise makes the re-encoded polynomial wrong by far
more than the rounding the attack relies on, and the recovered "key" is not ternary.

Scope of this implementation: double precision. The re-encoding rounds ``2*Delta*y`` back to integers, so
it needs the released values to pin every coefficient of p to within 1/2; tests run it at the course presets
(Delta = 2^25, 2^40, 2^50). When rounding is not exact it reports failure (``succeeded=False``) rather than a
wrong key; the lattice-reduction variants in the paper go further, so failure here is not a security proof.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ppml_lab._validation import check_array, check_type
from ppml_lab.exceptions import KeyMismatchError, SecretKeyMissingError
from ppml_lab.he.ckks import CKKSCiphertext, CKKSContext

__all__ = ["RecoveredKey", "recover_secret_key"]


# ---------------------------------------------------------------------------------------------
# The ring R_q0 = Z_q0[X]/(X^N + 1): SEAL's NTT and CKKS's slot embedding
# ---------------------------------------------------------------------------------------------


def _minimal_primitive_root(q: int, order: int) -> int:
    """The smallest primitive ``order``-th root of unity mod the prime q (SEAL's choice for its NTT tables)."""
    g = 0
    for x in range(2, 1 << 20):
        g = pow(x, (q - 1) // order, q)
        if pow(g, order // 2, q) == q - 1:  # order is a power of two: g has exactly this order
            break
    g2, cur, best = g * g % q, g, g
    for _ in range(order // 2 - 1):  # every primitive root is an odd power of g
        cur = cur * g2 % q
        best = min(best, cur)
    return best


def _cyclic_ntt(a: np.ndarray, omega: int, q: int) -> np.ndarray:
    """A[k] = sum_i a_i omega^(i k) mod q (radix-2, on Python ints in object arrays)."""
    n = len(a)
    if n == 1:
        return a
    w2 = omega * omega % q
    even = _cyclic_ntt(a[0::2], w2, q)
    odd = _cyclic_ntt(a[1::2], w2, q)
    tw = np.empty(n // 2, dtype=object)
    acc = 1
    for i in range(n // 2):
        tw[i] = acc
        acc = acc * omega % q
    t = odd * tw % q
    return np.concatenate([(even + t) % q, (even - t) % q])


@dataclass(frozen=True, eq=False)
class _Ring:
    n: int
    q: int
    psi: int
    psi_pows: np.ndarray = field(repr=False)  # psi^i
    psi_inv_pows: np.ndarray = field(repr=False)  # psi^-i
    seal_order: np.ndarray = field(repr=False)  # natural index k <- SEAL index bitrev(k)
    slot_exps: np.ndarray = field(repr=False)  # slot j evaluates at zeta^(3^j mod 2N) (SEAL's generator 3)

    @classmethod
    def build(cls, n: int, q: int) -> _Ring:
        psi = _minimal_primitive_root(q, 2 * n)
        psi_inv = pow(psi, q - 2, q)
        pows = np.empty(n, dtype=object)
        ipows = np.empty(n, dtype=object)
        a = b = 1
        for i in range(n):
            pows[i], ipows[i] = a, b
            a, b = a * psi % q, b * psi_inv % q
        logn = n.bit_length() - 1
        idx = np.arange(n)
        rev = np.zeros(n, dtype=np.int64)
        for bit in range(logn):
            rev |= ((idx >> bit) & 1) << (logn - 1 - bit)
        exps = np.empty(n // 2, dtype=np.int64)
        e = 1
        for j in range(n // 2):
            exps[j] = e
            e = e * 3 % (2 * n)
        return cls(n, q, psi, pows, ipows, rev, exps)

    def ntt(self, coeffs: np.ndarray) -> np.ndarray:
        """Natural order: A[k] = a(psi^(2k+1)) mod q."""
        return _cyclic_ntt(np.asarray(coeffs, dtype=object) % self.q * self.psi_pows % self.q, self.psi**2 % self.q, self.q)

    def intt(self, values: np.ndarray) -> np.ndarray:
        q, n = self.q, self.n
        w_inv = pow(self.psi * self.psi % q, q - 2, q)
        b = _cyclic_ntt(np.asarray(values, dtype=object), w_inv, q) * pow(n, q - 2, q) % q
        return b * self.psi_inv_pows % q

    def centered(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=object) % self.q
        return np.where(a > self.q // 2, a - self.q, a)

    def from_seal(self, values: Any) -> np.ndarray:
        """Read the q0 block (first N words, SEAL's bit-reversed NTT order) of a SEAL polynomial into natural order."""
        return np.array([values[i] for i in range(self.n)], dtype=object)[self.seal_order]

    def symmetric_from_real_slots(self, real_slots: np.ndarray, scale: float) -> np.ndarray:
        """Integer coefficients of p = pt + conj(pt) from TenSEAL's real parts: p(zeta^e) = 2*Delta*Re(z)."""
        n, e = self.n, self.slot_exps
        vals = np.zeros(n, dtype=np.complex128)
        vals[(e - 1) // 2] = 2.0 * scale * real_slots
        vals[(2 * n - e - 1) // 2] = 2.0 * scale * real_slots
        # p_i = (1/N) sum_k p(w^(2k+1)) w^(-i(2k+1)), w = e^(i pi/N): an FFT after a twist
        twist = np.exp(1j * np.pi * np.arange(n) / n)
        return np.rint((np.fft.fft(vals) / n / twist).real)

    def decode(self, coeffs: np.ndarray, scale: float) -> np.ndarray:
        """Real parts of the N/2 slots of a plaintext polynomial (CKKS decoding)."""
        n = self.n
        twist = np.exp(1j * np.pi * np.arange(n) / n)
        at_roots = np.fft.ifft(np.asarray(coeffs, dtype=np.float64) * twist) * n
        return (at_roots[(self.slot_exps - 1) // 2] / scale).real


def _inverse(values: np.ndarray, q: int) -> np.ndarray:
    return np.array([pow(int(v), q - 2, q) for v in values], dtype=object)


class _Probe:
    """Reads a ciphertext's (c0^, c1^) mod q0 by decrypting it under two keys the attacker made itself."""

    def __init__(self, context: CKKSContext, ring: _Ring):
        import tenseal.sealapi as sealapi

        self._sealapi = sealapi
        self.ring = ring
        seal_ctx = context.tenseal_context.seal_context().data
        for _ in range(8):
            keys = [sealapi.KeyGenerator(seal_ctx).secret_key() for _ in range(2)]
            k1, k2 = (ring.from_seal(k.data()) for k in keys)
            diff = (k1 - k2) % ring.q
            if all(int(d) != 0 for d in diff):  # fails with probability about N/q0 < 2^-20
                break
        self.k1 = k1
        self.diff_inv = _inverse(diff, ring.q)
        self.decryptors = [sealapi.Decryptor(seal_ctx, k) for k in keys]

    def polys(self, ciphertext: Any) -> tuple[np.ndarray, np.ndarray]:
        outs = []
        for dec in self.decryptors:
            pt = self._sealapi.Plaintext()
            dec.decrypt(ciphertext, pt)  # c0 + c1*k, pointwise in the NTT domain
            outs.append(self.ring.from_seal(pt))
        q = self.ring.q
        c1 = (outs[0] - outs[1]) * self.diff_inv % q
        c0 = (outs[0] - c1 * self.k1) % q
        return c0, c1


def _ring_of(context: CKKSContext) -> _Ring:
    import tenseal.sealapi  # noqa: F401  (registers SEAL's Python types, e.g. Modulus)

    n = context.params.poly_modulus_degree
    q0 = int(context.tenseal_context.seal_context().data.key_context_data().parms().coeff_modulus()[0].value())
    return _Ring.build(n, q0)


# ---------------------------------------------------------------------------------------------
# The attack
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RecoveredKey:
    """The attacker's candidate secret key; ``succeeded`` is True when it is a valid (ternary) CKKS key."""

    coefficients: np.ndarray = field(repr=False)  # centered mod q0; ternary when the attack worked
    succeeded: bool
    _ring: _Ring = field(repr=False)
    _ntt: np.ndarray = field(repr=False)
    _fingerprint: str = field(repr=False)
    _probe: _Probe = field(repr=False)

    def __repr__(self) -> str:
        state = "ternary secret key recovered" if self.succeeded else "attack failed: candidate is not ternary"
        return f"RecoveredKey(N={self._ring.n}, {state})"

    def decrypt(self, ciphertext: CKKSCiphertext) -> np.ndarray:
        """Decrypt any ciphertext under the recovered key (real parts, like TenSEAL): c0 + c1*s mod q0, decoded."""
        check_type("ciphertext", ciphertext, CKKSCiphertext)
        if ciphertext.context.fingerprint != self._fingerprint:
            raise KeyMismatchError(
                f"ciphertext must be under the attacked key (fingerprint {self._fingerprint}), got "
                f"{ciphertext.context.fingerprint}"
            )
        ring = self._ring
        c0, c1 = self._probe.polys(ciphertext.tenseal_vector.ciphertext()[0])
        pt = ring.centered(ring.intt((c0 + c1 * self._ntt) % ring.q)).astype(np.float64)
        return ring.decode(pt, ciphertext.scale)[: ciphertext.size]

    def matches(self, owner: CKKSContext) -> bool:
        """Check against the key owner's real secret key (a referee's check; the attacker never needs it)."""
        check_type("owner", owner, CKKSContext)
        if not owner.is_private:
            raise SecretKeyMissingError("owner must be the key owner's private context to compare keys, got a public one")
        if owner.fingerprint != self._fingerprint:
            return False
        true = self._ring.from_seal(owner.tenseal_context.secret_key().data.data())
        return bool(np.all(true == self._ntt))


def recover_secret_key(ciphertexts: Sequence[CKKSCiphertext], decryptions: Sequence[Any]) -> RecoveredKey:
    """Recover a CKKS secret key from full-slot ciphertexts and their (released) decryptions.

    ``ciphertexts`` are what the attacker holds (e.g. the aggregates a server computed, under the public
    context); ``decryptions[i]`` is what the key owner sent back for ``ciphertexts[i]`` — TenSEAL's real
    parts of all N/2 slots. Two are enough; more are used only where a 2x2 system is singular.
    Returns a :class:`RecoveredKey`; ``succeeded`` is False when the candidate is not ternary, which is
    what flooded (:func:`~ppml_lab.he.ckks.decrypt_for_release`) decryptions produce.
    """
    if isinstance(ciphertexts, (str, bytes)) or not isinstance(ciphertexts, Sequence):
        raise TypeError(f"ciphertexts must be a sequence of CKKSCiphertext, got {type(ciphertexts).__name__}")
    if isinstance(decryptions, (str, bytes)) or not isinstance(decryptions, Sequence):
        raise TypeError(f"decryptions must be a sequence of arrays, got {type(decryptions).__name__}")
    if len(ciphertexts) < 2:
        raise ValueError(
            f"ciphertexts must hold at least 2 ciphertexts (real-part releases give one equation per slot "
            f"pair each), got {len(ciphertexts)}"
        )
    if len(decryptions) != len(ciphertexts):
        raise ValueError(
            f"decryptions must have one entry per ciphertext ({len(ciphertexts)}), got {len(decryptions)}"
        )
    for i, ct in enumerate(ciphertexts):
        check_type(f"ciphertexts[{i}]", ct, CKKSCiphertext)
    context = ciphertexts[0].context
    slots = context.params.slots
    ys = []
    for i, (ct, y) in enumerate(zip(ciphertexts, decryptions)):
        if ct.context.fingerprint != context.fingerprint:
            raise KeyMismatchError(
                f"ciphertexts must all be under one key, got fingerprints {context.fingerprint} (ciphertexts[0]) "
                f"and {ct.context.fingerprint} (ciphertexts[{i}])"
            )
        if ct.size != slots:
            raise ValueError(
                f"ciphertexts[{i}] must fill all N/2 = {slots} slots (the attack needs full-slot releases), "
                f"got size {ct.size}"
            )
        arr = check_array(f"decryptions[{i}]", y, ndim=1)
        if arr.shape[0] != slots:
            raise ValueError(
                f"decryptions[{i}] must have N/2 = {slots} values (a full-slot decryption), got {arr.shape[0]}"
            )
        if ct.tenseal_vector.ciphertext()[0].size() != 2:
            raise ValueError(f"ciphertexts[{i}] must have 2 polynomials (relinearised), got more")
        ys.append(arr)

    ring = _ring_of(context)
    probe = _Probe(context, ring)
    q, n = ring.q, ring.n
    k = np.arange(n // 2)
    kc = n - 1 - k  # conj: psi^(2k+1) -> psi^-(2k+1) = psi^(2(N-1-k)+1)
    rows = []
    for ct, y in zip(ciphertexts, ys):
        c0, c1 = probe.polys(ct.tenseal_vector.ciphertext()[0])
        p_hat = ring.ntt(ring.symmetric_from_real_slots(y, ct.scale).astype(np.int64).astype(object))
        # p^[k] - c0^[k] - c0^[k'] = c1^[k] s^[k] + c1^[k'] s^[k']   (mod q0)
        rows.append((c1[k], c1[kc], (p_hat[k] - c0[k] - c0[kc]) % q))

    s_k = np.zeros(n // 2, dtype=object)
    s_kc = np.zeros(n // 2, dtype=object)
    unsolved = np.ones(n // 2, dtype=bool)
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            if not unsolved.any():
                break
            a1, b1, r1 = rows[i]
            a2, b2, r2 = rows[j]
            det = (a1 * b2 - a2 * b1) % q
            ok = unsolved & np.array([int(d) != 0 for d in det])
            if not ok.any():
                continue
            dinv = _inverse(det[ok], q)
            # Cramer's rule on [[a1, b1], [a2, b2]] [s_k, s_k'] = [r1, r2]
            s_k[ok] = (r1[ok] * b2[ok] - r2[ok] * b1[ok]) % q * dinv % q
            s_kc[ok] = (a1[ok] * r2[ok] - a2[ok] * r1[ok]) % q * dinv % q
            unsolved &= ~ok
    s_hat = np.zeros(n, dtype=object)
    s_hat[k], s_hat[kc] = s_k, s_kc
    coeffs = ring.centered(ring.intt(s_hat))
    ternary = bool(not unsolved.any() and all(abs(int(c)) <= 1 for c in coeffs))
    return RecoveredKey(coeffs.astype(np.int64), ternary, ring, s_hat, context.fingerprint, probe)
