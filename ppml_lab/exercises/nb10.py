"""Exercise checks for notebook 10 (gradient inversion and its defences)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ppml_lab.exercises import CheckResult, failed, not_answered, passed

#: Seed of the model the notebook attacks (reproducibility only).
MODEL_SEED = 0
#: Index into scikit-learn's digits of the image behind :func:`mystery_update`.
MYSTERY_INDEX = 1234


@lru_cache(maxsize=1)
def _mystery() -> tuple[Any, Any, int]:
    from ppml_lab.attacks.gradient_inversion import client_update, digit_images, make_model

    images, labels = digit_images()
    model = make_model(seed=MODEL_SEED)
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


def check_psnr_from_rmse(answer: Any, *, rmse: float = 0.05) -> CheckResult:
    """PSNR (dB, peak 1) of a reconstruction whose per-pixel root-mean-square error is ``rmse``."""
    name = f"PSNR at RMSE {rmse}"
    if answer is None:
        return not_answered(name, "PSNR = 10 log10(peak^2 / MSE) with peak 1 and MSE = RMSE^2.")
    value = _number(answer)
    if value is None:
        return failed(name, f"expected a number of decibels, got {answer!r}")
    truth = -20.0 * math.log10(rmse)  # 10 log10(1 / rmse^2)
    if abs(value - truth) <= 0.05:
        return passed(name, f"{truth:.2f} dB — above the {20} dB line, so this digit counts as recovered.")
    if abs(value - truth / 2) <= 0.05:
        return failed(name, f"{value:.2f} dB is half the answer", "MSE is the square of the RMSE: 10 log10(1 / 0.05**2).")
    return failed(name, f"{value:.2f} dB is not it", "Use 10 * log10(1 / mse) with mse = rmse**2.")


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


def check_equivalent_batch(answer: Any, *, clients: int = 10, batch_size: int = 4) -> CheckResult:
    """Secure aggregation of ``clients`` FedSGD updates of ``batch_size`` images each: same as one batch of?"""
    name = "equivalent batch size"
    if answer is None:
        return not_answered(name, "The sum of the clients' mean gradients is a multiple of one mean gradient.")
    value = _number(answer)
    if value is None:
        return failed(name, f"expected a number of images, got {answer!r}")
    truth = clients * batch_size
    if value == truth:
        return passed(name, f"{truth} images: secure aggregation protects like a batch of {truth} — no more.")
    if value in (clients, batch_size):
        return failed(name, f"{int(value)} counts only the {'clients' if value == clients else 'images per client'}",
                      "Every image of every client is in the sum.")
    return failed(name, f"{value:g} is not it", "Sum of K mean gradients over b images = K x the mean over K*b images.")


def check_noise_std(answer: Any, *, batch_size: int = 8, max_grad_norm: float = 1.0,
                    noise_multiplier: float = 0.5) -> CheckResult:
    """Per-coordinate noise standard deviation on the averaged DP-SGD update the server receives."""
    name = "noise on the averaged update"
    if answer is None:
        return not_answered(name, "Noise N(0, (noise_multiplier * max_grad_norm)^2) is added to the SUM, then divided by B.")
    value = _number(answer)
    if value is None:
        return failed(name, f"expected a standard deviation, got {answer!r}")
    truth = noise_multiplier * max_grad_norm / batch_size
    if math.isclose(value, truth, rel_tol=1e-3):
        return passed(name, f"{truth:g}: larger batches dilute the noise, which is why DP-SGD needs small q or large sigma.")
    if math.isclose(value, noise_multiplier * max_grad_norm, rel_tol=1e-3):
        return failed(name, f"{value:g} is the noise on the sum", "The server receives the mean: divide by the batch size.")
    if math.isclose(value, truth**2, rel_tol=1e-3):
        return failed(name, f"{value:g} is a variance", "Give the standard deviation.")
    return failed(name, f"{value:g} is not it", "sigma * C / B.")
