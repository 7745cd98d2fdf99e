"""LoRA targets per architecture (training.targets), on module names as the real models have them
(LLaVA from transformers 4.57 and before 4.52; moondream2's 2024 and 2025 layouts from docs/models.md)."""

from __future__ import annotations

import pytest

from training.targets import full_finetune_trainable, lora_target_regex, matching_modules, model_family

LLAVA = [
    "model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj",
    "model.vision_tower.vision_model.encoder.layers.0.mlp.fc1",
    "model.multi_modal_projector.linear_1",
    "model.multi_modal_projector.linear_2",
    "model.language_model.layers.0.self_attn.q_proj",
    "model.language_model.layers.0.self_attn.o_proj",
    "model.language_model.layers.0.mlp.gate_proj",
    "model.language_model.layers.0.mlp.down_proj",
    "model.language_model.embed_tokens",
    "lm_head",
]
LLAVA_OLD = [
    "language_model.model.layers.3.self_attn.v_proj",
    "multi_modal_projector.linear_1",
    "vision_tower.x.q_proj",
]
MOONDREAM_2024 = [
    "vision_encoder.encoder.model.visual.blocks.0.mlp.fc1",
    "vision_encoder.projection.mlp.fc1",
    "text_model.transformer.h.0.mixer.Wqkv",
    "text_model.transformer.h.0.mixer.out_proj",
    "text_model.transformer.h.0.mlp.fc1",
    "text_model.transformer.h.0.mlp.fc2",
    "text_model.lm_head.linear",
]
MOONDREAM_2025 = [
    "model.vision.blocks.0.attn.qkv",
    "model.vision.blocks.0.mlp.fc1",
    "model.text.blocks.0.attn.qkv",
    "model.text.blocks.0.attn.proj",
    "model.text.blocks.0.mlp.fc1",
    "model.text.blocks.0.mlp.fc2",
]


def test_llava_targets_the_language_model_only():
    assert model_family(LLAVA) == "llava"
    targets = matching_modules(LLAVA, lora_target_regex("llava"))
    assert targets == [n for n in LLAVA if n.startswith("model.language_model.layers")]
    with_projector = matching_modules(LLAVA, lora_target_regex("llava", train_projector=True))
    assert set(with_projector) - set(targets) == {
        "model.multi_modal_projector.linear_1",
        "model.multi_modal_projector.linear_2",
    }
    assert matching_modules(LLAVA_OLD, lora_target_regex("llava")) == ["language_model.model.layers.3.self_attn.v_proj"]


def test_moondream_targets_fused_attention_and_mlp_of_the_text_model_only():
    assert model_family(MOONDREAM_2024) == "moondream-2024"
    assert matching_modules(MOONDREAM_2024, lora_target_regex("moondream-2024")) == MOONDREAM_2024[2:6]
    assert model_family(MOONDREAM_2025) == "moondream-2025"
    assert matching_modules(MOONDREAM_2025, lora_target_regex("moondream-2025")) == MOONDREAM_2025[2:]
    with pytest.raises(ValueError, match="train_projector is supported for LLaVA, Qwen-VL and Idefics3 models"):
        lora_target_regex("moondream-2025", train_projector=True)


def test_other_models_skip_vision_modules():
    names = ["model.visual.blocks.0.attn.q_proj", "model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"]
    assert model_family(names) == "generic"
    assert matching_modules(names, lora_target_regex("generic")) == names[1:]


def test_full_finetune_never_trains_the_vision_encoder():
    trainable = {n: full_finetune_trainable(n + ".weight", train_projector=False) for n in LLAVA}
    assert not trainable["model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj"]
    assert not trainable["model.multi_modal_projector.linear_1"]
    assert trainable["model.language_model.layers.0.mlp.gate_proj"] and trainable["lm_head"]
    assert full_finetune_trainable("model.multi_modal_projector.linear_1.weight", train_projector=True)
