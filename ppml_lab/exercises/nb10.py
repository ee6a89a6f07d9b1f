"""Exercise checks for notebook 10 (gradient inversion and its defences)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ppml_lab.exercises import CheckResult, Mistake, NumericExercise, failed, not_answered, passed

#: Seed of the model the notebook attacks (reproducibility only).
MODEL_SEED = 0
#: Index into scikit-learn's digits of the image behind :func:`mystery_update`.
MYSTERY_INDEX = 1234


@lru_cache(maxsize=1)
def _mystery() -> tuple[Any, Any, int]:
    from ppml_lab.attacks.gradient_inversion import client_update, digit_images, make_model

    images, labels = digit_images()
    model = make_model(rng=MODEL_SEED)
    i = MYSTERY_INDEX
    return model, client_update(model, images[i : i + 1], labels[i : i + 1]), int(labels[i])


def mystery_update() -> tuple[Any, Any]:
    """(model, update): one client's batch-size-1 update whose label exercise 2 asks for."""
    model, update, _ = _mystery()
    return model, update


def _number(answer: Any) -> float | None:
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


#: PSNR (dB, peak 1) of a reconstruction whose per-pixel root-mean-square error is ``rmse``.
check_psnr_from_rmse = NumericExercise(
    "PSNR at RMSE {rmse}", expected=lambda rmse: -20.0 * math.log10(rmse), tol=0.05, params={"rmse": 0.05},
    ask="PSNR = 10 log10(peak^2 / MSE) with peak 1 and MSE = RMSE^2.",
    right="{truth:.2f} dB — above the 20 dB line, so this digit counts as recovered.",
    hint="Use 10 * log10(1 / mse) with mse = rmse**2.",
    wrong="{value:.2f} dB is not it",
    mistakes=(Mistake("{value:.2f} dB is half the answer", "MSE is the square of the RMSE: 10 log10(1 / 0.05**2).",
                      value=lambda rmse: -10.0 * math.log10(rmse)),))


def check_mystery_label(answer: Any) -> CheckResult:
    """The digit behind :func:`mystery_update`, read off the last layer's gradient (iDLG)."""
    name = "mystery label"
    if answer is None:
        return not_answered(name, "Sum each row of the last layer's weight gradient: the true class is the negative one.")
    value = _number(answer)
    if value is None or value != int(value):
        return failed(name, f"expected a digit 0-9, got {answer!r}")
    truth = _mystery()[2]
    if int(value) == truth:
        return passed(name, f"the client trained on a {truth} — no optimisation needed (Zhao et al. 2020).")
    return failed(name, f"{int(value)} is not the client's label",
                  "The row of update[-2] with the most negative sum (or recover_labels(model, update, batch_size=1)).")


#: Secure aggregation of ``clients`` FedSGD updates of ``batch_size`` images each: same as one batch of?
check_equivalent_batch = NumericExercise(
    "equivalent batch size", expected=lambda clients, batch_size: clients * batch_size, tol=0.0,
    params={"clients": 10, "batch_size": 4},
    ask="The sum of the clients' mean gradients is a multiple of one mean gradient.",
    right="{truth:g} images: secure aggregation protects like a batch of {truth:g} — no more.",
    hint="Sum of K mean gradients over b images = K x the mean over K*b images.",
    mistakes=(Mistake("{value:g} counts only the clients", "Every image of every client is in the sum.",
                      value=lambda clients, batch_size: clients),
              Mistake("{value:g} counts only the images per client", "Every image of every client is in the sum.",
                      value=lambda clients, batch_size: batch_size)))


#: Per-coordinate noise standard deviation on the averaged DP-SGD update the server receives.
check_noise_std = NumericExercise(
    "noise on the averaged update", tol=0.0, rel_tol=1e-3,
    expected=lambda batch_size, max_grad_norm, noise_multiplier: noise_multiplier * max_grad_norm / batch_size,
    params={"batch_size": 8, "max_grad_norm": 1.0, "noise_multiplier": 0.5},
    ask="Noise N(0, (noise_multiplier * max_grad_norm)^2) is added to the SUM, then divided by B.",
    right="{truth:g}: larger batches dilute the noise, which is why DP-SGD needs small q or large sigma.",
    hint="sigma * C / B.",
    mistakes=(Mistake("{value:g} is the noise on the sum", "The server receives the mean: divide by the batch size.",
                      value=lambda batch_size, max_grad_norm, noise_multiplier: noise_multiplier * max_grad_norm),
              Mistake("{value:g} is a variance", "Give the standard deviation.",
                      value=lambda batch_size, max_grad_norm, noise_multiplier:
                      (noise_multiplier * max_grad_norm / batch_size) ** 2)))
