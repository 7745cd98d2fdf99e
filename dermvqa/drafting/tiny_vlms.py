"""Tiny random models of today's open vision-language families, built from their ``transformers``
configuration classes (no weights fetched), with a working processor, for offline tests.

Each family gets what its real checkpoints ship: its own tokenizer special tokens (the image token,
the turn markers), its image processor (set to 32 x 32 pixels) and a chat template that writes the
family's real prompt layout, so the HF drafter formats prompts through ``apply_chat_template`` exactly
as for the real model. Saved with ``save_pretrained`` and loaded back with ``AutoProcessor`` and
``AutoModelForImageTextToText`` like a hub id. Dimensions: hidden 64, 2 text layers, 1 vision layer.

* ``gemma3`` (MedGemma): SigLIP tower, average-pooled to 4 soft tokens, Gemma 3 text model;
* ``qwen2_5_vl`` / ``qwen3_vl``: Qwen's own vision transformer, 4 x 4 pixel patches merged 2 x 2;
* ``idefics3`` (SmolVLM-256M/500M): SigLIP tower, pixel shuffle by 2, Llama text model.
"""

from __future__ import annotations

from collections.abc import Callable

from transformers import AutoModelForImageTextToText as AutoVLM
from transformers import (
    Gemma3Config,
    Gemma3ImageProcessor,
    Gemma3Processor,
    Idefics3Config,
    Idefics3ImageProcessor,
    Idefics3Processor,
    PreTrainedModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2TokenizerFast,
    Qwen2VLImageProcessor,
    Qwen3VLConfig,
    Qwen3VLProcessor,
)
from transformers.utils import is_torchvision_available

from dermvqa.drafting.families import photo_only_processor
from dermvqa.drafting.tiny_model import build_tokenizer

IMAGE_SIZE = 32
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
TEXT_KV_HEADS = 2
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 1}

GEMMA3_TEMPLATE = (
    "{% for message in messages %}<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDEFICS3_TEMPLATE = (  # SmolVLM-Instruct's own
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _text_ids(tokenizer) -> dict:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def build_gemma3(vocab_size: int):
    soft_tokens = 4  # SigLIP's 4 x 4 patches average-pooled to 2 x 2 (MedGemma: 64 x 64 -> 16 x 16 = 256)
    tokenizer = build_tokenizer(
        vocab_size,
        special_tokens=[
            "<pad>",
            "<eos>",
            "<bos>",
            "<unk>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<start_of_image>",
            "<end_of_image>",
            "<image_soft_token>",
        ],
        bos="<bos>",
        eos="<end_of_turn>",  # ends the model's turn (MedGemma's generation config stops on it too)
        pad="<pad>",
        unk="<unk>",
        extra=["<start_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"],
        image_token="<image_soft_token>",
        boi_token="<start_of_image>",
        eoi_token="<end_of_image>",
    )
    image_processor = Gemma3ImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, do_pan_and_scan=False)
    processor = Gemma3Processor(image_processor, tokenizer, chat_template=GEMMA3_TEMPLATE, image_seq_length=soft_tokens)
    config = Gemma3Config(
        text_config={
            **TEXT,
            **_text_ids(tokenizer),
            "num_key_value_heads": TEXT_KV_HEADS,
            "head_dim": 16,
            "sliding_window": 64,
            "max_position_embeddings": 2048,
        },
        vision_config={**VISION, "model_type": "siglip_vision_model", "image_size": IMAGE_SIZE, "patch_size": 8},
        mm_tokens_per_image=soft_tokens,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.image_token_id,
    )
    return config, processor


def _qwen_tokenizer(vocab_size: int):
    return build_tokenizer(
        vocab_size,
        special_tokens=[
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ],
        bos=None,  # Qwen prepends nothing
        eos="<|im_end|>",
        pad="<|endoftext|>",
        unk=None,
        extra=["<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
        tokenizer_cls=Qwen2TokenizerFast,
    )


def _qwen_vision_ids(tokenizer) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def _qwen_image_processor() -> Qwen2VLImageProcessor:
    # 4-pixel patches merged 2 x 2: a 32 x 32 photo is an 8 x 8 patch grid, 16 image tokens.
    pixels = IMAGE_SIZE * IMAGE_SIZE
    # (min_pixels/max_pixels, not size=: transformers 4.57 replaces a given size with its defaults)
    return Qwen2VLImageProcessor(
        patch_size=4, merge_size=2, temporal_patch_size=2, min_pixels=pixels, max_pixels=pixels
    )


def _qwen_processor(model_type: str, tokenizer):
    """The real processor where torchvision is installed (its video processor needs it), else photo-only."""
    if is_torchvision_available():
        from transformers import Qwen2VLVideoProcessor, Qwen3VLVideoProcessor

        cls = Qwen2_5_VLProcessor if model_type == "qwen2_5_vl" else Qwen3VLProcessor
        video = Qwen2VLVideoProcessor() if model_type == "qwen2_5_vl" else Qwen3VLVideoProcessor()
        return cls(_qwen_image_processor(), tokenizer, video, chat_template=QWEN_TEMPLATE)
    return photo_only_processor(model_type, _qwen_image_processor(), tokenizer, QWEN_TEMPLATE)


def _qwen_vision(out_hidden: int) -> dict:
    return {
        "depth": 1,
        "hidden_size": VISION["hidden_size"],
        "intermediate_size": VISION["intermediate_size"],
        "num_heads": VISION["num_attention_heads"],
        "out_hidden_size": out_hidden,
        "patch_size": 4,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }


def build_qwen2_5_vl(vocab_size: int):
    tokenizer = _qwen_tokenizer(vocab_size)
    processor = _qwen_processor("qwen2_5_vl", tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            **TEXT,
            **_text_ids(tokenizer),
            "num_key_value_heads": TEXT_KV_HEADS,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},  # halves of head_dim 16
        },
        vision_config={**_qwen_vision(TEXT["hidden_size"]), "window_size": 16, "fullatt_block_indexes": [0]},
        **_qwen_vision_ids(tokenizer),
    )
    return config, processor


def build_qwen3_vl(vocab_size: int):
    tokenizer = _qwen_tokenizer(vocab_size)
    processor = _qwen_processor("qwen3_vl", tokenizer)
    config = Qwen3VLConfig(
        text_config={
            **TEXT,
            **_text_ids(tokenizer),
            "num_key_value_heads": TEXT_KV_HEADS,
            "head_dim": 16,
            "rope_scaling": {"rope_type": "default", "mrope_section": [2, 3, 3], "mrope_interleaved": True},
        },
        vision_config={
            **_qwen_vision(TEXT["hidden_size"]),
            "num_position_embeddings": 16,
            "deepstack_visual_indexes": [0],
        },
        **_qwen_vision_ids(tokenizer),
    )
    return config, processor


def build_idefics3(vocab_size: int):
    scale = 2  # pixel shuffle: 4 x 4 patches -> 4 image tokens (SmolVLM-256M: scale 4, 64 tokens)
    tokenizer = build_tokenizer(
        vocab_size,
        special_tokens=[
            "<unk>",
            "<|im_start|>",
            "<|im_end|>",
            "<end_of_utterance>",
            "<fake_token_around_image>",
            "<image>",
            "<global-img>",
            "<pad>",
        ],
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<pad>",
        unk="<unk>",
        extra=["<fake_token_around_image>", "<image>", "<global-img>"],
    )
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": IMAGE_SIZE}, max_image_size={"longest_edge": IMAGE_SIZE}, do_image_splitting=False
    )
    patches = (IMAGE_SIZE // 8) ** 2
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=patches // scale**2, chat_template=IDEFICS3_TEMPLATE
    )
    config = Idefics3Config(
        vision_config={**VISION, "image_size": IMAGE_SIZE, "patch_size": 8},
        text_config={**TEXT, **_text_ids(tokenizer), "model_type": "llama", "num_key_value_heads": TEXT_KV_HEADS},
        scale_factor=scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    return config, processor


BUILDERS: dict[str, Callable] = {
    "gemma3": build_gemma3,
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "idefics3": build_idefics3,
}
ALIASES = {"smolvlm": "idefics3", "medgemma": "gemma3"}


def build_family(family: str, vocab_size: int = 1024) -> tuple[PreTrainedModel, object]:
    """(random model, processor) of ``family`` (``gemma3``, ``qwen2_5_vl``, ``qwen3_vl``, ``idefics3``)."""
    config, processor = BUILDERS[ALIASES.get(family, family)](vocab_size)
    model = AutoVLM.from_config(config)
    tok = processor.tokenizer
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model.eval(), processor
