"""What differs between the vision-language model families the HF drafter and fine-tuning support.

The one place that knows the families, from a model's ``config.model_type``:

* ``llava``  (TinyLLaVA, LLaVA-1.5): model-card prompt, one photo per request unless ``all``;
* ``gemma3`` (MedGemma, Gemma 3): the processor wants photos nested per prompt, and its
  ``token_type_ids`` (1 on image tokens) give image tokens bidirectional attention: keep them;
* ``qwen2_5_vl``, ``qwen3_vl`` (Qwen2.5-VL, Qwen3-VL): flattened patches plus ``image_grid_thw``
  (every image's patch grid, needed by the model's rotary positions);
* ``idefics3``, ``smolvlm`` (SmolVLM, SmolVLM2): photos nested per prompt, ``pixel_values`` of shape
  (batch, images, C, H, W) with a ``pixel_attention_mask``;
* anything else loadable with ``AutoModelForImageTextToText``: treated like the Qwen path (flat photos).

Everything else (prompt text, image token expansion) is the processor's own: its chat template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Family:
    name: str
    processor: str = ""  # the class name of the family's processor
    nested_images: bool = False  # the processor takes one list of photos per prompt
    keeps_token_type_ids: bool = False  # the model reads token_type_ids (else generate() may reject them)
    one_image: bool = False  # trained on one photo per prompt (several are combined into a grid)


FAMILIES: dict[str, Family] = {  # by config.model_type
    "llava": Family("llava", "LlavaProcessor", one_image=True),
    "gemma3": Family("gemma3", "Gemma3Processor", nested_images=True, keeps_token_type_ids=True),
    "qwen2_5_vl": Family("qwen2_5_vl", "Qwen2_5_VLProcessor"),
    "qwen3_vl": Family("qwen3_vl", "Qwen3VLProcessor"),
    "idefics3": Family("idefics3", "Idefics3Processor", nested_images=True),
    "smolvlm": Family("smolvlm", "SmolVLMProcessor", nested_images=True),
}
GENERIC = Family("generic")

# Inputs beside the text that go to the model; the per-token ones are padded like input_ids.
PER_IMAGE_KEYS = ("pixel_values", "image_grid_thw", "pixel_attention_mask")
PER_TOKEN_KEYS = ("token_type_ids",)


def family_of(model_type: str) -> Family:
    """The family of a ``config.model_type`` (unknown types get the generic flat-photo path)."""
    return FAMILIES.get(model_type, GENERIC)


def family_of_processor(processor) -> Family:
    """The family of a loaded processor (training holds the processor, not the model's config)."""
    names = {c.__name__ for c in type(processor).__mro__}
    return next((f for f in FAMILIES.values() if f.processor in names), GENERIC)


def max_images(family: Family, multi_image: str) -> int:
    """How many photos one request passes to the model (LLaVA-1.5-style models take one unless ``all``)."""
    return 4 if not family.one_image or multi_image == "all" else 1


def process(processor, family: Family, texts: Sequence[str], images_per_text: Sequence[Sequence]) -> dict:
    """The processor's output for prompts and their photos, with only the keys the model takes.

    Text is padded on the tokenizer's side (left for drafting); returns a ``BatchFeature``.
    """
    if family.nested_images:
        images = [list(pics) for pics in images_per_text]
    else:
        images = [pic for pics in images_per_text for pic in pics]
    batch = processor(images=images, text=list(texts), return_tensors="pt", padding=True)
    if not family.keeps_token_type_ids:
        batch.pop("token_type_ids", None)  # some tokenizers add them; generate() rejects them
    batch.pop("mm_token_type_ids", None)
    return batch


def vision_inputs(batch) -> dict[str, torch.Tensor]:
    """The non-text inputs of one processed prompt (what training keeps beside the token ids)."""
    return {k: batch[k] for k in (*PER_IMAGE_KEYS, *PER_TOKEN_KEYS) if k in batch}


def collate_vision(rows: Sequence[dict[str, torch.Tensor]], token_pad: Sequence[int]) -> dict[str, torch.Tensor]:
    """Per-image tensors concatenated in row order; per-token ones right-padded with 0 by ``token_pad[i]``.

    Idefics3/SmolVLM's (1, images, C, H, W) are padded with all-zero images (which the model drops)
    when rows have different numbers of photos.
    """
    out: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        parts = [r[key] for r in rows]
        if key in PER_TOKEN_KEYS:
            parts = [torch.nn.functional.pad(p, (0, n)) for p, n in zip(parts, token_pad, strict=True)]
        elif parts[0].dim() >= 5 or (key == "pixel_attention_mask" and parts[0].dim() == 4):
            most = max(p.shape[1] for p in parts)
            parts = [_pad_dim1(p, most) for p in parts]
        out[key] = torch.cat(parts, dim=0)
    return out


def _pad_dim1(t: torch.Tensor, size: int) -> torch.Tensor:
    if t.shape[1] == size:
        return t
    filler = torch.zeros((t.shape[0], size - t.shape[1], *t.shape[2:]), dtype=t.dtype)
    return torch.cat([t, filler], dim=1)


# -- Qwen-VL processors without torchvision ---------------------------------------------------------
# Qwen's processors insist on a video processor, and every video processor needs torchvision, which
# CPU machines often lack (PyPI's torchvision wheels are built against CUDA torch). DermBot sends
# photos only, so the fallback builds the same processor class with no video processor.

PHOTO_ONLY_TYPES = ("qwen2_5_vl", "qwen3_vl")


def photo_only_processor(model_type: str, image_processor, tokenizer, chat_template: str | None):
    """The family's own processor class (same prompt expansion), holding no video processor."""
    import transformers

    base = getattr(transformers, FAMILIES[model_type].processor)

    class PhotoOnly(base):
        def check_argument_for_proper_class(self, name, arg):
            if name == "video_processor" and arg is None:
                return None
            return super().check_argument_for_proper_class(name, arg)

        def save_pretrained(self, save_directory, **kwargs):
            """Tokenizer, image processor and chat template, as the real processor saves them."""
            for part in (self.tokenizer, self.image_processor):
                part._set_processor_class(base.__name__)
                part.save_pretrained(save_directory)
            if self.chat_template:
                (Path(save_directory) / "chat_template.jinja").write_text(self.chat_template, encoding="utf-8")
            return []

    PhotoOnly.__name__ = PhotoOnly.__qualname__ = f"PhotoOnly{base.__name__}"
    return PhotoOnly(image_processor, tokenizer, None, chat_template=chat_template)


def load_processor(name: str, revision: str, model_type: str):
    """``AutoProcessor``; for Qwen-VL without torchvision, :func:`photo_only_processor` from the same files."""
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if model_type not in PHOTO_ONLY_TYPES or is_torchvision_available():
        return AutoProcessor.from_pretrained(name, revision=revision)
    from transformers import AutoImageProcessor, AutoTokenizer
    from transformers.utils import cached_file

    template_file = cached_file(
        name, "chat_template.jinja", revision=revision, _raise_exceptions_for_missing_entries=False
    )
    tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
    template = Path(template_file).read_text(encoding="utf-8") if template_file else None
    if template is None:
        template_file = cached_file(
            name, "chat_template.json", revision=revision, _raise_exceptions_for_missing_entries=False
        )
        if template_file:
            template = json.loads(Path(template_file).read_text(encoding="utf-8")).get("chat_template")
    image_processor = AutoImageProcessor.from_pretrained(name, revision=revision)
    return photo_only_processor(model_type, image_processor, tokenizer, template or tokenizer.chat_template)
