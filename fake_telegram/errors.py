"""Bot API error answers of the fake Telegram server, and the "answer lost" fault.

An :class:`ApiError` is what a Bot API method raises to answer ``{"ok": false, ...}``; the HTTP layer
turns it into the response. :class:`ResponseLost` tells the HTTP layer to drop the connection unanswered
after a call took effect.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """A Bot API error answer: HTTP ``status`` and the JSON envelope Telegram sends with it."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The response body: ``{"ok": false, "error_code": ..., "description": ...[, "parameters"]}``."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class ResponseLost(Exception):
    """The call was carried out, but its answer is lost: the HTTP layer drops the connection unanswered."""


def bad_request(what: str) -> ApiError:
    """``400 Bad Request: <what>``, Telegram's answer to invalid parameters."""
    return ApiError(400, f"Bad Request: {what}")


def default_description(status: int, retry_after: int | None = None) -> str:
    """The description Telegram gives for an error status (used by failure injection)."""
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    known = {
        400: "Bad Request: injected failure",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"
