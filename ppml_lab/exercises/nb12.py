"""Exercise checks for notebook 12 (from simulation to deployment: Flower's Deployment Engine)."""

from __future__ import annotations

from typing import Any

from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, failed, not_answered, passed

#: The notebook's model: SoftmaxRegression on 30 features, 2 classes -> W (30 x 2) + b (2) float64.
N_PARAMS = 30 * 2 + 2
BYTES_PER_PARAM = 8


def check_threshold(answer: Any, *, n: int = 5, dropouts: int = 2, colluders: int = 2) -> CheckResult:
    """SecAgg+ threshold t for n clients that must survive ``dropouts`` and resist server + ``colluders``.

    Reconstruction needs t shares from survivors: t <= n - dropouts. The server with c colluding clients
    holds c shares of a client's secret: it must not reach t, so t >= c + 1 (Bell et al. 2020, Sec. 3).
    """
    name = f"SecAgg+ threshold (n={n}, {dropouts} dropouts, server + {colluders} colluders)"
    lo, hi = colluders + 1, n - dropouts
    if answer is None:
        return not_answered(name, "Write the two inequalities: enough survivors to reconstruct, too few colluders.")
    if isinstance(answer, bool) or not isinstance(answer, int):
        return failed(name, f"expected an integer threshold, got {answer!r}")
    if lo <= answer <= hi:
        return passed(name, f"t = {answer}: {n - dropouts} survivors can unmask, {colluders} colluders cannot.")
    if answer > hi:
        return failed(name, f"t = {answer} needs more shares than the {n - dropouts} survivors hold",
                      "The round must finish after the dropouts: t <= n - dropouts.")
    return failed(name, f"t = {answer}: the server and {colluders} colluding clients would hold enough shares",
                  "They hold one share each of the victim's secret: t must exceed their number.")


#: Payload bytes of one plain FedAvg round (model down to each client, update back up).
check_plain_bytes_per_round = NumericExercise(
    "plain FedAvg bytes per round ({clients} clients)", tol=0.0, params={"clients": 2},
    expected=lambda clients: 2 * clients * N_PARAMS * BYTES_PER_PARAM,
    ask=f"{N_PARAMS} float64 parameters go down to and come back from every client.",
    right="{truth:g} bytes of parameters; SecAgg+'s keys, shares and masks come on top.",
    hint="parameters x 8 bytes x 2 directions x clients.",
    wrong="{value:g} bytes is not right",
    mistakes=(Mistake("{value:g} counts one direction only", "Add the upload: each client sends its update back.",
                      value=lambda clients: clients * N_PARAMS * BYTES_PER_PARAM),
              Mistake("{value:g} counts one client", "Multiply by the {clients} clients.",
                      value=lambda clients: 2 * N_PARAMS * BYTES_PER_PARAM)))


_PROTECTIONS = {
    "eavesdropper on the link": "tls",
    "laptop posing as a hospital": "node_auth",
    "server reads one hospital's update": "secagg",
    "released model memorises a patient": "dp",
}


def check_protections(answer: Any) -> CheckResult:
    """Map each threat to the layer that stops it: 'tls', 'node_auth', 'secagg' or 'dp'."""
    name = "which layer stops which threat"
    if answer is None:
        return not_answered(name, f"Give a dict with keys {sorted(_PROTECTIONS)} and values tls/node_auth/secagg/dp.")
    if not isinstance(answer, dict):
        return failed(name, f"expected a dict, got {type(answer).__name__}")
    missing = sorted(set(_PROTECTIONS) - set(answer))
    if missing:
        return failed(name, f"missing threats: {missing}")
    wrong = sorted(k for k, v in _PROTECTIONS.items() if str(answer[k]).lower() != v)
    if not wrong:
        return passed(name, "each layer has one job; none of them does another's.")
    return failed(name, f"not right for: {wrong}",
                  "TLS protects the wire, node auth the membership, SecAgg+ individual updates from the server, "
                  "DP what the final model reveals.")
