"""LoRA from scratch: starts at the pretrained function, trains only A and B, merges exactly."""

import pytest
import torch
from torch import nn

from ppml_lab.lm.char_lm import CharLM, encode
from ppml_lab.lm.lora import LoRALinear, add_lora, lora_parameters, merge_lora


def _model():
    torch.manual_seed(0)
    return CharLM(context=6, embed_dim=4, hidden=16)


def _x():
    return torch.from_numpy(encode("Patient 4821's ID")).unsqueeze(0)


def test_lora_starts_at_base_and_freezes_it():
    base = _model()
    m = add_lora(base, rank=2, alpha=4.0, targets=("hidden", "out"), rng=0)
    assert torch.equal(m(_x()), base(_x()))  # B = 0: identical function at the start (Hu et al. 2021, Sec. 4.1)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"hidden.lora_A.weight", "hidden.lora_B.weight", "out.lora_A.weight", "out.lora_B.weight"}
    assert lora_parameters(m) == 2 * (24 + 16) + 2 * (16 + 95)  # r (d_in + d_out) per layer
    assert all(p.requires_grad for p in base.parameters())  # the original is untouched


def test_lora_forward_is_w0x_plus_scaled_bax():
    torch.manual_seed(1)
    lin = nn.Linear(5, 3)
    lo = LoRALinear(lin, rank=2, alpha=6.0)
    with torch.no_grad():
        lo.lora_B.weight.normal_()
    x = torch.randn(4, 5)
    expected = lin(x) + (6.0 / 2) * x @ lo.lora_A.weight.T @ lo.lora_B.weight.T
    assert torch.allclose(lo(x), expected, atol=1e-6)
    assert torch.allclose(lo.merged()(x), expected, atol=1e-5)
    # W0 is frozen by LoRALinear itself (not only by add_lora): only A and B are trainable
    assert [n for n, p in lo.named_parameters() if p.requires_grad] == ["lora_A.weight", "lora_B.weight"]


def test_merge_after_training_equals_adapted_model():
    base = _model()
    m = add_lora(base, rank=2, alpha=4.0, targets=("hidden", "out"), rng=0)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        m(_x()).pow(2).mean().backward()
        opt.step()
    assert not torch.allclose(m(_x()), base(_x()))
    merged = merge_lora(m)
    assert type(merged.hidden) is nn.Linear and torch.allclose(merged(_x()), m(_x()), atol=1e-5)


def test_dp_sgd_ghost_clipping_matches_vmap_on_lora():
    """The package's ghost clipping sees exactly the adapters' per-note gradients (vs materialised vmap)."""
    from ppml_lab.dp.clipping import clip_per_sample
    from ppml_lab.dp.dp_sgd import ghost_clipped_sum, per_sample_gradients
    from ppml_lab.lm.char_lm import encode_notes, lm_loss

    m = add_lora(_model(), rank=2, alpha=4.0, targets=("hidden", "out"), rng=0)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    X, Y = encode_notes(["Patient 1 is ok.", "Patient 22 is not.", "ab"])
    sums, norms = ghost_clipped_sum(m, lm_loss, X, Y, max_grad_norm=0.05)
    clipped, norms_v = clip_per_sample(per_sample_gradients(m, lm_loss, X, Y), max_grad_norm=0.05)
    assert torch.allclose(norms, norms_v, rtol=1e-4)
    for k in sums:
        assert torch.allclose(sums[k], clipped[k].sum(0), atol=1e-6)


def test_lora_bad_input():
    base = _model()
    with pytest.raises(ValueError, match=r"rank must be <= min\(in_features, out_features\) = 16, got 17"):
        add_lora(base, rank=17, alpha=1.0, targets=("hidden",))
    with pytest.raises(ValueError, match="rank must be"):
        add_lora(base, rank=0, alpha=1.0, targets=("hidden",))
    with pytest.raises(ValueError, match="alpha must be"):
        add_lora(base, rank=2, alpha=0.0, targets=("hidden",))
    with pytest.raises(ValueError, match="targets must name nn.Linear layers of the model .*got 'decoder'"):
        add_lora(base, rank=2, alpha=1.0, targets=("decoder",))
    with pytest.raises(ValueError, match="targets must name at least one"):
        add_lora(base, rank=2, alpha=1.0, targets=())
    with pytest.raises(TypeError, match="base must be a torch.nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), rank=1, alpha=1.0)
