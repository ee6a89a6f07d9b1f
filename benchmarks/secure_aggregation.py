#!/usr/bin/env python3
"""Secure aggregation at scale: per-client compute and bytes for Bonawitz masking, our SecAgg+, Flower's
SecAgg+, packed Paillier and CKKS, at 100 and 1,000 clients with 10^5-parameter updates (--quick: 10^3
parameters at 40 and 120 clients; the *_100 keys are then at 40).

Every client holds a vector quantised to [0, 2^20) (a window of one random buffer, so 1,000 clients x 10^5
values fit in memory); the masking protocols sum exactly these integers (ours in Z_2^64, Flower's in
Z_2^32) and each sum is checked against the plaintext sum. Paillier and CKKS encrypt the same values
de-quantised to floats in [-8, 8).

"Per-client seconds" is the CPU time (``time.process_time``: the machine is shared) one client spends in its own protocol steps: for the masking protocols
the mean over all n clients of the time inside that client's calls (key generation shared out evenly),
all parties simulated in this one process (the server's work is printed apart); for Paillier and CKKS the
time one client takes to encrypt its vector under the round's packing (measured on one client: it does
not depend on the others). Bytes per client: everything a client sends; the expansion divides by the
float64 vector sent in the clear (8 bytes a value). Bonawitz masking at 1,000 clients is O(n) per client
(999 pair masks of 10^5 values each, about half an hour of CPU for the whole in-process round), so there
only one client's masking step (``masks.mask_input`` with 999 pair secrets) is timed, and labelled so.

Flower's SecAgg+ runs its own client code (``secaggplus_mod`` stages) in-process with the same graph
family, k + 1 shares and the same threshold (:mod:`ppml_lab.fl.secagg.flower_secaggplus`).

Older keys (``masking_*_100``, ``hardened_over_raw_seconds_100``) are now per-client figures at 100 clients
on the 10^5-parameter vectors (before: whole-round seconds at 10^4 parameters).

Usage: python benchmarks/secure_aggregation.py [--quick]
Last line: RESULT masking_speedup_vs_paillier_1e5=... masking_expansion_1e5=... secaggplus_speedup_vs_flower=...
           secaggplus_cost_growth_100_to_1000=... (+ the older keys)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ppml_lab.fl import aggregators as ag
from ppml_lab.fl.secagg import masks
from ppml_lab.fl.secagg import secaggplus as sp
from ppml_lab.fl.secagg.flower_secaggplus import flower_secaggplus_sum
from ppml_lab.fl.secagg.protocol import make_round

R, CLIP = 2**20, 8.0  # quantisation range and clipping range shared by every method


class Clock:
    """Per-party CPU time (this process, all threads) inside the calls made through it.

    CPU time, not wall time: the machine is shared, and wall time would measure the other tenants' load.
    """

    def __init__(self) -> None:
        self.client: dict[int, float] = defaultdict(float)
        self.server = 0.0

    def c(self, u: int, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.process_time()
        out = fn(*args)
        self.client[u] += time.process_time() - t0
        return out

    def s(self, fn: Callable[..., Any], *args: Any) -> Any:
        t0 = time.process_time()
        out = fn(*args)
        self.server += time.process_time() - t0
        return out


def bonawitz_round(vectors: Mapping[int, np.ndarray], level: str) -> tuple[np.ndarray, float, float, float]:
    """(sum, per-client seconds, bytes per client, server seconds) of one Bonawitz round, no drop-outs."""
    n = len(vectors)
    clk = Clock()
    t0 = time.process_time()
    clients, server = make_round(vectors, threshold=masks.minimum_threshold(n), level=level)
    setup = (time.process_time() - t0) / n  # key generation, shared out evenly
    ids = sorted(clients)
    keys = clk.s(server.collect_keys, [clk.c(u, clients[u].advertise_keys) for u in ids])
    inbox = clk.s(server.route_shares, {u: clk.c(u, clients[u].share_keys, keys) for u in ids})
    u3 = clk.s(server.collect_masked, [clk.c(u, clients[u].masked_input, inbox[u]) for u in ids])
    if server.hardened:
        clk.s(server.collect_signatures, [clk.c(u, clients[u].consistency_check, u3) for u in ids])
    request = server.unmask_request()
    total = clk.s(server.unmask, {u: clk.c(u, clients[u].unmask, request) for u in ids})
    per_client = float(np.mean([clk.client[u] for u in ids])) + setup
    return total, per_client, float(np.mean([c.bytes_sent for c in clients.values()])), clk.server


def secaggplus_round(vectors: Mapping[int, np.ndarray], *, degree: int, threshold: int) -> tuple[np.ndarray, float, float, float]:
    """The same for our SecAgg+ (masked inputs streamed into the server's running sum)."""
    n = len(vectors)
    clk = Clock()
    t0 = time.process_time()
    clients, server = sp.make_plus_round(vectors, degree=degree, threshold=threshold)
    setup = (time.process_time() - t0) / n
    ids = sorted(clients)
    clk.s(server.collect_keys, [clk.c(u, clients[u].advertise_keys) for u in ids])
    u1 = server.u1
    inbox = clk.s(server.route_shares, {u: clk.c(u, clients[u].share_keys, server.keys_for(u), u1) for u in ids})
    inside = sum(clk.client.values())
    clk.s(server.collect_masked, (clk.c(u, clients[u].masked_input, inbox[u]) for u in ids))  # streamed
    clk.server -= sum(clk.client.values()) - inside  # the clients' masking ran inside the server's loop
    clk.s(server.collect_signatures, [clk.c(u, clients[u].consistency_check, server.view_for(u)) for u in ids])
    request = server.unmask_request()
    total = clk.s(server.unmask, {u: clk.c(u, clients[u].unmask, request) for u in ids})
    per_client = float(np.mean([clk.client[u] for u in ids])) + setup
    return total, per_client, float(np.mean([c.bytes_sent for c in clients.values()])), clk.server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^3 parameters at 40 and 120 clients")
    args = parser.parse_args()
    dim, sizes = (1_000, (40, 120)) if args.quick else (100_000, (100, 1_000))
    start = time.perf_counter()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    g = np.random.default_rng(0)  # inputs only; keys, masks and shares come from the OS CSPRNG
    buf = g.integers(0, R, size=dim + max(sizes), dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(buf, dim)  # client i holds buf[i : i + dim] (read-only)
    prefix = np.concatenate([[0], np.cumsum(buf.astype(np.int64))])

    def exact(n: int) -> np.ndarray:  # sum_{i < n} buf[i : i + dim]
        return (prefix[n : n + dim] - prefix[:dim]).astype(np.int64)

    def floats(i: int) -> np.ndarray:
        return windows[i].astype(np.float64) * (2 * CLIP / R) - CLIP

    paillier = ag.PaillierAggregator(key_bits=2048, bound=CLIP, precision=20)
    warm = paillier._p.packing_scheme(paillier.public_key, bound=CLIP, max_additions=2, precision=20)
    paillier._p.encrypt_packed(paillier.public_key, np.zeros(8), warm)  # warm-up: first-call costs out of the timing
    ckks = ag.CKKSAggregator()
    print(f"one round, {dim:,} parameters per client, values quantised to [0, 2^20)")
    print(f"{'clients':>7} {'method':<44} {'s/client':>9} {'bytes/client':>13} {'vs float64':>10} {'server s':>9}")
    rows: dict[tuple[int, str], tuple[float, float]] = {}

    def row(n: int, name: str, secs: float, nbytes: float, server: float | None = None) -> None:
        rows[(n, name)] = (secs, nbytes)
        srv = f"{server:>9.2f}" if server is not None else f"{'-':>9}"
        print(f"{n:>7} {name:<44} {secs:>9.4f} {nbytes:>13,.0f} {nbytes / (8 * dim):>10.3f} {srv}", flush=True)

    for n in sizes:
        vectors = {i: windows[i] for i in range(n)}
        want = exact(n)
        k = sp.recommended_degree(n)
        t = sp.default_threshold(k)
        if n <= 100:
            for level in ("hardened", "raw"):
                total, secs, nb, srv = bonawitz_round({i: v.copy() for i, v in vectors.items()}, level)
                assert np.array_equal(total.astype(np.int64), want), f"Bonawitz ({level}) sum is wrong"
                row(n, f"masking (Bonawitz, {level})", secs, nb, srv)
        else:
            secrets = {v: os.urandom(32) for v in range(1, n)}
            t0 = time.process_time()
            masks.mask_input(windows[0], client_id=0, self_seed=os.urandom(32), pair_secrets=secrets,
                             session=os.urandom(16), round_id=0)
            row(n, "masking (Bonawitz) - masking step only", time.process_time() - t0, 8 * dim)
        total, secs, nb, srv = secaggplus_round(vectors, degree=k, threshold=t)
        assert np.array_equal(total.astype(np.int64), want), "SecAgg+ sum is wrong"
        row(n, f"SecAgg+ (ours, k={k}, t={t})", secs, nb, srv)
        fl = flower_secaggplus_sum(vectors, num_shares=k + 1, threshold=t, target_range=R, clipping_range=CLIP)
        assert np.array_equal(fl.total, want % 2**32), "Flower SecAgg+ sum differs from the plaintext sum"
        row(n, f"SecAgg+ (Flower 1.42, k={k}, t={t})", float(np.mean(list(fl.client_seconds.values()))),
            float(np.mean(list(fl.bytes_sent_per_client.values()))), fl.server_seconds)
        scheme = paillier._p.packing_scheme(paillier.public_key, bound=CLIP, max_additions=n, precision=20)
        t0 = time.process_time()
        ct = paillier._p.encrypt_packed(paillier.public_key, floats(0), scheme)
        row(n, "Paillier (packed, 2048-bit), one client", time.process_time() - t0,
            ct.n_ciphertexts * 2 * paillier.public_key.key_bits / 8)
        slots = ckks.public.params.slots
        t0 = time.process_time()
        cts = [ckks.public.encrypt(floats(0)[i : i + slots]) for i in range(0, dim, slots)]
        row(n, f"CKKS ({ckks.preset}), one client", time.process_time() - t0, float(sum(c.nbytes for c in cts)))
        print(f"        SecAgg+ risk bounds at n={n}, k={k}, t={t}: Pr[some honest neighbourhood dominated] <= "
              f"{sp.neighbourhood_risk(n, degree=k, threshold=t, colluders=n // 20):.2e} with 5% colluders; "
              f"Pr[graph split] <= {sp.disconnection_bound(n, degree=k, removed=n // 10):.2e} with 10% removed",
              flush=True)

    small, large = sizes
    hard, raw = rows[(small, "masking (Bonawitz, hardened)")], rows[(small, "masking (Bonawitz, raw)")]
    pail = rows[(small, "Paillier (packed, 2048-bit), one client")]
    ck = rows[(small, f"CKKS ({ckks.preset}), one client")]
    ours = {n: next(v for (m, name), v in rows.items() if m == n and name.startswith("SecAgg+ (ours")) for n in sizes}
    flwr = {n: next(v for (m, name), v in rows.items() if m == n and name.startswith("SecAgg+ (Flower")) for n in sizes}
    growth = ours[large][0] / ours[small][0]
    print(f"SecAgg+ per-client growth {small} -> {large} clients: {growth:.2f}x (log n grows "
          f"{math.log(large) / math.log(small):.2f}x, k grows {sp.recommended_degree(large) / sp.recommended_degree(small):.2f}x, "
          f"n grows {large / small:.0f}x)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; wall {time.perf_counter() - start:.0f} s")
    print(f"RESULT masking_speedup_vs_paillier_1e5={pail[0] / hard[0]:.2f} masking_expansion_1e5={hard[1] / (8 * dim):.3f} "
          f"secaggplus_speedup_vs_flower={flwr[large][0] / ours[large][0]:.2f} "
          f"secaggplus_speedup_vs_flower_{small}={flwr[small][0] / ours[small][0]:.2f} "
          f"secaggplus_cost_growth_{small}_to_{large}={growth:.2f} "
          f"masking_expansion_100={hard[1] / (8 * dim):.3f} masking_expansion_vs_16bit_100={hard[1] / (2 * dim):.3f} "
          f"hardened_over_raw_seconds_100={hard[0] / raw[0]:.2f} masking_speedup_vs_paillier_100={pail[0] / hard[0]:.2f} "
          f"masking_speedup_vs_ckks_100={ck[0] / hard[0]:.2f} dim={dim} clients={small},{large}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
