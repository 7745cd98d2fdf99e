"""OpenAICompatDrafter against a fake OpenAI-compatible server on 127.0.0.1 (no GPU, no network)."""

from __future__ import annotations

import logging
import socket

import pytest
from fake_openai_server import FakeOpenAIServer
from PIL import Image

from dermvqa.config import ModelConfig
from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.openai_compat import OpenAICompatDrafter
from dermvqa.errors import DraftingError, ModelLoadError, PermanentDraftingError
from dermvqa.prompts import build_question

MODEL = "fake-vlm"
GREEDY = GenerationSettings(max_new_tokens=50, do_sample=False, repetition_penalty=1.0)


def photos(n: int) -> list[Image.Image]:
    """``n`` distinct RGB photos of different sizes."""
    return [Image.new("RGB", (40 + 8 * i, 30 + 4 * i), (30 * i, 120, 200 - 20 * i)) for i in range(n)]


def request(key: str, n_photos: int = 1, query: str = "Itchy red rash on my arm", prompt_id: int = 1) -> DraftRequest:
    return DraftRequest(key=key, images=photos(n_photos), query=query, prompt_id=prompt_id)


@pytest.fixture
def server():
    with FakeOpenAIServer(models=(MODEL, "other-model")) as srv:
        yield srv


def make(server: FakeOpenAIServer, **kwargs) -> OpenAICompatDrafter:
    kwargs.setdefault("generation", GREEDY)
    kwargs.setdefault("backoff_s", 0.01)
    kwargs.setdefault("timeout_s", 5.0)
    return OpenAICompatDrafter(MODEL, server.base_url, **kwargs)


def expected_text(n_images: int, question: str, max_tokens: int = 50, temperature: float = 0.0) -> str:
    return f"images={n_images} question_chars={len(question)} max_tokens={max_tokens} temperature={temperature}"


def test_batch_arrives_in_order_with_images_question_and_settings(server):
    queries = ["first case: scaly patch", "second case: blister on the heel", "third case: mole changed colour"]
    batch = [request("a", 1, queries[0], 1), request("b", 2, queries[1], 2), request("c", 3, queries[2], 1)]
    # The first request is answered last: order must still follow the requests, not completion.
    server.script(when="scaly patch", stall_s=0.3)
    with make(server) as drafter:
        outcomes = drafter.draft_batch(batch)

    assert [o.key for o in outcomes] == ["a", "b", "c"]
    assert all(o.ok and o.error is None for o in outcomes)
    for outcome, req, n in zip(outcomes, batch, (1, 2, 3), strict=True):
        question = build_question(req.prompt_id, req.query)
        assert outcome.result.text == expected_text(n, question)  # stripped
        assert outcome.result.new_tokens == 7
        assert outcome.result.prompt_tokens == 100 + len(question)
        assert outcome.result.seconds > 0
        (seen,) = server.requests_for(req.query)
        assert seen.question == question
        assert seen.n_images == n
        assert seen.image_sizes == [im.size for im in req.images]  # every photo, in order
        assert seen.body["model"] == MODEL
        assert seen.body["max_tokens"] == 50
        assert seen.body["temperature"] == 0
        assert seen.body["top_p"] == 1.0
        assert seen.body["seed"] == 0
        assert "repetition_penalty" not in seen.body
        content = seen.body["messages"][0]["content"]
        assert content[0] == {"type": "text", "text": question}
        assert [p["type"] for p in content[1:]] == ["image_url"] * n
    assert outcomes[0].result.seconds >= 0.3
    assert drafter.model_version == f"openai:{MODEL}"


def test_prompt_two_differs_from_prompt_one(server):
    with make(server) as drafter:
        drafter.draft_batch(
            [request("p1", prompt_id=1, query="dry skin"), request("p2", prompt_id=2, query="wet skin")]
        )
    q1 = server.requests_for("dry skin")[0].question
    q2 = server.requests_for("wet skin")[0].question
    assert q1.startswith("This is additional information")
    assert q2.startswith("Patient wants to find out")


def test_sampling_settings_and_repetition_penalty_are_sent(server):
    gen = GenerationSettings(
        max_new_tokens=64, do_sample=True, temperature=0.7, top_p=0.8, repetition_penalty=1.1, seed=5
    )
    with make(server, generation=gen) as drafter:
        (outcome,) = drafter.draft_batch([request("s")])
    body = server.requests[0].body
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (64, 0.7, 0.8, 5)
    assert body["repetition_penalty"] == 1.1
    assert outcome.ok


def test_grid_policy_sends_one_image_and_too_many_photos_fall_back_to_grid(server):
    with make(server, multi_image="grid") as drafter:
        drafter.draft_batch([request("g", 3, query="grid please")])
    with make(server, multi_image="all", max_images=2) as drafter:
        drafter.draft_batch([request("m", 3, query="too many photos")])
    assert server.requests_for("grid please")[0].n_images == 1
    assert server.requests_for("too many photos")[0].n_images == 1


def test_authorization_header_only_when_the_named_env_var_holds_a_key(server, caplog):
    caplog.set_level(logging.DEBUG)
    config = ModelConfig(backend="openai", name=MODEL, api_base=server.base_url, api_key_env="TEST_DERM_KEY")
    with OpenAICompatDrafter.from_config(config, environ={"TEST_DERM_KEY": "sk-sekrit"}) as drafter:
        drafter.check()
        drafter.draft_batch([request("k", query="with a key")])
        assert "sk-sekrit" not in repr(drafter)
    with OpenAICompatDrafter.from_config(config, environ={}) as drafter:
        drafter.check()
        drafter.draft_batch([request("n", query="without a key")])

    assert server.requests_for("with a key")[0].headers["Authorization"] == "Bearer sk-sekrit"
    assert "Authorization" not in server.requests_for("without a key")[0].headers
    assert server.model_list_requests[0]["Authorization"] == "Bearer sk-sekrit"
    assert "Authorization" not in server.model_list_requests[1]
    assert "sk-sekrit" not in caplog.text


def test_from_config_takes_the_model_settings():
    config = ModelConfig(
        backend="openai",
        name="m",
        api_base="http://127.0.0.1:9/v1/",
        request_timeout_s=7.0,
        request_retries=1,
        multi_image="first",
        max_new_tokens=33,
    )
    with OpenAICompatDrafter.from_config(config, environ={}) as drafter:
        assert (drafter.api_base, drafter.timeout_s, drafter.retries) == ("http://127.0.0.1:9/v1", 7.0, 1)
        assert drafter.multi_image == "first"
        assert drafter.generation.max_new_tokens == 33


def test_transient_500_is_retried_then_succeeds(server):
    server.script(times=2, status=500, message="engine overloaded")
    with make(server, retries=3) as drafter:
        (outcome,) = drafter.draft_batch([request("r", query="retry me please")])
    assert outcome.ok
    assert len(server.requests_for("retry me please")) == 3


def test_503_until_retries_run_out_is_a_transient_error_naming_the_status(server, caplog):
    caplog.set_level(logging.DEBUG, logger="dermvqa.drafting.openai_compat")
    server.script(times=10, status=503, message="server warming up")
    with make(server, retries=2) as drafter:
        (outcome,) = drafter.draft_batch([request("x", query="never works")])
    assert not outcome.ok
    assert type(outcome.error) is DraftingError and not outcome.error.permanent
    assert "HTTP 503" in str(outcome.error) and "server warming up" in str(outcome.error)
    assert "3 attempt" in str(outcome.error)
    assert len(server.requests_for("never works")) == 3
    assert "attempt 1/3 failed (HTTP 503)" in caplog.text and "attempt 2/3" in caplog.text  # status and attempt
    assert "never works" not in caplog.text


def test_429_retry_after_is_honoured(server):
    server.script(status=429, message="rate limited", retry_after="1")
    with make(server, retries=2, backoff_s=0.01) as drafter:
        (outcome,) = drafter.draft_batch([request("l", query="slow down")])
    assert outcome.ok
    first, second = server.requests_for("slow down")
    assert second.received_at - first.received_at >= 0.9  # the 0.01 s backoff would be far shorter


@pytest.mark.parametrize("filler", ["", " and it is a long story" * 20], ids=["short", "long"])
def test_400_is_permanent_not_retried_and_the_rest_of_the_batch_succeeds(server, caplog, filler):
    caplog.set_level(logging.DEBUG)
    # A long query makes the echoed prompt longer than the kept error text: it must still not leak.
    bad_query = "this one the server refuses outright" + filler
    server.script(times=5, status=400, message="image too large", when="refuses outright", echo_question=True)
    batch = [request("ok1", query="fine query one"), request("bad", query=bad_query), request("ok2", query="fine two")]
    with make(server, retries=3) as drafter:
        outcomes = drafter.draft_batch(batch)

    assert [o.key for o in outcomes] == ["ok1", "bad", "ok2"]
    assert outcomes[0].ok and outcomes[2].ok
    error = outcomes[1].error
    assert isinstance(error, PermanentDraftingError) and error.permanent
    assert "HTTP 400" in str(error) and "image too large" in str(error)
    assert "server refuses" not in str(error) and "long story" not in str(error)  # the echoed prompt is removed
    assert "<prompt>" in str(error)
    assert len(server.requests_for(bad_query)) == 1  # no retry
    assert bad_query not in caplog.text and "fine query" not in caplog.text  # prompts are never logged
    assert "images=1" not in caplog.text  # nor answers


@pytest.mark.parametrize("status", [401, 404, 422])
def test_other_client_errors_are_permanent(server, status):
    server.script(times=5, status=status, message=f"nope {status}")
    with make(server, retries=3) as drafter:
        (outcome,) = drafter.draft_batch([request("e")])
    assert isinstance(outcome.error, PermanentDraftingError)
    assert f"HTTP {status}" in str(outcome.error) and f"nope {status}" in str(outcome.error)
    assert len(server.requests) == 1


def test_timeout_is_retried_then_succeeds(server):
    server.script(stall_s=1.0)
    with make(server, timeout_s=0.25, retries=2) as drafter:
        (outcome,) = drafter.draft_batch([request("t", query="stalls once")])
    assert outcome.ok
    assert len(server.requests_for("stalls once")) == 2


def test_timeout_until_retries_run_out_is_a_drafting_error(server):
    server.script(times=5, stall_s=1.0)
    with make(server, timeout_s=0.25, retries=1) as drafter:
        (outcome,) = drafter.draft_batch([request("t", query="always stalls")])
    assert type(outcome.error) is DraftingError
    assert "Timeout" in str(outcome.error) and "2 attempt" in str(outcome.error)
    assert len(server.requests_for("always stalls")) == 2


def test_response_without_content_is_a_drafting_error(server):
    server.script(when="empty choices", body={"choices": []})
    with make(server) as drafter:
        (outcome,) = drafter.draft_batch([request("c", query="empty choices here")])
    assert type(outcome.error) is DraftingError
    assert "choices[0].message.content" in str(outcome.error)


def test_missing_usage_falls_back_to_word_count(server):
    body = {"choices": [{"message": {"role": "assistant", "content": " Likely eczema. Use emollients. "}}]}
    server.script(body=body)
    with make(server) as drafter:
        (outcome,) = drafter.draft_batch([request("u")])
    assert outcome.result.text == "Likely eczema. Use emollients."
    assert (outcome.result.new_tokens, outcome.result.prompt_tokens) == (4, 0)


def test_a_case_without_photos_is_permanent_and_sends_nothing(server):
    with make(server) as drafter:
        outcomes = drafter.draft_batch([DraftRequest("none", [], "no photo"), request("fine")])
    assert isinstance(outcomes[0].error, PermanentDraftingError)
    assert outcomes[1].ok
    assert len(server.requests) == 1
    assert drafter.draft_batch([]) == []
    with pytest.raises(RuntimeError, match="closed"):
        drafter.draft_batch([request("late")])


def test_connection_refused_is_retried_then_a_drafting_error():
    drafter = OpenAICompatDrafter(MODEL, f"http://127.0.0.1:{free_port()}/v1", retries=1, backoff_s=0.01)
    with drafter:
        (outcome,) = drafter.draft_batch([request("down")])
    assert type(outcome.error) is DraftingError and "ConnectError" in str(outcome.error)


def test_requests_run_concurrently_up_to_the_limit():
    with FakeOpenAIServer(models=(MODEL,), delay_s=0.3) as server:
        with make(server, concurrency=4) as drafter:
            outcomes = drafter.draft_batch([request(f"c{i}", query=f"parallel {i}") for i in range(4)])
        assert all(o.ok for o in outcomes)
        assert server.max_in_flight == 4
        assert max(o.result.seconds for o in outcomes) < 1.0  # not queued behind each other
    with FakeOpenAIServer(models=(MODEL,), delay_s=0.1) as server:
        with make(server, concurrency=2) as drafter:
            outcomes = drafter.draft_batch([request(f"d{i}", query=f"bounded {i}") for i in range(5)])
        assert [o.key for o in outcomes] == [f"d{i}" for i in range(5)] and all(o.ok for o in outcomes)
        assert server.max_in_flight == 2


def test_check_passes_for_a_served_model(server):
    with make(server) as drafter:
        drafter.check()


def test_check_fails_clearly_for_an_unknown_model(server):
    with OpenAICompatDrafter("no-such-model", server.base_url) as drafter, pytest.raises(ModelLoadError) as info:
        drafter.check()
    message = str(info.value)
    assert server.base_url + "/models" in message
    assert "'no-such-model'" in message and "'fake-vlm'" in message


def test_check_fails_clearly_for_an_unreachable_server():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with OpenAICompatDrafter(MODEL, url) as drafter, pytest.raises(ModelLoadError) as info:
        drafter.check()
    message = str(info.value)
    assert f"{url}/models" in message and "cannot reach" in message and "ConnectError" in message


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="multi_image"):
        OpenAICompatDrafter(MODEL, "http://127.0.0.1:1/v1", multi_image="mosaic")
    with pytest.raises(ValueError, match="api_base"):
        OpenAICompatDrafter(MODEL, "127.0.0.1:1/v1")


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
