"""Secure computation on additive shares over Z_2^64: input sharing, opening, Beaver multiply, dot, matmul,
fixed-point arithmetic and secure linear / logistic inference.

Party functions (``beaver_multiply(party, x, y, triple)`` ...) are the protocol steps each party runs on
its own shares (SPMD, see :mod:`ppml_lab.mpc.network`); the ``secure_*`` functions below them run a whole
protocol -- dealer, input sharing, computation, output -- on a chosen transport and return the result
with its communication (:class:`SecureResult`).

References: Beaver 1991 (multiplication from triples); Mohassel & Zhang, SecureML, IEEE S&P 2017
(matrix triples, Sec. 4.2; local truncation, Sec. 4.1, kept as the raw :func:`truncate_secureml`);
exact truncation with a dealer pair (see :mod:`~ppml_lab.mpc.fixed_point`); polynomial sigmoid: Kim et al., "Secure logistic
regression based on homomorphic encryption", JMIR Med. Inform. 2018, DOI 10.2196/medinform.8805:
sigmoid(z) ~ 0.5 + 0.15012 z - 0.001593 z^3 on [-8, 8] (least squares; max error 0.114 there).

Threat model: semi-honest parties, trusted non-colluding dealer (triples and truncation pairs), n >= 2
parties; every triple and pair is used once (each party's ledger refuses a second use). The ``secure_*``
wrappers hold every party's input (a simulation), so they check the truncation bound on the actual
values before anything is shared (PrecisionError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ppml_lab._rng import RNGLike, key_rng
from ppml_lab._validation import check_array, check_choice, check_real
from ppml_lab.exceptions import ShareMismatchError
from ppml_lab.mpc.beaver import TripleShare, TrustedDealer
from ppml_lab.mpc.fixed_point import (
    DEFAULT_FIXED_POINT,
    FixedPoint,
    trunc_finish_share,
    trunc_mask_share,
    truncate_shares_secureml,
)
from ppml_lab.mpc.network import Party, ProtocolRun, run_protocol
from ppml_lab.mpc.sharing import RING_MODULUS, random_elements

__all__ = [
    "SIGMOID_COEFFS",
    "share_input",
    "share_inputs",
    "share_all_inputs",
    "open_shares",
    "reveal_to",
    "beaver_multiply",
    "beaver_multiply_shares",
    "beaver_matmul",
    "truncate",
    "truncate_secureml",
    "fxp_multiply",
    "fxp_matmul",
    "fxp_mul_public",
    "SecureResult",
    "secure_sum",
    "secure_multiply",
    "secure_dot",
    "secure_matmul",
    "secure_inference",
    "sigmoid_poly",
]

_U = np.uint64
#: (c0, c1, c3) of the degree-3 sigmoid of Kim et al. 2018 on [-8, 8].
SIGMOID_COEFFS = (0.5, 0.15012, -0.001593)
_BLOCK = 1 << 13  # elements per cache block in the local Beaver step (64 KiB per uint64 array)


def sigmoid_poly(z: Any) -> np.ndarray:
    """The plaintext polynomial the secure logistic inference evaluates (for comparisons)."""
    z = np.asarray(z, dtype=np.float64)
    c0, c1, c3 = SIGMOID_COEFFS
    return c0 + c1 * z + c3 * z**3


# ------------------------------------------------------------------------------------------------
# party functions
# ------------------------------------------------------------------------------------------------
def share_input(party: Party, value: Any, *, owner: int, shape: tuple[int, ...]) -> np.ndarray:
    """``owner`` splits its uint64 ``value`` into additive shares and sends one to each party. One round.

    The owner draws r_j uniformly for every other party j, sends it, and keeps x - sum_j r_j (mod 2^64).
    """
    mine = value if party.party_id == owner else None
    return share_inputs(party, mine, owners=(owner,), shapes=(tuple(shape),))[0]


def share_inputs(party: Party, mine: Any, *, owners: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Several owners share one uint64 input each, all in the same round (``share_input`` for each, merged).

    ``owners[k]`` holds input k of shape ``shapes[k]``; this party passes its own input as ``mine`` (or
    None if it owns none; an owner of several inputs passes a list in the order of ``owners``). The inputs
    are independent, so the masks for all of them travel at once: one round instead of one per owner.
    Returns this party's share of each input, in the order of ``owners``.
    """
    owners = [int(o) for o in owners]
    if len(owners) != len(shapes):
        raise ValueError(f"owners and shapes must have the same length, got {len(owners)} and {len(shapes)}")
    own_idx = [k for k, o in enumerate(owners) if o == party.party_id]
    if len(own_idx) == 1:
        values = [mine]
    elif own_idx:
        values = list(mine)
        if len(values) != len(own_idx):
            raise ValueError(f"party {party.party_id} owns {len(own_idx)} inputs but passed {len(values)}")
    else:
        values = []
    out: list[np.ndarray | None] = [None] * len(owners)
    for k, value in zip(own_idx, values):  # send first: nobody waits on anybody
        shape = tuple(shapes[k])
        x = np.asarray(value)
        if x.dtype != _U or x.shape != shape:
            raise ShareMismatchError(f"input of party {party.party_id} must be uint64 of shape {shape}, got {x.dtype} {x.shape}")
        share = x.copy()
        for j in party.others:
            r = random_elements(shape, modulus=RING_MODULUS, rng=party.rng)
            party.send(j, r)
            share -= r  # x_owner = x - sum_j r_j  (mod 2^64)
        out[k] = share
    for k, o in enumerate(owners):  # then receive, in the order the owners sent
        if o == party.party_id:
            continue
        got = np.array(party.recv(o))
        if got.shape != tuple(shapes[k]):
            raise ShareMismatchError(f"party {party.party_id}: expected a share of shape {tuple(shapes[k])}, got {got.shape}")
        out[k] = got
    party.round()
    return out  # type: ignore[return-value]


def share_all_inputs(party: Party, value: np.ndarray) -> list[np.ndarray]:
    """Every party shares its own uint64 array (all the same shape) at once. One round.

    Returns this party's share of every party's input, indexed by owner.
    """
    x = np.asarray(value, dtype=_U)
    masks = {j: random_elements(x.shape, modulus=RING_MODULUS, rng=party.rng) for j in party.others}
    for j, r in masks.items():
        party.send(j, r)
    mine = x.copy()
    for r in masks.values():
        mine -= r
    out: list[np.ndarray] = [mine] * party.n_parties
    for j in party.others:
        got = np.array(party.recv(j))
        if got.shape != x.shape:
            raise ShareMismatchError(f"party {j} shared shape {got.shape}, expected {x.shape}")
        out[j] = got
    party.round()
    return out


def open_shares(party: Party, share: np.ndarray) -> np.ndarray:
    """Everyone learns x = sum_i x_i (mod 2^64). One round; each party sends its share to all others."""
    parts = party.exchange(np.asarray(share, dtype=_U))
    total = parts[0] + parts[1]
    for p in parts[2:]:
        total += p
    return total


def reveal_to(party: Party, share: np.ndarray, *, receiver: int) -> np.ndarray | None:
    """Only ``receiver`` learns x; the others send their shares to it. One round."""
    if party.party_id != receiver:
        party.send(receiver, np.asarray(share, dtype=_U))
        party.round()
        return None
    total = np.array(share, dtype=_U)
    for j in party.others:
        total += party.recv(j)
    party.round()
    return total


def _check_kind(name: str, triple: Any, kind: str) -> None:
    # a matmul triple or a truncation pair of the right shape would give a wrong product without any error
    got = getattr(triple, "kind", None)
    if got != kind:
        what = {"mul": "an element-wise multiplication triple (TrustedDealer.multiplication_triple)",
                "matmul": "a matrix triple (TrustedDealer.matmul_triple)"}[kind]
        raise ValueError(f"{name} must be {what}, kind={kind!r}, got kind={got!r}")


def _check_shape(name: str, got: tuple, want: tuple) -> None:
    if got != want:
        raise ShareMismatchError(f"{name} has shape {got} but the Beaver triple was made for {want}")


def beaver_multiply(party: Party, x: np.ndarray, y: np.ndarray, triple: TripleShare) -> np.ndarray:
    """[x y] from [x], [y] and a fresh triple ([a], [b], [c = a b]). One round (d and e in one message)."""
    _check_kind("triple", triple, "mul")  # before use: a refused triple stays unused
    a, b, c = party.use_triple(triple)
    _check_shape("x", x.shape, a.shape)
    _check_shape("y", y.shape, b.shape)
    n = a.size
    buf = np.empty(2 * n, dtype=_U)
    np.subtract(x.ravel(), a.ravel(), out=buf[:n])  # [d] = [x] - [a]
    np.subtract(y.ravel(), b.ravel(), out=buf[n:])  # [e] = [y] - [b]
    parts = party.exchange(buf)  # open d and e: uniformly random, they reveal nothing about x, y
    a1, b1, c1 = a.reshape(-1), b.reshape(-1), c.reshape(-1)
    z = np.empty(n, dtype=_U)
    blk = min(n, _BLOCK)
    d, e, t = np.empty(blk, dtype=_U), np.empty(blk, dtype=_U), np.empty(blk, dtype=_U)
    lead = party.party_id == 0
    for lo in range(0, n, _BLOCK):  # cache-sized blocks (not samples): operands stay in L2
        hi = min(n, lo + _BLOCK)
        k = hi - lo
        db, eb, tb, zb = d[:k], e[:k], t[:k], z[lo:hi]
        np.add(parts[0][lo:hi], parts[1][lo:hi], out=db)  # d = sum_i [d]_i
        np.add(parts[0][n + lo : n + hi], parts[1][n + lo : n + hi], out=eb)  # e = sum_i [e]_i
        for other in parts[2:]:
            db += other[lo:hi]
            eb += other[n + lo : n + hi]
        # [z] = [c] + d [b] + e [a] + d e   (Beaver 1991); party 0 folds d e in as d ([b] + e)
        np.multiply(eb, a1[lo:hi], out=zb)
        zb += c1[lo:hi]
        if lead:
            np.add(b1[lo:hi], eb, out=tb)
            tb *= db
        else:
            np.multiply(db, b1[lo:hi], out=tb)
        zb += tb
    return z.reshape(a.shape)


def beaver_multiply_shares(
    x_shares: list[np.ndarray], y_shares: list[np.ndarray], triple: list[TripleShare], *,
    return_openings: bool = False,
) -> Any:
    """All parties' side of one Beaver multiplication computed in one place (the raw form: no network).

    The arithmetic of :func:`beaver_multiply` for every party at once, for derivations and for measuring
    the computation apart from the transport. Communication it stands for: each party sends its 2 values
    per element to every other party, in one round. ``return_openings=True`` also returns the opened
    (d, e) -- public in the protocol -- as ``(z_shares, d, e)``.

    RAW: the only reuse guard here is the triple shares' own ``used`` flag, which a pickled or deep-copied
    triple does not carry over; the parties' ledgers (:meth:`~ppml_lab.mpc.network.Party.use_triple`)
    are what refuse a reused triple id on the protocol path.
    """
    n_parties = len(triple)
    if not (len(x_shares) == len(y_shares) == n_parties >= 2):
        raise ShareMismatchError(
            f"need one x share, one y share and one triple share per party, got {len(x_shares)}, "
            f"{len(y_shares)} and {n_parties}"
        )
    for i, share in enumerate(triple):
        _check_kind(f"triple[{i}]", share, "mul")
    abc = [share.consume() for share in triple]
    shape = abc[0][0].shape
    for i in range(n_parties):
        _check_shape(f"x_shares[{i}]", np.shape(x_shares[i]), shape)
        _check_shape(f"y_shares[{i}]", np.shape(y_shares[i]), shape)
    n = int(np.prod(shape, dtype=np.int64))
    flat = [(np.asarray(x_shares[i], dtype=_U).reshape(-1), np.asarray(y_shares[i], dtype=_U).reshape(-1),
             *(m.reshape(-1) for m in abc[i])) for i in range(n_parties)]
    zs = [np.empty(n, dtype=_U) for _ in range(n_parties)]
    blk = min(n, _BLOCK)
    d, e, t = np.empty(blk, dtype=_U), np.empty(blk, dtype=_U), np.empty(blk, dtype=_U)
    # the openings (d, e) of every element, kept only when the caller asks for them
    d_all = np.empty(n if return_openings else 0, dtype=_U)
    e_all = np.empty(n if return_openings else 0, dtype=_U)
    for lo in range(0, n, _BLOCK):  # cache-sized blocks, not samples
        hi = min(n, lo + _BLOCK)
        k = hi - lo
        if return_openings:
            db, eb, tb = d_all[lo:hi], e_all[lo:hi], t[:k]
        else:
            db, eb, tb = d[:k], e[:k], t[:k]
        np.subtract(flat[0][0][lo:hi], flat[0][2][lo:hi], out=db)  # d = sum_i ([x]_i - [a]_i)
        np.subtract(flat[0][1][lo:hi], flat[0][3][lo:hi], out=eb)  # e = sum_i ([y]_i - [b]_i)
        for x_i, y_i, a_i, b_i, _c in flat[1:]:
            db += x_i[lo:hi]
            db -= a_i[lo:hi]
            eb += y_i[lo:hi]
            eb -= b_i[lo:hi]
        for i, (_x, _y, a_i, b_i, c_i) in enumerate(flat):
            zb = zs[i][lo:hi]
            # [z]_i = [c]_i + d [b]_i + e [a]_i (+ d e for party 0)   (Beaver 1991)
            np.multiply(eb, a_i[lo:hi], out=zb)
            zb += c_i[lo:hi]
            if i == 0:
                np.add(b_i[lo:hi], eb, out=tb)
                tb *= db
            else:
                np.multiply(db, b_i[lo:hi], out=tb)
            zb += tb
    if return_openings:
        return [z.reshape(shape) for z in zs], d_all.reshape(shape), e_all.reshape(shape)
    return [z.reshape(shape) for z in zs]


def beaver_matmul(party: Party, x: np.ndarray, y: np.ndarray, triple: TripleShare) -> np.ndarray:
    """[X Y] from a matrix triple ([A], [B], [C = A B]) (SecureML Sec. 4.2). One round."""
    _check_kind("triple", triple, "matmul")  # before use: a refused triple stays unused
    a, b, c = party.use_triple(triple)
    _check_shape("x", x.shape, a.shape)
    _check_shape("y", y.shape, b.shape)
    opened = open_shares(party, np.concatenate([(x - a).ravel(), (y - b).ravel()]))  # D = X - A, E = Y - B
    d, e = opened[: a.size].reshape(a.shape), opened[a.size :].reshape(b.shape)
    with np.errstate(over="ignore"):  # numpy scalars (1-D dot) warn on the wrap-around we rely on
        # [Z] = [C] + D [B] + [A] E + D E; party 0 folds D E in as D ([B] + E): two matmuls per party
        z = c + np.matmul(d, b + e if party.party_id == 0 else b) + np.matmul(a, e)
    return np.asarray(z, dtype=_U)


def truncate(party: Party, z: np.ndarray, *, frac_bits: int, pair: TripleShare) -> np.ndarray:
    """[z >> frac_bits], exact up to one ulp, for |z| < 2^62: one opening of z + 2^62 + r. One round.

    ``pair``: this party's share of a dealer truncation pair (``TrustedDealer.truncation_pair``), used
    once. Any number of parties. See :mod:`~ppml_lab.mpc.fixed_point` for the derivation.
    """
    if pair.kind != "trunc" or pair.frac_bits != frac_bits:
        raise ValueError(
            f"truncate needs a truncation pair made for frac_bits={frac_bits}, got kind={pair.kind!r} "
            f"with frac_bits={pair.frac_bits}"
        )
    r, r_hi, msb = party.use_triple(pair)
    z = np.asarray(z, dtype=_U)
    _check_shape("z", z.shape, r.shape)
    lead = party.party_id == 0
    c = open_shares(party, trunc_mask_share(z, r, lead=lead))  # open c = z + 2^62 + r: uniform
    return trunc_finish_share(c, r_hi, msb, lead=lead, frac_bits=frac_bits)


def truncate_secureml(party: Party, z: np.ndarray, *, frac_bits: int) -> np.ndarray:
    """RAW: SecureML local truncation (2 parties, no communication). Fails silently with probability
    |z| / 2^64 (off by ~2^(64-f)); kept to teach and measure that failure, not used by the protocols."""
    if party.n_parties != 2:
        raise ValueError(f"SecureML truncation is a 2-party protocol, got n_parties={party.n_parties}")
    if party.party_id == 0:
        return truncate_shares_secureml(z, z, frac_bits=frac_bits)[0]
    return truncate_shares_secureml(z, z, frac_bits=frac_bits)[1]


def fxp_multiply(party: Party, x: np.ndarray, y: np.ndarray, triple: TripleShare, *, frac_bits: int,
                 pair: TripleShare) -> np.ndarray:
    return truncate(party, beaver_multiply(party, x, y, triple), frac_bits=frac_bits, pair=pair)


def fxp_matmul(party: Party, x: np.ndarray, y: np.ndarray, triple: TripleShare, *, frac_bits: int,
               pair: TripleShare) -> np.ndarray:
    return truncate(party, beaver_matmul(party, x, y, triple), frac_bits=frac_bits, pair=pair)


def fxp_mul_public(party: Party, x: np.ndarray, k: float, *, fxp: FixedPoint, pair: TripleShare) -> np.ndarray:
    """[k x] for a public real k: multiply by its encoding (local), then truncate (one round)."""
    return truncate(party, x * fxp.encode(k, name="k"), frac_bits=fxp.frac_bits, pair=pair)


# ------------------------------------------------------------------------------------------------
# whole protocols
# ------------------------------------------------------------------------------------------------
@dataclass
class SecureResult:
    """A protocol's revealed output and its communication record."""

    value: Any
    run: ProtocolRun

    @property
    def rounds(self) -> int:
        return self.run.rounds

    @property
    def total_bytes(self) -> int:
        return self.run.total_bytes

    @property
    def seconds(self) -> float:
        return self.run.seconds

    def __repr__(self) -> str:
        return (f"SecureResult(rounds={self.rounds}, bytes={self.total_bytes}, seconds={self.seconds:.4f}, "
                f"transport={self.run.transport!r})")


def _sum_party(party: Party, x: np.ndarray) -> np.ndarray:
    shares = share_all_inputs(party, x)
    total = shares[0].copy()
    for s in shares[1:]:
        total += s  # [sum_k x_k] = sum_k [x_k]: local
    return open_shares(party, total)


def secure_sum(values: Any, *, fxp: FixedPoint | None = DEFAULT_FIXED_POINT, transport: str = "inprocess",
               timeout: float = 60.0, rng: RNGLike = None, insecure_seeded_keys: bool = False) -> SecureResult:
    """Sum of one array per party; each party learns only the total. Two rounds, any n >= 2.

    ``values``: a list with one array per party (same shape). ``fxp=None`` for integers.
    """
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"values must be a list with one array per party, got {type(values).__name__}")
    arrs = [check_array(f"values[{i}]", v, ndim=None) for i, v in enumerate(values)]
    for i, a in enumerate(arrs[1:], 1):
        if a.shape != arrs[0].shape:
            raise ShareMismatchError(f"values[{i}] has shape {a.shape}, values[0] has {arrs[0].shape}")
    enc = [fxp.encode(a, name=f"values[{i}]") if fxp else a.astype(np.int64).view(_U) for i, a in enumerate(arrs)]
    run = run_protocol(_sum_party, [(e,) for e in enc], transport=transport, timeout=timeout, rng=rng,
                       insecure_seeded_keys=insecure_seeded_keys)
    out = run.outputs[0]
    return SecureResult(fxp.decode(out) if fxp else out.view(np.int64), run)


def _binary_party(party: Party, x: Any, y: Any, shape_x: tuple, shape_y: tuple, triple: TripleShare,
                  frac_bits: int, op: str, pair: TripleShare | None = None) -> np.ndarray:
    xs, ys = share_inputs(party, x if party.party_id == 0 else y, owners=(0, 1), shapes=(shape_x, shape_y))
    z = beaver_multiply(party, xs, ys, triple) if op == "mul" else beaver_matmul(party, xs, ys, triple)
    if frac_bits:
        if pair is None:  # _binary always issues one with frac_bits > 0
            raise ValueError(f"pair must be a truncation pair when frac_bits > 0, got None (frac_bits={frac_bits})")
        z = truncate(party, z, frac_bits=frac_bits, pair=pair)
    return open_shares(party, z)


def _binary(op: str, x: Any, y: Any, fxp: FixedPoint | None, transport: str, timeout: float, rng: RNGLike,
            dealer: TrustedDealer | None, insecure_seeded_keys: bool = False) -> SecureResult:
    if fxp is not None:
        xe, ye = fxp.encode(x, name="x"), fxp.encode(y, name="y")
    else:
        xe = check_array("x", x, integer=True).view(_U)
        ye = check_array("y", y, integer=True).view(_U)
    if op == "mul" and xe.shape != ye.shape:
        raise ShareMismatchError(f"x and y must have the same shape, got {xe.shape} and {ye.shape}")
    if op == "matmul" and (xe.ndim not in (1, 2) or ye.ndim not in (1, 2) or xe.shape[-1] != ye.shape[0]):
        raise ShareMismatchError(f"cannot multiply shapes {xe.shape} and {ye.shape}: inner dimensions differ")
    if fxp is not None:  # validate before any triple is issued: |each product (sum)| < 2^(62 - 2f)
        ax, ay = np.abs(fxp.decode(xe)), np.abs(fxp.decode(ye))
        fxp.check_product("x * y" if op == "mul" else "x @ y", ax * ay if op == "mul" else np.matmul(ax, ay))
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)  # triples and shares are key material
    dealer = dealer or TrustedDealer(2, rng=g, insecure_seeded_keys=insecure_seeded_keys)
    triple = dealer.multiplication_triple(xe.shape) if op == "mul" else dealer.matmul_triple(xe.shape, ye.shape)
    f = fxp.frac_bits if fxp else 0
    out_shape = xe.shape if op == "mul" else np.matmul(np.zeros(xe.shape), np.zeros(ye.shape)).shape
    pair = dealer.truncation_pair(out_shape, frac_bits=f) if fxp else [None, None]
    args = [(xe, None, xe.shape, ye.shape, triple[0], f, op, pair[0]),
            (None, ye, xe.shape, ye.shape, triple[1], f, op, pair[1])]
    run = run_protocol(_binary_party, args, transport=transport, timeout=timeout, rng=g,
                       insecure_seeded_keys=insecure_seeded_keys)
    out = run.outputs[0]
    return SecureResult(fxp.decode(out) if fxp else out.view(np.int64), run)


def secure_multiply(x: Any, y: Any, *, fxp: FixedPoint | None = DEFAULT_FIXED_POINT, transport: str = "inprocess",
                    timeout: float = 60.0, rng: RNGLike = None, dealer: TrustedDealer | None = None,
                    insecure_seeded_keys: bool = False) -> SecureResult:
    """Element-wise x * y, x held by party 0 and y by party 1; both learn the product. 3 rounds in the
    ring (both input sharings at once, one opening of d and e, one output opening), 4 in fixed point (one
    more to truncate exactly). PrecisionError if some |x y| >= 2^(62 - 2 frac_bits)."""
    return _binary("mul", x, y, fxp, transport, timeout, rng, dealer, insecure_seeded_keys)


def secure_dot(x: Any, y: Any, *, fxp: FixedPoint | None = DEFAULT_FIXED_POINT, transport: str = "inprocess",
               timeout: float = 60.0, rng: RNGLike = None, dealer: TrustedDealer | None = None,
                    insecure_seeded_keys: bool = False) -> SecureResult:
    """<x, y> for vectors held by parties 0 and 1 (a 1-D matrix triple). 3 rounds (4 in fixed point)."""
    for name, v in (("x", x), ("y", y)):
        if np.ndim(v) != 1:
            raise ShareMismatchError(f"{name} must be a vector for secure_dot, got shape {np.shape(v)}")
    return _binary("matmul", x, y, fxp, transport, timeout, rng, dealer, insecure_seeded_keys)


def secure_matmul(x: Any, y: Any, *, fxp: FixedPoint | None = DEFAULT_FIXED_POINT, transport: str = "inprocess",
                  timeout: float = 60.0, rng: RNGLike = None, dealer: TrustedDealer | None = None,
                    insecure_seeded_keys: bool = False) -> SecureResult:
    """X @ Y for X held by party 0 and Y by party 1 (one matrix triple). 3 rounds (4 in fixed point).

    PrecisionError if some entry of |X| @ |Y| reaches 2^(62 - 2 frac_bits) (exact truncation's bound)."""
    return _binary("matmul", x, y, fxp, transport, timeout, rng, dealer, insecure_seeded_keys)


def _inference_party(party: Party, wb: Any, x: Any, n: int, d: int, triples: dict[str, TripleShare],
                     fxp: FixedPoint, logistic: bool) -> np.ndarray | None:
    owner, hospital = 0, 1
    # the model owner shares (w, b) and the hospital its records, in the same round
    wb_s, x_s = share_inputs(party, wb if party.party_id == owner else x, owners=(owner, hospital),
                             shapes=((d + 1,), (n, d)))
    f = fxp.frac_bits
    z = fxp_matmul(party, x_s, wb_s[:d].copy(), triples["matmul"], frac_bits=f, pair=triples["t_matmul"])  # [X][w]
    z += wb_s[d]  # + [b]: local
    if logistic:
        c0, c1, c3 = SIGMOID_COEFFS
        z2 = fxp_multiply(party, z, z, triples["square"], frac_bits=f, pair=triples["t_square"])
        z3 = fxp_multiply(party, z2, z, triples["cube"], frac_bits=f, pair=triples["t_cube"])
        # [s] = c0 + c1 [z] + c3 [z^3]   (Kim et al. 2018 degree-3 sigmoid): both public products carry 2f
        # fractional bits, so they are added first and truncated once
        with np.errstate(over="ignore"):
            s2f = z * fxp.encode(c1) + z3 * fxp.encode(c3)
        s = truncate(party, s2f, frac_bits=f, pair=triples["t_poly"])
        if party.party_id == 0:
            s += fxp.encode(c0)
        z = s
    out = reveal_to(party, z, receiver=hospital)  # only the hospital learns its predictions
    return None if out is None else fxp.decode(out)


def secure_inference(x: Any, weights: Any, bias: float = 0.0, *, kind: str = "logistic",
                     fxp: FixedPoint = DEFAULT_FIXED_POINT, transport: str = "inprocess", timeout: float = 60.0,
                     rng: RNGLike = None, dealer: TrustedDealer | None = None,
                     insecure_seeded_keys: bool = False) -> SecureResult:
    """Model owner (party 0, ``weights``, ``bias``) scores a hospital's records (party 1, ``x``).

    ``kind='linear'`` reveals X w + b, ``'logistic'`` reveals the polynomial sigmoid of it -- to the
    hospital only; the model owner learns nothing but the shapes. Linear: 4 rounds; logistic: 9 (each
    product is truncated exactly, one opening each). Raises PrecisionError if |X w + b| (or its square
    or cube, for 'logistic') would reach the truncation bound 2^(62 - 2f).
    """
    check_choice("kind", kind, ("linear", "logistic"))
    X = check_array("x", x, ndim=2)
    w = check_array("weights", weights, ndim=1)
    b = check_real("bias", bias)
    if X.shape[1] != w.shape[0]:
        raise ShareMismatchError(f"x has {X.shape[1]} features but weights has {w.shape[0]}")
    n, d = X.shape
    wb = fxp.encode(np.r_[w, b], name="weights")
    xe = fxp.encode(X, name="x")
    # validate before any triple is issued: every value truncated must stay below 2^(62 - 2f)
    zmax = np.abs(fxp.decode(xe)) @ np.abs(fxp.decode(wb[:d])) + abs(float(fxp.decode(wb[d])))  # >= |z|
    fxp.check_product("x @ weights", zmax)
    if kind == "logistic":
        c0, c1, c3 = SIGMOID_COEFFS
        fxp.check_product("z^2 (z = x @ weights + bias)", zmax**2)
        fxp.check_product("z^3 (z = x @ weights + bias)", zmax**3)
        fxp.check_product("the sigmoid polynomial's terms", abs(c1) * zmax + abs(c3) * zmax**3)
    g = key_rng(rng, insecure_seeded_keys=insecure_seeded_keys)  # triples and shares are key material
    dealer = dealer or TrustedDealer(2, rng=g, insecure_seeded_keys=insecure_seeded_keys)
    f = fxp.frac_bits
    per: list[dict[str, TripleShare]] = [{}, {}]
    for key, tr in [("matmul", dealer.matmul_triple((n, d), (d,))),
                    ("t_matmul", dealer.truncation_pair((n,), frac_bits=f))] + (
        [("square", dealer.multiplication_triple((n,))), ("t_square", dealer.truncation_pair((n,), frac_bits=f)),
         ("cube", dealer.multiplication_triple((n,))), ("t_cube", dealer.truncation_pair((n,), frac_bits=f)),
         ("t_poly", dealer.truncation_pair((n,), frac_bits=f))]
        if kind == "logistic" else []
    ):
        per[0][key], per[1][key] = tr[0], tr[1]
    args = [(wb, None, n, d, per[0], fxp, kind == "logistic"), (None, xe, n, d, per[1], fxp, kind == "logistic")]
    run = run_protocol(_inference_party, args, transport=transport, timeout=timeout, rng=g,
                       insecure_seeded_keys=insecure_seeded_keys)
    return SecureResult(run.outputs[1], run)
