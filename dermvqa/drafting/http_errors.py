"""What an OpenAI-compatible server (vLLM, OpenAI) said when it refused a request, in one short line.

Servers may echo the prompt back in an error, and the prompt carries the patient's words: the texts
given to :func:`error_detail` are cut out before the message is shortened, so no part of them can
reach a log or an exception text.
"""

from __future__ import annotations

from typing import Any

import httpx

MAX_ERROR_CHARS = 300
MIN_REDACT_CHARS = 8


def error_detail(response: httpx.Response, *redact: str) -> str:
    """The server's error message: OpenAI's ``{"error": {"message"}}``, vLLM's ``{"message"}``, or the text.

    ``redact`` texts (the question, the query) are removed before the message is shortened, so a
    cut-off echo of the prompt cannot slip through.
    """
    message: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        message = message or body.get("message") or body.get("detail")
    if not message:
        message = response.text or response.reason_phrase or "no message"
    message = _redact(" ".join(str(message).split()), *redact)
    return message[:MAX_ERROR_CHARS] + ("..." if len(message) > MAX_ERROR_CHARS else "")


def _redact(message: str, *texts: str) -> str:
    """Remove the question and the query (a server may echo the prompt): patient text never lands in an error."""
    for text in texts:
        for form in (text.strip(), " ".join(text.split())):
            if len(form) >= MIN_REDACT_CHARS and form in message:
                message = message.replace(form, "<prompt>")
    return message
