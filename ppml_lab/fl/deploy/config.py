"""What a Flower deployment launches (:class:`DeploymentConfig`) and what it produced (:class:`DeploymentResult`).

Validated on construction, before any process starts. A run is *loud* about failure: a round that
aggregated fewer clients than its minimum (zero included) or a missing round raises
:class:`RoundFailedError` from the launcher instead of returning a result (:func:`check_rounds`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ppml_lab._rng import random_seed, renamed_keywords
from ppml_lab._validation import (
    check_bool,
    check_delta,
    check_int,
    check_nonnegative,
    check_positive,
    check_type,
)
from ppml_lab.exceptions import DeploymentError, DPRoundDiscardedError, RoundFailedError
from ppml_lab.fl.certs import LOOPBACK, TLSFiles, check_tls_files
from ppml_lab.fl.deploy.processes import port_free

__all__ = [
    "DeploymentConfig",
    "DPRoundDiscardedError",
    "DeploymentResult",
    "RoundFailedError",
    "check_rounds",
]

_CONNECTION_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def check_rounds(rounds: list[dict[str, Any]], *, expected_rounds: int, min_clients: int) -> None:
    """Raise :class:`RoundFailedError` unless rounds 1..``expected_rounds`` each aggregated >= ``min_clients``
    (:class:`DPRoundDiscardedError` when central DP discarded a short round because a client failed in it).

    Flower's strategies log a round without results and carry the old model on (FedAvg's
    ``aggregate_fit`` returns None when no client answered; SecAgg+ drops a round whose survivors are below
    the threshold), so a run can "complete" having learnt nothing: this turns that into an error.
    """
    check_int("expected_rounds", expected_rounds, low=1)
    check_int("min_clients", min_clients, low=1)
    seen = {int(r.get("round", -1)): int(r.get("clients", 0)) for r in rounds}
    missing = [r for r in range(1, expected_rounds + 1) if r not in seen]
    if missing:
        raise RoundFailedError(
            f"rounds {missing} of {expected_rounds} produced no result; the run is incomplete", rounds=rounds
        )
    short = {r: c for r, c in sorted(seen.items()) if 1 <= r <= expected_rounds and c < min_clients}
    discarded = {int(r["round"]): int(r["dp_failures"]) for r in rounds
                 if r.get("dp_failures") and int(r.get("round", -1)) in short}
    if discarded:
        detail = ", ".join(f"round {r}: {f} failed client(s)" for r, f in sorted(discarded.items()))
        raise DPRoundDiscardedError(
            f"central DP discarded {len(discarded)} round(s) with a client failure ({detail}); clients "
            f"aggregated per round must be >= min_clients ({min_clients}). Flower's DP wrapper releases no "
            "model for a round in which any client failed; run again, or without DP if dropouts are expected",
            rounds=rounds,
        )
    if short:
        detail = ", ".join(f"round {r}: {c}" for r, c in short.items())
        raise RoundFailedError(
            f"clients aggregated per round must be >= min_clients ({min_clients}), got {detail}; the model of "
            "those rounds is not a federated average (see the ServerApp and SuperNode logs)",
            rounds=rounds,
        )


@dataclass(frozen=True)
class DeploymentConfig:
    """What to launch. Validated on construction, before any process starts.

    ``threshold`` is SecAgg+'s reconstruction threshold t (2 <= t <= N; default N-1, at least 2) - the
    number of surviving clients whose shares unmask a round. ``min_clients`` is how many clients the
    ServerApp waits for (default: t, so a round completes from t survivors). ``kill_partition`` /
    ``kill_at_round``: kill that SuperNode mid-round (under SecAgg+ as it enters the round's
    collect-masked-vectors stage - its key shares are out, its masked vector is not - otherwise as its local
    training starts) - the dropout experiment. ``certs``: existing TLS files (checked), or None to
    generate them. ``sign_app``: the launcher signs the app it submits (Ed25519, Flower's FAB-signature
    format) and every SuperNode runs only apps signed by that publisher key (Flower's ``--trusted-entities``),
    so code submitted by anyone else is refused at every hospital. ``rng``: the int that seeds the data
    split, the initial model and local training in every process (it crosses process boundaries in the run
    config, so it is an int; None draws one from the OS CSPRNG and stores it here, so the run can be replayed). ``inprocess_apps``: the SuperLink runs
    the ServerApp and each signed-app SuperNode runs its ClientApp messages in its own process
    (:mod:`ppml_lab.fl.deploy.inprocess`) instead of Flower's default of a SuperExec plus a fresh Python
    process per message - what lets five hospitals fit in 1 GB; False restores Flower's subprocess isolation.
    ``dp_noise_multiplier`` > 0 turns on central DP (McMahan et al. 2018): each client update is clipped to
    L2 norm ``dp_max_update_norm`` (C; the package's per-update name, ``max_grad_norm`` being per example)
    and the server adds N(0, (sigma C / m)^2) to the mean of m updates.
    """

    n_supernodes: int = 3
    rounds: int = 3
    local_epochs: int = 5
    lr: float = 0.5
    rng: int | None = 2026
    secagg: bool = True
    threshold: int | None = None
    secagg_timeout: float = 120.0
    tls: bool = True
    node_auth: bool = True
    sign_app: bool = True
    dp_noise_multiplier: float = 0.0
    dp_max_update_norm: float = 1.0
    dp_delta: float = 1e-5
    min_clients: int | None = None
    superlink_port: int | None = None
    connection: str = "ppml-local"
    certs: TLSFiles | None = None
    kill_partition: int | None = None
    kill_at_round: int = 1
    startup_timeout: float = 90.0
    run_timeout: float = 300.0
    inprocess_apps: bool = True

    def __post_init__(self) -> None:
        n = check_int("n_supernodes", self.n_supernodes, low=1, high=64)
        check_int("rounds", self.rounds, low=1)
        check_int("local_epochs", self.local_epochs, low=1)
        check_positive("lr", self.lr)
        if self.rng is None:  # the OS CSPRNG picks the run's seed; it is recorded so the run can be replayed
            object.__setattr__(self, "rng", random_seed(None, bits=31))
        check_int("rng", self.rng, low=0, high=2**32 - 1)
        check_bool("secagg", self.secagg)
        check_bool("tls", self.tls)
        check_bool("node_auth", self.node_auth)
        check_bool("sign_app", self.sign_app)
        check_bool("inprocess_apps", self.inprocess_apps)
        check_nonnegative("dp_noise_multiplier", self.dp_noise_multiplier)
        check_positive("dp_max_update_norm", self.dp_max_update_norm)
        check_delta("dp_delta", self.dp_delta, allow_zero=False)
        check_positive("secagg_timeout", self.secagg_timeout)
        check_positive("startup_timeout", self.startup_timeout)
        check_positive("run_timeout", self.run_timeout)
        if self.secagg and n < 2:
            raise ValueError(
                f"n_supernodes must be >= 2 for SecAgg+ (masks cancel only between clients), got {n}; "
                "add SuperNodes or pass secagg=False"
            )
        if self.threshold is not None:
            if not self.secagg:
                raise ValueError("threshold is SecAgg+'s reconstruction threshold; pass secagg=True or threshold=None")
            t = check_int("threshold", self.threshold, low=2)
            if t > n:
                raise ValueError(
                    f"threshold must be <= n_supernodes ({n}): t shares out of n reconstruct a secret, got {t}"
                )
        if self.min_clients is not None:
            check_int("min_clients", self.min_clients, low=1, high=n)
            if self.secagg and self.min_clients < self.effective_threshold:
                raise ValueError(
                    f"min_clients must be >= the SecAgg+ threshold ({self.effective_threshold}), got {self.min_clients}"
                )
        if self.node_auth and not self.tls:
            raise ValueError("node_auth requires tls=True (Flower signs SuperNode requests over TLS only)")
        if self.superlink_port is not None:
            p = check_int("superlink_port", self.superlink_port, low=1024, high=65535)
            if not port_free(p):
                raise DeploymentError(
                    f"superlink_port {p} is already in use on {LOOPBACK}; stop what holds it or pass superlink_port=None"
                )
        check_type("connection", self.connection, str)
        if not self.connection or not set(self.connection) <= _CONNECTION_CHARS:
            raise ValueError(
                f"connection must be a non-empty name of [a-z0-9-_] (a key in $FLWR_HOME/config.toml), got {self.connection!r}"
            )
        if self.certs is not None:
            if not self.tls:
                raise ValueError("certs were given but tls=False; drop certs or enable TLS")
            check_tls_files(self.certs, host=LOOPBACK)
        if self.kill_partition is not None:
            check_int("kill_partition", self.kill_partition, low=0, high=n - 1)
            check_int("kill_at_round", self.kill_at_round, low=1, high=self.rounds)
            if self.secagg and n - 1 < self.effective_threshold:
                raise ValueError(
                    f"killing a SuperNode leaves {n - 1} clients, below the SecAgg+ threshold "
                    f"{self.effective_threshold}; lower threshold or add SuperNodes"
                )

    @property
    def effective_threshold(self) -> int:
        if not self.secagg:
            return 0
        return self.threshold if self.threshold is not None else max(2, self.n_supernodes - 1)

    @property
    def effective_min_clients(self) -> int:
        if self.min_clients is not None:
            return self.min_clients
        if self.secagg:
            return self.effective_threshold
        return self.n_supernodes - (1 if self.kill_partition is not None else 0)

    def run_config(self, *, results_path: Path, progress_dir: Path, test_path: Path | str = "",
                   app_signature: str = "") -> dict[str, Any]:
        """The ``[tool.flwr.app.config]`` overrides passed to ``flwr run``."""
        return {
            "app-signature": app_signature,
            "num-server-rounds": self.rounds,
            "local-epochs": self.local_epochs,
            "learning-rate": float(self.lr),
            "seed": self.rng,
            "num-partitions": self.n_supernodes,
            "min-clients": self.effective_min_clients,
            "secagg-threshold": self.effective_threshold,
            "secagg-timeout": float(self.secagg_timeout),
            "dp-noise-multiplier": float(self.dp_noise_multiplier),
            "dp-max-update-norm": float(self.dp_max_update_norm),
            "results-path": str(results_path),
            "progress-dir": str(progress_dir),
            "test-path": str(test_path),
        }


# A renamed keyword is refused with its new name, not Python's bare "unexpected keyword argument".
setattr(DeploymentConfig, "__init__",  # noqa: B010 (mypy refuses assigning to a method)
        renamed_keywords(seed="rng", dp_clipping_norm="dp_max_update_norm")(DeploymentConfig.__init__))


@dataclass(frozen=True)
class DeploymentResult:
    """What a run produced: per-round centralised metrics, traffic, resources, and what was killed."""

    rounds: list[dict[str, Any]] = field(repr=False)
    final_loss: float
    final_accuracy: float
    clients_per_round: list[int]
    killed_partition: int | None
    seconds: float
    peak_rss_bytes: int
    traffic: list[dict[str, Any]] = field(repr=False)
    config: dict[str, Any] = field(repr=False)
    #: launcher process + every process it started (CLI calls included), summed at the same instant
    peak_total_rss_bytes: int = 0

    @property
    def epsilon(self) -> float | None:
        """Hospital-level epsilon of the rounds that ran, at ``config["dp_delta"]`` (None without DP).

        Computed when first read, by the package's RDP accountant (:func:`~ppml_lab.fl.deploy.reference.dp_epsilon`),
        not inside :meth:`FlowerDeployment.run`: the accountant loads scipy (about 70 MB), and doing that while
        the five SuperNodes are still up was the single largest addition to the course notebook's peak memory.
        """
        z = float(self.config.get("dp_noise_multiplier", 0.0) or 0.0)
        if z <= 0:
            return None
        from ppml_lab.fl.deploy.reference import dp_epsilon

        return dp_epsilon(noise_multiplier=z, rounds=len(self.rounds), delta=float(self.config["dp_delta"]))

    def bytes_per_round(self) -> dict[int, dict[str, int]]:
        """{round: {"down": bytes server->clients, "up": bytes clients->server}} summed over messages."""
        out: dict[int, dict[str, int]] = {}
        for t in self.traffic:
            try:
                r = int(t["round"])
            except (TypeError, ValueError):
                continue
            d = out.setdefault(r, {"down": 0, "up": 0, "messages": 0})
            d["down"] += int(t["bytes_in"])
            d["up"] += int(t["bytes_out"])
            d["messages"] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "epsilon": self.epsilon}
