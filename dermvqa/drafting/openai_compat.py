"""A drafter that calls an OpenAI-compatible chat endpoint (for example a vLLM server).

Why: one in-process model caps drafting at what one machine can do. A vLLM server (or several behind
a load balancer) batches concurrent requests on a GPU, so the worker only sends HTTP requests and
any number of workers can share one server.

How a batch is sent: each request is its own ``POST {api_base}/chat/completions``, sent from a
thread pool of ``concurrency`` threads sharing one ``httpx.Client`` (one connection pool), so the
server sees the requests at the same time and can batch them itself. Outcomes come back in request
order; a request that fails carries its error and never sinks the batch.

Failures:

* connection errors, timeouts, HTTP 408/425/429 and 5xx are transient: retried up to ``retries``
  times with exponential backoff (a ``Retry-After`` header wins, capped at ``MAX_RETRY_AFTER_S``);
  when they run out the outcome carries a (transient) :class:`DraftingError` so the worker's own
  attempts can try again later;
* other 4xx (400, 401, 404, 422, ...) mean the request itself is wrong and cannot succeed by
  repeating it: :class:`PermanentDraftingError` at once, with the status and the server's message;
* a 200 without ``choices[0].message.content`` is a :class:`DraftingError`.

Privacy: logs carry status codes, attempt numbers and timings only, never the question, the answer,
the images or the API key; error messages have the question and query removed in case a server echoes them.

The endpoint needs ``--limit-mm-per-prompt image=N`` (vLLM) for ``multi_image = "all"`` with N >= the
drafter's ``max_images``; otherwise use ``grid`` so every request carries one image.

Served adapters (``adapter``, see :mod:`dermvqa.drafting.lora_serving`): requests ask for the adapter's
name instead of the base model; :meth:`check` registers the adapter with the server. A 404 for it
(the server restarted and forgot it, or another worker switching away unloaded it) registers it
again and repeats the request once; when that fails too the request fails transiently and the
worker's :meth:`refresh` before the next batch tries again (a refusal there is a failed load).
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from PIL import Image

from dermvqa.config import ModelConfig
from dermvqa.drafting import images as image_utils
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest, DraftResult, GenerationSettings
from dermvqa.drafting.http_errors import error_detail
from dermvqa.drafting.lora_serving import LoraServer, ServedAdapter
from dermvqa.errors import (
    DermError,
    DraftingError,
    ImageError,
    ModelLoadError,
    PermanentDraftingError,
    ServingUnavailableError,
)
from dermvqa.prompts import build_question

logger = logging.getLogger(__name__)

#: A server's ``Retry-After`` is honoured up to this many seconds (a misbehaving proxy must not park a worker).
MAX_RETRY_AFTER_S = 30.0
#: Exponential backoff never waits longer than this between two attempts.
MAX_BACKOFF_S = 30.0
#: The health check should answer fast; a slow ``/models`` means something is wrong anyway.
CHECK_TIMEOUT_S = 15.0
#: Statuses below 500 that are worth repeating (timeout, too early, rate limited).
TRANSIENT_4XX = frozenset({408, 425, 429})
#: JPEG quality for the data URLs: visually lossless for photos at a fraction of PNG's size.
JPEG_QUALITY = 90
#: How much of a server's error text goes into an error message.
#: Shorter texts are not redacted from error messages (a 3-letter query would mangle every message).
MULTI_IMAGE_POLICIES = ("grid", "first", "all")


class _Transient(Exception):
    """One attempt failed in a way that a later attempt may not (internal to the retry loop)."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # a status or an exception name: safe to log
        self.detail = detail  # the server's (redacted) message: only for the error, never logged
        self.retry_after = retry_after


class _AdapterMissing(Exception):
    """The server answered 404 for the served adapter's name (internal: register it again, repeat once)."""


class OpenAICompatDrafter(Drafter):
    """Drafts through ``POST {api_base}/chat/completions``; see the module docstring for the why."""

    def __init__(
        self,
        model: str,
        api_base: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        generation: GenerationSettings = GenerationSettings(),  # noqa: B008 - frozen dataclass, safe to share
        multi_image: str = "all",
        max_images: int = 8,
        concurrency: int = 8,
        backoff_s: float = 0.5,
        adapter: ServedAdapter | None = None,
        version: str | None = None,
    ) -> None:
        if not model.strip():
            raise ValueError("model: a non-empty model name is required")
        if not api_base.startswith(("http://", "https://")):
            raise ValueError(f"api_base: expected an http(s) URL, got {api_base!r}")
        if multi_image not in MULTI_IMAGE_POLICIES:
            raise ValueError(f"multi_image: {multi_image!r}; allowed: {', '.join(MULTI_IMAGE_POLICIES)}")
        if timeout_s <= 0 or retries < 0 or max_images < 1 or concurrency < 1 or backoff_s < 0:
            raise ValueError("timeout_s > 0, retries >= 0, max_images >= 1, concurrency >= 1 and backoff_s >= 0")
        self.model = model
        self.api_base = api_base.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.generation = generation
        self.multi_image = multi_image
        self.max_images = int(max_images)
        self.concurrency = int(concurrency)
        self.backoff_s = float(backoff_s)
        # A served adapter is asked for by its name; the server applies it on top of ``model``.
        self.adapter = adapter
        self.request_model = adapter.name if adapter is not None else model
        self.model_version = version or f"openai:{self.request_model}"
        self.chat_url = f"{self.api_base}/chat/completions"
        self.models_url = f"{self.api_base}/models"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One pool for every thread: connections are reused and never exceed the thread count.
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )
        self._closed = False
        self._lock = threading.Lock()
        self._lora = LoraServer(self.api_base, client=self._client) if adapter is not None else None
        self._adapter_ready = False  # registered with the server since it last answered 404 for it
        self._register_lock = threading.Lock()  # one registration at a time when a batch's requests all 404
        if generation.no_repeat_ngram_size > 0:
            logger.warning(
                "no_repeat_ngram_size=%d is not part of the OpenAI-compatible API and is ignored",
                generation.no_repeat_ngram_size,
            )

    @classmethod
    def from_config(
        cls,
        model_config: ModelConfig,
        environ: Mapping[str, str] = os.environ,
        *,
        adapter: ServedAdapter | None = None,
        version: str | None = None,
    ) -> OpenAICompatDrafter:
        """Build from ``[model]``; the key is read from the variable named by ``api_key_env`` (never a file).

        A missing or empty variable means no key: a local vLLM server needs none.
        """
        key = (environ.get(model_config.api_key_env) or "").strip() if model_config.api_key_env else ""
        return cls(
            model_config.name,
            model_config.api_base,
            api_key=key or None,
            timeout_s=model_config.request_timeout_s,
            retries=model_config.request_retries,
            generation=GenerationSettings.from_config(model_config),
            multi_image=model_config.multi_image,
            adapter=adapter,
            version=version,
        )

    def __repr__(self) -> str:  # never shows the key
        adapter = f", adapter={self.adapter.name!r}" if self.adapter is not None else ""
        return f"OpenAICompatDrafter(model={self.model!r}, api_base={self.api_base!r}{adapter})"

    def __enter__(self) -> OpenAICompatDrafter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- health check -------------------------------------------------------------------------------

    def check(self) -> None:
        """Fail fast, with the URL and the reason, when the endpoint cannot serve this model.

        The worker calls this at start: a wrong ``api_base``, a server that is down, a bad key or a
        model name the server does not serve would otherwise surface as one failed job after another.
        """
        url = self.models_url
        try:
            response = self._client.get(url, timeout=min(self.timeout_s, CHECK_TIMEOUT_S))
        except httpx.HTTPError as exc:  # down: not the model's fault (the worker keeps what it has)
            raise ServingUnavailableError(
                f"cannot reach the OpenAI-compatible server at {url}: {type(exc).__name__}: {exc or 'no detail'}"
            ) from None
        if response.status_code in (401, 403):
            raise ModelLoadError(
                f"the server at {url} refused the API key (HTTP {response.status_code}); "
                "set the variable named by [model] api_key_env"
            )
        if response.status_code >= 500:
            raise ServingUnavailableError(f"the server at {url} answered HTTP {response.status_code}")
        if response.status_code != 200:
            detail = error_detail(response)
            raise ModelLoadError(f"the server at {url} answered HTTP {response.status_code}: {detail}")
        try:
            served = [str(item["id"]) for item in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise ModelLoadError(f"the server at {url} did not answer with an OpenAI model list") from None
        if self.model not in served:
            listing = ", ".join(repr(m) for m in served[:20]) or "none"
            raise ModelLoadError(f"the server at {url} does not serve model {self.model!r}; it serves: {listing}")
        logger.info("OpenAI-compatible endpoint %s serves %s", self.api_base, self.model)
        self.refresh()

    def refresh(self) -> None:
        """Register the served adapter unless the server is known to hold it (idempotent; between batches).

        Raises ModelLoadError when the server refuses the adapter, ServingUnavailableError when it
        cannot be reached.
        """
        if self._lora is None:
            return
        assert self.adapter is not None
        with self._register_lock:
            if not self._adapter_ready:
                self._lora.load(self.adapter)
                self._adapter_ready = True

    def _register_again(self) -> None:
        """Inside a batch: the server forgot the adapter; any failure is the request's transient error."""
        try:
            self.refresh()
        except DermError as exc:  # down, or refused now (the folder is gone): the worker's refresh decides
            raise DraftingError(f"cannot register adapter {self.request_model} again: {exc}") from None

    # -- drafting -----------------------------------------------------------------------------------

    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        """Send every request concurrently (the server batches them); outcomes in request order.

        A result's ``seconds`` is the wall time of the HTTP call that produced it (not earlier failed
        attempts or backoff), so it measures the server's speed.
        """
        if not requests:
            return []
        if self._closed:
            raise RuntimeError("the drafter is closed")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)), thread_name_prefix="draft") as pool:
            outcomes = list(pool.map(self._draft_one, requests))
        failed = sum(1 for outcome in outcomes if not outcome.ok)
        logger.info(
            "drafted %d requests (%d failed) in %.2fs via %s",
            len(outcomes),
            failed,
            time.monotonic() - started,
            self.api_base,
        )
        return outcomes

    def _draft_one(self, request: DraftRequest) -> DraftOutcome:
        """One request with its retries; every failure becomes the outcome's error."""
        try:
            question = build_question(request.prompt_id, request.query)
            payload = self._payload(request, question)
            return DraftOutcome(request.key, result=self._post_served(payload, (question, request.query)))
        except DraftingError as exc:
            return DraftOutcome(request.key, error=exc)
        except ImageError as exc:
            # The photos will not change: repeating cannot help.
            return DraftOutcome(request.key, error=PermanentDraftingError(f"unusable images: {exc}"))
        except DermError as exc:
            return DraftOutcome(request.key, error=PermanentDraftingError(str(exc)))
        except Exception as exc:  # a bug must not sink the batch; the traceback has no prompt in it
            logger.exception("unexpected error while drafting one request")
            return DraftOutcome(request.key, error=DraftingError(f"unexpected {type(exc).__name__}"))

    def _payload(self, request: DraftRequest, question: str) -> dict[str, Any]:
        """The chat-completions body: the question then the photos, with the ``[model]`` decoding settings."""
        photos = image_utils.combine(request.images, self.multi_image, self.max_images)
        content: list[dict[str, Any]] = [{"type": "text", "text": question}]
        content += [{"type": "image_url", "image_url": {"url": _jpeg_data_url(photo)}} for photo in photos]
        gen = self.generation
        payload: dict[str, Any] = {
            "model": self.request_model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": gen.max_new_tokens,
            # temperature 0 is greedy on every OpenAI-compatible server; top_p 1 keeps it pure greedy.
            "temperature": gen.temperature if gen.do_sample else 0.0,
            "top_p": gen.top_p if gen.do_sample else 1.0,
            "seed": gen.seed,
        }
        if gen.repetition_penalty != 1.0:
            payload["repetition_penalty"] = gen.repetition_penalty  # vLLM extension
        return payload

    def _post_served(self, payload: dict[str, Any], texts: tuple[str, ...]) -> DraftResult:
        """The request with its retries; a served adapter the server forgot is registered again once."""
        try:
            return self._post_with_retries(payload, texts)
        except _AdapterMissing:
            self._register_again()
        try:
            return self._post_with_retries(payload, texts)
        except _AdapterMissing:
            missing = f"the server still does not serve adapter {self.request_model}"
            raise DraftingError(f"{self.chat_url}: {missing}") from None

    def _post_with_retries(self, payload: dict[str, Any], texts: tuple[str, ...]) -> DraftResult:
        attempts = self.retries + 1
        last: _Transient | None = None
        for attempt in range(1, attempts + 1):
            try:
                return self._post_once(payload, texts, attempt)
            except _Transient as exc:
                last = exc
                if attempt == attempts:
                    break
                delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                logger.warning(
                    "chat completion attempt %d/%d failed (%s); retrying in %.2fs", attempt, attempts, exc.reason, delay
                )
                time.sleep(delay)
        assert last is not None  # the loop ran at least once and only breaks after a failure
        logger.warning("chat completion failed after %d attempts (%s)", attempts, last.reason)
        last_error = f"{last.reason}: {last.detail}" if last.detail else last.reason
        raise DraftingError(f"{self.chat_url}: gave up after {attempts} attempt(s); last error: {last_error}")

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))

    def _post_once(self, payload: dict[str, Any], texts: tuple[str, ...], attempt: int) -> DraftResult:
        started = time.monotonic()
        try:
            response = self._client.post(self.chat_url, json=payload)
        except httpx.UnsupportedProtocol as exc:
            raise PermanentDraftingError(f"{self.chat_url}: {exc}") from None
        except httpx.TransportError as exc:  # connection refused/reset, timeouts, protocol errors
            raise _Transient(type(exc).__name__) from None
        seconds = time.monotonic() - started
        status = response.status_code
        logger.debug("chat completion attempt %d: HTTP %d in %.2fs", attempt, status, seconds)
        if status == 404 and self.adapter is not None:
            # The server does not hold the adapter (restarted, or unloaded by a worker switching
            # away from it): not the request's fault.
            self._adapter_ready = False
            logger.warning("the server does not hold adapter %s (HTTP 404); registering it again", self.adapter.name)
            raise _AdapterMissing()
        if status in TRANSIENT_4XX or status >= 500:
            raise _Transient(f"HTTP {status}", error_detail(response, *texts), _retry_after(response))
        if status >= 400:
            detail = error_detail(response, *texts)
            logger.warning("chat completion refused with HTTP %d (permanent)", status)
            raise PermanentDraftingError(f"{self.chat_url} answered HTTP {status}: {detail}")
        if status != 200:
            raise DraftingError(f"{self.chat_url} answered unexpected HTTP {status}")
        return _parse_completion(response, seconds, self.chat_url)

    def close(self) -> None:
        """Close the connection pool (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._client.close()


def _jpeg_data_url(image: Image.Image) -> str:
    """A ``data:image/jpeg;base64,...`` URL: every OpenAI-compatible server accepts it, no file server needed."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _parse_completion(response: httpx.Response, seconds: float, url: str) -> DraftResult:
    try:
        body = response.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise DraftingError(f"{url}: the response has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise DraftingError(f"{url}: choices[0].message.content is {type(content).__name__}, not text")
    text = content.strip()
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    completion_tokens = usage.get("completion_tokens")
    new_tokens = completion_tokens if isinstance(completion_tokens, int) else len(text.split())
    prompt_tokens = usage.get("prompt_tokens")
    return DraftResult(
        text=text,
        new_tokens=new_tokens,
        prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else 0,
        seconds=seconds,
    )


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date), capped; None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))
