"""Build small randomly initialised LLaVA models with a real tokenizer and processor.

Real weights cannot be downloaded on our machines, so tests, the offline demo and the benchmarks
use a model this module builds and saves with ``save_pretrained``; it is then loaded back through
exactly the code that loads ``bczhou/tiny-llava-v1-hf`` (``dermvqa.drafting.hf``). Its answers are
meaningless: the weights are random.

* the tokenizer is a byte-level BPE trained here on the shipped example texts and the prompt
  templates (``PreTrainedTokenizerFast``; any text, Chinese included, round-trips through bytes);
* the processor is a ``LlavaProcessor`` (CLIP image processor + that tokenizer) saved like
  TinyLLaVA's hub repo: no ``processor_config.json`` and no chat template, so the loader's TinyLLaVA
  fixes (``patch_size``, ``vision_feature_select_strategy``, ``num_additional_image_tokens``) run;
* the model is ``LlavaForConditionalGeneration``: a CLIP vision tower, a GELU projector and a Llama
  language model, with geometry from :data:`GEOMETRIES`.

``dermvqa make-tiny-model OUTDIR [--geometry tiny|bench|tinyllava] [--family NAME]``: the other
families (MedGemma's Gemma 3, Qwen2.5-VL, Qwen3-VL, SmolVLM's Idefics3) are built by
``dermvqa.drafting.tiny_vlms``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from dermvqa.data.locations import EXAMPLES_DIR
from dermvqa.prompts import PROMPTS

logger = logging.getLogger(__name__)

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN]
MARKER_FILE = "dermbot_tiny_model.json"  # says what this folder is, so nobody mistakes it for a real model


@dataclass(frozen=True)
class Geometry:
    vocab_size: int
    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int


GEOMETRIES: dict[str, Geometry] = {
    # Seconds to build and load; for tests and the offline demo.
    "tiny": Geometry(
        1024,
        32,
        8,
        32,
        2,
        2,
        64,
        64,
        2,
        4,
        2,
        128,
    ),
    # About 100M parameters: the drafting and training benchmarks' fixed model.
    "bench": Geometry(8192, 224, 14, 384, 6, 6, 1536, 768, 12, 12, 6, 2048),
    # TinyLLaVA's real geometry (TinyLlama-1.1B + CLIP ViT-L/14-336), random weights, 1.4B parameters.
    "tinyllava": Geometry(32064, 336, 14, 1024, 24, 16, 4096, 2048, 22, 32, 4, 5632),
}


def corpus_texts() -> list[str]:
    """Text to train the tokenizer on: the shipped examples and the prompt templates."""
    texts = [p.template for p in PROMPTS.values()]
    for name in ("example_train.json", "example_valid.json"):
        for enc in json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8")):
            texts += [enc.get("query_title_en", ""), enc.get("query_content_en", "")]
            texts += [r.get("content_en", "") for r in enc.get("responses", [])]
    texts += ["USER: ASSISTANT: Question: Answer:"]
    return [t for t in texts if t]


def build_tokenizer(
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    bos: str | None = "<s>",
    eos: str = "</s>",
    pad: str = "<pad>",
    unk: str | None = "<unk>",
    extra: Sequence[str] = (IMAGE_TOKEN,),
    tokenizer_cls: type[PreTrainedTokenizerFast] = PreTrainedTokenizerFast,
    **named_tokens: str,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on :func:`corpus_texts`; prepends ``bos`` when there is one,
    like Llama's (the defaults). Other families pass their own special tokens (``named_tokens`` become
    attributes such as ``tokenizer.image_token``, as the family's processor expects)."""
    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_texts(), trainer=trainer)
    if bos is not None:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    return tokenizer_cls(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=pad,
        additional_special_tokens=list(extra),
        extra_special_tokens=named_tokens,
        padding_side="left",
        model_max_length=2048,
        model_input_names=["input_ids", "attention_mask"],
    )


def build_processor(geometry: Geometry) -> LlavaProcessor:
    size = geometry.image_size
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        do_center_crop=True,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=build_tokenizer(geometry.vocab_size),
        patch_size=geometry.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token (dropped by the "default" strategy)
    )


def build_model(geometry: Geometry, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlavaForConditionalGeneration:
    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        hidden_size=geometry.vision_hidden,
        intermediate_size=geometry.vision_intermediate,
        num_hidden_layers=geometry.vision_layers,
        num_attention_heads=geometry.vision_heads,
        image_size=geometry.image_size,
        patch_size=geometry.patch_size,
        projection_dim=geometry.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=geometry.text_hidden,
        intermediate_size=geometry.text_intermediate,
        num_hidden_layers=geometry.text_layers,
        num_attention_heads=geometry.text_heads,
        num_key_value_heads=geometry.text_kv_heads,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    patches = (geometry.image_size // geometry.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=patches,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()


FAMILY_NAMES = ("llava", "gemma3", "qwen2_5_vl", "qwen3_vl", "idefics3", "smolvlm")


def make_tiny_model(outdir: str | Path, geometry: str = "tiny", seed: int = 0, family: str = "llava") -> Path:
    """Build and save a random model (with its tokenizer and processor) of ``family`` to ``outdir``; returns it.

    ``llava`` comes in every :data:`GEOMETRIES`; the other families (``dermvqa.drafting.tiny_vlms``) in ``tiny``.
    """
    if family not in FAMILY_NAMES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILY_NAMES)}")
    if geometry not in GEOMETRIES or (family != "llava" and geometry != "tiny"):
        choices = ", ".join(GEOMETRIES) if family == "llava" else "tiny"
        raise ValueError(f"unknown geometry {geometry!r} for {family}; choose from {choices}")
    if family != "llava":
        return _make_tiny_family(Path(outdir), family, seed)
    geo = GEOMETRIES[geometry]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    processor = build_processor(geo)
    model = build_model(geo, processor.tokenizer, seed)
    model.save_pretrained(outdir)
    processor.save_pretrained(outdir)
    # Like TinyLLaVA's hub repo, which has no processor_config.json: the loader must fill it in.
    (outdir / "processor_config.json").unlink(missing_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    marker = {
        "what": "randomly initialised LLaVA built by dermvqa make-tiny-model; its answers are meaningless",
        "geometry": geometry,
        "seed": seed,
        "parameters": n_params,
        **asdict(geo),
    }
    (outdir / MARKER_FILE).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    logger.info("saved a %s random LLaVA (%d parameters) to %s", geometry, n_params, outdir)
    return outdir


def _make_tiny_family(outdir: Path, family: str, seed: int) -> Path:
    from dermvqa.drafting.tiny_vlms import build_family

    torch.manual_seed(seed)
    model, processor = build_family(family, GEOMETRIES["tiny"].vocab_size)
    outdir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(outdir)
    processor.save_pretrained(outdir)
    n_params = sum(p.numel() for p in model.parameters())
    marker = {
        "what": f"randomly initialised {family} built by dermvqa make-tiny-model; its answers are meaningless",
        "family": family,
        "model_type": model.config.model_type,
        "geometry": "tiny",
        "seed": seed,
        "parameters": n_params,
    }
    (outdir / MARKER_FILE).write_text(json.dumps(marker, indent=1), encoding="utf-8")
    logger.info("saved a tiny random %s (%d parameters) to %s", family, n_params, outdir)
    return outdir


def is_tiny_model(path: str | Path) -> bool:
    """True for a folder built by :func:`make_tiny_model` (its text is meaningless)."""
    return (Path(path) / MARKER_FILE).is_file()
