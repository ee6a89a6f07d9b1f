"""Protocol diagrams for the course, drawn by matplotlib from what the package computes.

Each diagram has two halves: a *facts* function that runs the package's own code and returns what the
picture shows (the secure-aggregation transcript of one real round, the Beaver openings of one real
multiplication, the CKKS primes read back from the TenSEAL context, one real DP-SGD step and its
accountant, the links a :class:`~ppml_lab.fl.deploy.DeploymentConfig` sets up), and a *figure* function
that draws those facts and returns a :class:`matplotlib.figure.Figure`. Nothing protocol-specific is typed
into a label that the package could contradict: a renamed message class, a different modulus chain or a
changed clipping rule changes the picture (and the tests in ``tests/viz/`` check that it does).

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI backend): they
render headless (Agg) and display inline in Jupyter. Widths are at most 11 inches, for notebook width.

Sources: Bonawitz et al., CCS 2017, ePrint 2017/281, Fig. 4 (secure aggregation rounds); Beaver, CRYPTO
1991 (multiplication triples); Cheon, Kim, Kim & Song, ASIACRYPT 2017, Sec. 3 (CKKS rescaling); Abadi et
al., CCS 2016, Alg. 1 (DP-SGD); Flower 1.42's Deployment Engine (``ppml_lab.fl.deploy``).
Threat model: none — these functions draw; the keys and shares they create live only inside the call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

from ppml_lab._rng import RNGLike, random_seed, resolve_rng
from ppml_lab._validation import check_int, check_positive, check_type
from ppml_lab.exceptions import ProtocolError

__all__ = [
    "SECAGG_ROUNDS",
    "DiagramFigure",
    "SecAggRound",
    "figure_texts",
    "secagg_transcript",
    "secagg_figure",
    "beaver_facts",
    "beaver_figure",
    "ckks_chain",
    "ckks_chain_figure",
    "dp_sgd_facts",
    "dp_sgd_figure",
    "deployment_links",
    "deployment_topology_figure",
    "privacy_utility_cost_figure",
]

_BLUE, _ORANGE, _GREY, _GREEN, _RED = "#dbe9f6", "#fde0c5", "#e6e6e6", "#d9f0d3", "#f8d0d0"
_EDGE = "#333333"


class DiagramFigure(Figure):
    """A matplotlib Figure that also displays itself in Jupyter without pyplot (``_repr_png_``).

    Jupyter's inline backend registers its PNG formatter only once pyplot is imported; a notebook that never
    imports pyplot would otherwise show ``<Figure ...>`` as text.
    """

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def figure_texts(fig: Figure) -> list[str]:
    """Every non-empty string drawn in ``fig`` (titles, labels, annotations, tick labels excluded if blank)."""
    check_type("fig", fig, Figure)
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _box(ax: Any, x: float, y: float, w: float, h: float, text: str, *, fc: str = _BLUE, size: float = 7.5,
         ls: str = "-", weight: str = "normal", ha: str = "center") -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.01,rounding_size=0.02", fc=fc, ec=_EDGE,
                                lw=0.8, ls=ls))
    tx = x + w / 2 if ha == "center" else x + 0.015 * max(w, 1.0)
    ax.text(tx, y + h / 2, text, ha=ha, va="center", fontsize=size, weight=weight, wrap=False)


def _arrow(ax: Any, xy0: tuple[float, float], xy1: tuple[float, float], *, color: str = _EDGE, ls: str = "-",
           lw: float = 1.0, style: str = "-|>") -> None:
    ax.add_patch(FancyArrowPatch(xy0, xy1, arrowstyle=style, mutation_scale=9, color=color, lw=lw, ls=ls,
                                 shrinkA=0, shrinkB=0))


def _ids(ids: Sequence[int]) -> str:
    return "{" + ", ".join(str(i) for i in ids) + "}" if ids else "{ }"


# =============================================================================================
# 1. Secure aggregation: the rounds of one real session, with a dropout
# =============================================================================================
@dataclass(frozen=True)
class SecAggRound:
    """One round of Bonawitz et al.'s protocol (ePrint 2017/281, Fig. 4) and the package methods that run it."""

    number: int
    name: str
    client_method: str  # a method of SecAggClient
    server_method: str  # a method of SecAggServer


#: The rounds as the package names and runs them (:mod:`ppml_lab.fl.secagg.protocol`); a test checks every
#: name against that module's docstring and every method against the client and server classes.
SECAGG_ROUNDS: tuple[SecAggRound, ...] = (
    SecAggRound(0, "AdvertiseKeys", "advertise_keys", "collect_keys"),
    SecAggRound(1, "ShareKeys", "share_keys", "route_shares"),
    SecAggRound(2, "MaskedInputCollection", "masked_input", "collect_masked"),
    SecAggRound(3, "ConsistencyCheck", "consistency_check", "collect_signatures"),
    SecAggRound(4, "Unmasking", "unmask", "unmask"),
)


def secagg_transcript(*, n_clients: int = 5, dropped: int | None = None, drop_after: str = "masked_input",
                      names: Sequence[str] | None = None, rng: RNGLike = None) -> dict[str, Any]:
    """Run one hardened secure-aggregation session and record what crossed the wire, round by round.

    ``dropped`` (default: the last client) sends the message of phase ``drop_after`` (one of
    :data:`ppml_lab.fl.secagg.protocol.PHASES`) and then vanishes. Returns a dict with ``rounds`` (one entry
    per :data:`SECAGG_ROUNDS`: per client the message class and bytes it sent, or None once gone, and
    what the server holds), ``u2``/``u3``, which shares each survivor revealed in Unmasking, and whether
    the unmasked total equals the plain sum over U3 (``exact``). Keys, masks and shares come from the OS
    CSPRNG (``rng`` draws only the small public test inputs); the recorded facts do not depend on them.
    """
    from ppml_lab.fl.secagg.client import ShareBundle
    from ppml_lab.fl.secagg.masks import minimum_threshold
    from ppml_lab.fl.secagg.protocol import PHASES, make_round

    n = check_int("n_clients", n_clients, low=3, high=12)
    d = n - 1 if dropped is None else check_int("dropped", dropped, low=0, high=n - 1)
    if drop_after not in PHASES:
        raise ValueError(f"drop_after must be one of {', '.join(map(repr, PHASES))}, got {drop_after!r}")
    labels = [str(i) for i in range(n)] if names is None else [str(s) for s in names]
    if len(labels) != n:
        raise ValueError(f"names must give one name per client ({n}), got {len(labels)}")
    g = resolve_rng(rng)
    x = {u: np.asarray(g.integers(0, 100, size=4), dtype=np.uint64) for u in range(n)}
    t = minimum_threshold(n)
    clients, server = make_round(x, threshold=t)  # hardened (Fig. 4 with its active-adversary parts)
    sent: dict[int, list[tuple[str, int] | None]] = {u: [None] * len(SECAGG_ROUNDS) for u in range(n)}
    seen: list[str] = []
    alive = set(range(n))

    def spent(u: int, before: int) -> int:
        return clients[u].bytes_sent - before

    # Round 0: AdvertiseKeys
    msgs = {}
    for u in sorted(alive):
        b0 = clients[u].bytes_sent
        msgs[u] = getattr(clients[u], SECAGG_ROUNDS[0].client_method)()
        sent[u][0] = (type(msgs[u]).__name__, spent(u, b0))
    keys = getattr(server, SECAGG_ROUNDS[0].server_method)(list(msgs.values()))
    seen.append(f"{len(keys)} public key pairs + signatures")
    if drop_after == "advertise":
        alive.discard(d)
    # Round 1: ShareKeys (encrypted ShareBundles, relayed)
    outboxes = {}
    for u in sorted(alive):
        b0 = clients[u].bytes_sent
        outboxes[u] = getattr(clients[u], SECAGG_ROUNDS[1].client_method)(keys)
        sent[u][1] = (f"{len(outboxes[u])} x {ShareBundle.__name__} (AES-GCM)", spent(u, b0))
    inbox = getattr(server, SECAGG_ROUNDS[1].server_method)(outboxes)
    u2 = sorted(outboxes)
    seen.append(f"ciphertexts only; U2 = {_ids(u2)}")
    if drop_after == "share_keys":
        alive.discard(d)
    # Round 2: MaskedInputCollection
    masked = []
    for u in sorted(alive):
        if u in inbox:
            b0 = clients[u].bytes_sent
            masked.append(getattr(clients[u], SECAGG_ROUNDS[2].client_method)(inbox[u]))
            sent[u][2] = (type(masked[-1]).__name__, spent(u, b0))
    u3 = getattr(server, SECAGG_ROUNDS[2].server_method)(masked)
    seen.append(f"y_u, each uniformly random; U3 = {_ids(u3)}")
    if drop_after == "masked_input":
        alive.discard(d)
    # Round 3: ConsistencyCheck
    sigs = []
    for u in sorted(alive):
        if u in u3:
            b0 = clients[u].bytes_sent
            sigs.append(getattr(clients[u], SECAGG_ROUNDS[3].client_method)(u3))
            sent[u][3] = (type(sigs[-1]).__name__, spent(u, b0))
    signed = getattr(server, SECAGG_ROUNDS[3].server_method)(sigs)
    seen.append(f"{len(signed)} signatures on U3")
    if drop_after == "unmask":
        alive.discard(d)
    # Round 4: Unmasking
    request = server.unmask_request()
    responses = {}
    for u in sorted(alive):
        if u in u3:
            b0 = clients[u].bytes_sent
            responses[u] = getattr(clients[u], SECAGG_ROUNDS[4].client_method)(request)
            sent[u][4] = (type(responses[u]).__name__, spent(u, b0))
    total = getattr(server, SECAGG_ROUNDS[4].server_method)(responses)
    revealed = {u: {"b": tuple(sorted(r.b_shares)), "sk": tuple(sorted(r.sk_shares))} for u, r in responses.items()}
    b_of = sorted({v for r in revealed.values() for v in r["b"]})
    sk_of = sorted({v for r in revealed.values() for v in r["sk"]})
    seen.append(f"shares of b for {_ids(b_of)}, of s^SK for {_ids(sk_of)} -> sum over U3")
    plain = np.zeros(4, dtype=np.uint64)
    for u in u3:
        plain += x[u]
    return {
        "n_clients": n, "threshold": t, "dropped": d, "drop_after": drop_after, "names": labels,
        "rounds": [{"number": r.number, "name": r.name, "sent": {u: sent[u][i] for u in range(n)},
                    "server_sees": seen[i]} for i, r in enumerate(SECAGG_ROUNDS)],
        "request": type(request).__name__, "u2": tuple(u2), "u3": tuple(u3), "revealed": revealed,
        "b_revealed_for": tuple(b_of), "sk_revealed_for": tuple(sk_of),
        "exact": bool(np.array_equal(total, plain)),
    }


def secagg_figure(*, n_clients: int = 5, dropped: int | None = None, drop_after: str = "masked_input",
                  names: Sequence[str] | None = None, rng: RNGLike = None) -> Figure:
    """The five rounds of one real session (:func:`secagg_transcript`) as a grid: who sent what, what the server saw.

    Rows are clients and the server, columns the rounds of :data:`SECAGG_ROUNDS`; the dropped client's
    row goes grey after it vanishes, and the Unmasking column shows which of its seeds the survivors revealed.
    """
    tr = secagg_transcript(n_clients=n_clients, dropped=dropped, drop_after=drop_after, names=names, rng=rng)
    n, d = tr["n_clients"], tr["dropped"]
    ncol = len(SECAGG_ROUNDS)
    cw, rh, left = 2.0, 0.62, 1.5
    fig = DiagramFigure(figsize=(11, 1.3 + 0.5 * (n + 2)))
    ax = fig.add_axes((0.005, 0.005, 0.99, 0.85 if n > 3 else 0.8))
    ax.set_xlim(0, left + ncol * cw)
    ax.set_ylim(-1.5 * rh, (n + 1) * rh)
    ax.axis("off")
    for i, rnd in enumerate(tr["rounds"]):
        x0 = left + i * cw
        _box(ax, x0 + 0.04, n * rh + 0.05, cw - 0.08, rh - 0.1, f"Round {rnd['number']}\n{rnd['name']}",
             fc="white", weight="bold", size=8)
        for u in range(n):
            y0 = (n - 1 - u) * rh
            cell = rnd["sent"][u]
            if cell is None:
                txt, fc, ls = ("offline (dropped)" if u == d else "-"), _GREY, "--"
            else:
                txt, fc, ls = f"{cell[0]}\n{cell[1]:,} B", _BLUE, "-"
                if rnd["number"] == SECAGG_ROUNDS[-1].number:
                    rv = tr["revealed"][u]
                    txt = f"{cell[0]} ({cell[1]:,} B)\nb of {_ids(rv['b'])}; s^SK of {_ids(rv['sk'])}"
                    fc = _ORANGE
            _box(ax, x0 + 0.04, y0 + 0.05, cw - 0.08, rh - 0.1, txt, fc=fc, ls=ls, size=6.5)
        _box(ax, x0 + 0.04, -1.5 * rh + 0.05, cw - 0.08, 1.5 * rh - 0.1, "server sees:\n" + _wrap(rnd["server_sees"], 30),
             fc=_GREEN, size=6.5)
    for u in range(n):
        tag = f"client {u}" if tr["names"][u] == str(u) else f"{u} {tr['names'][u]}"
        ax.text(left - 0.08, (n - 1 - u) * rh + rh / 2, tag + (" (drops)" if u == d else ""), ha="right",
                va="center", fontsize=7.5, color="#b00000" if u == d else "black")
    ax.text(left - 0.08, -0.75 * rh, "server", ha="right", va="center", fontsize=7.5, weight="bold")
    where = {"advertise": SECAGG_ROUNDS[0].name, "share_keys": SECAGG_ROUNDS[1].name,
             "masked_input": SECAGG_ROUNDS[2].name, "unmask": SECAGG_ROUNDS[3].name}[tr["drop_after"]]
    seeds = ("its self-mask seed b" if d in tr["b_revealed_for"] else "its mask-agreement key s^SK")
    in_sum = "in" if d in tr["u3"] else "not in"
    fig.suptitle(
        f"Secure aggregation (Bonawitz et al. 2017), one session, n = {n}, t = {tr['threshold']}: "
        f"client {d} drops after {where}\nit is {in_sum} U3, so the survivors reveal shares of {seeds}; "
        f"unmasked sum exact: {tr['exact']}", fontsize=9)
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


# =============================================================================================
# 2. Beaver multiplication
# =============================================================================================
#: The local step of Beaver (1991) as the figure writes it: each party's [z]_i is the sum of these terms,
#: and ``d*e`` is added by party 0 only. :func:`beaver_facts` *evaluates* these terms on the real shares and
#: checks them against :func:`ppml_lab.mpc.protocols.beaver_multiply_shares`, so the formula drawn is the one computed.
_BEAVER_TERMS: tuple[tuple[str, Any], ...] = (
    ("[c]_i", lambda a, b, c, d, e: c),
    ("d*[b]_i", lambda a, b, c, d, e: d * b),
    ("e*[a]_i", lambda a, b, c, d, e: e * a),
)
_BEAVER_PUBLIC: tuple[str, Any] = ("d*e", lambda d, e: d * e)


def beaver_formula() -> str:
    """``[z]_i = [c]_i + d*[b]_i + e*[a]_i (+ d*e at party 0)``, built from the terms :func:`beaver_facts` evaluates."""
    return "[z]_i = " + " + ".join(t for t, _ in _BEAVER_TERMS) + f"  (+ {_BEAVER_PUBLIC[0]} at party 0 only)"


def beaver_facts(x: int = 6, y: int = 7, *, n_parties: int = 2, rng: RNGLike = None,
                 insecure_seeded_keys: bool = False) -> dict[str, Any]:
    """One Beaver multiplication of shared ``x`` and ``y`` in Z_2^64 by the package, with its openings.

    The dealer (:class:`~ppml_lab.mpc.beaver.TrustedDealer`) issues one triple, :func:`~ppml_lab.mpc.sharing.share`
    shares x and y, :func:`~ppml_lab.mpc.protocols.beaver_multiply_shares` multiplies. The local step of
    :data:`_BEAVER_TERMS` is then re-evaluated on the same shares and must give the package's [z]_i exactly
    (ProtocolError otherwise). Shares and triples come from the OS CSPRNG unless ``insecure_seeded_keys``.
    """
    from ppml_lab.mpc.beaver import TrustedDealer
    from ppml_lab.mpc.protocols import beaver_multiply_shares
    from ppml_lab.mpc.sharing import RING_MODULUS, share

    x, y = check_int("x", x, low=-(2**31), high=2**31), check_int("y", y, low=-(2**31), high=2**31)
    n = check_int("n_parties", n_parties, low=2, high=5)
    dealer = TrustedDealer(n, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
    triple = dealer.multiplication_triple((1,))
    abc = [(t.a.copy(), t.b.copy(), t.c.copy()) for t in triple]  # read before the single use consumes them
    xs = [s.value for s in share(np.array([x]), n_shares=n, rng=rng, insecure_seeded_keys=insecure_seeded_keys)]
    ys = [s.value for s in share(np.array([y]), n_shares=n, rng=rng, insecure_seeded_keys=insecure_seeded_keys)]
    zs, d, e = beaver_multiply_shares(xs, ys, triple, return_openings=True)
    ours = []
    with np.errstate(over="ignore"):
        for i, (a_i, b_i, c_i) in enumerate(abc):
            z_i = np.zeros_like(c_i)
            for _, term in _BEAVER_TERMS:
                z_i = z_i + term(a_i, b_i, c_i, d, e)
            if i == 0:
                z_i = z_i + _BEAVER_PUBLIC[1](d, e)
            ours.append(z_i)
        a, b, c = (_ring_sum([t[k] for t in abc]) for k in range(3))  # a = sum_i [a]_i (mod 2^64) ...
        z = _ring_sum(list(zs))
    for i in range(n):
        if not np.array_equal(np.asarray(ours[i], dtype=np.uint64), np.asarray(zs[i], dtype=np.uint64)):
            raise ProtocolError(f"the drawn local step gives party {i} a different [z]_i than beaver_multiply_shares")
    signed = int(np.asarray(z, dtype=np.uint64).view(np.int64)[0])
    with np.errstate(over="ignore"):
        checks = {"c = a*b": bool(np.array_equal(c, a * b)),
                  "d = x - a": bool(np.array_equal(d, np.uint64(x % RING_MODULUS) - a)),
                  "e = y - b": bool(np.array_equal(e, np.uint64(y % RING_MODULUS) - b))}
    return {"x": x, "y": y, "n_parties": n, "d": int(d[0]), "e": int(e[0]), "z": signed,
            "formula": beaver_formula(), "checks": checks, "product_ok": signed == x * y,
            "triples_issued": dealer.issued}


def _ring_sum(parts: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(np.asarray(parts[0], dtype=np.uint64))
    for v in parts:
        out = out + np.asarray(v, dtype=np.uint64)  # wraps mod 2^64
    return out


def _hex(v: int) -> str:
    s = f"{v:016x}"
    return f"0x{s[:4]}...{s[-4:]}"


def beaver_figure(x: int = 6, y: int = 7, *, n_parties: int = 2, rng: RNGLike = None,
                  insecure_seeded_keys: bool = False) -> Figure:
    """Beaver multiplication as three steps (dealer, one opening, local step) for one real run of :func:`beaver_facts`."""
    f = beaver_facts(x, y, n_parties=n_parties, rng=rng, insecure_seeded_keys=insecure_seeded_keys)
    n = f["n_parties"]
    fig = DiagramFigure(figsize=(10.5, 2.0 + 0.9 * n))
    ax = fig.add_axes((0.005, 0.005, 0.99, 0.86))
    ax.set_xlim(0, 10.5)
    ax.set_ylim(-0.9, n * 1.0 + 0.6)
    ax.axis("off")
    ty = n * 1.0 + 0.3
    for x0, head in ((0.0, "offline: trusted dealer"), (3.2, "online round: open d, e"),
                     (6.2, "local, no communication"), (9.3, "reconstruct")):
        ax.text(x0 + 0.05, ty, head, fontsize=8.5, weight="bold", va="center")
    _box(ax, 0.05, 0.2, 1.3, n * 1.0 - 0.3, "dealer draws\nrandom a, b\nc = a*b\n(mod 2^64)\nand shares\nall three",
         fc=_GREY, size=7.5)
    for i in range(n):
        yc = (n - 1 - i) * 1.0 + 0.5
        _arrow(ax, (1.35, yc), (1.65, yc))
        _box(ax, 1.65, yc - 0.35, 1.4, 0.7, f"party {i}\n[x]_{i}, [y]_{i}\n[a]_{i}, [b]_{i}, [c]_{i}", size=7.5)
        _arrow(ax, (3.05, yc), (3.35, yc))
        _box(ax, 3.35, yc - 0.35, 2.55, 0.7, f"sends [x]_{i} - [a]_{i} and [y]_{i} - [b]_{i}\nto every other party",
             size=7)
        _arrow(ax, (5.9, yc), (6.2, yc))
        extra = f" + {_BEAVER_PUBLIC[0]}" if i == 0 else ""
        local = "[z]_i = " + " + ".join(t for t, _ in _BEAVER_TERMS)
        _box(ax, 6.2, yc - 0.35, 2.85, 0.7, (local + extra).replace("_i", f"_{i}"), fc=_ORANGE, size=7)
        _arrow(ax, (9.05, yc), (9.3, 0.1 + n * 0.5 - 0.3), color="#777777")
    _box(ax, 9.3, 0.1 + n * 0.5 - 0.7, 1.15, 0.8, f"z = sum [z]_i\n= {f['z']}\n= x*y: {f['product_ok']}", fc=_GREEN,
         size=7.5)
    ax.text(0.05, -0.55,
            f"{beaver_formula()}.   Opened (public, uniformly random since a, b are): d = x - a = {_hex(f['d'])}, "
            f"e = y - b = {_hex(f['e'])}.\nThis run: x = {f['x']}, y = {f['y']}, {n} parties in Z_2^64; "
            f"checks {', '.join(k for k, v in f['checks'].items() if v)}. Each triple is used once: "
            "reusing a reveals x - x' = d - d'.", fontsize=7.5, va="center")
    fig.suptitle("Beaver multiplication (Beaver 1991): a dealer's triple turns one product into two openings",
                 fontsize=9.5)
    return fig


# =============================================================================================
# 3. CKKS modulus chain and rescaling
# =============================================================================================
def _primes_from_context(ctx: Any) -> tuple[list[int], list[int]]:
    """The chain's primes q0..qL, special, read back from SEAL's context data (no hard-coded values).

    TenSEAL exposes, per level, the number of bits of Q_l = q0*...*q_l and its lowest 64-bit word
    (``total_coeff_modulus``). Every q is odd and < 2^64, so q_l = (Q_l mod 2^64) / (Q_{l-1} mod 2^64)
    computed mod 2^64 (the inverse of an odd number exists there) is q_l exactly.
    """
    data = ctx.tenseal_context.seal_context().data
    words, bits = [], []
    cd = data.key_context_data()
    while cd is not None:  # key level (all primes, special included) down to q0 alone
        words.append(int(cd.total_coeff_modulus()) % 2**64)
        bits.append(int(cd.total_coeff_modulus_bit_count()))
        cd = cd.next_context_data()
    words.reverse()
    bits.reverse()
    primes = [words[0]]
    for lo, hi in zip(words, words[1:]):
        primes.append(hi * pow(lo, -1, 2**64) % 2**64)
    return primes, bits


def ckks_chain(ctx: Any) -> dict[str, Any]:
    """The modulus chain of a :class:`~ppml_lab.he.ckks.CKKSContext` and what each multiply + rescale does to it.

    ``primes``: q0, q1..qL, special, recovered from TenSEAL's context (checked: prime, of the bit sizes the
    parameters ask for, = 1 mod 2N, and their product of the bit count SEAL reports at every level).
    ``steps``: one real encrypted vector multiplied by a ciphertext ``depth`` times: its level, the
    number of primes left in its modulus, the exact scale after rescaling (Delta^2 / q_dropped) and the
    scale TenSEAL records. Raises :class:`~ppml_lab.he.ckks.CKKSBackendError` if a check fails.
    """
    from ppml_lab._primes import is_probable_prime
    from ppml_lab.he.ckks import CKKSBackendError, CKKSContext

    check_type("ctx", ctx, CKKSContext)
    p = ctx.params
    primes, level_bits = _primes_from_context(ctx)
    n2 = 2 * p.poly_modulus_degree
    sizes = list(p.coeff_mod_bit_sizes)
    if len(primes) != len(sizes):
        raise CKKSBackendError(f"TenSEAL's context has {len(primes)} primes, the parameters ask for {len(sizes)}")
    for i, (q, s) in enumerate(zip(primes, sizes)):
        if not (is_probable_prime(q) and q.bit_length() == s and q % n2 == 1):
            raise CKKSBackendError(f"prime {i} read from TenSEAL ({q}) is not a {s}-bit prime = 1 mod {n2}")
    for k, b in enumerate(level_bits):
        if math.prod(primes[: k + 1]).bit_length() != b:
            raise CKKSBackendError(f"level with {k + 1} primes: product has a different bit count than SEAL's {b}")
    delta = 2.0**p.scale_bits
    steps = []
    if ctx.is_private:
        v = ctx.encrypt(np.full(8, 0.5))
        steps.append({"level": v.level, "primes_left": int(v.tenseal_vector.ciphertext()[0].coeff_modulus_size()),
                      "log2_scale_exact": math.log2(delta), "log2_scale_tenseal": math.log2(v.scale), "dropped": None})
        w = v
        for _ in range(p.depth):
            before = int(w.tenseal_vector.ciphertext()[0].coeff_modulus_size())
            s_in = w.scale
            w = w * v  # ciphertext x ciphertext: scale Delta^2, then TenSEAL rescales by the last prime
            left = int(w.tenseal_vector.ciphertext()[0].coeff_modulus_size())
            dropped = primes[before - 1]
            steps.append({"level": w.level, "primes_left": left, "dropped": dropped,
                          "log2_scale_exact": math.log2(s_in) + math.log2(delta) - math.log2(dropped),
                          "log2_scale_tenseal": math.log2(w.scale)})
    return {"poly_modulus_degree": p.poly_modulus_degree, "bit_sizes": sizes, "primes": primes,
            "special": primes[-1], "depth": p.depth, "scale_bits": p.scale_bits, "level_bits": level_bits,
            "steps": steps}


def ckks_chain_figure(ctx: Any) -> Figure:
    """The chain [q0, q1..qL, special] of ``ctx`` as bars, one per level, with the scale after each rescale."""
    ch = ckks_chain(ctx)
    primes, sizes, depth = ch["primes"], ch["bit_sizes"], ch["depth"]
    total = sum(sizes)
    rows = depth + 2  # keys row + fresh + one per rescale
    fig = DiagramFigure(figsize=(10.5, 1.6 + 0.55 * rows + 0.17 * len(primes)))
    ax = fig.add_axes((0.19, 0.2 + 0.02 * len(primes), 0.5, 0.62))
    names = ["q0"] + [f"q{i}" for i in range(1, depth + 1)] + ["special"]
    colours = [_BLUE] + [_ORANGE] * depth + [_GREY]
    labels = []
    for r in range(rows):
        y = rows - 1 - r
        keep = len(primes) if r == 0 else depth + 2 - r  # number of primes in this row's modulus
        x0 = 0
        for j in range(keep):
            ax.barh(y, sizes[j], left=x0, color=colours[j], edgecolor=_EDGE, height=0.6,
                    hatch="//" if names[j] == "special" else None)
            ax.text(x0 + sizes[j] / 2, y, f"{names[j]}\n{sizes[j]} b", ha="center", va="center", fontsize=6.5)
            x0 += sizes[j]
        if r == 0:
            labels.append("keys (key switching)")
            note = f"Q = {total} bits incl. special"
        elif r == 1:
            labels.append("fresh ciphertext")
            st = ch["steps"][0] if ch["steps"] else None
            note = f"scale 2^{ch['scale_bits']}" + (f", level {st['level']}" if st else "")
        else:
            labels.append(f"after {r - 1} multiply + rescale")
            st = ch["steps"][r - 1] if len(ch["steps"]) > r - 1 else None
            note = (f"/ {names[keep]} -> scale 2^{st['log2_scale_exact']:.7f}\n(TenSEAL records "
                    f"2^{st['log2_scale_tenseal']:g}), level {st['level']}") if st else f"/ {names[keep]}"
        ax.text(total + 4, y, note, va="center", fontsize=6.8)
    ax.set_yticks(range(rows), labels[::-1], fontsize=7.5)
    ax.set_xlim(0, total)
    ax.set_xlabel("modulus bits (each block one prime; a rescale divides by the last one and drops it)", fontsize=7.5)
    ax.tick_params(axis="x", labelsize=7)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    listing = "   ".join(f"{nm} = {q} ({q.bit_length()} bits)" for nm, q in zip(names, primes))
    fig.text(0.01, 0.02, "Primes read from this context (all = 1 mod 2N):\n" + _wrap(listing, 150), fontsize=6.8,
             va="bottom", family="monospace")
    fig.suptitle(f"CKKS modulus chain of this context: N = {ch['poly_modulus_degree']}, chain {sizes}, "
                 f"scale 2^{ch['scale_bits']}, depth {depth}: each multiply doubles the scale's bits, "
                 "the rescale brings it back", fontsize=8.5)
    return fig


# =============================================================================================
# 4. DP-SGD: clip, sum, noise, average, step; the accountant
# =============================================================================================
def dp_sgd_facts(*, max_grad_norm: float = 1.0, noise_multiplier: float = 1.0, batch_size: int = 6,
                 dataset_size: int = 600, steps: int = 1000, delta: float = 1e-5, lr: float = 0.5,
                 rng: RNGLike = None) -> dict[str, Any]:
    """One real DP-SGD step on a 2-parameter model (``nn.Linear(1, 1)``: its gradients are 2-D arrows).

    Per-record gradients by :func:`~ppml_lab.dp.dp_sgd.per_sample_gradients`, clipped by
    :func:`~ppml_lab.dp.clipping.clip_per_sample`, noised and averaged by :func:`~ppml_lab.dp.dp_sgd.noisy_mean`
    over the expected lot size q N (q = batch_size / dataset_size); epsilon from
    :class:`~ppml_lab.dp.accounting.RDPAccountant` after ``steps`` such steps, per record.
    """
    import torch
    from torch import nn

    from ppml_lab._rng import torch_generator
    from ppml_lab.dp.accounting import RDPAccountant
    from ppml_lab.dp.clipping import clip_per_sample
    from ppml_lab.dp.dp_sgd import noisy_mean, per_sample_gradients

    c = check_positive("max_grad_norm", max_grad_norm)
    sigma = check_positive("noise_multiplier", noise_multiplier)
    b = check_int("batch_size", batch_size, low=2, high=40)
    n = check_int("dataset_size", dataset_size, low=b)
    t = check_int("steps", steps, low=1)
    g = resolve_rng(rng)
    x = torch.tensor(g.uniform(-1.5, 1.5, size=(b, 1)), dtype=torch.float64)
    y = 0.8 * x + 0.3 + torch.tensor(g.normal(0, 0.3, size=(b, 1)), dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):  # the layer's init draw must not move the caller's torch RNG
        model = nn.Linear(1, 1).double()
    with torch.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(0.0)

    def loss_fn(out: Any, target: Any) -> Any:
        return 0.5 * ((out - target) ** 2).mean()

    grads = per_sample_gradients(model, loss_fn, x, y)
    clipped, norms = clip_per_sample(grads, max_grad_norm=c)

    def as2d(d: Mapping[str, Any]) -> np.ndarray:
        return torch.cat([d["weight"].reshape(b, -1), d["bias"].reshape(b, -1)], dim=1).numpy().copy()

    q = b / n
    m = q * n
    noisy = noisy_mean(clipped, noise_multiplier=sigma, max_grad_norm=c, expected_batch_size=m,
                       rng=torch_generator(random_seed(g)))
    g_hat = np.array([float(noisy["weight"].reshape(-1)[0]), float(noisy["bias"].reshape(-1)[0])])
    raw, clip = as2d(grads), as2d(clipped)
    summed = clip.sum(axis=0)
    noise = g_hat * m - summed
    acc = RDPAccountant()
    acc.step(noise_multiplier=sigma, sample_rate=q, steps=t)
    theta = np.zeros(2)
    return {"max_grad_norm": c, "noise_multiplier": sigma, "sample_rate": q, "expected_batch_size": m,
            "steps": t, "delta": float(delta), "lr": float(lr), "raw": raw, "norms": norms.numpy().copy(),
            "clipped": clip, "sum": summed, "noise": noise, "noisy_mean": g_hat, "theta": theta,
            "theta_next": theta - lr * g_hat, "epsilon": acc.get_epsilon(delta), "unit": "record"}


def dp_sgd_figure(*, max_grad_norm: float = 1.0, noise_multiplier: float = 1.0, batch_size: int = 6,
                  dataset_size: int = 600, steps: int = 1000, delta: float = 1e-5, lr: float = 0.5,
                  rng: RNGLike = None) -> Figure:
    """DP-SGD's pipeline (Abadi et al. 2016, Alg. 1) drawn on one real step of :func:`dp_sgd_facts`."""
    from ppml_lab.dp.ledger import format_spend

    f = dp_sgd_facts(max_grad_norm=max_grad_norm, noise_multiplier=noise_multiplier, batch_size=batch_size,
                     dataset_size=dataset_size, steps=steps, delta=delta, lr=lr, rng=rng)
    c, sigma, m = f["max_grad_norm"], f["noise_multiplier"], f["expected_batch_size"]
    fig = DiagramFigure(figsize=(10.5, 4.3))
    strip = fig.add_axes((0.005, 0.76, 0.99, 0.16))
    strip.set_xlim(0, 10.5)
    strip.set_ylim(0, 1)
    strip.axis("off")
    stages = ["per-record\ngradients g_i", f"clip: g_i * min(1, C/||g_i||)\nC = max_grad_norm = {c:g}",
              "sum over\nthe lot", f"+ N(0, sigma^2 C^2 I)\nsigma = noise_multiplier = {sigma:g}",
              f"/ expected lot size\nqN = {m:g} (not the realised)", f"optimizer step\ntheta - lr * g_hat, lr = {f['lr']:g}"]
    w = 1.55
    for i, s in enumerate(stages):
        x0 = 0.05 + i * 1.75
        _box(strip, x0, 0.1, w, 0.8, s, fc=_ORANGE if i in (1, 3) else _BLUE, size=7)
        if i:
            _arrow(strip, (x0 - 0.2, 0.5), (x0, 0.5))
    raw, clip = f["raw"], f["clipped"]
    lim = 1.15 * max(float(np.abs(raw).max()), c)
    titles = ["1. per-record gradients", f"2. clipped to ||g|| <= C = {c:g}", "3. sum + Gaussian noise",
              "4. average and step"]
    axes = [fig.add_axes((0.06 + 0.245 * k, 0.2, 0.19, 0.47)) for k in range(4)]
    for k, ax in enumerate(axes):
        ax.set_title(titles[k], fontsize=8)
        ax.tick_params(labelsize=6.5)
        ax.axhline(0, color="#bbbbbb", lw=0.5)
        ax.axvline(0, color="#bbbbbb", lw=0.5)
        ax.set_xlabel("d loss / d weight", fontsize=6.5)
        if k == 0:
            ax.set_ylabel("d loss / d bias", fontsize=6.5)
    for ax, vecs in ((axes[0], raw), (axes[1], clip)):
        ax.add_patch(Circle((0, 0), c, fill=False, ls="--", color="#b00000", lw=0.9))
        for v in vecs:
            _arrow(ax, (0, 0), (float(v[0]), float(v[1])), color="#1f5fa8")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    axes[0].text(0, -0.92 * lim, f"{int((f['norms'] > c).sum())} of {len(raw)} outside C", ha="center", fontsize=6.5)
    s, noise = f["sum"], f["noise"]
    noisy_sum = s + noise
    lim3 = 1.15 * max(float(np.abs(s).max()), float(np.abs(noisy_sum).max()), 1e-9)
    _arrow(axes[2], (0, 0), (float(s[0]), float(s[1])), color="#1f5fa8", lw=1.4)
    _arrow(axes[2], (float(s[0]), float(s[1])), (float(noisy_sum[0]), float(noisy_sum[1])), color="#b00000")
    _arrow(axes[2], (0, 0), (float(noisy_sum[0]), float(noisy_sum[1])), color="#444444", ls="--")
    axes[2].add_patch(Circle((float(s[0]), float(s[1])), sigma * c, fill=False, ls=":", color="#b00000"))
    axes[2].set_xlim(-lim3, lim3)
    axes[2].set_ylim(-lim3, lim3)
    axes[2].set_aspect("equal")
    axes[2].text(0, -0.92 * lim3, f"blue: sum; red: noise (circle: std sigma*C = {sigma * c:g})", ha="center",
                 fontsize=6)
    th, th1 = f["theta"], f["theta_next"]
    lim4 = 1.3 * max(float(np.abs(th1).max()), 1e-9)
    axes[3].plot([th[0]], [th[1]], "o", color="#1f5fa8", ms=4)
    _arrow(axes[3], (float(th[0]), float(th[1])), (float(th1[0]), float(th1[1])), color="#2a7a2a", lw=1.4)
    axes[3].set_xlim(-lim4, lim4)
    axes[3].set_ylim(-lim4, lim4)
    axes[3].set_aspect("equal")
    axes[3].set_xlabel("weight", fontsize=6.5)
    axes[3].set_ylabel("bias", fontsize=6.5)
    axes[3].text(0, -0.92 * lim4, f"theta -> theta - lr * (noisy sum)/{m:g}", ha="center", fontsize=6)
    fig.text(0.01, 0.02,
             f"Accountant (RDP, subsampled Gaussian): q = {f['sample_rate']:g}, sigma = {sigma:g}, {f['steps']} steps "
             f"-> epsilon = {format_spend(f['epsilon'])} per {f['unit']} at delta = {f['delta']:g}.\n"
             "C bounds each record's influence (the sensitivity); only (q, sigma, steps, delta) set epsilon.",
             fontsize=7.5, wrap=True)
    fig.suptitle(f"DP-SGD, one step of a 2-parameter model on a lot of {len(raw)} records "
                 "(Abadi et al. 2016, Alg. 1)", fontsize=9.5)
    return fig


# =============================================================================================
# 5. Deployment Engine topology
# =============================================================================================
def deployment_links(config: Any) -> dict[str, Any]:
    """What a :class:`~ppml_lab.fl.deploy.DeploymentConfig` starts and what crosses each link.

    Read from the config's flags and the deployment modules' constants (the Fleet API route prefix the
    SuperLink guard lets remote peers reach, the app publisher's key id), not typed separately.
    """
    from ppml_lab.fl.certs import LOOPBACK
    from ppml_lab.fl.deploy import PUBLISHER_KEY_ID, DeploymentConfig
    from ppml_lab.fl.deploy.superlink_guard import FLEET_PREFIX

    check_type("config", config, DeploymentConfig)
    cfg = config
    fleet = [f"Fleet API ({FLEET_PREFIX}), HTTPS: TLS, CA-checked" if cfg.tls else
             f"Fleet API ({FLEET_PREFIX}), plain HTTP (--insecure)"]
    if cfg.node_auth:
        fleet.append("SuperNode auth: requests signed, EC P-384 key registered")
    if cfg.secagg:
        fleet.append(f"SecAgg+ masked updates (t = {cfg.effective_threshold} of {cfg.n_supernodes})")
    else:
        fleet.append("model updates in the clear to the SuperLink")
    if cfg.sign_app:
        fleet.append(f"app (FAB) signed by {PUBLISHER_KEY_ID}; run only if trusted")
    if cfg.dp_noise_multiplier > 0:
        fleet.append(f"updates clipped to C = {cfg.dp_max_update_norm:g} (central DP, sigma = {cfg.dp_noise_multiplier:g})")
    control = f"Control API (flwr run / ls): {LOOPBACK} only (superlink_guard)"
    serverapp = ("ServerApp inside the SuperLink process (in-process executor)" if cfg.inprocess_apps else
                 "SuperExec -> one ServerApp process per run")
    clientapp = ("ClientApp inside the SuperNode process" if cfg.inprocess_apps else
                 "SuperExec -> one ClientApp process per message")
    return {"n_supernodes": cfg.n_supernodes, "fleet": fleet, "control": control, "serverapp": serverapp,
            "clientapp": clientapp, "superexec_started": not cfg.inprocess_apps, "tls": cfg.tls,
            "node_auth": cfg.node_auth, "sign_app": cfg.sign_app, "secagg": cfg.secagg,
            "threshold": cfg.effective_threshold if cfg.secagg else None}


def deployment_topology_figure(config: Any, *, names: Sequence[str] | None = None) -> Figure:
    """SuperLink, SuperNodes and apps of a :class:`~ppml_lab.fl.deploy.DeploymentConfig`, and what each link carries."""
    lk = deployment_links(config)
    n = lk["n_supernodes"]
    if names is None:
        from ppml_lab.data import SITES

        names = list(SITES) if n == len(SITES) else [f"hospital {k}" for k in range(n)]
    if len(names) != n:
        raise ValueError(f"names must give one name per SuperNode ({n}), got {len(names)}")
    fig = DiagramFigure(figsize=(10.5, 5.4))
    ax = fig.add_axes((0.005, 0.005, 0.99, 0.9))
    ax.set_xlim(0, 10.5)
    ax.set_ylim(0, 6)
    ax.axis("off")
    # coordinator machine
    ax.add_patch(FancyBboxPatch((2.2, 3.75), 6.1, 2.15, boxstyle="round,pad=0.02", fc="#f7f7f7", ec="#777777",
                                ls="--", lw=0.8))
    ax.text(2.3, 5.75, "coordinator's machine", fontsize=7.5, style="italic", va="center")
    _box(ax, 4.0, 4.55, 2.5, 0.75, "SuperLink\n(Fleet + Control + Runtime APIs)", fc=_BLUE, size=8, weight="bold")
    _box(ax, 6.7, 4.55, 1.5, 0.75, _wrap(lk["serverapp"], 22), fc=_ORANGE, size=6.5)
    _arrow(ax, (6.5, 4.92), (6.7, 4.92), style="<|-|>")
    _box(ax, 2.3, 4.55, 1.5, 0.75, "operator:\nflwr run / ls\n(launcher)", fc=_GREY, size=7)
    _arrow(ax, (3.8, 4.92), (4.0, 4.92))
    ax.text(2.3, 4.05, _wrap(lk["control"], 70), fontsize=6.8, va="center", color="#7a4a00")
    if not lk["superexec_started"]:
        _box(ax, 6.7, 3.85, 1.5, 0.55, "SuperExec: Flower's\ndefault, not started", fc="white", ls=":", size=6.3)
    else:
        _box(ax, 6.7, 3.85, 1.5, 0.55, "SuperExec\n(starts app processes)", fc=_GREY, size=6.5)
    # hospitals
    w = 10.3 / n
    for k in range(n):
        x0 = 0.1 + k * w
        ax.add_patch(FancyBboxPatch((x0 + 0.05, 0.1), w - 0.1, 1.55, boxstyle="round,pad=0.02", fc="#f7f7f7",
                                    ec="#777777", ls="--", lw=0.8))
        ax.text(x0 + w / 2, 1.5, str(names[k]), ha="center", fontsize=7.5, style="italic")
        _box(ax, x0 + 0.15, 0.85, w - 0.3, 0.5, f"SuperNode {k}", fc=_BLUE, size=7.5, weight="bold")
        _box(ax, x0 + 0.15, 0.2, w - 0.3, 0.55, _wrap(lk["clientapp"], 24) + "\n+ local data (stays)",
             fc=_ORANGE, size=5.8)
        _arrow(ax, (x0 + w / 2, 1.35), (5.25, 4.55), style="<|-|>", color="#1f5fa8", lw=0.8)
    ax.text(0.15, 3.3, "every SuperNode <-> SuperLink link carries:\n" + "\n".join("- " + ln for ln in lk["fleet"]),
            fontsize=7, va="top", color="#1f5fa8", zorder=5, linespacing=1.5,
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#1f5fa8", "lw": 0.6})
    fig.suptitle(f"Flower Deployment Engine as the launcher starts it: one SuperLink, {n} SuperNodes "
                 "(SuperNodes dial out; nothing dials into a hospital)", fontsize=9)
    return fig


# =============================================================================================
# 6. Capstone: privacy, utility and cost of the techniques
# =============================================================================================
_TABLE_COLUMNS = ("accuracy cost (pp)", "compute overhead (x)", "bytes per client")


def privacy_utility_cost_figure(table: Any, *, epsilons: Mapping[str, tuple[float, str]] | None = None) -> Figure:
    """Accuracy cost against compute overhead, and bytes per client, for each row of a technique table.

    ``table``: the DataFrame of :func:`ppml_lab.report.technique_table` (index: technique; columns
    ``accuracy cost (pp)``, ``compute overhead (x)``, ``bytes per client``; ``task`` optional).
    ``epsilons``: technique -> (epsilon, privacy unit) for the rows with a DP guarantee; the unit is printed
    beside every epsilon and epsilons of different units are never put on one axis. Holds no numbers itself.
    """
    import pandas as pd

    from ppml_lab.dp.ledger import format_spend

    check_type("table", table, pd.DataFrame)
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table must have the columns {list(_TABLE_COLUMNS)}, missing {missing}")
    if len(table) == 0:
        raise ValueError("table must have at least one row, got 0")
    eps = dict(epsilons or {})
    for k, v in eps.items():
        if k not in table.index:
            raise ValueError(f"epsilons names technique {k!r}, which is not a row of the table ({list(table.index)})")
        if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str) and v[1]):
            raise TypeError(f"epsilons[{k!r}] must be (epsilon, unit), e.g. (2.58, 'patient'), got {v!r}")
        check_positive(f"epsilons[{k!r}] epsilon", v[0])
    names = list(table.index)
    cost = table["accuracy cost (pp)"].to_numpy(dtype=float)
    over = table["compute overhead (x)"].to_numpy(dtype=float)
    nbytes = table["bytes per client"].to_numpy(dtype=float)
    if np.any(over <= 0) or np.any(nbytes < 0):
        raise ValueError("compute overhead (x) must be > 0 and bytes per client >= 0 in every row")
    tasks = table["task"].astype(str).tolist() if "task" in table.columns else [""] * len(names)
    fig = DiagramFigure(figsize=(10.5, 4.2))
    ax1 = fig.add_axes((0.07, 0.14, 0.5, 0.72))
    ax2 = fig.add_axes((0.74, 0.14, 0.24, 0.72))
    placed: list[tuple[float, float, int]] = []
    spots = [(6, 5), (6, -22), (-8, 5), (-8, -22)]  # label offsets (points), tried in turn for crowded points
    for i, name in enumerate(names):
        dp = name in eps
        marker = "s" if tasks[i].startswith("aggregate") else "o"
        ax1.scatter([over[i]], [cost[i]], s=40, marker=marker, color="#b00000" if dp else "#1f5fa8", zorder=3,
                    label=None)
        label = name + (f"\neps = {format_spend(eps[name][0])} per {eps[name][1]}" if dp else "\nno DP")
        used = {k for x, y, k in placed if abs(math.log10(over[i]) - math.log10(x)) < 0.9 and abs(cost[i] - y) < 0.6}
        spot = next((k for k in range(len(spots)) if k not in used), 0)
        dx, dy = spots[spot]
        ax1.annotate(label, (over[i], cost[i]), xytext=(dx, dy), textcoords="offset points", fontsize=6.5,
                     ha="left" if dx > 0 else "right")
        placed.append((over[i], cost[i], spot))
    ax1.set_xscale("log")
    ax1.set_xlabel("compute overhead (x its plaintext baseline, log)", fontsize=7.5)
    ax1.set_ylabel("accuracy cost (percentage points)", fontsize=7.5)
    ax1.axhline(0, color="#bbbbbb", lw=0.6)
    ax1.tick_params(labelsize=7)
    ax1.set_xlim(min(over) / 2, max(over) * 8)
    span = max(cost) - min(cost)
    ax1.set_ylim(min(cost) - 0.1 * span - 0.5, max(cost) + 0.3 * span + 0.5)
    ax1.set_title("utility and compute (circle: training, square: aggregation; red: with DP)", fontsize=8)
    order = np.arange(len(names))[::-1]
    ax2.barh(order, np.maximum(nbytes, 1.0), color=["#b00000" if nm in eps else "#1f5fa8" for nm in names])
    ax2.set_yticks(order, names, fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("bytes per client (log)", fontsize=7.5)
    ax2.tick_params(axis="x", labelsize=7)
    ax2.set_title("communication", fontsize=8)
    fig.suptitle("Privacy, utility and cost of each technique, as measured in this notebook "
                 "(epsilons of different units are not comparable)", fontsize=9)
    return fig
