#!/usr/bin/env python3
"""Paillier: ppml_lab.he.paillier vs python-paillier (phe), both on gmpy2, same p and q, one process.

Ops are timed interleaved (ours, phe, ours, phe, ...) in CPU time (process_time) and the median over
repetitions of the mean per-op time is reported. Also one bare
``powmod(r, n, n^2)``: the cost of the random factor in textbook encryption, and loading a public key
(ours runs the size, structure and trial-division checks; phe's constructor runs none). The aggregation task is an
encrypted sum of 1,000 integers in [-1000, 1000] held by 10 parties (100 each; --quick: 10 each):
every party encrypts, an aggregator adds, the key owner decrypts; ours packs the values into slots.

Usage: python benchmarks/paillier.py [--quick]
Last line: RESULT key=value ... (ratios at 2048 bits; > 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import gmpy2
import numpy as np
import phe

from ppml_lab.he import paillier as P

# CPU time of this process, not wall time: on a shared machine a millisecond-long op is often preempted,
# and wall-clock samples then measure the scheduler rather than the arithmetic (everything here is
# single-threaded, so CPU time is the work done).
CLOCK = time.process_time


def alternate(pairs: dict, items, reps: int, inner: int = 1) -> dict:
    """pairs: name -> fn. Interleaved per item (ours, phe, ours, phe, ...) so load swings on a shared machine
    hit both sides alike; ``inner`` repeats each call to amortise the timer for microsecond ops.
    Returns the median over reps of the mean seconds per op."""
    times = {k: [] for k in pairs}
    clock = CLOCK
    for _ in range(reps):
        acc = dict.fromkeys(pairs, 0.0)
        for x in items:
            for name, fn in pairs.items():
                t0 = clock()
                for _ in range(inner):
                    fn(x)
                acc[name] += clock() - t0
        for name in pairs:
            times[name].append(acc[name] / (len(items) * inner))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_key(bits: int, reps: int, batch: int, seed: int) -> dict:
    pub, priv = P.generate_paillier_keypair(key_bits=bits)  # primes from the OS CSPRNG (a seed is ignored)
    ppub = phe.PaillierPublicKey(pub.n)
    ppriv = phe.PaillierPrivateKey(ppub, priv.p, priv.q)
    rng = np.random.default_rng(seed)
    values = [int(v) for v in rng.integers(-(2**31), 2**31, size=batch)]
    scalars = [int(v) for v in rng.integers(1, 2**31, size=batch)]
    pub.encrypt(0)  # build the fixed-base table once (cost reported separately)
    t0 = CLOCK()
    pub._cache.clear()
    pub.encrypt(0)
    table_s = CLOCK() - t0
    # loading a public key runs the size / structure / trial-division checks (phe's constructor runs none);
    # the check is cached per n, so clear that cache to time the first load
    from ppml_lab.he.paillier import keys as _keys

    def load_ours(n: int) -> None:
        _keys._check_modulus.cache_clear()
        P.PaillierPublicKey(n)

    load = alternate({"ours": load_ours, "phe": lambda n: phe.PaillierPublicKey(n)}, [pub.n], reps, inner=3)
    n, nsq = gmpy2.mpz(pub.n), gmpy2.mpz(pub.nsquare)
    rs = [gmpy2.mpz(int(pub.n) - 1 - i * 7919) for i in range(batch)]

    enc = alternate({
        "ours": lambda v: pub.encrypt(v),
        "ours_owner_crt": lambda v: priv.encrypt(v),
        "ours_full_r": lambda v: pub.encrypt(v, randomness="full"),
        "phe": lambda v: ppub.encrypt(v),
    }, values, reps)
    powmod_s = alternate({"powmod": lambda r: gmpy2.powmod(r, n, nsq)}, rs, reps)["powmod"]

    ours_c = [pub.encrypt(v) for v in values]
    phe_c = [ppub.encrypt(v) for v in values]
    idx = list(range(batch))
    dec = alternate({"ours": lambda i: priv.decrypt(ours_c[i]), "phe": lambda i: ppriv.decrypt(phe_c[i])}, idx, reps)
    add = alternate({"ours": lambda i: ours_c[i] + ours_c[i - 1], "phe": lambda i: phe_c[i] + phe_c[i - 1]},
                    idx, reps, inner=20)
    mul = alternate({"ours": lambda i: ours_c[i] * scalars[i], "phe": lambda i: phe_c[i] * scalars[i]}, idx, reps)
    for i in range(3):  # the two libraries agree on what they computed
        assert ppriv.decrypt(phe_c[i] * scalars[i]) == priv.decrypt(ours_c[i] * scalars[i]) == values[i] * scalars[i]
    return {"bits": bits, "load": load, "enc": enc, "powmod": powmod_s, "dec": dec, "add": add, "mul": mul, "table_s": table_s,
            "pub": pub, "priv": priv, "ppub": ppub, "ppriv": ppriv}


def packed_sum(k: dict, parties: int, per_party: int, reps: int, seed: int) -> dict:
    pub, priv, ppub, ppriv = k["pub"], k["priv"], k["ppub"], k["ppriv"]
    rng = np.random.default_rng(seed)
    data = [rng.integers(-1000, 1001, size=per_party) for _ in range(parties)]
    truth = np.sum(data, axis=0)
    scheme = P.packing_scheme(pub, bound=1000, max_additions=parties)

    def ours() -> np.ndarray:
        agg = sum(P.encrypt_packed(pub, v, scheme) for v in data)
        return priv.decrypt(agg)

    def theirs() -> np.ndarray:
        enc = [[ppub.encrypt(int(x)) for x in v] for v in data]
        agg = enc[0]
        for e in enc[1:]:
            agg = [a + b for a, b in zip(agg, e)]
        return np.array([ppriv.decrypt(a) for a in agg])

    t = {"ours": [], "phe": []}
    for _ in range(reps):
        for name, fn in (("ours", ours), ("phe", theirs)):
            t0 = CLOCK()
            out = fn()
            t[name].append(CLOCK() - t0)
            np.testing.assert_array_equal(out, truth)
    return {"ours": statistics.median(t["ours"]), "phe": statistics.median(t["phe"]),
            "slots": scheme.n_slots, "slot_bits": scheme.slot_bits,
            "ciphertexts_per_party": -(-per_party // scheme.n_slots), "values": parties * per_party}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and a smaller aggregation")
    args = ap.parse_args(argv)
    reps, batch = (3, 8) if args.quick else (5, 30)
    per_party = 10 if args.quick else 100
    print(f"gmpy2 {gmpy2.version()}, phe {phe.__version__ if hasattr(phe, '__version__') else '1.5'}, "
          f"backend {P.backend_name()}, reps {reps} x batch {batch}, CPU time per op")
    rows = []
    results = {}
    for bits in (2048, 3072):
        k = bench_key(bits, reps, batch if bits == 2048 or not args.quick else batch // 2, seed=bits)
        results[bits] = k
        ms = 1e3
        rows += [
            (bits, "encrypt (ours: short-exponent hs^a)", k["enc"]["ours"] * ms, k["enc"]["phe"] * ms),
            (bits, "encrypt (ours: key owner, CRT r^n)", k["enc"]["ours_owner_crt"] * ms, k["enc"]["phe"] * ms),
            (bits, "encrypt (ours: textbook full r^n)", k["enc"]["ours_full_r"] * ms, k["enc"]["phe"] * ms),
            (bits, "bare powmod(r, n, n^2)", k["powmod"] * ms, float("nan")),
            (bits, "decrypt (CRT)", k["dec"]["ours"] * ms, k["dec"]["phe"] * ms),
            (bits, "add ciphertexts", k["add"]["ours"] * ms, k["add"]["phe"] * ms),
            (bits, "multiply by 31-bit scalar", k["mul"]["ours"] * ms, k["mul"]["phe"] * ms),
            (bits, "load a public key (ours: checked)", k["load"]["ours"] * ms, k["load"]["phe"] * ms),
        ]
        print(f"[{bits}] fixed-base table built in {k['table_s'] * 1e3:.0f} ms (once per public key)")
    ps = packed_sum(results[2048], parties=10, per_party=per_party, reps=1 if args.quick else 2, seed=7)
    print(f"\n{'bits':>5} | {'operation':<38} | {'ours ms':>9} | {'phe ms':>9} | {'phe/ours':>8}")
    print("-" * 82)
    for bits, op, ours, theirs in rows:
        ratio = theirs / ours if theirs == theirs else float("nan")
        print(f"{bits:>5} | {op:<38} | {ours:>9.4f} | {theirs:>9.4f} | {ratio:>8.2f}")
    print(f"2048  | packed sum of {ps['values']} ints, 10 parties        | {ps['ours'] * 1e3:>9.1f} | "
          f"{ps['phe'] * 1e3:>9.1f} | {ps['phe'] / ps['ours']:>8.2f}")
    print(f"      ({ps['slots']} slots of {ps['slot_bits']} bits per ciphertext: {ps['ciphertexts_per_party']} "
          f"ciphertexts per party instead of {ps['values'] // 10})")
    k = results[2048]
    res = {
        "encrypt_speedup_vs_phe": k["enc"]["phe"] / k["enc"]["ours"],
        "decrypt_speedup_vs_phe": k["dec"]["phe"] / k["dec"]["ours"],
        "add_speedup_vs_phe": k["add"]["phe"] / k["add"]["ours"],
        "scalar_mul_speedup_vs_phe": k["mul"]["phe"] / k["mul"]["ours"],
        "packed_sum_speedup_vs_phe": ps["phe"] / ps["ours"],
        "encrypt_vs_powmod": k["enc"]["ours"] / k["powmod"],
        "owner_crt_encrypt_speedup_vs_phe": k["enc"]["phe"] / k["enc"]["ours_owner_crt"],
        "encrypt_speedup_vs_phe_3072": results[3072]["enc"]["phe"] / results[3072]["enc"]["ours"],
        "owner_crt_vs_full_r_encrypt_time": k["enc"]["ours_owner_crt"] / k["enc"]["ours_full_r"],
        "public_key_load_ms": k["load"]["ours"] * 1e3,
    }
    print("RESULT " + " ".join(f"{key}={val:.2f}" for key, val in res.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
