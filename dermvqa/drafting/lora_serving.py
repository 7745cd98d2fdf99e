"""Nightly LoRA adapters served by an OpenAI-compatible server that loads adapters at run time (vLLM).

Why: when drafting runs on a vLLM server (``[model] backend = "openai"``), a promoted adapter must
reach that server, not a worker's memory. With ``[model] serve_adapters = true`` a registry entry
with an adapter on the served base model is drafted by name: the adapter is registered with
``POST {api_base}/load_lora_adapter`` ``{"lora_name", "lora_path"}`` and chat completions ask for
``model = lora_name``; a rollback unregisters it with ``POST {api_base}/unload_lora_adapter``.
The server needs ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`` in its environment,
and ``--max-lora-rank`` at least ``[training] lora_rank``::

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve bczhou/tiny-llava-v1-hf \
        --enable-lora --max-lora-rank 16 --max-loras 2 --max-cpu-loras 8

``[model] name`` must be the name the server serves the base model under (its ``--served-model-name``,
by default the model id), the same base the adapters were trained on; others are refused.

Durability: the worker registers the active adapter whenever it switches models and again after the
server forgot it (a 404 for the adapter's name, e.g. after a server restart), so a crash between a
promotion and its registration heals at the next switch or start. Registering is idempotent: vLLM's
"has already been loaded" (HTTP 400) counts as success. Unregistering an adapter the server does not
hold (404) is success too.

Names and paths: an adapter's name is :func:`adapter_name` of its registry id (``dermbot-7``), unique
and stable. The path is sent as the server sees it: ``[model] adapter_path_prefix = "LOCAL=SERVER"``
rewrites a path under LOCAL (resolved here) to the same place under SERVER (the server mounts the
models folder elsewhere, e.g. in a container); a path outside LOCAL is sent unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx

from dermvqa.config import ModelConfig
from dermvqa.drafting.factory import ModelSpec
from dermvqa.drafting.http_errors import error_detail
from dermvqa.errors import ModelLoadError, ServingUnavailableError

logger = logging.getLogger(__name__)

ADAPTER_NAME_PREFIX = "dermbot-"
#: Loading an adapter reads it from disk on the server: allow more than a health check.
LOAD_TIMEOUT_S = 60.0
#: How much of a server's error text goes into an error message.


@dataclass(frozen=True)
class ServedAdapter:
    """An adapter as the server knows it: the name drafts ask for and the path it loads from."""

    name: str
    path: str


def adapter_name(model_id: int) -> str:
    """The name a registry entry's adapter is served under (pure)."""
    return f"{ADAPTER_NAME_PREFIX}{model_id}"


def server_path(adapter_path: str, prefix_map: str) -> str:
    """``adapter_path`` as the server sees it (pure): ``LOCAL=SERVER`` swaps a LOCAL prefix for SERVER.

    A relative path is made absolute first (the server cannot know our working folder).
    """
    path = os.path.abspath(adapter_path)
    if not prefix_map:
        return path
    local, _, server = (part.strip() for part in prefix_map.partition("="))
    local_path, here = PurePosixPath(local), PurePosixPath(path)
    if here == local_path or local_path in here.parents:
        return str(PurePosixPath(server) / here.relative_to(local_path))
    return path


def serves_adapter(spec: ModelSpec, model: ModelConfig) -> bool:
    """Whether ``spec`` is drafted as an adapter loaded into the configured OpenAI-compatible server (pure)."""
    return (
        model.backend == "openai"
        and model.serve_adapters
        and spec.registry_id is not None
        and spec.adapter_path is not None
    )


def served_adapter(spec: ModelSpec, model: ModelConfig) -> ServedAdapter:
    """The name and server-side path of ``spec``'s adapter; refuses an adapter of another base model.

    The server serves ``[model] name``; an adapter trained on a different base would load and draft
    nonsense (or fail on shapes), so it is refused as a load failure (the registry rolls back).
    """
    assert spec.registry_id is not None and spec.adapter_path is not None
    if spec.name != model.name:
        raise ModelLoadError(
            f"registry entry {spec.registry_id} is an adapter on {spec.name!r}, but the server at "
            f"{model.api_base} serves {model.name!r} ([model] name): it cannot serve this adapter"
        )
    return ServedAdapter(adapter_name(spec.registry_id), server_path(spec.adapter_path, model.adapter_path_prefix))


class LoraServer:
    """The runtime LoRA endpoints of one server: :meth:`load` and :meth:`unload` (both idempotent)."""

    def __init__(
        self,
        api_base: str,
        *,
        api_key: str | None = None,
        timeout_s: float = LOAD_TIMEOUT_S,
        client: httpx.Client | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.load_url = f"{self.api_base}/load_lora_adapter"
        self.unload_url = f"{self.api_base}/unload_lora_adapter"
        self.timeout_s = float(timeout_s)
        self._own_client = client is None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client if client is not None else httpx.Client(headers=headers)

    @classmethod
    def from_config(cls, model: ModelConfig, environ: Mapping[str, str] = os.environ) -> LoraServer:
        key = (environ.get(model.api_key_env) or "").strip() if model.api_key_env else ""
        return cls(model.api_base, api_key=key or None)

    def __repr__(self) -> str:  # never shows the key
        return f"LoraServer(api_base={self.api_base!r})"

    def __enter__(self) -> LoraServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, adapter: ServedAdapter) -> bool:
        """Register ``adapter``; True when loaded now, False when the server already had it.

        Raises ServingUnavailableError when the server cannot be reached or fails (5xx: try again
        later, the adapter is not at fault) and ModelLoadError when it refuses the adapter (4xx: a
        path it cannot see, a rank above ``--max-lora-rank``, runtime loading not enabled).
        """
        response = self._post(self.load_url, {"lora_name": adapter.name, "lora_path": adapter.path})
        if response.status_code == 200:
            logger.info("adapter %s loaded into %s", adapter.name, self.api_base)
            return True
        detail = error_detail(response)
        if response.status_code == 400 and "already been loaded" in detail:
            logger.debug("adapter %s was already loaded", adapter.name)
            return False
        if response.status_code in (404, 405) and "no adapter found" not in detail.lower():
            detail += (
                " (no runtime LoRA endpoint: start the server with --enable-lora and "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)"
            )
        raise ModelLoadError(
            f"{self.load_url} refused adapter {adapter.name} at {adapter.path} (HTTP {response.status_code}): {detail}"
        )

    def unload(self, name: str) -> bool:
        """Unregister adapter ``name``; True when unloaded now, False when the server did not hold it."""
        response = self._post(self.unload_url, {"lora_name": name})
        if response.status_code == 200:
            logger.info("adapter %s unloaded from %s", name, self.api_base)
            return True
        detail = error_detail(response)
        if response.status_code == 404 and "cannot be found" in detail:
            return False
        raise ModelLoadError(f"{self.unload_url} refused to unload {name} (HTTP {response.status_code}): {detail}")

    def _post(self, url: str, body: dict[str, str]) -> httpx.Response:
        try:
            response = self._client.post(url, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ServingUnavailableError(f"cannot reach {url}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise ServingUnavailableError(f"{url} answered HTTP {response.status_code}: {error_detail(response)}")
        return response

    def close(self) -> None:
        if self._own_client:
            self._client.close()


def unload_adapter(model: ModelConfig, spec: ModelSpec | None, environ: Mapping[str, str] = os.environ) -> bool:
    """After a rollback (or a rejected candidate): unregister ``spec``'s adapter; True when the server no
    longer holds it.

    Never raises: the rollback is already committed and the workers stop asking for the adapter at
    their next batch anyway (a request of theirs still in flight fails transiently and is retried with
    the model rolled back to); a failure is logged (unload it by hand, or restart the server). No call
    at all unless ``spec`` is served as an adapter.
    """
    if spec is None or not serves_adapter(spec, model):
        return True
    assert spec.registry_id is not None
    try:
        with LoraServer.from_config(model, environ) as server:
            server.unload(adapter_name(spec.registry_id))
        return True
    except (ModelLoadError, ServingUnavailableError) as exc:
        logger.warning("could not unload the adapter of registry entry %s: %s", spec.registry_id, exc)
        return False


def register_active(model: ModelConfig, spec: ModelSpec | None, environ: Mapping[str, str] = os.environ) -> bool:
    """After a promotion: register the newly active entry's adapter now, so a refusal shows at once.

    Never raises (the worker registers it again at its next batch and records a refusal as a load
    failure); returns False and logs when it did not work.
    """
    if spec is None or not serves_adapter(spec, model):
        return True
    try:
        adapter = served_adapter(spec, model)
        with LoraServer.from_config(model, environ) as server:
            server.load(adapter)
        return True
    except (ModelLoadError, ServingUnavailableError) as exc:
        logger.warning("could not register the adapter of registry entry %s: %s", spec.registry_id, exc)
        return False
