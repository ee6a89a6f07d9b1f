"""A tiny character-level language model, LoRA adapters and its private fine-tuning (memorisation notebook).

Modules: :mod:`~ppml_lab.lm.char_lm` (vocabulary, the windowed neural LM of Bengio et al. 2003, offline
public corpus, pretrained weights), :mod:`~ppml_lab.lm.lora` (low-rank adapters, Hu et al. 2021) and
:mod:`~ppml_lab.lm.finetune` (non-private, DP-SGD on all weights, DP-SGD on adapters only, through
:mod:`ppml_lab.dp.dp_sgd`). The attacks live in :mod:`ppml_lab.attacks.memorisation`. Every module loads torch, so nothing is re-exported here:
import from the module (``from ppml_lab.lm.lora import add_lora``).
"""

__all__: list[str] = []
