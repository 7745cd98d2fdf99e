"""The Hugging Face drafter on a tiny random LLaVA saved with save_pretrained and loaded back
through the same code path as bczhou/tiny-llava-v1-hf (its text is meaningless: random weights)."""

from __future__ import annotations

import pytest
from PIL import Image

from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.hf import HFDrafter, llava_prompt
from dermvqa.drafting.tiny_model import is_tiny_model
from dermvqa.errors import ModelLoadError
from dermvqa.prompts import build_question

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drafter(tiny_model_dir):
    return HFDrafter(str(tiny_model_dir), generation=GenerationSettings(max_new_tokens=12))


def photo(color):
    return Image.new("RGB", (90, 70), color)


def test_loads_like_tinyllava_with_the_processor_fixes(drafter, tiny_model_dir):
    assert is_tiny_model(tiny_model_dir)
    assert not (tiny_model_dir / "processor_config.json").exists()  # like TinyLLaVA's repo
    assert drafter.processor.patch_size == 8
    assert drafter.processor.vision_feature_select_strategy == "default"
    assert drafter.processor.num_additional_image_tokens == 1
    assert drafter.tokenizer.padding_side == "left"
    assert str(next(drafter.model.parameters()).dtype) == "torch.float32"  # auto on CPU
    assert drafter.model_version == f"{tiny_model_dir.resolve()}@main"


def test_prompt_is_the_model_card_format():
    q = build_question(1, "Rash;itchy")
    assert llava_prompt(q, 1) == f"USER: <image>\n{q}\nASSISTANT:"


def test_batched_equals_single_with_left_padding(drafter):
    requests = [
        DraftRequest("a", [photo((200, 100, 50))], "short"),
        DraftRequest("b", [photo((20, 100, 50)), photo((1, 2, 3))], "a much longer description of the rash", 2),
    ]
    batched = drafter.draft_batch(requests)
    assert [o.key for o in batched] == ["a", "b"] and all(o.ok for o in batched)
    for outcome, request in zip(batched, requests, strict=True):
        single = drafter.draft_batch([request])[0]
        assert single.result.text == outcome.result.text
        assert 1 <= outcome.result.new_tokens <= 12
    assert batched[1].result.prompt_tokens > batched[0].result.prompt_tokens


def test_a_failing_batch_falls_back_to_single_drafts(drafter, monkeypatch):
    real = drafter._generate

    def flaky(requests):
        if len(requests) > 1 or requests[0].key == "bad":
            raise RuntimeError("boom")
        return real(requests)

    monkeypatch.setattr(drafter, "_generate", flaky)
    out = drafter.draft_batch(
        [DraftRequest("good", [photo((5, 5, 5))], "x"), DraftRequest("bad", [photo((6, 6, 6))], "y")]
    )
    assert out[0].ok and not out[1].ok and str(out[1].error) == "boom"


def test_sampling_is_seeded(tiny_model_dir):
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.0, seed=3)
    d = HFDrafter(str(tiny_model_dir), generation=settings)
    request = [DraftRequest("a", [photo((9, 9, 9))], "x")]
    assert d.draft_batch(request)[0].result.text == d.draft_batch(request)[0].result.text


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load model"):
        HFDrafter(str(tmp_path / "nothing-here"))
