"""Exercise checks for notebook 03 (DP-SGD from scratch)."""

from __future__ import annotations

from ppml_lab.exercises import Mistake, NumericExercise

#: Exercise 2's setting: Poisson rate, noise multiplier, steps and delta.
EPSILON_SETTING = {"sample_rate": 0.01, "noise_multiplier": 1.0, "steps": 1000, "delta": 1e-5}


#: Std of the noise on one coordinate of the AVERAGED gradient: sigma * C / (q N), here sigma = 1.1, C = 0.5,
#: q N = 100.
check_noise_std = NumericExercise(
    "noise std per coordinate", expected=1.1 * 0.5 / 100, tol=1e-6,
    ask="Noise N(0, (sigma C)^2) is added to the SUM, then divided by the expected batch size.",
    right="sigma * C / (q N) = {truth:.4g}: bigger lots dilute the same noise.",
    hint="sigma = 1.1, C = 0.5, q N = 100.",
    wrong="{value} is not sigma * C / (q N)",
    mistakes=(Mistake("{value} is the std on the sum", "Divide by the expected batch size q N = 100.", value=1.1 * 0.5),
              Mistake("{value} forgets the clipping norm", "The noise scale is sigma times C.", value=1.1 / 100)))


def _epsilon_truth() -> float:
    from ppml_lab.dp.accountant import RDPAccountant

    s = EPSILON_SETTING
    acc = RDPAccountant()
    acc.step(noise_multiplier=s["noise_multiplier"], sample_rate=s["sample_rate"], steps=int(s["steps"]))
    return acc.get_epsilon(s["delta"])


#: epsilon of DP-SGD with q = 0.01, sigma = 1.0, 1000 steps at delta = 1e-5 (RDP accountant).
check_epsilon = NumericExercise(
    "epsilon of 1000 DP-SGD steps", expected=_epsilon_truth, tol=1e-3, rel_tol=1e-3,
    ask="RDPAccountant().step(noise_multiplier=..., sample_rate=..., steps=...), then get_epsilon(delta).",
    right="epsilon = {spend}: subsampling (q = 1 %) is what keeps it this small.",
    hint="Use steps=1000 and delta=1e-5.",
    wrong="{value:.3f} is not the RDP accountant's epsilon",
    mistakes=(Mistake("{value:.3f} is far too large", "Did you forget subsampling (sample_rate=0.01)?",
                      when=lambda value, truth: value > 5 * truth),))

#: A per-sample gradient of norm 4 with max_grad_norm 1 is multiplied by min(1, C / ||g||).
check_clip_factor = NumericExercise(
    "clipping factor", expected=0.25, tol=1e-3,
    ask="Clipping multiplies g_i by min(1, C / ||g_i||).",
    right="0.25: the clipped gradient has norm exactly C = 1.",
    hint="C = 1, ||g|| = 4.",
    wrong="{value} is not min(1, C / ||g||)",
    mistakes=(Mistake("1 leaves the gradient unclipped", "Its norm (4) exceeds C (1), so it is scaled down.",
                      value=1.0, tol=1e-9),
              Mistake("4 is ||g|| / C, upside down", "The factor is C / ||g||.", value=4.0, tol=1e-9)))
