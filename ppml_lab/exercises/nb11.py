"""Exercise checks for notebook 11 (DP federated learning)."""

from __future__ import annotations

import math
from typing import Any

from ppml_lab.exercises import CheckResult, ChoiceExercise, as_number, failed, not_answered, passed


def check_noise_on_mean(answer: Any, *, noise_multiplier: float = 1.1, max_update_norm: float = 1.0,
                        sample_rate: float = 0.1, n_clients: int = 1000) -> CheckResult:
    """Std of the noise on the averaged update: z S / (q K) with the fixed-denominator estimator."""
    name = "noise std on the averaged update"
    if answer is None:
        return not_answered(name, "The server divides (sum + noise) by q K.")
    v = as_number(name, answer)
    if isinstance(v, CheckResult):
        return v
    truth = noise_multiplier * max_update_norm / (sample_rate * n_clients)
    if math.isclose(v, truth, rel_tol=1e-3):
        return passed(name, f"z S / (q K) = {truth:.4g}: more clients per round, less noise per parameter")
    if math.isclose(v, noise_multiplier * max_update_norm, rel_tol=1e-3):
        return failed(name, "that is the noise on the sum", "The model moves by the sum divided by q K.")
    return failed(name, f"{v:.4g} is not z S / (q K)", "Multiply z by S, divide by the expected cohort q K.")


def check_epsilon_after(answer: Any, *, sample_rate: float = 0.1, noise_multiplier: float = 1.0,
                        rounds: int = 100, delta: float = 1e-5) -> CheckResult:
    """Client-level epsilon after ``rounds`` rounds of central-noise DP-FedAvg (server trusted, cohort secret)."""
    from ppml_lab.fl.dp_fedavg import dp_fedavg_epsilon

    name = f"epsilon after {rounds} rounds"
    if answer is None:
        return not_answered(name, "Use dp_fedavg_epsilon (or an RDPAccountant).")
    v = as_number(name, answer)
    if isinstance(v, CheckResult):
        return v
    truth = dp_fedavg_epsilon(sample_rate=sample_rate, noise_multiplier=noise_multiplier, rounds=rounds, delta=delta)
    if math.isclose(v, truth, rel_tol=1e-3):
        return passed(name, f"epsilon = {truth:.3f} per client at delta = {delta:g}")
    return failed(name, f"{v:.4g} differs from {truth:.4g}",
                  "Pass sample_rate, noise_multiplier, rounds and delta exactly as given.")


def check_distributed_epsilon(answer: Any, *, noise_multiplier: float = 1.0, participations: int = 10,
                              sample_rate: float = 0.1, delta: float = 1e-5) -> CheckResult:
    """Epsilon against the sampling server of a client that took part in ``participations`` distributed-noise rounds.

    The server knows the cohort, so there is no amplification by subsampling: the Gaussian at sample rate 1,
    composed over the rounds the client took part in (the discrete Gaussian's tau term is 0 at these sizes).
    """
    from ppml_lab.fl.dp_fedavg import dp_fedavg_epsilon

    name = f"epsilon against the server after {participations} participations"
    if answer is None:
        return not_answered(name, "Who picks the cohort? Then: which sample rate may the accountant use?")
    v = as_number(name, answer)
    if isinstance(v, CheckResult):
        return v
    truth = dp_fedavg_epsilon(sample_rate=1.0, noise_multiplier=noise_multiplier, rounds=participations, delta=delta)
    if math.isclose(v, truth, rel_tol=1e-3):
        return passed(name, f"epsilon = {truth:.3f} per client: sample rate 1 over the {participations} rounds it joined")
    amplified = dp_fedavg_epsilon(sample_rate=sample_rate, noise_multiplier=noise_multiplier,
                                  rounds=round(participations / sample_rate), delta=delta)
    if math.isclose(v, amplified, rel_tol=1e-3):
        return failed(name, "that is the amplified figure, which assumes the cohort is secret",
                      "The server that samples knows who joined: use sample_rate=1 over the participations.")
    return failed(name, f"{v:.4g} differs from {truth:.4g}",
                  "RDPAccountant (or dp_fedavg_epsilon) with sample_rate=1 and steps = participations.")


#: At a fixed epsilon, what halves the noise on the averaged update: 'clients' (double K) or 'rate' (double q)?
check_more_clients_or_higher_rate = ChoiceExercise(
    "what buys utility at fixed epsilon", correct="clients",
    ask="Which change leaves the accountant's inputs (q, z, rounds) untouched?",
    right="doubling K keeps q, z and the rounds — hence epsilon — and halves z S / (q K)",
    reasons={"rate": "doubling q also raises epsilon (less amplification by subsampling)"},
    hint="To keep epsilon you would need a larger z, which gives back much of the gain.")
