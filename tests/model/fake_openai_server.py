"""A fake OpenAI-compatible server (stdlib only) for testing ``OpenAICompatDrafter`` without a GPU.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` on 127.0.0.1 (a free port) from a
thread. Every chat request is recorded and its data-URL images are decoded with Pillow and must be
real JPEGs (else 400). The answer is deterministic and echoes what the server received::

    images=2 question_chars=151 max_tokens=50 temperature=0.0

Scripted behaviour (``script``) makes the next N matching requests fail with a status (optionally
with ``Retry-After``), stall (sleep, then answer normally), or answer with a given body; ``when``
limits a rule to requests whose question contains a substring. ``delay_s`` delays every answer and
``max_in_flight`` records how many requests the server was handling at once.

Runtime LoRA adapters as vLLM serves them (``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True --enable-lora``):
``POST /v1/load_lora_adapter`` ``{"lora_name", "lora_path"}`` (400 "has already been loaded" for a
loaded name; with ``refuse_missing_paths`` a path that does not exist here is 404 "No adapter found")
and ``POST /v1/unload_lora_adapter`` ``{"lora_name"}`` (404 "cannot be found" for an unknown name);
every call is in ``lora_calls``. Loaded adapters are listed by ``/v1/models`` and answer chat
completions by name; an unknown name is 404 as in vLLM. ``restart()`` forgets the adapters (a server
restart); ``lora_enabled=False`` is a server started without runtime LoRA (no such routes: 404).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

DATA_URL_PREFIX = "data:image/jpeg;base64,"


@dataclass
class Recorded:
    """One chat request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    question: str
    image_sizes: list[tuple[int, int]]
    received_at: float

    @property
    def n_images(self) -> int:
        return len(self.image_sizes)


@dataclass
class Rule:
    times: int
    status: int = 200
    message: str = "scripted failure"
    retry_after: str | None = None
    stall_s: float = 0.0
    body: dict[str, Any] | None = None
    when: str | None = None  # applies only to questions containing this text
    echo_question: bool = False  # put the question into the error message (a careless server)
    seen: int = field(default=0)


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as server:``; ``server.base_url`` ends in ``/v1``."""

    def __init__(
        self,
        models: tuple[str, ...] = ("fake-vlm",),
        delay_s: float = 0.0,
        *,
        lora_enabled: bool = True,
        refuse_missing_paths: bool = False,
    ) -> None:
        self.models = models
        self.delay_s = delay_s
        self.lora_enabled = lora_enabled
        self.refuse_missing_paths = refuse_missing_paths
        self.adapters: dict[str, str] = {}  # loaded adapter name -> path
        self.lora_calls: list[tuple[str, dict[str, Any]]] = []  # ("load" | "unload", body), in order
        self.requests: list[Recorded] = []
        self.model_list_requests: list[dict[str, str]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes stalled handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def script(self, times: int = 1, **kwargs: Any) -> None:
        """Make the next ``times`` matching chat requests behave as ``Rule(**kwargs)`` says."""
        with self._lock:
            self._rules.append(Rule(times=times, **kwargs))

    def restart(self) -> None:
        """Forget every runtime-loaded adapter, as a restarted vLLM server does."""
        with self._lock:
            self.adapters.clear()

    def models_asked(self) -> list[str]:
        """The ``model`` field of every chat request, in arrival order."""
        with self._lock:
            return [r.body.get("model") for r in self.requests]

    def requests_for(self, text: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if text in r.question]

    # -- request handling (called from the handler threads) -----------------------------------------

    def _take_rule(self, question: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.seen < rule.times and (rule.when is None or rule.when in question):
                    rule.seen += 1
                    return rule
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                self._send(status, {"error": {"message": message, "type": "invalid_request_error"}}, headers)

            def do_GET(self) -> None:
                if self.path != "/v1/models":
                    self._error(404, f"no route {self.path}")
                    return
                with server._lock:
                    server.model_list_requests.append(dict(self.headers.items()))
                with server._lock:
                    names = [*server.models, *server.adapters]
                data = [{"id": m, "object": "model", "owned_by": "fake"} for m in names]
                self._send(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter") and server.lora_enabled:
                    self._lora(self.path.removeprefix("/v1/").split("_")[0], raw)
                    return
                if self.path != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}")
                    return
                with server._lock:
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    self._chat(raw)
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _text(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _vllm_error(self, status: int, message: str, kind: str) -> None:
                self._send(status, {"object": "error", "message": message, "type": kind, "code": status})

            def _lora(self, action: str, raw: bytes) -> None:
                try:
                    body = json.loads(raw)
                    name, path = body.get("lora_name"), body.get("lora_path")
                except (ValueError, AttributeError):
                    self._vllm_error(400, "malformed request", "BadRequestError")
                    return
                with server._lock:
                    server.lora_calls.append((action, body))
                    if action == "load":
                        if not name or not path:
                            status, message = 400, "Both 'lora_name' and 'lora_path' must be provided."
                        elif name in server.adapters:
                            status, message = 400, f"The lora adapter '{name}' has already been loaded."
                        elif server.refuse_missing_paths and not os.path.isdir(path):
                            status, message = 404, f"No adapter found for {path}"
                        else:
                            server.adapters[name] = path
                            status, message = 200, f"Success: LoRA adapter '{name}' added successfully."
                    elif name not in server.adapters:
                        status, message = 404, f"The lora adapter '{name}' cannot be found."
                    else:
                        del server.adapters[name]
                        status, message = 200, f"Success: LoRA adapter '{name}' removed successfully."
                if status == 200:
                    self._text(200, message)  # vLLM answers success as plain text
                else:
                    self._vllm_error(status, message, "BadRequestError" if status == 400 else "NotFoundError")

            def _chat(self, raw: bytes) -> None:
                received_at = time.monotonic()
                try:
                    body = json.loads(raw)
                    (message,) = body["messages"]
                    parts = message["content"]
                    question = "".join(p["text"] for p in parts if p["type"] == "text")
                    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
                except (ValueError, KeyError, TypeError) as exc:
                    self._error(400, f"malformed request: {exc!r}")
                    return
                sizes = []
                for url in urls:
                    if not url.startswith(DATA_URL_PREFIX):
                        self._error(400, "image_url must be a data:image/jpeg;base64 URL")
                        return
                    try:
                        image = Image.open(io.BytesIO(base64.b64decode(url[len(DATA_URL_PREFIX) :], validate=True)))
                        image.load()
                    except (OSError, ValueError, binascii.Error):
                        self._error(400, "an image is not decodable")
                        return
                    if image.format != "JPEG":
                        self._error(400, f"an image is {image.format}, not JPEG")
                        return
                    sizes.append(image.size)
                record = Recorded(self.path, dict(self.headers.items()), body, question, sizes, received_at)
                with server._lock:
                    server.requests.append(record)
                with server._lock:
                    known = body.get("model") in server.models or body.get("model") in server.adapters
                if not known:
                    self._error(404, f"The model `{body.get('model')}` does not exist.")
                    return
                rule = server._take_rule(question)
                if server.delay_s:
                    server._stop.wait(server.delay_s)
                if rule is not None and rule.stall_s:
                    server._stop.wait(rule.stall_s)
                if rule is not None and rule.status != 200:
                    text = f"{rule.message}: {question}" if rule.echo_question else rule.message
                    headers = {"Retry-After": rule.retry_after} if rule.retry_after else None
                    self._error(rule.status, text, headers)
                    return
                if rule is not None and rule.body is not None:
                    self._send(200, rule.body)
                    return
                content = (
                    f"  images={len(sizes)} question_chars={len(question)} "
                    f"max_tokens={body.get('max_tokens')} temperature={body.get('temperature')}\n"
                )
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 100 + len(question), "completion_tokens": 7, "total_tokens": 0},
                    },
                )

        return Handler
