"""Exercise checks for notebook 11 (DP federated learning)."""

from __future__ import annotations

from ppml_lab.exercises import ChoiceExercise, Mistake, NumericExercise


def _noise_on_mean(noise_multiplier: float, max_update_norm: float, sample_rate: float, n_clients: int) -> float:
    return noise_multiplier * max_update_norm / (sample_rate * n_clients)


#: Std of the noise on the averaged update: z S / (q K) with the fixed-denominator estimator.
check_noise_on_mean = NumericExercise(
    "noise std on the averaged update", expected=_noise_on_mean, tol=0.0, rel_tol=1e-3,
    params={"noise_multiplier": 1.1, "max_update_norm": 1.0, "sample_rate": 0.1, "n_clients": 1000},
    ask="The server divides (sum + noise) by q K.",
    right="z S / (q K) = {truth:.4g}: more clients per round, less noise per parameter",
    hint="Multiply z by S, divide by the expected cohort q K.",
    wrong="{value:.4g} is not z S / (q K)",
    mistakes=(Mistake("that is the noise on the sum", "The model moves by the sum divided by q K.",
                      value=lambda noise_multiplier, max_update_norm, **_: noise_multiplier * max_update_norm),))


def _epsilon_after(sample_rate: float, noise_multiplier: float, rounds: int, delta: float) -> float:
    from ppml_lab.fl.dp_fedavg import dp_fedavg_epsilon

    return dp_fedavg_epsilon(sample_rate=sample_rate, noise_multiplier=noise_multiplier, rounds=rounds, delta=delta)


#: Client-level epsilon after ``rounds`` rounds of central-noise DP-FedAvg (server trusted, cohort secret).
check_epsilon_after = NumericExercise(
    "epsilon after {rounds} rounds", expected=_epsilon_after, tol=0.0, rel_tol=1e-3,
    params={"sample_rate": 0.1, "noise_multiplier": 1.0, "rounds": 100, "delta": 1e-5},
    ask="Use dp_fedavg_epsilon (or an RDPAccountant).",
    right="epsilon = {spend} per client at delta = {delta:g}",
    hint="Pass sample_rate, noise_multiplier, rounds and delta exactly as given.",
    wrong="{value:.4g} is not the accountant's epsilon for these rounds")


def _distributed_epsilon(noise_multiplier: float, participations: int, sample_rate: float, delta: float) -> float:
    # The server knows the cohort, so there is no amplification by subsampling: the Gaussian at sample rate 1,
    # composed over the rounds the client took part in (the discrete Gaussian's tau term is 0 at these sizes).
    return _epsilon_after(1.0, noise_multiplier, participations, delta)


def _amplified_epsilon(noise_multiplier: float, participations: int, sample_rate: float, delta: float) -> float:
    return _epsilon_after(sample_rate, noise_multiplier, round(participations / sample_rate), delta)


#: Epsilon against the sampling server of a client that took part in ``participations`` distributed-noise rounds.
check_distributed_epsilon = NumericExercise(
    "epsilon against the server after {participations} participations", expected=_distributed_epsilon,
    tol=0.0, rel_tol=1e-3,
    params={"noise_multiplier": 1.0, "participations": 10, "sample_rate": 0.1, "delta": 1e-5},
    ask="Who picks the cohort? Then: which sample rate may the accountant use?",
    right="epsilon = {spend} per client: sample rate 1 over the {participations} rounds it joined",
    hint="RDPAccountant (or dp_fedavg_epsilon) with sample_rate=1 and steps = participations.",
    wrong="{value:.4g} is not the accountant's epsilon against the sampling server",
    mistakes=(Mistake("that is the amplified figure, which assumes the cohort is secret",
                      "The server that samples knows who joined: use sample_rate=1 over the participations.",
                      value=_amplified_epsilon),))


#: At a fixed epsilon, what halves the noise on the averaged update: 'clients' (double K) or 'rate' (double q)?
check_more_clients_or_higher_rate = ChoiceExercise(
    "what buys utility at fixed epsilon", correct="clients",
    ask="Which change leaves the accountant's inputs (q, z, rounds) untouched?",
    right="doubling K keeps q, z and the rounds — hence epsilon — and halves z S / (q K)",
    reasons={"rate": "doubling q also raises epsilon (less amplification by subsampling)"},
    hint="To keep epsilon you would need a larger z, which gives back much of the gain.")
