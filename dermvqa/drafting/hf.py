"""Local Hugging Face vision-language models: the LLaVA family (TinyLLaVA) and any
``AutoModelForImageTextToText`` model, through the real loading path (hub id or local folder,
revision, dtype, device, optional LoRA adapter).

TinyLLaVA (``bczhou/tiny-llava-v1-hf``) quirks, from docs/models.md: its repo has no
``processor_config.json`` and no chat template, so with transformers >= 4.48 the processor needs
``patch_size``, ``vision_feature_select_strategy`` and ``num_additional_image_tokens = 1`` set by
hand (else 575 image tokens meet 576 features); its prompt is ``USER: <image>\\n{prompt}\\nASSISTANT:``
(the model card's). Batched generation pads on the left.

Other families (MedGemma / Gemma 3, Qwen2.5-VL, Qwen3-VL, SmolVLM / Idefics3) are prompted through
their processor's chat template; how each takes its photos is in ``dermvqa.drafting.families``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, LlavaForConditionalGeneration

from dermvqa.config import ModelConfig
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest, DraftResult, GenerationSettings
from dermvqa.drafting.devices import resolve_device, resolve_dtype
from dermvqa.drafting.families import FAMILIES, GENERIC, family_of, load_processor, max_images, process
from dermvqa.drafting.images import combine
from dermvqa.errors import ModelLoadError
from dermvqa.prompts import build_question

logger = logging.getLogger(__name__)

LLAVA_TYPES = ("llava",)


def llava_prompt(question: str, n_images: int) -> str:
    """The LLaVA-1.5 / TinyLLaVA model-card format."""
    return "USER: " + "<image>\n" * n_images + question + "\nASSISTANT:"


def fix_llava_processor(processor, config) -> None:
    """Fill in what a processor without ``processor_config.json`` (TinyLLaVA's) lacks."""
    if getattr(processor, "patch_size", None) is None:
        processor.patch_size = config.vision_config.patch_size
    if getattr(processor, "vision_feature_select_strategy", None) is None:
        processor.vision_feature_select_strategy = config.vision_feature_select_strategy
    if getattr(processor, "num_additional_image_tokens", 0) == 0 and config.vision_config.model_type.startswith("clip"):
        # CLIP adds a class token: 576 features from 577 positions, minus the class token.
        processor.num_additional_image_tokens = 1


def format_prompt(processor, question: str, n_images: int) -> str:
    """The text a model is prompted with: the processor's chat template, else the LLaVA model-card format.

    Training (``training.formatting``) formats its examples with this same function, so a model is
    fine-tuned on exactly the prompt it is served with.
    """
    template = getattr(processor, "chat_template", None)
    if template:
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": question}]
        return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    return llava_prompt(question, n_images)


def max_images_for(is_llava: bool, multi_image: str) -> int:
    """How many photos one request passes to the model (LLaVA-1.5-style models take one unless ``all``)."""
    return max_images(FAMILIES["llava"] if is_llava else GENERIC, multi_image)


def load_pretrained(name: str, revision: str, dtype: torch.dtype):
    """(model, processor, is_llava) from a hub id or a local folder, with the TinyLLaVA processor fixes.

    The drafter and the fine-tuning entry point both load through here, so a model trains exactly as it serves.
    """
    try:
        config = AutoConfig.from_pretrained(name, revision=revision)
        processor = load_processor(name, revision, config.model_type)
        model_cls = LlavaForConditionalGeneration if config.model_type in LLAVA_TYPES else AutoModelForImageTextToText
        model = model_cls.from_pretrained(name, revision=revision, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load model {name!r} (revision {revision}): {exc}") from None
    is_llava = config.model_type in LLAVA_TYPES
    if is_llava:
        fix_llava_processor(processor, config)
    return model, processor, is_llava


class HFDrafter(Drafter):
    """Drafts with a local ``transformers`` vision-language model, in batches."""

    def __init__(
        self,
        name: str,
        revision: str = "main",
        *,
        device: str = "cpu",
        dtype: str = "auto",
        generation: GenerationSettings | None = None,
        multi_image: str = "grid",
        adapter_path: str | None = None,
        version: str | None = None,
    ) -> None:
        self.name, self.revision = name, revision
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.generation = generation or GenerationSettings()
        self.multi_image = multi_image
        self.adapter_path = adapter_path
        started = time.perf_counter()
        model, self.processor, self.is_llava = load_pretrained(name, revision, self.dtype)
        self.family = family_of(model.config.model_type)
        if adapter_path:
            model = _apply_adapter(model, adapter_path, name=name, revision=revision)
        self.model = model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_images = max_images(self.family, multi_image)
        base = name if not Path(name).exists() else str(Path(name).resolve())
        self.model_version = version or (
            f"{base}@{revision}" + (f"+{Path(adapter_path).resolve()}" if adapter_path else "")
        )
        logger.info(
            "loaded %s on %s (%s) in %.1fs",
            type(self.model).__name__,
            self.device,
            self.dtype,
            time.perf_counter() - started,
        )

    @classmethod
    def from_config(
        cls, model: ModelConfig, *, adapter_path: str | None = None, version: str | None = None, name: str | None = None
    ) -> HFDrafter:
        return cls(
            name or model.name,
            model.revision,
            device=model.device,
            dtype=model.dtype,
            generation=GenerationSettings.from_config(model),
            multi_image=model.multi_image,
            adapter_path=adapter_path,
            version=version,
        )

    # -- prompts -----------------------------------------------------------------------------

    def format_prompt(self, question: str, n_images: int) -> str:
        return format_prompt(self.processor, question, n_images)

    def _inputs(self, requests: Sequence[DraftRequest]):
        texts, images = [], []
        for request in requests:
            pics = combine(request.images, self.multi_image, self.max_images)
            images.append(pics)
            texts.append(self.format_prompt(build_question(request.prompt_id, request.query), len(pics)))
        return process(self.processor, self.family, texts, images).to(self.device, self.dtype)

    def _generate_kwargs(self) -> dict:
        g = self.generation
        kwargs = {
            "max_new_tokens": g.max_new_tokens,
            "do_sample": g.do_sample,
            "repetition_penalty": g.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if g.do_sample:
            kwargs.update(temperature=g.temperature, top_p=g.top_p)
        else:
            # Silence "temperature is set but do_sample=False" from generation configs that set them.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if g.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = g.no_repeat_ngram_size
        return kwargs

    # -- drafting ----------------------------------------------------------------------------

    @torch.inference_mode()
    def _generate(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        inputs = self._inputs(requests)
        if self.generation.do_sample:
            torch.manual_seed(self.generation.seed)
        started = time.perf_counter()
        out_BT = self.model.generate(**inputs, **self._generate_kwargs())
        seconds = time.perf_counter() - started
        prompt_len = inputs["input_ids"].shape[1]
        new_BT = out_BT[:, prompt_len:]
        results = []
        for row, new_T in enumerate(new_BT):
            n_new = _count_new_tokens(new_T.tolist(), self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
            text = self.tokenizer.decode(new_T[:n_new], skip_special_tokens=True).strip()
            n_prompt = int(inputs["attention_mask"][row].sum())
            results.append(DraftResult(text=text, new_tokens=n_new, prompt_tokens=n_prompt, seconds=seconds))
        return results

    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        if not requests:
            return []
        try:
            results = self._generate(requests)
            return [DraftOutcome(r.key, result=res) for r, res in zip(requests, results, strict=True)]
        except Exception as exc:
            if len(requests) == 1:
                return [DraftOutcome(requests[0].key, error=exc)]
            logger.warning(
                "batched generate failed (%s); drafting the %d cases one by one", type(exc).__name__, len(requests)
            )
        outcomes = []
        for request in requests:
            try:
                outcomes.append(DraftOutcome(request.key, result=self._generate([request])[0]))
            except Exception as exc:
                outcomes.append(DraftOutcome(request.key, error=exc))
        return outcomes

    def close(self) -> None:
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _count_new_tokens(ids: list[int], eos_id: int | None, pad_id: int | None) -> int:
    """Generated tokens up to and including the first end-of-sequence (padding excluded)."""
    for i, token in enumerate(ids):
        if token == eos_id:
            return i + 1
        if token == pad_id and pad_id != eos_id:
            return i
    return len(ids)


ADAPTER_INFO_FILE = "dermbot_adapter.json"  # written beside a trained adapter: base model, revision, config


def adapter_base(adapter_path: str | Path) -> tuple[str | None, str | None]:
    """(base model, revision) a PEFT adapter folder says it was trained on (None when it does not say)."""
    folder = Path(adapter_path)
    for name in (ADAPTER_INFO_FILE, "adapter_config.json"):
        try:
            info = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        base = info.get("base_model") or info.get("base_model_name_or_path")
        if base:
            return str(base), info.get("revision") or info.get("base_revision")
    return None, None


def _same_model(a: str, b: str) -> bool:
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a == b


def _apply_adapter(model, adapter_path: str, *, name: str | None = None, revision: str | None = None):
    """Load a LoRA adapter and merge it (merged weights draft as fast as the base model).

    An adapter merged onto another base than the one it was trained on drafts nonsense without any
    error when the shapes happen to match, so a mismatch with the base it records is logged loudly.
    """
    from peft import PeftModel

    base, base_revision = adapter_base(adapter_path)
    if name is not None and base is not None and not _same_model(base, name):
        logger.warning("adapter %s was trained on %s, but is applied to %s", adapter_path, base, name)
    elif revision is not None and base_revision is not None and base_revision != revision:
        logger.warning("adapter %s was trained on revision %s, applied to %s", adapter_path, base_revision, revision)
    try:
        return PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load adapter {adapter_path!r}: {exc}") from None
