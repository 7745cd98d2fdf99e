"""The family table (dermvqa.drafting.families) and LoRA targets per family on module names as
transformers 4.57 builds them (Gemma 3 / MedGemma, Qwen2.5-VL, Qwen3-VL, Idefics3 / SmolVLM); fast."""

from __future__ import annotations

import pytest
import torch

from dermvqa.cli import main as dermvqa_main
from dermvqa.drafting.families import FAMILIES, GENERIC, collate_vision, family_of, family_of_processor, max_images
from training.targets import full_finetune_trainable, is_vision, lora_target_regex, matching_modules, model_family

TEXT = [
    "{lm}.layers.0.self_attn.q_proj",
    "{lm}.layers.0.self_attn.k_proj",
    "{lm}.layers.0.self_attn.v_proj",
    "{lm}.layers.0.self_attn.o_proj",
    "{lm}.layers.0.mlp.gate_proj",
    "{lm}.layers.0.mlp.up_proj",
    "{lm}.layers.0.mlp.down_proj",
]
GEMMA3 = [
    "model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj",
    "model.vision_tower.vision_model.encoder.layers.0.mlp.fc1",
    "model.multi_modal_projector",
    "model.multi_modal_projector.mm_soft_emb_norm",
    *(n.format(lm="model.language_model") for n in TEXT),
    "lm_head",
]
QWEN2_5 = [
    "model.visual.blocks.0.attn.qkv",
    "model.visual.blocks.0.mlp.gate_proj",  # Qwen2.5-VL's vision MLP has the language model's names
    "model.visual.merger",
    "model.visual.merger.mlp.0",
    "model.visual.merger.mlp.2",
    *(n.format(lm="model.language_model") for n in TEXT),
]
QWEN3 = [
    "model.visual.blocks.0.attn.qkv",
    "model.visual.blocks.0.mlp.linear_fc1",
    "model.visual.merger",
    "model.visual.merger.linear_fc1",
    "model.visual.merger.linear_fc2",
    "model.visual.deepstack_merger_list.0.linear_fc1",
    *(n.format(lm="model.language_model") for n in TEXT),
]
IDEFICS3 = [
    "model.vision_model.encoder.layers.0.self_attn.q_proj",
    "model.connector.modality_projection",
    "model.connector.modality_projection.proj",
    *(n.format(lm="model.text_model") for n in TEXT),
]


@pytest.mark.parametrize(
    ("names", "family", "projector"),
    [
        (GEMMA3, "gemma3", None),
        (QWEN2_5, "qwen-vl", ["model.visual.merger.mlp.0", "model.visual.merger.mlp.2"]),
        (QWEN3, "qwen-vl", ["model.visual.merger.linear_fc1", "model.visual.merger.linear_fc2"]),
        (IDEFICS3, "idefics3", ["model.connector.modality_projection.proj"]),
    ],
)
def test_lora_targets_the_language_model_not_the_vision_tower(names, family, projector):
    assert model_family(names) == family
    text = [n for n in names if ".layers.0." in n and not is_vision(n)]
    assert len(text) == 7
    assert matching_modules(names, lora_target_regex(family)) == text
    if projector is None:
        with pytest.raises(ValueError, match="weight matrix"):
            lora_target_regex(family, train_projector=True)
    else:
        assert matching_modules(names, lora_target_regex(family, train_projector=True)) == projector + text
        # a full fine-tune trains the projector only when asked, never the vision tower
        assert not full_finetune_trainable(projector[0] + ".weight", train_projector=False)
        assert full_finetune_trainable(projector[0] + ".weight", train_projector=True)
    assert not any(full_finetune_trainable(n + ".weight", True) for n in names if ".blocks." in n or "encoder" in n)


def test_family_table():
    assert family_of("gemma3").keeps_token_type_ids and family_of("gemma3").nested_images
    assert family_of("idefics3").nested_images and not family_of("qwen2_5_vl").nested_images
    assert family_of("some_new_vlm") is GENERIC
    assert max_images(FAMILIES["llava"], "grid") == 1 and max_images(FAMILIES["llava"], "all") == 4
    assert max_images(FAMILIES["qwen3_vl"], "grid") == 4

    class Idefics3Processor:  # matched by class name, through subclasses too
        pass

    class Custom(Idefics3Processor):
        pass

    assert family_of_processor(Custom()) is FAMILIES["idefics3"]
    assert family_of_processor(object()) is GENERIC


def test_collate_pads_token_type_ids_and_smolvlm_image_counts():
    one = {
        "pixel_values": torch.ones(1, 1, 3, 4, 4),
        "pixel_attention_mask": torch.ones(1, 1, 4, 4, dtype=torch.bool),
        "token_type_ids": torch.tensor([[0, 1, 1]]),
    }
    two = {
        "pixel_values": torch.ones(1, 2, 3, 4, 4),
        "pixel_attention_mask": torch.ones(1, 2, 4, 4, dtype=torch.bool),
        "token_type_ids": torch.tensor([[1, 1, 0, 0, 0]]),
    }
    out = collate_vision([one, two], token_pad=[2, 0])
    assert out["pixel_values"].shape == (2, 2, 3, 4, 4)
    assert out["pixel_values"][0, 1].abs().sum() == 0  # an all-zero image: Idefics3 drops it
    assert out["pixel_attention_mask"].shape == (2, 2, 4, 4) and not out["pixel_attention_mask"][0, 1].any()
    assert out["token_type_ids"].tolist() == [[0, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    qwen = {"pixel_values": torch.ones(16, 96), "image_grid_thw": torch.tensor([[1, 4, 4]])}
    flat = collate_vision([qwen, qwen], [0, 0])
    assert flat["pixel_values"].shape == (32, 96) and flat["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 4]]


def test_make_tiny_model_refuses_other_geometries_for_new_families(tmp_path, capsys):
    assert dermvqa_main(["make-tiny-model", str(tmp_path / "m"), "--family", "gemma3", "--geometry", "bench"]) == 2
    assert "llava family" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
