"""Inspection of the fake Telegram server by tests: what the bot sent and called, and waiting for it.

:attr:`~Inspection.sent` and :meth:`~Inspection.messages_to` give the records of what the bot sent;
:meth:`~Inspection.wait_for` (and ``async_wait_for`` for tests whose bot runs on the same event loop)
waits for one; :meth:`~Inspection.dump` summarises recent activity for failure messages.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fake_telegram.messages import buttons_of
from fake_telegram.params import scope_key

T = TypeVar("T")


class Inspection:
    """Mixed into the fake bot state: read-only views of what happened, and waiting for a record.

    Every view is a copy taken under ``_lock``; waits use ``_changed``, which is notified on every
    change. Both and the lists viewed are set up by :class:`~fake_telegram.state.FakeBotState`.
    """

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every message the bot successfully sent or edited, in order (a copy of the list).

        A record has: method, chat_id, message_id, date, text and caption (as the bot sent them, markup
        included), plain_text and plain_caption (what the user sees), parse_mode, entities, photo (file
        ids, smallest first), document, reply_markup (as sent; None when removed by an edit),
        media_group_id, reply_to_message_id, disable_notification, upload_size (bytes uploaded, None for a
        file_id) and message (the Message dict returned to the bot).
        """
        with self._lock:
            return list(self._sent)

    def messages_to(self, chat_id: int, *, include_edits: bool = False) -> list[dict[str, Any]]:
        """The records of messages sent to ``chat_id`` (edits too when ``include_edits``)."""
        with self._lock:
            return [
                record
                for record in self._sent
                if record["chat_id"] == chat_id and (include_edits or not record["method"].startswith("edit"))
            ]

    def current_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The message as it is now (after edits), or None when it does not exist or was deleted."""
        with self._lock:
            return self._messages.get((chat_id, message_id))

    @property
    def calls(self) -> collections.Counter[str]:
        """How many times each Bot API method was called (failed and injected-failure calls included)."""
        with self._lock:
            return collections.Counter(self._calls)

    @property
    def answered_callbacks(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls: callback_query_id, user_id, chat_id, message_id, data, text,
        show_alert, url, cache_time."""
        with self._lock:
            return list(self._answered)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Every error answer given: method, status, description, injected (bool)."""
        with self._lock:
            return list(self._errors)

    @property
    def chat_actions(self) -> list[dict[str, Any]]:
        """sendChatAction calls: chat_id, action, date."""
        with self._lock:
            return list(self._chat_actions)

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """deleteMessage calls that succeeded: chat_id, message_id."""
        with self._lock:
            return list(self._deleted)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return list(self._updates)

    @property
    def webhook_url(self) -> str | None:
        """The URL set with setWebhook (the fake never delivers to it), or None."""
        with self._lock:
            return self._webhook["url"] if self._webhook else None

    @property
    def webhook_secret_token(self) -> str | None:
        """The ``secret_token`` given with setWebhook (Telegram never shows it back), or None."""
        with self._lock:
            return self._webhook.get("secret_token") if self._webhook else None

    def my_commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """The command list set with setMyCommands for this scope and language."""
        with self._lock:
            return list(self._commands.get((scope_key(scope), language_code), []))

    def dump(self, last: int = 20) -> str:
        """A readable summary of recent records, errors and calls (used in TimeoutError messages)."""
        with self._lock:
            start = max(0, len(self._sent) - last)
            lines = [f"sent: {len(self._sent)} record(s){f', last {last}' if start else ''}:"]
            for index, record in enumerate(self._sent[start:], start=start):
                body = record["plain_text"] if record["plain_text"] is not None else record["plain_caption"]
                parts = [f"  [{index}] {record['method']} chat={record['chat_id']} message={record['message_id']}"]
                if body is not None:
                    parts.append(repr(body[:120]))
                if record["photo"]:
                    parts.append("+photo")
                if record["document"]:
                    parts.append("+document")
                buttons = [b.get("callback_data") or b.get("url") for b in buttons_of(record["reply_markup"])]
                if buttons:
                    parts.append(f"buttons={buttons}")
                lines.append(" ".join(parts))
            if self._errors:
                lines.append(f"errors ({len(self._errors)}), last 10:")
                lines.extend(
                    f"  {e['method']} {e['status']} {e['description']}{' (injected)' if e['injected'] else ''}"
                    for e in self._errors[-10:]
                )
            lines.append(f"calls: {dict(self._calls)}")
            lines.append(f"pending updates: {len(self._updates)}")
            return "\n".join(lines)

    def wait_until(self, condition: Callable[[], T], timeout: float = 10.0, *, what: str = "the condition") -> T:
        """Blocks until ``condition()`` (called under the state lock) is truthy and returns its value.

        Raises TimeoutError with :meth:`dump` after ``timeout`` seconds. Do not call this from the event
        loop that runs the bot (it would block the bot): use :meth:`async_wait_until` there.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}\n{self.dump()}")
                self._changed.wait(remaining)

    async def async_wait_until(
        self, condition: Callable[[], T], timeout: float = 10.0, *, what: str = "the condition"
    ) -> T:
        """:meth:`wait_until` for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = condition()
                if value:
                    return value
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}\n{self.dump()}")
            await asyncio.sleep(0.01)

    def _finder(self, predicate: Callable[[dict[str, Any]], bool], since: int) -> Callable[[], dict | None]:
        def find() -> dict[str, Any] | None:
            return next((record for record in self._sent[since:] if predicate(record)), None)

        return find

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0, *, since: int = 0
    ) -> dict[str, Any]:
        """Blocks until a record (from index ``since`` of :attr:`sent`) satisfies ``predicate``; returns the
        first such record. Raises TimeoutError with a dump of what was sent. Sync tests only."""
        return self.wait_until(self._finder(predicate, since), timeout, what="a sent record matching the predicate")

    async def async_wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0, *, since: int = 0
    ) -> dict[str, Any]:
        """:meth:`wait_for` for async tests whose bot runs on the same event loop."""
        return await self.async_wait_until(
            self._finder(predicate, since), timeout, what="a sent record matching the predicate"
        )
