"""A tiny character-level neural language model: a fixed window of characters -> the next character.

The architecture is Bengio, Ducharme, Vincent & Jauvin 2003, "A Neural Probabilistic Language Model",
JMLR 3:1137-1155, Sec. 2 (shared character embeddings C, concatenated over a window of ``context``
previous characters, one tanh hidden layer, a softmax over the vocabulary), at character level:

    p(x_t | x_{t-k} .. x_{t-1}) = softmax(U tanh(H [C x_{t-k}; ...; C x_{t-1}] + b) + c)

Every trainable parameter sits in an ``nn.Linear`` used once per forward pass (the embedding is a
bias-free Linear applied to one-hot characters), so DP-SGD's ghost clipping applies exactly
(:func:`ppml_lab.dp.dp_sgd.ghost_clipped_sum`) and Opacus' hooks support it too.

Threat model: none by itself; it is the model whose memorisation :mod:`ppml_lab.attacks.memorisation`
measures. The pretrained weights shipped under ``weights/`` were trained only on the offline public corpus
of :func:`public_corpus` (Python's own docstrings and generated text with no identifiers) by
``scripts/pretrain_char_lm.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ppml_lab._rng import RNGLike, renamed_keywords, resolve_rng, torch_seed
from ppml_lab._validation import check_int, check_positive, check_type

__all__ = [
    "VOCAB",
    "VOCAB_SIZE",
    "PAD_TARGET",
    "encode",
    "decode",
    "encode_notes",
    "CharLM",
    "lm_loss",
    "public_corpus",
    "evaluate",
    "LMQuality",
    "pretrain",
    "save_weights",
    "load_weights",
    "load_pretrained",
    "PRETRAINED_PATH",
]

#: Printable ASCII (space .. '~'); anything else is encoded as '?'. Index 0 is the space.
VOCAB: str = "".join(chr(i) for i in range(32, 127))
VOCAB_SIZE: int = len(VOCAB)
_INDEX = {c: i for i, c in enumerate(VOCAB)}
_UNKNOWN = _INDEX["?"]
#: Target value of padded positions: not scored by :func:`lm_loss`.
PAD_TARGET: int = -1
#: Where the committed pretrained weights live inside the package.
PRETRAINED_PATH = "weights/char_lm.npz"


def encode(text: str) -> np.ndarray:
    """Characters -> int64 indices into :data:`VOCAB` (newlines/tabs become spaces, others '?')."""
    check_type("text", text, str)
    text = text.replace("\n", " ").replace("\t", " ")
    return np.fromiter((_INDEX.get(c, _UNKNOWN) for c in text), dtype=np.int64, count=len(text))


def decode(indices: Any) -> str:
    """Indices -> text."""
    return "".join(VOCAB[int(i)] for i in np.asarray(indices).reshape(-1))


def encode_notes(notes: Any, *, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One training example per note: inputs X (N, T) and next-character targets Y (N, T).

    X[i, t] is character t of note i and Y[i, t] character t + 1; positions past the end of a note are
    padded (X with a space, Y with :data:`PAD_TARGET`, which the loss ignores). ``length`` is T (default:
    the longest note minus one); a longer note is an error, never silently truncated (a truncated canary
    would make the memorisation numbers wrong).
    """
    texts = list(notes)
    if not texts:
        raise ValueError("notes must not be empty, got 0 notes")
    enc = [encode(t) for t in texts]
    longest = max(len(e) for e in enc)
    if longest < 2:
        raise ValueError(f"notes must have at least 2 characters, got a longest note of {longest}")
    t_len = longest - 1 if length is None else check_int("length", length, low=1)
    if longest - 1 > t_len:
        raise ValueError(f"length must be >= the longest note minus one ({longest - 1}), got {t_len}")
    X = np.zeros((len(enc), t_len), dtype=np.int64)
    Y = np.full((len(enc), t_len), PAD_TARGET, dtype=np.int64)
    for i, e in enumerate(enc):
        X[i, : len(e) - 1] = e[:-1]
        Y[i, : len(e) - 1] = e[1:]
    return torch.from_numpy(X), torch.from_numpy(Y)


class CharLM(nn.Module):
    """Bengio et al. 2003 at character level: window of ``context`` characters -> next-character logits."""

    _arange: torch.Tensor  # a non-persistent buffer (registered in __init__)

    def __init__(self, *, context: int = 32, embed_dim: int = 8, hidden: int = 64) -> None:
        super().__init__()
        self.context = check_int("context", context, low=1)
        self.embed_dim = check_int("embed_dim", embed_dim, low=1)
        self.hidden_size = check_int("hidden", hidden, low=1)
        self.embed = nn.Linear(VOCAB_SIZE, embed_dim, bias=False)  # C: one-hot -> embedding
        self.hidden = nn.Linear(context * embed_dim, hidden)  # H, b
        self.out = nn.Linear(hidden, VOCAB_SIZE)  # U, c
        self.register_buffer("_arange", torch.arange(VOCAB_SIZE), persistent=False)

    def config(self) -> dict[str, int]:
        return {"context": self.context, "embed_dim": self.embed_dim, "hidden": self.hidden_size}

    def _one_hot(self, x: torch.Tensor) -> torch.Tensor:
        return torch.eq(x.unsqueeze(-1), self._arange).to(torch.float32)  # vmap-safe one-hot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) character indices -> logits (B, T, V); position t predicts character t + 1."""
        e = self.embed(self._one_hot(x))  # (B, T, d): C x_t
        t = x.shape[-1]
        e = nn.functional.pad(e, (0, 0, self.context - 1, 0))  # zero "no character" before the start
        w = e.unfold(-2, self.context, 1)  # (B, T, d, k): the window ending at t
        w = w.transpose(-1, -2).reshape(*x.shape[:-1], t, self.context * self.embed_dim)  # [C x_{t-k+1}; ..; C x_t]
        return self.out(torch.tanh(self.hidden(w)))

    def next_log_probs(self, windows: torch.Tensor) -> torch.Tensor:
        """log p(next | window) for windows (N, context) of character indices (left-padded with -1)."""
        # C x by lookup (= the one-hot product of forward, without the (N, k, V) one-hot); -1 -> zero vector
        e = self.embed.weight.t()[windows.clamp(min=0)] * (windows >= 0).unsqueeze(-1).to(torch.float32)
        h = torch.tanh(self.hidden(e.reshape(windows.shape[0], self.context * self.embed_dim)))
        return torch.log_softmax(self.out(h), dim=-1)

    def n_parameters(self, *, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy (nats) over the non-padded positions of the batch.

    For one note (a batch of one) this is the note's mean loss: DP-SGD clips the gradient of this
    per-note loss, so the privacy unit is one note.
    """
    mask = (targets != PAD_TARGET).to(logits.dtype)
    logp = torch.log_softmax(logits, dim=-1)
    nll = -torch.gather(logp, -1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # -log p(x_{t+1} | window)
    return (nll * mask).sum() / mask.sum().clamp(min=1.0)


@torch.no_grad()
def note_losses(model: CharLM, X: torch.Tensor, Y: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Per-note mean cross-entropy (nats per character), shape (N,)."""
    model.eval()
    out = []
    for i in range(0, X.shape[0], batch_size):
        logits = model(X[i: i + batch_size])
        y = Y[i: i + batch_size]
        mask = (y != PAD_TARGET).to(logits.dtype)
        nll = -torch.gather(torch.log_softmax(logits, -1), -1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        out.append((nll * mask).sum(1) / mask.sum(1).clamp(min=1.0))
    return torch.cat(out)


@dataclass(frozen=True)
class LMQuality:
    """Held-out quality: bits per character and next-character accuracy (over non-padded positions)."""

    bits_per_char: float
    accuracy: float

    @property
    def perplexity(self) -> float:
        """Per-character perplexity 2^bpc."""
        return float(2.0**self.bits_per_char)


@torch.no_grad()
def evaluate(model: CharLM, X: torch.Tensor, Y: torch.Tensor, *, batch_size: int = 512) -> LMQuality:
    """Bits per character and next-character accuracy of ``model`` on (X, Y)."""
    model.eval()
    nats, correct, count = 0.0, 0.0, 0.0
    for i in range(0, X.shape[0], batch_size):
        logits = model(X[i: i + batch_size])
        y = Y[i: i + batch_size]
        mask = y != PAD_TARGET
        logp = torch.log_softmax(logits, -1)
        nll = -torch.gather(logp, -1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        nats += float(nll[mask].sum())
        correct += float((logits.argmax(-1) == y)[mask].sum())
        count += float(mask.sum())
    if count == 0:
        raise ValueError("Y must contain at least one non-padded target, got none")
    return LMQuality(bits_per_char=nats / count / math.log(2), accuracy=correct / count)


# ---------------------------------------------------------------------------------------------
# The offline public corpus
# ---------------------------------------------------------------------------------------------

#: Standard-library modules whose docstrings form the English part of the public corpus (Python 3.11's).
PUBLIC_MODULES: tuple[str, ...] = (
    "this", "json", "collections", "functools", "itertools", "string", "textwrap", "statistics", "datetime",
    "calendar", "csv", "heapq", "bisect", "fractions", "decimal", "random", "difflib", "argparse", "pathlib",
    "shutil", "tempfile", "logging", "unittest", "email", "http", "zipfile",
)

_PUBLIC_SENTENCES = (
    "Patients with {dx} are usually started on {med} {dose} mg.",
    "{med} {dose} mg is a common first-line treatment for {dx}.",
    "The clinic in {site} reviews patients with {dx} every {n} weeks.",
    "A follow-up visit for {dx} is booked {n} days after discharge.",
    "Call the {site} hospital switchboard on {phone} for appointments.",
    "The national guideline ({year}) recommends {med} for {dx} in adults over {age}.",
)


def _docstrings() -> str:
    import codecs
    import importlib
    import inspect

    parts: list[str] = []
    for name in PUBLIC_MODULES:
        if name == "this":  # the Zen of Python, stored rot13-encoded in Lib/this.py
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen once
                import this as _this

            parts.append(codecs.decode(_this.s, "rot13"))
            continue
        mod = importlib.import_module(name)
        parts.append(inspect.getdoc(mod) or "")
        for attr in sorted(dir(mod)):
            obj = getattr(mod, attr, None)
            if attr.startswith("_") or inspect.ismodule(obj):  # submodules: present only once imported
                continue
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 40:
                parts.append(doc)
    seen, out = set(), []
    for p in parts:  # deduplicate (many re-exported objects share a docstring)
        if p not in seen:
            seen.add(p)
            out.append(p)
    return " ".join(" ".join(p.split()) for p in out)


@renamed_keywords(seed="rng")
def public_corpus(*, generated_sentences: int = 6000, rng: RNGLike = 0) -> str:
    """Offline public pretraining text: stdlib docstrings + generated medical sentences (no patients).

    Nothing is downloaded: the docstrings ship with the interpreter, the sentences are generated from the
    same vocabulary lists as :func:`ppml_lab.data.clinical_notes` but name no patient and no identifier
    of a person (only public hospital switchboard numbers, random digits), the way public medical text
    (guidelines, hospital web pages) would. ``rng`` fixes the generated part; it defaults to the seed 0, not the
    CSPRNG, because this is a public corpus that should read the same everywhere (nothing secret is drawn).
    """
    from ppml_lab import data

    n = check_int("generated_sentences", generated_sentences, low=0)
    g = resolve_rng(rng)
    sentences = []
    for _ in range(n):
        tpl = _PUBLIC_SENTENCES[int(g.integers(0, len(_PUBLIC_SENTENCES)))]
        med, doses = data._NOTE_MEDICATIONS[int(g.integers(0, len(data._NOTE_MEDICATIONS)))]
        sentences.append(tpl.format(
            dx=data._NOTE_DIAGNOSES[int(g.integers(0, len(data._NOTE_DIAGNOSES)))], med=med,
            dose=doses[int(g.integers(0, len(doses)))], site=data.SITES[int(g.integers(0, len(data.SITES)))],
            n=int(g.integers(2, 13)), phone="".join(str(d) for d in g.integers(0, 10, size=8)),
            year=int(g.integers(2015, 2026)), age=int(g.integers(18, 80)),
        ))
    return _docstrings() + " " + " ".join(sentences)


# ---------------------------------------------------------------------------------------------
# Pretraining and the committed weights
# ---------------------------------------------------------------------------------------------


def _windows(ids: torch.Tensor, starts: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts.unsqueeze(1) + torch.arange(length + 1)
    chunk = ids[idx]
    return chunk[:, :-1], chunk[:, 1:]


@renamed_keywords(seed="rng")
def pretrain(
    text: str,
    *,
    steps: int,
    batch_size: int = 64,
    seq_len: int = 128,
    lr: float = 3e-3,
    rng: RNGLike = 0,
    config: dict[str, int] | None = None,
    validation_fraction: float = 0.05,
) -> tuple[CharLM, LMQuality]:
    """Train a fresh :class:`CharLM` on ``text`` (non-private: the text is public) and report its quality.

    The last ``validation_fraction`` of the text is held out; returns (model, held-out quality). Seeded by
    default (``rng=0``; the text is public, nothing secret is drawn): the same text, steps and ``rng`` give
    the same weights on the same torch build. An int seeds torch exactly as ``torch.manual_seed`` would.
    """
    check_int("steps", steps, low=1)
    check_int("batch_size", batch_size, low=1)
    check_int("seq_len", seq_len, low=1)
    check_positive("lr", lr)
    ids = torch.from_numpy(encode(text))
    n_val = max(seq_len + 1, int(len(ids) * validation_fraction))
    if len(ids) < n_val + seq_len + 2:
        raise ValueError(f"text must have more than {n_val + seq_len + 2} characters, got {len(ids)}")
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    seed = torch_seed(rng)
    torch.manual_seed(seed)  # initial weights (teaching reproducibility; nothing secret here)
    model = CharLM(**(config or {}))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(train_ids) - seq_len - 1, (batch_size,), generator=gen)
        x, y = _windows(train_ids, starts, seq_len)
        opt.zero_grad(set_to_none=True)
        lm_loss(model(x), y).backward()
        opt.step()
        sched.step()
    n_chunks = (len(val_ids) - 1) // seq_len
    vx, vy = _windows(val_ids, torch.arange(n_chunks) * seq_len, seq_len)
    return model, evaluate(model, vx, vy)


def save_weights(model: CharLM, path: str | Path, *, metadata: dict[str, Any]) -> None:
    """float32 arrays in an .npz (no pickle) plus the config and ``metadata`` as JSON."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    meta = {"config": model.config(), **metadata}
    np.savez_compressed(path, __meta__=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
                        **arrays)


def load_weights(path: str | Path) -> tuple[CharLM, dict[str, Any]]:
    """Load a model saved by :func:`save_weights` (``allow_pickle=False``); returns (model, metadata)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["__meta__"]).decode())
        model = CharLM(**meta["config"])
        state = {k: torch.from_numpy(z[k].copy()) for k in z.files if k != "__meta__"}
    model.load_state_dict(state)
    model.eval()
    return model, meta


def load_pretrained() -> tuple[CharLM, dict[str, Any]]:
    """The committed model pretrained on :func:`public_corpus` by ``scripts/pretrain_char_lm.py``."""
    ref = resources.files("ppml_lab.lm").joinpath(PRETRAINED_PATH)
    with resources.as_file(ref) as p:
        return load_weights(p)


def corpus_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
