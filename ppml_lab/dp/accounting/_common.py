"""Input checks shared by the accountants (one spelling per parameter across rdp, pld and zcdp)."""

from __future__ import annotations

from typing import Any

from ppml_lab._validation import check_fraction, check_positive


def check_noise_multiplier(noise_multiplier: Any) -> float:
    """noise_multiplier = noise scale / sensitivity: a finite number > 0."""
    return check_positive("noise_multiplier", noise_multiplier)


def check_sample_rate(sample_rate: Any) -> float:
    """Poisson sampling rate q in (0, 1] (q = 1: every record in every step)."""
    return check_fraction("sample_rate", sample_rate)
