"""The moondream2 drafter: its revision policy, and drafting through local stand-ins.

Real moondream2 weights cannot be fetched here (the Hugging Face hub is unreachable), so these
tests never load moondream2 itself. The policy tests need no model at all. The drafting tests load
*local stand-ins* written by ``tests/model/moondream_standin.py``: tiny remote-code model folders
that implement moondream2's 2025 API (``encode_image`` + ``query(..., settings=...)``) and 2024 API
(``encode_image`` + ``answer_question(..., tokenizer, ...)`` with a real small tokenizer) exactly as
``shared/docs/models.md`` records them, and whose answers encode the question, the image and the
settings they received. Hub loading is exercised by replacing ``from_pretrained`` with a function
that records its arguments and loads a stand-in. Run with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch
import transformers
from packaging.version import Version
from PIL import Image

from dermvqa.config import ModelConfig
from dermvqa.drafting import images as image_policy
from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.moondream import (
    DEFAULT_REVISION,
    HUB_ID,
    REVISIONS,
    MoondreamDrafter,
    check_revision,
    count_tokens,
    detect_api,
    revision_support,
    servable_revisions,
)
from dermvqa.errors import ConfigError, DraftingError, ImageError, ModelLoadError
from dermvqa.prompts import build_question

sys.path.insert(0, str(Path(__file__).parent))
from moondream_standin import expected_words, pixel_bucket, write_standin

INSTALLED = transformers.__version__
REVISIONS_2024 = ["2024-03-04", "2024-03-06", "2024-03-13", "2024-04-02", "2024-05-08", "2024-05-20"]
REVISIONS_2024 += ["2024-07-23", "2024-08-26"]
REVISIONS_2025 = ["2025-01-09", "2025-03-27", "2025-04-14", "2025-06-21"]
QUERY_1 = "Itchy red patch on my elbow; it started two weeks ago after gardening."
QUERY_2 = "Dry flaky skin on both hands, worse in winter."


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("moondream-standins")
    return {
        "2025": write_standin(root / "md2-standin-2025", "2025"),
        "2024": write_standin(root / "md2-standin-2024", "2024"),
        "2024-08-26": write_standin(root / "md2-standin-2024-mnt", "2024", takes_max_new_tokens=True),
    }


def solid(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, color)


def expected_answer(question: str, image: Image.Image, limit: int = 10_000) -> str:
    return " ".join(expected_words(question, image.size, pixel_bucket(image))[:limit])


# -- the revision policy (no loading) ---------------------------------------------------------


def test_the_table_holds_every_revision_models_md_lists():
    assert list(REVISIONS) == REVISIONS_2024 + REVISIONS_2025
    assert {r for r, s in REVISIONS.items() if s.api == "2024"} == set(REVISIONS_2024)
    assert [r for r, s in REVISIONS.items() if s.takes_max_new_tokens] == ["2024-08-26"]
    assert [r for r, s in REVISIONS.items() if s.takes_sampling] == ["2025-04-14", "2025-06-21"]
    assert DEFAULT_REVISION == "2025-06-21"


@pytest.mark.skipif(Version(INSTALLED) < Version("4.52"), reason="the project pins transformers 4.57.x")
@pytest.mark.parametrize("revision", REVISIONS_2024)
def test_every_2024_revision_is_refused_on_the_installed_transformers(revision):
    with pytest.raises(ModelLoadError) as caught:
        check_revision(revision)
    message = str(caught.value)
    assert f"moondream2 revision {revision}" in message
    assert f"installed {INSTALLED}" in message
    needed = "transformers<=4.41" if revision <= "2024-05-20" else "transformers<4.52"
    assert f"needs {needed};" in message
    assert DEFAULT_REVISION in message


def test_the_seed_revision_message_says_what_to_do():
    with pytest.raises(ModelLoadError) as caught:
        check_revision("2024-04-02", "4.57.6")
    message = str(caught.value)
    assert message.startswith(
        "moondream2 revision 2024-04-02 (the seed paper's) needs transformers<=4.41; installed 4.57.6"
    )
    assert "2025-06-21" in message
    assert "transformers==4.41.2" in message
    assert "#31782" in message


@pytest.mark.parametrize("revision", REVISIONS_2025)
def test_2025_revisions_are_accepted(revision):
    assert check_revision(revision).api == "2025"


def test_transformers_ranges_per_revision():
    assert check_revision("2024-04-02", "4.41.2").api == "2024"
    assert check_revision("2024-07-23", "4.51.3").api == "2024"
    for revision, version in [
        ("2024-05-20", "4.42.0"),
        ("2024-05-20", "4.42.0.dev0"),
        ("2024-08-26", "4.52.0"),
        ("2025-06-21", "5.0.0"),
        ("2025-01-09", "5.0.0rc1"),
    ]:
        with pytest.raises(ModelLoadError, match=rf"revision {revision} .*installed {version}"):
            check_revision(revision, version)
    with pytest.raises(ModelLoadError, match=r"needs transformers<5; installed 5\.0\.0 .*transformers>=4\.57,<4\.58"):
        check_revision("2025-06-21", "5.0.0")
    assert check_revision("2025-06-21", "4.57.0.dev0").revision == "2025-06-21"
    assert servable_revisions("4.57.6") == tuple(REVISIONS_2025)
    assert servable_revisions("4.51.3") == ("2024-07-23", "2024-08-26", *REVISIONS_2025)
    assert servable_revisions("4.41.2") == tuple(REVISIONS)


@pytest.mark.parametrize("revision", ["main", "2024-04-01", "2025-07-01", "a" * 40])
def test_an_unknown_revision_is_refused_listing_the_known_ones(revision):
    with pytest.raises(ModelLoadError) as caught:
        revision_support(revision)
    message = str(caught.value)
    assert repr(revision) in message
    assert all(known in message for known in REVISIONS)


def test_the_drafter_refuses_an_unservable_hub_revision_before_loading_anything(monkeypatch):
    def must_not_load(*args, **kwargs):
        raise AssertionError("nothing may be loaded for a refused revision")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", must_not_load)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", must_not_load)
    with pytest.raises(ModelLoadError, match=r"2024-04-02 \(the seed paper's\) needs transformers<=4\.41"):
        MoondreamDrafter(HUB_ID, "2024-04-02")
    with pytest.raises(ModelLoadError, match="not one this adapter knows"):
        MoondreamDrafter.from_config(ModelConfig(backend="moondream", name=HUB_ID))  # revision "main"
    with pytest.raises(ModelLoadError, match="no model folder"):
        MoondreamDrafter("/no/such/moondream", "main")
    with pytest.raises(ConfigError, match="multi_image"):
        MoondreamDrafter(HUB_ID, DEFAULT_REVISION, multi_image="mosaic")


def test_api_detection_and_token_counting_fallbacks():
    class Query:
        def encode_image(self, image): ...
        def query(self, *a, **k): ...
        def answer_question(self, *a, **k): ...  # the 2025 code keeps a compat answer_question

    class Answer:
        def encode_image(self, image): ...
        def answer_question(self, *a, **k): ...

    assert detect_api(Query()) == "2025"
    assert detect_api(Answer()) == "2024"
    with pytest.raises(ModelLoadError, match="neither"):
        detect_api(object())
    assert count_tokens(None, "two words") == 2


# -- drafting through the stand-ins ------------------------------------------------------------


def test_2025_standin_drafts_a_batch_with_the_right_question_image_and_settings(standins):
    folder = standins["2025"]
    drafter = MoondreamDrafter(str(folder), "main", generation=GenerationSettings(max_new_tokens=200))
    photos = [solid((200, 30, 30)), solid((30, 200, 30), (40, 80)), solid((30, 30, 200), (90, 60))]
    single = solid((250, 250, 250), (50, 50))
    requests = [
        DraftRequest("enc-1", photos, QUERY_1, prompt_id=1),
        DraftRequest("enc-2", [single], QUERY_2, prompt_id=2),
    ]
    outcomes = drafter.draft_batch(requests)

    assert [o.key for o in outcomes] == ["enc-1", "enc-2"]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    grid = image_policy.grid(photos)
    calls = drafter.model.calls
    assert [c["question"] for c in calls] == [build_question(1, QUERY_1), build_question(2, QUERY_2)]
    assert "Answer two questions" in calls[1]["question"] and QUERY_2 in calls[1]["question"]
    assert calls[0]["image_size"] == grid.size == (896, 896)  # three photos -> one 2x2 grid
    assert calls[1]["image_size"] == (50, 50)
    assert all(c["encoded_before"] for c in calls)  # encode_image, then query(enc, ...)
    assert all(c["settings"] == {"max_tokens": 200, "temperature": 0.0} for c in calls)  # greedy
    assert all(c["dtype"] == "torch.float32" for c in calls)  # dtype auto on CPU

    first, second = (o.result for o in outcomes)
    assert first.text == expected_answer(build_question(1, QUERY_1), grid)  # stripped
    assert second.text == expected_answer(build_question(2, QUERY_2), single)
    tokenizer = drafter.model.model.tokenizer  # the 2025 code's tokenizers.Tokenizer
    assert first.new_tokens == len(tokenizer.encode(first.text).ids)
    assert first.new_tokens > len(first.text.split())  # counted in tokens, not words
    assert first.prompt_tokens == 0 and first.seconds > 0
    assert drafter.model_version == str(folder.resolve())
    assert drafter.max_images == 1
    drafter.close()


def test_2025_max_tokens_sampling_and_seed(standins):
    folder = standins["2025"]
    short = MoondreamDrafter(str(folder), "main", generation=GenerationSettings(max_new_tokens=3))
    [outcome] = short.draft_batch([DraftRequest("k", [solid((10, 10, 10))], QUERY_1)])
    assert len(outcome.result.text.split()) == 3

    sampling = GenerationSettings(do_sample=True, temperature=0.8, top_p=0.95, seed=11, max_new_tokens=64)
    drafter = MoondreamDrafter(str(folder), "v1", generation=sampling)
    assert drafter.model_version == f"{folder.resolve()}@v1"
    request = DraftRequest("k", [solid((10, 10, 10))], QUERY_1)
    runs = [drafter.draft_batch([request, request]) for _ in range(2)]
    texts = [[o.result.text for o in run] for run in runs]
    assert texts[0] == texts[1]  # seeded before each batch
    assert "sampled-" in texts[0][0]
    assert drafter.model.calls[0]["settings"] == {"max_tokens": 64, "temperature": 0.8, "top_p": 0.95}


def test_a_failing_request_is_an_error_outcome_and_nothing_private_is_logged(standins, caplog):
    drafter = MoondreamDrafter(str(standins["2025"]), "main")
    requests = [
        DraftRequest("bad", [solid((1, 2, 3), (2, 2))], QUERY_1),  # the stand-in cannot encode it
        DraftRequest("good", [solid((120, 80, 60))], QUERY_2, prompt_id=2),
        DraftRequest("empty", [], QUERY_1),
    ]
    with caplog.at_level(logging.DEBUG, logger="dermvqa"):
        outcomes = drafter.draft_batch(requests)
    assert [o.ok for o in outcomes] == [False, True, False]
    assert isinstance(outcomes[0].error, ValueError)
    assert isinstance(outcomes[2].error, ImageError)
    assert outcomes[1].result.text.startswith(f"qlen-{len(build_question(2, QUERY_2))} ")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dermvqa"))
    assert "bad" in logged and "good" in logged  # ids are logged ...
    for private in (QUERY_1, QUERY_2, "qsha-", "lesion", "too small"):  # ... queries, answers, error texts are not
        assert private not in logged

    drafter.close()
    assert drafter.model is None
    with pytest.raises(DraftingError, match="closed"):
        drafter.draft_batch(requests)


def test_2024_standin_uses_the_tokenizer_and_never_passes_max_new_tokens(standins):
    folder = standins["2024"]
    drafter = MoondreamDrafter(str(folder), "main")  # default settings: greedy, repetition_penalty 1.1
    photo = solid((90, 160, 220))
    [outcome] = drafter.draft_batch([DraftRequest("k", [photo], QUERY_1)])
    assert outcome.ok, outcome.error
    [call] = drafter.model.calls
    question = build_question(1, QUERY_1)
    assert call["question"] == question
    assert call["chat_history"] == ""
    assert call["kwargs"] == {"repetition_penalty": 1.1}  # max_new_tokens would raise TypeError here
    assert call["max_new_tokens"] == 512
    assert call["image_size"] == photo.size and call["bucket"] == pixel_bucket(photo)
    assert call["prompt_tokens"] > 0  # the tokenizer reached answer_question and was used
    assert outcome.result.text == expected_answer(question, photo)
    assert outcome.result.new_tokens == len(drafter.tokenizer(outcome.result.text).input_ids)
    assert type(drafter.tokenizer).__name__ == "PreTrainedTokenizerFast"


def test_2024_08_26_signature_gets_max_new_tokens_and_sampling(standins):
    settings = GenerationSettings(max_new_tokens=5, do_sample=True, temperature=0.6, top_p=0.8, seed=3)
    drafter = MoondreamDrafter(str(standins["2024-08-26"]), "main", generation=settings, multi_image="first")
    photos = [solid((255, 255, 0), (30, 20)), solid((0, 0, 0))]
    [outcome] = drafter.draft_batch([DraftRequest("k", photos, QUERY_2, prompt_id=2)])
    [call] = drafter.model.calls
    assert call["max_new_tokens"] == 5
    assert call["kwargs"] == {"do_sample": True, "temperature": 0.6, "top_p": 0.8, "repetition_penalty": 1.1}
    assert call["image_size"] == (30, 20)  # multi_image "first"
    assert outcome.result.text == expected_answer(build_question(2, QUERY_2), photos[0], limit=5)


def test_from_config(standins):
    config = ModelConfig(
        backend="moondream", name=str(standins["2025"]), revision="main", max_new_tokens=7, multi_image="grid"
    )
    drafter = MoondreamDrafter.from_config(config)
    assert drafter.generation.max_new_tokens == 7
    assert drafter.multi_image == "grid"
    assert drafter.device == "cpu" and drafter.dtype == torch.float32


@pytest.fixture
def fake_hub(monkeypatch, standins):
    """Serve hub ids from the 2025 stand-in, recording the arguments each call got."""
    original = transformers.AutoModelForCausalLM.from_pretrained
    seen: list[tuple[str, dict]] = []

    def from_pretrained(name, **kwargs):
        seen.append((name, kwargs))
        return original(str(standins["2025"]), trust_remote_code=True, dtype=kwargs["dtype"])

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    return seen


def test_hub_revisions_load_pinned_and_get_their_settings(fake_hub, caplog):
    drafter = MoondreamDrafter(HUB_ID, "2025-06-21", generation=GenerationSettings(max_new_tokens=40))
    assert fake_hub == [(HUB_ID, {"revision": "2025-06-21", "trust_remote_code": True, "dtype": torch.float32})]
    assert drafter.model_version == "vikhyatk/moondream2@2025-06-21"
    drafter.draft_batch([DraftRequest("k", [solid((5, 5, 5))], QUERY_1)])
    assert drafter.model.calls[-1]["settings"] == {"max_tokens": 40, "temperature": 0.0}

    with caplog.at_level(logging.WARNING, logger="dermvqa"):
        old = MoondreamDrafter(HUB_ID, "2025-01-09", generation=GenerationSettings(max_new_tokens=40, do_sample=True))
    assert "decodes greedily only" in caplog.text
    old.draft_batch([DraftRequest("k", [solid((5, 5, 5))], QUERY_1)])
    assert old.model.calls[-1]["settings"] == {"max_tokens": 40}  # 2025-01-09 knows only max_tokens


def test_a_hub_load_failure_becomes_a_model_load_error(monkeypatch):
    def offline(name, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", offline)
    with pytest.raises(ModelLoadError, match=r"could not load moondream2 from vikhyatk/moondream2@2025-06-21: OSError"):
        MoondreamDrafter(HUB_ID, "2025-06-21")
