"""The character LM: encoding, shapes, the window really is the context, loss, weights round trip."""

import math

import pytest
import torch

from ppml_lab.lm import char_lm
from ppml_lab.lm.char_lm import PAD_TARGET, CharLM, decode, encode, encode_notes, lm_loss


def test_encode_decode_round_trip():
    text = "Patient 4821's phone number is 81234567."
    assert decode(encode(text)) == text
    assert decode(encode("a\nb\tc")) == "a b c"
    assert decode(encode("café")) == "caf?"
    with pytest.raises(TypeError, match="text must be str"):
        encode(b"bytes")


def test_encode_notes_pads_and_refuses_truncation():
    X, Y = encode_notes(["abcd", "ab"])
    assert X.shape == Y.shape == (2, 3)
    assert decode(X[0]) == "abc" and decode(Y[0]) == "bcd"
    assert Y[1].tolist()[1:] == [PAD_TARGET, PAD_TARGET] and decode(Y[1, :1]) == "b"
    with pytest.raises(ValueError, match=r"length must be >= the longest note minus one \(3\), got 2"):
        encode_notes(["abcd"], length=2)
    with pytest.raises(ValueError, match="notes must not be empty"):
        encode_notes([])


def test_forward_uses_exactly_the_window():
    torch.manual_seed(0)
    m = CharLM(context=4, embed_dim=3, hidden=8)
    x = torch.from_numpy(encode("abcdefghij")).unsqueeze(0)
    out = m(x)
    assert out.shape == (1, 10, char_lm.VOCAB_SIZE)
    x2 = x.clone()
    x2[0, 0] = int(encode("z")[0])  # position 0 is outside the window of positions >= 4
    out2 = m(x2)
    assert torch.allclose(out[0, 4:], out2[0, 4:]) and not torch.allclose(out[0, :4], out2[0, :4])
    # next_log_probs on a window equals forward's last position (the attacks rely on it)
    lp = m.next_log_probs(x[:, 6:10])
    assert torch.allclose(lp, torch.log_softmax(out[:, 9], -1), atol=1e-5)
    # a left-padded short window equals forward at an early position (zero "no character" embedding)
    short = torch.tensor([[-1, -1] + x[0, :2].tolist()])
    assert torch.allclose(m.next_log_probs(short), torch.log_softmax(out[:, 1], -1), atol=1e-5)


def test_lm_loss_ignores_padding_and_matches_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(1, 5, char_lm.VOCAB_SIZE)
    y = torch.tensor([[3, 1, 4, PAD_TARGET, PAD_TARGET]])
    ref = torch.nn.functional.cross_entropy(logits[0, :3], y[0, :3])
    assert torch.allclose(lm_loss(logits, y), ref)


def test_all_parameters_in_linear_layers_for_ghost_clipping():
    from ppml_lab.dp.dp_sgd import _linear_owners

    layers, why = _linear_owners(CharLM())
    assert len(layers) == 3, why
    assert 10_000 < CharLM().n_parameters() < 100_000  # "a few tens of thousands of parameters"


def test_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    m = CharLM(context=5, embed_dim=2, hidden=7)
    char_lm.save_weights(m, tmp_path / "w.npz", metadata={"note": "x"})
    m2, meta = char_lm.load_weights(tmp_path / "w.npz")
    assert meta["note"] == "x" and meta["config"] == {"context": 5, "embed_dim": 2, "hidden": 7}
    x = torch.from_numpy(encode("hello world")).unsqueeze(0)
    assert torch.equal(m(x), m2(x))


def test_committed_weights_small_and_as_recorded():
    """The committed file is what the script recorded: same held-out bits per character on the same corpus."""
    from importlib import resources

    path = resources.files("ppml_lab.lm").joinpath(char_lm.PRETRAINED_PATH)
    assert path.is_file() and path.stat().st_size < 2_000_000
    model, meta = char_lm.load_pretrained()
    text = char_lm.public_corpus()
    assert char_lm.corpus_sha256(text) == meta["corpus_sha256"]  # same offline corpus (same Python 3.11 docs)
    ids = torch.from_numpy(encode(text))
    n_val = max(meta["seq_len"] + 1, int(len(ids) * 0.05))
    val = ids[-n_val:]
    n_chunks = (len(val) - 1) // meta["seq_len"]
    vx, vy = char_lm._windows(val, torch.arange(n_chunks) * meta["seq_len"], meta["seq_len"])
    q = char_lm.evaluate(model, vx, vy)
    assert math.isclose(q.bits_per_char, meta["bits_per_char"], abs_tol=1e-4)
    assert q.bits_per_char < 1.0 and q.perplexity == pytest.approx(2**q.bits_per_char)


def test_public_corpus_offline_and_free_of_patients():
    text = char_lm.public_corpus(generated_sentences=200)
    assert "Beautiful is better than ugly." in text  # the Zen of Python, shipped with the interpreter
    assert "Patient " not in text and "national ID" not in text


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # vmap over unfold's backward: slow, exact
def test_ghost_clipping_exact_on_char_lm():
    """finetune() forces grad_sample_mode='ghost'; that asserts the forward treats each note on its own.

    Checked here: the ghost clipped sum and norms equal materialised per-note gradients (vmap), clipped by
    the one clip in ppml_lab.dp.clipping.
    """
    from ppml_lab.dp.clipping import clip_per_sample
    from ppml_lab.dp.dp_sgd import ghost_clipped_sum, per_sample_gradients

    torch.manual_seed(0)
    m = CharLM(context=5, embed_dim=3, hidden=8)
    X, Y = encode_notes(["Patient 1 is ok.", "Patient 22 is not.", "ab", "x y z"])
    sums, norms = ghost_clipped_sum(m, lm_loss, X, Y, max_grad_norm=0.5)
    clipped, norms_v = clip_per_sample(per_sample_gradients(m, lm_loss, X, Y), max_grad_norm=0.5)
    assert torch.allclose(norms, norms_v, rtol=1e-4)
    assert (norms_v > 0.5).any()  # clipping is active
    for k in sums:
        assert torch.allclose(sums[k], clipped[k].sum(0), atol=1e-6)
