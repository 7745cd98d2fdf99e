"""Messages and updates in the fake Telegram server: message ids, the update queue and the sent records.

Stored dicts (messages, records, updates) are never mutated once published: an edit stores a new dict,
so a snapshot handed to a test or serialised for a response stays consistent (:meth:`age_message`,
a test's own time machine, is the one exception).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)


def message_key(message: Any) -> tuple[int, int]:
    """``(chat_id, message_id)`` of a sent record, a Message dict, a PTB Message or a tuple."""
    if isinstance(message, tuple) and len(message) == 2:
        return int(message[0]), int(message[1])
    if isinstance(message, Mapping):
        if "chat_id" in message:
            return int(message["chat_id"]), int(message["message_id"])
        if "chat" in message:
            return int(message["chat"]["id"]), int(message["message_id"])
    chat_id = getattr(message, "chat_id", None)
    message_id = getattr(message, "message_id", None)
    if chat_id is not None and message_id is not None:
        return int(chat_id), int(message_id)
    raise TypeError(f"cannot tell which message {message!r} is; pass a sent record or (chat_id, message_id)")


def buttons_of(markup: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
    """Every button of an inline keyboard markup (empty for None or other markups)."""
    for row in (markup or {}).get("inline_keyboard", []):
        yield from row


class MessageLog:
    """Mixed into the fake bot state: message ids, the update queue, the records of what the bot sent.

    Uses ``_lock``, ``_changed``, ``bot_id``, ``_last_message_id``, ``_messages``, ``_raw_texts``,
    ``_update_ids``, ``_updates``, ``_dropped_updates``, ``_allowed_updates``, ``_sent`` and ``_closed``,
    which :class:`~fake_telegram.state.FakeBotState` sets up.
    """

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    @staticmethod
    def _snapshot(message: Mapping[str, Any]) -> dict[str, Any]:
        """A message as embedded in another (``reply_to_message``): one level deep, as Telegram does."""
        return {key: value for key, value in message.items() if key != "reply_to_message"}

    def _is_bot_message(self, message: Mapping[str, Any]) -> bool:
        return message.get("from", {}).get("id") == self.bot_id

    def _push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        if self._allowed_updates and kind not in self._allowed_updates:
            self._dropped_updates.append(update)
            logger.debug("fake telegram: dropped update %s (%s not in allowed_updates)", update["update_id"], kind)
        else:
            self._updates.append(update)
        self._changed.notify_all()
        return update

    def _record(
        self,
        method: str,
        message: dict[str, Any],
        *,
        reply_markup: Any = None,
        parse_mode: str | None = None,
        disable_notification: bool = False,
        upload_size: int | None = None,
    ) -> dict[str, Any]:
        key = (message["chat"]["id"], message["message_id"])
        raw = self._raw_texts.get(key, {})
        record = {
            "method": method,
            "chat_id": key[0],
            "message_id": key[1],
            "date": message.get("edit_date", message["date"]),
            "text": raw.get("text"),
            "plain_text": message.get("text"),
            "caption": raw.get("caption"),
            "plain_caption": message.get("caption"),
            "parse_mode": parse_mode,
            "entities": message.get("entities") or message.get("caption_entities") or [],
            "photo": [size["file_id"] for size in message.get("photo", [])],
            "document": message.get("document"),
            "reply_markup": reply_markup,
            "media_group_id": message.get("media_group_id"),
            "reply_to_message_id": (message.get("reply_to_message") or {}).get("message_id"),
            "disable_notification": disable_notification,
            "upload_size": upload_size,
            "message": message,
        }
        self._sent.append(record)
        self._changed.notify_all()
        logger.debug("fake telegram: recorded %s chat=%s message=%s", method, key[0], key[1])
        return record

    def _close_state(self) -> None:
        """Wakes every waiter (long polls return at once); used by the server's stop()."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()

    def age_message(self, chat_id: int, message_id: int, seconds: float) -> None:
        """Pretend a message was sent ``seconds`` earlier (deleteMessage refuses those over 48 hours old)."""
        with self._lock:
            message = self._messages[(chat_id, message_id)]
            message["date"] = int(message["date"] - seconds)
