"""Which layers fine-tuning changes, per architecture; the vision encoder is always frozen.

LoRA adapts the language model's attention and MLP projections (and, optionally, the projector
between vision and language). Targets are anchored on the language model because the vision encoder
has layers of the same names (CLIP's ``q_proj``, ``fc1``), facts from ``shared/docs/models.md``:

* LLaVA (TinyLLaVA): ``[model.]language_model.[model.]layers.N.self_attn.{q,k,v,o}_proj`` and
  ``.mlp.{gate,up,down}_proj``; projector ``multi_modal_projector.linear_{1,2}``.
* moondream2, 2024 revisions (Phi): ``text_model.transformer.h.N.mixer.{Wqkv,out_proj}``,
  ``.mlp.{fc1,fc2}`` (fused attention).
* moondream2, 2025 revisions: ``text.blocks.N.attn.{qkv,proj}``, ``.mlp.{fc1,fc2}``.
* other image-text-to-text models: projections with the usual names outside any vision module.

The family is read from module names, so these rules are tested on plain lists of names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

LLAVA_TEXT = r".*language_model\.(?:model\.)?layers\.\d+\.(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)"
LLAVA_PROJECTOR = r".*multi_modal_projector\.linear_[12]"
MOONDREAM_2024 = r"(?:.*\.)?text_model\.transformer\.h\.\d+\.(?:mixer\.(?:Wqkv|out_proj)|mlp\.(?:fc1|fc2))"
MOONDREAM_2025 = r"(?:.*\.)?text\.blocks\.\d+\.(?:attn\.(?:qkv|proj)|mlp\.(?:fc1|fc2))"
GENERIC_TEXT = r"(?!.*(?:vision|visual|image_encoder))(?:.*\.)?(?:q|k|v|o|gate|up|down)_proj"

VISION_MARKERS = ("vision_tower", "vision_model", "vision_encoder", "visual", "vision.")


def model_family(module_names: Iterable[str]) -> str:
    """``llava``, ``moondream-2024``, ``moondream-2025`` or ``generic``, from a model's module names."""
    names = list(module_names)
    if any(re.fullmatch(LLAVA_TEXT, n) for n in names) and any("multi_modal_projector" in n for n in names):
        return "llava"
    if any(re.fullmatch(MOONDREAM_2024, n) for n in names):
        return "moondream-2024"
    if any(re.fullmatch(MOONDREAM_2025, n) for n in names):
        return "moondream-2025"
    return "generic"


def lora_target_regex(family: str, train_projector: bool = False) -> str:
    """The PEFT ``target_modules`` pattern (PEFT full-matches a string against each module name)."""
    if family == "llava":
        return f"(?:{LLAVA_TEXT}|{LLAVA_PROJECTOR})" if train_projector else LLAVA_TEXT
    if train_projector:
        raise ValueError(f"train_projector is supported for LLaVA models only, not {family}")
    if family == "moondream-2024":
        return MOONDREAM_2024
    if family == "moondream-2025":
        return MOONDREAM_2025
    return GENERIC_TEXT


def matching_modules(module_names: Iterable[str], regex: str) -> list[str]:
    """The module names a PEFT ``target_modules`` regex selects."""
    return [n for n in module_names if re.fullmatch(regex, n)]


def is_vision(name: str) -> bool:
    """A parameter or module of the vision encoder (frozen in every method)."""
    return any(marker in name for marker in VISION_MARKERS) and "multi_modal_projector" not in name


def is_projector(name: str) -> bool:
    return "multi_modal_projector" in name


def full_finetune_trainable(name: str, train_projector: bool) -> bool:
    """Full fine-tuning trains the language model (and the projector if asked), never the vision encoder."""
    if is_vision(name):
        return False
    if is_projector(name):
        return train_projector
    return True
