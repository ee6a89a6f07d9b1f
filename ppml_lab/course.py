"""The course map: one list that notebook 00 and the README both show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["COURSE", "course_map"]

#: (file, title, what you will be able to do afterwards)
COURSE: tuple[tuple[str, str, str], ...] = (
    ("00_why_ppml.ipynb", "Why privacy-preserving ML", "re-identify a 'de-identified' release; run a membership-inference attack"),
    ("01_differential_privacy.ipynb", "Differential privacy", "calibrate Laplace, Gaussian and exponential mechanisms; attack a float sampler"),
    ("02_privacy_accounting.ipynb", "Privacy accounting", "compose releases with RDP and zCDP; keep a privacy ledger"),
    ("03_dp_sgd.ipynb", "DP-SGD", "train a private model from scratch and with Opacus; read a privacy-utility curve"),
    ("04_privacy_auditing.ipynb", "Privacy auditing", "lower-bound epsilon with a likelihood-ratio membership attack"),
    ("05_paillier.ipynb", "Paillier encryption", "add encrypted numbers; compute a private average across banks"),
    ("06_ckks.ipynb", "CKKS with TenSEAL", "choose CKKS parameters; run packed encrypted inference"),
    ("07_secret_sharing.ipynb", "Secret sharing and MPC", "share, multiply with Beaver triples, infer securely between two parties"),
    ("08_federated_learning.ipynb", "Federated learning", "run FedAvg on non-IID hospitals, side by side with Flower"),
    ("09_secure_aggregation.ipynb", "Secure aggregation", "mask updates so the server learns only the sum, despite dropouts"),
    ("10_gradient_inversion.ipynb", "Gradient inversion", "reconstruct images from one update; measure the defences"),
    ("11_dp_federated_learning.ipynb", "DP federated learning", "add client-level DP to FedAvg and count the clients it needs"),
    ("12_flower_deployment.ipynb", "Flower deployment", "run the task across processes with TLS, node auth and SecAgg+"),
    ("13_dp_synthetic_data.ipynb", "DP synthetic data", "release synthetic tables with a DP guarantee; test them for leaks"),
    ("14_zero_knowledge.ipynb", "Zero-knowledge proofs", "prove an update is bounded without revealing it; forge a weak Fiat-Shamir proof; compare with a zkML SNARK"),
    ("15_memorisation.ipynb", "Models that remember", "extract a memorised identifier from a language model; stop it with DP fine-tuning and DP-LoRA"),
    ("16_choosing_and_combining.ipynb", "Choosing and combining", "pick and combine techniques from measurements; map them to regulation"),
)


def course_map(notebook_dir: str | Path | None = None) -> Any:
    """The course map as a pandas DataFrame, with whether each notebook is present in ``notebook_dir``."""
    import pandas as pd

    rows = [{"notebook": f, "topic": t, "you will": g} for f, t, g in COURSE]
    frame = pd.DataFrame(rows)
    if notebook_dir is not None:
        frame["available"] = [(Path(notebook_dir) / f).exists() for f, _, _ in COURSE]
    return frame
