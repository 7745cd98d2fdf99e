"""Today's vision-language families (MedGemma's Gemma 3, Qwen2.5-VL, Qwen3-VL, SmolVLM's Idefics3) as tiny
random models built from their transformers configurations, saved with save_pretrained and loaded back
through the drafter's real loading path: drafting, LoRA targets, one training step and a gate evaluation."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.families import family_of
from dermvqa.drafting.hf import HFDrafter
from dermvqa.drafting.tiny_model import is_tiny_model, make_tiny_model
from dermvqa.prompts import build_question
from training import heldout
from training.examples import Example
from training.finetune import DataArguments, ModelArguments, TrainArguments, build, prepare_trainable, train
from training.gate import GateThresholds, decide
from training.targets import is_vision

pytestmark = pytest.mark.slow

FAMILIES = {
    # family: (model class, text the served prompt ends with)
    "gemma3": ("Gemma3ForConditionalGeneration", "<start_of_turn>model\n"),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "<|im_start|>assistant\n"),
    "qwen3_vl": ("Qwen3VLForConditionalGeneration", "<|im_start|>assistant\n"),
    "idefics3": ("Idefics3ForConditionalGeneration", "Assistant:"),
}
ANSWERS = [
    "It is a case of eczema. Use a moisturising cream twice daily.",
    "It looks like psoriasis. A dermatologist can prescribe a vitamin D cream.",
]


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_dir(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, make_tiny_model(tmp_path_factory.mktemp(request.param), family=request.param)


@pytest.fixture(scope="module")
def drafter(family_dir):
    return HFDrafter(str(family_dir[1]), generation=GenerationSettings(max_new_tokens=6))


def photo(color, size=(90, 70)):
    return Image.new("RGB", size, color)


def examples(folder: Path, n: int) -> list[Example]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"photo{i}.png"
        photo((30 * i % 256, 90, 60), (40 + i, 36)).save(path)
        query = f"Red itchy patch number {i} on my arm"
        out.append(Example(f"case:{i}", (str(path),), (f"h{i}",), query, 1, (ANSWERS[i % 2],)))
    return out


def test_loads_through_the_real_path_with_the_familys_prompt(family_dir, drafter):
    family, folder = family_dir
    model_class, prompt_end = FAMILIES[family]
    assert is_tiny_model(folder)
    assert type(drafter.model).__name__ == model_class
    assert drafter.family == family_of(family) and drafter.max_images == 4
    prompt = drafter.format_prompt(build_question(1, "itchy rash"), 1)
    assert prompt.endswith(prompt_end) and "itchy rash" in prompt
    assert drafter.tokenizer.padding_side == "left"


def test_batched_equals_single_with_left_padding(drafter):
    requests = [
        DraftRequest("a", [photo((200, 100, 50))], "short"),
        DraftRequest("b", [photo((20, 100, 50)), photo((1, 2, 3))], "a much longer description of the rash", 2),
    ]
    inputs = drafter._inputs(requests)
    assert inputs["attention_mask"][0, 0] == 0 and inputs["attention_mask"][0, -1] == 1  # left padding
    batched = drafter.draft_batch(requests)
    assert all(o.ok for o in batched), [o.error for o in batched]
    for outcome, request in zip(batched, requests, strict=True):
        single = drafter.draft_batch([request])[0]
        assert single.result.text == outcome.result.text
        assert 1 <= outcome.result.new_tokens <= 6
    assert batched[1].result.prompt_tokens > batched[0].result.prompt_tokens


def test_lora_targets_the_language_model_only(family_dir):
    from dermvqa.drafting.hf import load_pretrained

    model, _, _ = load_pretrained(str(family_dir[1]), "main", torch.float32)
    wrapped = prepare_trainable(model, TrainArguments(device="cpu"), revision="main")
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in wrapped.named_parameters() if ".lora_A" in n}
    suffixes = {n.rsplit(".", 1)[1] for n in adapted}
    assert suffixes == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert len(adapted) == 2 * 7  # two decoder layers
    assert not any(is_vision(n) for n in adapted)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_one_training_step_changes_the_adapter_and_the_gate_evaluates_it(family_dir, tmp_path):
    folder = family_dir[1]
    data = examples(tmp_path / "photos", 6)
    targs = TrainArguments(
        output_dir=str(tmp_path / "run"),
        max_steps=1,
        batch_size=2,
        gradient_accumulation_steps=2,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        device="cpu",
        progress=False,
        save_steps=0,
    )
    margs, dargs = ModelArguments(model_name=str(folder)), DataArguments(max_seq_len=256)
    setup = build(margs, dargs, targs, data[:4], data[4:])
    first = setup.train_set.encode(0)
    assert first.row.answer_tokens > 3
    result = train(margs, dargs, targs, data[:4], data[4:])
    assert result.steps == 1 and math.isfinite(result.heldout_loss_before) and math.isfinite(result.heldout_loss_after)
    weights = load_file(Path(result.output_path) / "adapter_model.safetensors")
    lora_B = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_B and any(v.abs().sum() > 0 for v in lora_B.values())  # LoRA's B starts at zero: the step moved it
    assert result.heldout_loss_after != result.heldout_loss_before

    # The gate's evaluation: the candidate (adapter merged through the drafter's loader) and the base
    # answer the held-out cases, both are scored, and the gate decides (tiny sets are never promoted).
    settings = GenerationSettings(max_new_tokens=6)
    scores = []
    for adapter in (result.output_path, None):
        d = HFDrafter(str(folder), generation=settings, adapter_path=adapter)
        answers, failed = heldout.answer(d, data[4:], max_pixels=10**7, max_side=512)
        assert failed == 0 and len(answers) == 2
        refs = [list(e.answers) for e in data[4:]]
        scores.append(heldout.score([e.key for e in data[4:]], answers, refs, ANSWERS).score)
    decision = decide(scores[0], scores[1], GateThresholds())
    assert not decision.promote and "held-out set of 2 is below 10" in decision.summary


def test_full_finetune_freezes_the_vision_tower(family_dir, tmp_path):
    from dermvqa.drafting.hf import load_pretrained

    model, _, _ = load_pretrained(str(family_dir[1]), "main", torch.float32)
    full = prepare_trainable(model, dataclasses.replace(TrainArguments(device="cpu"), method="full"), revision="main")
    params = dict(full.named_parameters())
    assert any(p.requires_grad for n, p in params.items() if "layers.0.self_attn.q_proj" in n and not is_vision(n))
    assert not any(p.requires_grad for n, p in params.items() if is_vision(n))
