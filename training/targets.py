"""Which layers fine-tuning changes, per architecture; the vision encoder is always frozen.

LoRA adapts the language model's attention and MLP projections (and, optionally, the projector
between vision and language). Targets are anchored on the language model because the vision encoder
has layers of the same names (CLIP's ``q_proj``, ``fc1``), facts from ``shared/docs/models.md``:

* LLaVA (TinyLLaVA): ``[model.]language_model.[model.]layers.N.self_attn.{q,k,v,o}_proj`` and
  ``.mlp.{gate,up,down}_proj``; projector ``multi_modal_projector.linear_{1,2}``.
* moondream2, 2024 revisions (Phi): ``text_model.transformer.h.N.mixer.{Wqkv,out_proj}``,
  ``.mlp.{fc1,fc2}`` (fused attention).
* moondream2, 2025 revisions: ``text.blocks.N.attn.{qkv,proj}``, ``.mlp.{fc1,fc2}``.
* Gemma 3 (MedGemma), Qwen2.5-VL, Qwen3-VL: ``model.language_model.layers.N...`` like LLaVA; the
  projector is Gemma 3's ``multi_modal_projector`` (a weight matrix, not a layer LoRA can wrap), Qwen's
  ``visual.merger`` (``mlp.{0,2}`` in 2.5, ``linear_fc{1,2}`` in 3), inside the vision module;
* Idefics3 / SmolVLM: ``model.text_model.layers.N...``; projector ``connector.modality_projection.proj``;
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
# Gemma 3, Qwen2.5-VL, Qwen3-VL, Idefics3/SmolVLM: the language model's decoder layers, by either name.
LANGUAGE_TEXT = (
    r".*(?:language_model|text_model)\.(?:model\.)?layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)"
)
PROJECTORS = {  # per family: the layers between vision and language LoRA may also adapt
    "qwen-vl": r".*visual\.merger\.(?:mlp\.[02]|linear_fc[12])",
    "idefics3": r".*connector\.modality_projection\.proj",
}
GENERIC_TEXT = r"(?!.*(?:vision|visual|image_encoder))(?:.*\.)?(?:q|k|v|o|gate|up|down)_proj"

VISION_MARKERS = ("vision_tower", "vision_model", "vision_encoder", "visual", "vision.")
PROJECTOR_MARKERS = ("multi_modal_projector", "visual.merger", "visual.deepstack_merger", "connector.")


def model_family(module_names: Iterable[str]) -> str:
    """``llava``, ``gemma3``, ``qwen-vl``, ``idefics3``, ``moondream-2024``, ``moondream-2025`` or ``generic``,
    from a model's module names."""
    names = list(module_names)
    language = any(re.fullmatch(LANGUAGE_TEXT, n) for n in names)
    if language and any(re.fullmatch(LLAVA_PROJECTOR, n) for n in names):
        return "llava"
    if language and any(n.endswith("multi_modal_projector.mm_soft_emb_norm") for n in names):
        return "gemma3"
    if language and any(re.fullmatch(r".*visual\.merger", n) for n in names):
        return "qwen-vl"
    if language and any(n.endswith("connector.modality_projection") for n in names):
        return "idefics3"
    if any(re.fullmatch(MOONDREAM_2024, n) for n in names):
        return "moondream-2024"
    if any(re.fullmatch(MOONDREAM_2025, n) for n in names):
        return "moondream-2025"
    return "generic"


def lora_target_regex(family: str, train_projector: bool = False) -> str:
    """The PEFT ``target_modules`` pattern (PEFT full-matches a string against each module name)."""
    if family == "llava":
        return f"(?:{LLAVA_TEXT}|{LLAVA_PROJECTOR})" if train_projector else LLAVA_TEXT
    if family in ("gemma3", "qwen-vl", "idefics3"):
        if not train_projector:
            return LANGUAGE_TEXT
        if family not in PROJECTORS:
            raise ValueError(f"{family}'s projector is a weight matrix LoRA cannot wrap; train it with method=full")
        return f"(?:{LANGUAGE_TEXT}|{PROJECTORS[family]})"
    if train_projector:
        raise ValueError(f"train_projector is supported for LLaVA, Qwen-VL and Idefics3 models, not {family}")
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
    return any(marker in name for marker in VISION_MARKERS) and not is_projector(name)


def is_projector(name: str) -> bool:
    return any(marker in name for marker in PROJECTOR_MARKERS)


def full_finetune_trainable(name: str, train_projector: bool) -> bool:
    """Full fine-tuning trains the language model (and the projector if asked), never the vision encoder."""
    if is_vision(name):
        return False
    if is_projector(name):
        return train_projector
    return True
