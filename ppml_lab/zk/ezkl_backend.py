"""ezkl (Halo2 SNARKs over ONNX models, zkonduit) on the same statement as :mod:`ppml_lab.zk.inference`:
"the published logits of this input came from the committed linear model". A thin wrapper, offline.

Pipeline (ezkl 23 Python API): export the torch ``Linear`` layer to ONNX; ``gen_settings`` with public
input and output and ``param_visibility="polycommit"`` (the parameters enter the proof as a KZG commitment,
the SNARK analogue of our Pedersen vector commitment); ``compile_circuit``; ``gen_srs`` — a structured
reference string generated LOCALLY, whose toxic waste this process has seen, so whoever runs it could forge
proofs: a deployment must instead download the SRS of a public powers-of-tau ceremony (ezkl's
``get_srs``) and check its hash; ``setup`` (proving and verifying keys); ``gen_witness``; ``prove``;
``verify``. Nothing is downloaded.

Threat model (of the wrapper): none beyond ezkl's own; it exists to measure prove/verify time, proof size
and set-up cost side by side with ours (benchmarks/zk.py, the notebook).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EzklRun", "ezkl_linear_proof"]


@dataclass(frozen=True)
class EzklRun:
    """Measured costs of one ezkl proof (seconds, bytes) and its result.

    ``srs_s``: ``gen_srs`` (local, dev-only); ``setup_s``: ``setup`` (proving and verifying keys);
    ``prove_s``: ``gen_witness`` + ``prove`` (the witness is part of ezkl's proving work; ours computes its
    outputs inside ``prove_linear`` too); ``verify_s``: ``verify``; ``proof_bytes``: the proof's bytes as
    serialised in proof.json."""

    logrows: int
    srs_s: float
    setup_s: float
    prove_s: float
    verify_s: float
    proof_bytes: int
    pk_bytes: int
    verified: bool
    outputs: np.ndarray  # the rescaled logits ezkl proved


def ezkl_linear_proof(weight: Any, bias: Any, x: Any, *, workdir: str | Path, scale_bits: int = 7,
                      logrows: int | None = None, lookup_range: tuple[int, int] | None = None,
                      param_visibility: str = "polycommit") -> EzklRun:
    """Prove logits = weight @ x + bias with ezkl in ``workdir`` (created); every artefact stays there.

    ``scale_bits``: ezkl's fixed-point scale (inputs and parameters as round(v 2^s)). ``logrows`` and
    ``lookup_range``: circuit size overrides (None: ezkl's defaults)."""
    import ezkl
    import torch

    w = np.asarray(weight, dtype=np.float32)
    b = np.asarray(bias, dtype=np.float32)
    xv = np.asarray(x, dtype=np.float32).reshape(1, -1)
    if w.ndim != 2 or b.shape != (w.shape[0],) or xv.shape[1] != w.shape[1]:
        raise ValueError(f"weight must be (m, d), bias (m,), x (d,); got {w.shape}, {b.shape}, {xv.shape}")
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    layer = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    onnx_path, settings, compiled = d / "model.onnx", d / "settings.json", d / "model.compiled"
    srs, vk, pk, wit, proof = d / "kzg.srs", d / "vk.key", d / "pk.key", d / "witness.json", d / "proof.json"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (torch.from_numpy(xv),), str(onnx_path), input_names=["input"], output_names=["output"],
                          opset_version=13, dynamo=False)
    (d / "input.json").write_text(json.dumps({"input_data": [xv.ravel().tolist()]}))
    ra = ezkl.PyRunArgs()
    ra.input_visibility, ra.output_visibility, ra.param_visibility = "public", "public", param_visibility
    ra.input_scale = ra.param_scale = int(scale_bits)
    if logrows is not None:
        ra.logrows = int(logrows)
    if lookup_range is not None:
        ra.lookup_range = tuple(lookup_range)
    ezkl.gen_settings(str(onnx_path), str(settings), py_run_args=ra)
    ezkl.compile_circuit(str(onnx_path), str(compiled), str(settings))
    rows = int(json.loads(settings.read_text())["run_args"]["logrows"])
    t0 = time.perf_counter()
    ezkl.gen_srs(str(srs), rows)  # local, dev-only SRS: see the module docstring
    t1 = time.perf_counter()
    ezkl.gen_witness(str(d / "input.json"), str(compiled), str(wit))
    t2 = time.perf_counter()
    ezkl.setup(str(compiled), str(vk), str(pk), str(srs))
    t3 = time.perf_counter()
    ezkl.prove(str(wit), str(compiled), str(pk), str(proof), str(srs))
    t4 = time.perf_counter()
    ok = bool(ezkl.verify(str(proof), str(settings), str(vk), str(srs)))
    t5 = time.perf_counter()
    pj = json.loads(proof.read_text())
    outs = np.array([float(v) for v in pj["pretty_public_inputs"]["rescaled_outputs"][0]])
    return EzklRun(logrows=rows, srs_s=t1 - t0, setup_s=t3 - t2, prove_s=t4 - t3 + (t2 - t1), verify_s=t5 - t4,
                   proof_bytes=len(pj["proof"]), pk_bytes=pk.stat().st_size, verified=ok, outputs=outs)
