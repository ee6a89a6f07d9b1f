"""Fine-tuning three ways through the package's DP-SGD; epsilons pinned to Opacus' accountant."""

import math

import pytest
import torch

from ppml_lab import data
from ppml_lab.lm.char_lm import CharLM, encode_notes, evaluate
from ppml_lab.lm.finetune import finetune


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = CharLM(context=8, embed_dim=4, hidden=16)
    notes = data.clinical_notes(150, repetitions=(1,), canaries_per_setting=1, rng=0)
    X, Y = encode_notes(notes.notes)
    return model, X, Y


def test_dp_lora_epsilon_equals_opacus_accountant(setup):
    from opacus.accountants import RDPAccountant as OpacusRDP

    model, X, Y = setup
    r = finetune(model, X, Y, method="dp_lora", epochs=1, sample_rate=0.1, lr=1e-2, noise_multiplier=1.3,
                 delta=1e-5, rank=2, rng=0)
    ref = OpacusRDP()
    ref.history = [(1.3, 0.1, r.steps)]  # (sigma, q, steps)
    assert r.steps == 10 and r.privacy_unit.startswith("one note")
    assert math.isclose(r.epsilon, ref.get_epsilon(delta=1e-5), rel_tol=1e-9)
    assert r.trainable_parameters == 2 * (32 + 16) + 2 * (16 + 95)
    # group privacy for a patient in 16 notes (Dwork & Roth 2014, Thm 2.2): 16 epsilon
    eps16, delta16 = r.group_epsilon(16)
    assert math.isclose(eps16, 16 * r.epsilon) and delta16 > 16 * 1e-5


def test_dp_full_target_epsilon_is_met_and_all_weights_move(setup):
    model, X, Y = setup
    r = finetune(model, X, Y, method="dp_full", epochs=1, sample_rate=0.1, lr=1e-2, target_epsilon=2.0, rng=0)
    assert r.epsilon <= 2.0 + 1e-9 and r.epsilon > 1.5  # calibrated, never above the target
    # calibrated for the steps actually run (10), not for more: the same sigma the accountant's search gives
    from ppml_lab.dp.accounting import find_noise_multiplier

    assert r.steps == 10
    assert r.noise_multiplier == find_noise_multiplier(target_epsilon=2.0, delta=1e-5, sample_rate=0.1, steps=10)
    assert r.trainable_parameters == model.n_parameters()
    moved = [not torch.equal(a, b) for a, b in zip(model.parameters(), r.model.parameters())]
    assert all(moved)


def test_non_private_learns_and_spends_infinity(setup):
    model, X, Y = setup
    before = evaluate(model, X, Y).bits_per_char
    r = finetune(model, X, Y, method="non_private", epochs=2, sample_rate=0.2, lr=1e-2, rng=0)
    assert math.isinf(r.epsilon) and r.group_epsilon(4) == (math.inf, 1.0)
    assert evaluate(r.model, X, Y).bits_per_char < before - 0.5


def test_finetune_bad_input(setup):
    model, X, Y = setup
    kw = dict(epochs=1, sample_rate=0.1, lr=1e-2)
    with pytest.raises(ValueError, match="method must be one of 'non_private', 'dp_full', 'dp_lora', got 'dp'"):
        finetune(model, X, Y, method="dp", **kw)
    with pytest.raises(ValueError, match="target_epsilon must be a finite number > 0, got 0.0|target_epsilon must be"):
        finetune(model, X, Y, method="dp_full", target_epsilon=0.0, **kw)
    with pytest.raises(ValueError, match="target_epsilon must be"):
        finetune(model, X, Y, method="dp_lora", target_epsilon=-1.0, **kw)
    with pytest.raises(ValueError, match="noise_multiplier must be"):
        finetune(model, X, Y, method="dp_full", noise_multiplier=0.0, **kw)
    with pytest.raises(ValueError, match="give exactly one of noise_multiplier or target_epsilon"):
        finetune(model, X, Y, method="dp_full", **kw)
    with pytest.raises(ValueError, match="must be None for method='non_private'"):
        finetune(model, X, Y, method="non_private", noise_multiplier=1.0, **kw)
    with pytest.raises(ValueError, match="delta must be"):
        finetune(model, X, Y, method="dp_full", noise_multiplier=1.0, delta=0.0, **kw)
    for method in ("non_private", "dp_full"):  # q = 0 is refused before any 1/q (was a ZeroDivisionError)
        extra = {} if method == "non_private" else {"noise_multiplier": 1.0}
        with pytest.raises(ValueError, match=r"sample_rate must be a finite number in \(0, 1\], got 0"):
            finetune(model, X, Y, method=method, epochs=1, sample_rate=0.0, lr=1e-2, **extra)
