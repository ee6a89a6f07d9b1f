"""Zero-knowledge benchmark: bounded-update proofs per client, and the linear-model inference proof vs ezkl.

1. Bounded-update proof (ppml_lab.zk.bounded_update, L-infinity bound B = 64: |x_hat_j| <= 64 at 6
   fractional bits after clipping to L2 norm 1, 8 committed bits per coordinate) for 62 (the hospitals'
   logistic model), 10^3 and 10^4 parameters: prove and verify seconds per client, proof bytes.
   Goals: prove 62 parameters in < 1 s of CPU, verify in < 0.5 s (no anchor library proves this
   statement). Seconds are wall time; ``prove_cpu_s_62``/``verify_cpu_s_62`` are this process's CPU time,
   the figure the goal is stated in (single-threaded Python: load on a shared machine moves wall time only).
2. The same statement both ways: "these logits of this public input came from the committed 62-parameter
   model (Linear(30, 2))". Ours: a Sigma proof of a linear relation over a Pedersen vector commitment
   (ppml_lab.zk.inference). ezkl 23 (Halo2/KZG): parameters as a KZG commitment (polycommit), logrows 12,
   its SRS generated locally (dev-only), run in the same process after ours. Ratios:
   speedup_vs_ezkl_prove = ezkl prove / ours, speedup_vs_ezkl_verify, proof_size_ratio_vs_ezkl = ours/ezkl
   bytes, setup_ratio_vs_ezkl = ezkl (SRS + keys) / ours (generators).

3. L2 bounded-update proof (ppml_lab.zk.l2_norm: the L-inf proof above plus commitments to the squares,
   a multiplication proof per coordinate, a range proof of B2^2 - sum x_j^2 and a link; B2 =
   ceil(S 2^f + sqrt(d)/2) + 1, i.e. 69 at 62 parameters, 81 at 10^3) for 62 and 10^3 parameters (10^4 with
   ``--l2-10000``: the L-inf part alone takes minutes there). Keys ``l2_*``.

``--quick``: 62 and 10^3 parameters only, one repetition. ezkl always runs (about 20-30 s).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from ppml_lab.zk import (
    integer_bound,
    pedersen_params,
    prove_bounded_update,
    quantise_update,
    verify_bounded_update,
)
from ppml_lab.zk.ezkl_backend import ezkl_linear_proof
from ppml_lab.zk.inference import commit_model, design_matrix, prove_linear, verify_linear
from ppml_lab.zk.l2_norm import l2_integer_bound, prove_l2_bounded_update, verify_l2_bounded_update

S, F = 1.0, 6


def _median(xs: list[float]) -> float:
    return float(np.median(xs))


def bounded(dim: int, reps: int) -> tuple[float, float, int, float, float]:
    pp = pedersen_params()
    bound = integer_bound(max_update_norm=S, frac_bits=F)
    rng = np.random.default_rng(dim)
    prove_t, verify_t, prove_c, verify_c, size = [], [], [], [], 0
    for _ in range(reps):
        u = quantise_update(rng.normal(size=dim) * 2.0 / np.sqrt(dim), max_update_norm=S, frac_bits=F)
        t0, c0 = time.perf_counter(), time.process_time()
        proof, _ = prove_bounded_update(u, bound=bound, params=pp, context=b"bench")
        t1, c1 = time.perf_counter(), time.process_time()
        ok = verify_bounded_update(proof, bound=bound, dimension=dim, params=pp, context=b"bench")
        t2, c2 = time.perf_counter(), time.process_time()
        if not ok:
            raise RuntimeError("an honest bounded-update proof did not verify")
        prove_t.append(t1 - t0)
        verify_t.append(t2 - t1)
        prove_c.append(c1 - c0)
        verify_c.append(c2 - c1)
        size = proof.nbytes(pp)
    # the goal is stated in CPU time (this process's user + system time: the proofs are single-threaded
    # Python, so on a shared machine CPU time is the load-independent figure and wall time the felt one)
    return _median(prove_t), _median(verify_t), size, _median(prove_c), _median(verify_c)


def l2_bounded(dim: int, reps: int) -> tuple[float, float, int, int]:
    pp = pedersen_params()
    bound = integer_bound(max_update_norm=S, frac_bits=F)
    b2 = l2_integer_bound(max_update_norm=S, frac_bits=F, dimension=dim)
    rng = np.random.default_rng(dim)
    prove_t, verify_t, size = [], [], 0
    for _ in range(reps):
        u = quantise_update(rng.normal(size=dim) * 2.0 / np.sqrt(dim), max_update_norm=S, frac_bits=F)
        t0 = time.perf_counter()
        proof, _ = prove_l2_bounded_update(u, linf_bound=bound, l2_bound=b2, params=pp, context=b"bench")
        t1 = time.perf_counter()
        ok = verify_l2_bounded_update(proof, linf_bound=bound, l2_bound=b2, dimension=dim, params=pp, context=b"bench")
        t2 = time.perf_counter()
        if not ok:
            raise RuntimeError("an honest L2 bounded-update proof did not verify")
        prove_t.append(t1 - t0)
        verify_t.append(t2 - t1)
        size = proof.nbytes(pp)
    return _median(prove_t), _median(verify_t), size, b2


def linear_ours(w: np.ndarray, b: np.ndarray, x: np.ndarray, reps: int) -> dict[str, float]:
    f = 7
    w_int = [int(v) for v in np.rint(np.concatenate([w.ravel(), b]) * 2**f)]
    x_int = [int(v) for v in np.rint(x * 2**f)] + [2**f]
    t0 = time.perf_counter()
    pp = pedersen_params(vector_length=len(w_int))  # our whole set-up: 63 hash-to-group generators
    setup = time.perf_counter() - t0
    c, r = commit_model(w_int, params=pp)
    a = design_matrix(x_int, n_classes=w.shape[0])
    pt, vt = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        y, proof = prove_linear(w_int, randomness=r, matrix=a, params=pp)
        t1 = time.perf_counter()
        ok = verify_linear(proof, commitment=c, matrix=a, outputs=y, params=pp)
        t2 = time.perf_counter()
        if not ok:
            raise RuntimeError("an honest linear proof did not verify")
        pt.append(t1 - t0)
        vt.append(t2 - t1)
    return {"setup": setup, "prove": _median(pt), "verify": _median(vt), "bytes": proof.nbytes(pp.group),
            "logits": np.array(y) / 4**f}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--l2-10000", action="store_true", help="also the L2 proof at 10^4 parameters")
    args = ap.parse_args()
    dims = (62, 1000) if args.quick else (62, 1000, 10000)
    reps = 1 if args.quick else 3
    print(f"{'bounded-update proof':<28}{'params':>8}{'prove s':>10}{'verify s':>10}{'proof bytes':>14}")
    res = {}
    cpu = {}
    for d in dims:
        p, v, n, pc, vc = bounded(d, reps if d < 10000 else 1)
        res[d] = (p, v, n)
        cpu[d] = (pc, vc)
        print(f"{'ours (bits + OR-proofs)':<28}{d:>8}{p:>10.3f}{v:>10.3f}{n:>14}   CPU s: prove {pc:.3f} verify {vc:.3f}")
    print(f"goal at 62 params: prove < 1 s CPU ({cpu[62][0]:.3f}), verify < 0.5 s ({cpu[62][1]:.3f} CPU, "
          f"{res[62][1]:.3f} wall)")
    l2_dims = (62, 1000, 10000) if args.l2_10000 else (62, 1000)
    print(f"{'L2 bounded-update proof':<28}{'params':>8}{'prove s':>10}{'verify s':>10}{'proof bytes':>14}{'B2':>6}")
    l2res = {}
    for d in l2_dims:
        p, v, n, b2 = l2_bounded(d, reps if d < 10000 else 1)
        l2res[d] = (p, v, n, b2)
        print(f"{'ours (L-inf + squares)':<28}{d:>8}{p:>10.3f}{v:>10.3f}{n:>14}{b2:>6}")

    rng = np.random.default_rng(0)
    w, b, x = rng.normal(size=(2, 30)) * 0.3, rng.normal(size=2) * 0.1, rng.normal(size=30)
    ours = linear_ours(w, b, x, reps=5)
    with tempfile.TemporaryDirectory() as tmp:
        ez = ezkl_linear_proof(w, b, x, workdir=tmp, scale_bits=7, logrows=12, lookup_range=(-1024, 1024))
    if not ez.verified:
        raise RuntimeError("ezkl's proof did not verify")
    print()
    print(f"{'linear inference, 62 params':<28}{'setup s':>10}{'prove s':>10}{'verify s':>10}{'proof bytes':>14}")
    print(f"{'ours (Sigma, Pedersen)':<28}{ours['setup']:>10.3f}{ours['prove']:>10.4f}{ours['verify']:>10.4f}"
          f"{ours['bytes']:>14}")
    print(f"{'ezkl 23 (Halo2/KZG)':<28}{ez.srs_s + ez.setup_s:>10.3f}{ez.prove_s:>10.4f}{ez.verify_s:>10.4f}"
          f"{ez.proof_bytes:>14}")
    print(f"logits ours {np.round(ours['logits'], 4).tolist()} ezkl {ez.outputs.tolist()} float {np.round(w @ x + b, 4).tolist()}")
    kv = {
        "prove_s_62": round(res[62][0], 4), "verify_s_62": round(res[62][1], 4), "proof_bytes_62": res[62][2],
        "prove_cpu_s_62": round(cpu[62][0], 4), "verify_cpu_s_62": round(cpu[62][1], 4),
        "prove_s_1000": round(res[1000][0], 3), "verify_s_1000": round(res[1000][1], 3),
        "proof_bytes_1000": res[1000][2],
    }
    if 10000 in res:
        kv.update({"prove_s_10000": round(res[10000][0], 2), "verify_s_10000": round(res[10000][1], 2),
                   "proof_bytes_10000": res[10000][2]})
    for d, (p, v, n, b2) in l2res.items():
        kv.update({f"l2_prove_s_{d}": round(p, 4 if d < 1000 else 3), f"l2_verify_s_{d}": round(v, 4 if d < 1000 else 3),
                   f"l2_proof_bytes_{d}": n, f"l2_bound_{d}": b2})
    kv.update({
        "linear_prove_s": round(ours["prove"], 4), "linear_verify_s": round(ours["verify"], 4),
        "linear_proof_bytes": ours["bytes"], "ezkl_prove_s": round(ez.prove_s, 3),
        "ezkl_verify_s": round(ez.verify_s, 4), "ezkl_setup_s": round(ez.srs_s + ez.setup_s, 3),
        "ezkl_proof_bytes": ez.proof_bytes, "ezkl_logrows": ez.logrows,
        "speedup_vs_ezkl_prove": round(ez.prove_s / ours["prove"], 1),
        "speedup_vs_ezkl_verify": round(ez.verify_s / ours["verify"], 2),
        "proof_size_ratio_vs_ezkl": round(ours["bytes"] / ez.proof_bytes, 3),
        "setup_ratio_vs_ezkl": round((ez.srs_s + ez.setup_s) / ours["setup"], 1),
    })
    print("RESULT " + " ".join(f"{k}={v}" for k, v in kv.items()))


if __name__ == "__main__":
    main()
