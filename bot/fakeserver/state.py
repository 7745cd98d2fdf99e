"""The fake Telegram server's in-memory world, and the test-facing API on top of it.

:class:`FakeBotState` holds users, chats, messages, stored files, the queue of pending updates and
the records of everything the bot sent. It knows nothing about HTTP or about Bot API methods (those
live in :mod:`bot.fakeserver.methods`); what it offers tests is:

* simulated users: :meth:`~FakeBotState.send_text`, :meth:`~FakeBotState.send_photo`,
  :meth:`~FakeBotState.send_document`, :meth:`~FakeBotState.press_button`, :meth:`~FakeBotState.block_user`;
* inspection: :attr:`~FakeBotState.sent`, :meth:`~FakeBotState.messages_to`, :meth:`~FakeBotState.wait_for`
  (and ``async_wait_for`` for tests whose bot runs on the same event loop), :attr:`~FakeBotState.calls`,
  :attr:`~FakeBotState.answered_callbacks`, :meth:`~FakeBotState.file_bytes`, :attr:`~FakeBotState.errors`;
* failure injection: ``fail_rate``/``retry_after_rate`` (random, seeded) and :meth:`~FakeBotState.fail_next`.

Every piece of state is guarded by one re-entrant lock; ``self._changed`` (a condition on that lock) is
notified on every change, which is what long polling and ``wait_for`` wait on. Stored dicts (messages,
records, updates) are never mutated once published: an edit stores a new dict, so a snapshot handed to
a test or serialised for a response stays consistent.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import itertools
import json
import logging
import mimetypes
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from PIL import Image, ImageOps

from bot.fakeserver.parsemode import utf16_len

logger = logging.getLogger(__name__)

T = TypeVar("T")

FILE_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
TEXT_LIMIT = 4096  # UTF-16 code units of a message text, after entity parsing
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
THUMBNAIL_SIDE = 90  # Telegram's smallest photo size ("s")
FAILABLE_METHODS_PREFIXES = ("send", "edit")
FAILABLE_METHODS = frozenset({"answerCallbackQuery"})

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


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


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart request: its part name, file name, content type and bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the fake server holds (a photo size or a document), addressable by id and by path."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" or "document"
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0

    @property
    def file_size(self) -> int:
        """The size in bytes."""
        return len(self.data)

    def as_photo_size(self) -> dict[str, Any]:
        """A Bot API ``PhotoSize``."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.file_size,
        }

    def as_document(self) -> dict[str, Any]:
        """A Bot API ``Document``."""
        document = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        document["file_size"] = self.file_size
        return document

    def as_file(self) -> dict[str, Any]:
        """A Bot API ``File`` (the getFile result); ``file_path`` is relative to the file URL."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


class Params:
    """The parameters of one Bot API call, decoded the way the real Bot API decodes them.

    ``values`` holds strings (form fields and query parameters; python-telegram-bot JSON-encodes every
    non-string value into its field) or native JSON values (application/json bodies). The typed getters
    accept both, so a method never cares how the request was encoded. ``files`` holds the multipart file
    parts by part name (``photo`` for a direct upload, ``attached<hex>`` for ``attach://`` references).
    """

    def __init__(self, values: Mapping[str, Any] | None = None, files: Mapping[str, UploadedFile] | None = None):
        self.values: dict[str, Any] = dict(values or {})
        self.files: dict[str, UploadedFile] = dict(files or {})

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) is not None

    def raw(self, name: str) -> Any:
        """The value as received (None when absent)."""
        return self.values.get(name)

    def get_str(self, name: str, *, required: bool = False) -> str | None:
        """A string parameter; numbers given natively in JSON are converted."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise bad_request(f"invalid {name} specified")

    def get_int(self, name: str, *, required: bool = False) -> int | None:
        """An integer parameter (``"42"``, ``42`` and ``42.0`` all give 42)."""
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
        if not number.is_integer():
            raise bad_request(f"invalid {name} specified")
        return int(number)

    def get_float(self, name: str) -> float | None:
        """A number parameter (timeouts)."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (``true``/``false``/``1``/``0`` or a JSON boolean)."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise bad_request(f"invalid {name} specified")

    def get_json(self, name: str) -> Any:
        """A JSON-serialised parameter (reply_markup, entities, media, ...); strings are decoded."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def get_chat_id(self, name: str = "chat_id") -> int | str:
        """A chat id: an integer, or an ``@username`` string."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            return value
        return self.get_int(name, required=True) or 0  # required: never None; 0 is "chat not found"


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


def _probe_image(data: bytes) -> tuple[int, int, bytes, int, int] | None:
    """``(width, height, thumbnail_jpeg, thumb_width, thumb_height)``, or None when not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation: rotated by 90 degrees
                width, height = height, width
            image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # fast JPEG decoding at low size
            thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=80)
        return width, height, buffer.getvalue(), thumb.width, thumb.height
    except Exception:  # Pillow raises many types for corrupt data; any failure means "not an image"
        return None


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = _COMMAND.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


class FakeBotState:
    """Users, chats, messages, files, updates and records of a fake Telegram bot, all thread safe."""

    def __init__(
        self,
        token: str,
        *,
        fail_rate: float = 0.0,
        retry_after_rate: float = 0.0,
        seed: int | None = 0,
        bot_username: str = "dermbot_test",
        known_chats_only: bool = False,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0 or not 0.0 <= retry_after_rate <= 1.0 or fail_rate + retry_after_rate > 1.0:
            raise ValueError("fail_rate and retry_after_rate must be in [0, 1] and sum to at most 1")
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_username = bot_username
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "DermBot (fake)",
            "username": bot_username,
        }
        self.fail_rate = fail_rate
        self.retry_after_rate = retry_after_rate
        self.known_chats_only = known_chats_only
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False

        self._file_numbers = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._media_group_ids = itertools.count(13_000_000_000_000_001)

        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._blocked: set[int] = set()
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._raw_texts: dict[tuple[int, int], dict[str, Any]] = {}  # text/caption as the bot sent them
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[dict[str, Any]]] = {}  # any size's file_id -> all sizes
        self._updates: list[dict[str, Any]] = []
        self._dropped_updates: list[dict[str, Any]] = []
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._open_callbacks: dict[str, dict[str, Any]] = {}
        self._webhook: dict[str, Any] | None = None
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}

        self._sent: list[dict[str, Any]] = []
        self._answered: list[dict[str, Any]] = []
        self._errors: list[dict[str, Any]] = []
        self._chat_actions: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._calls: collections.Counter[str] = collections.Counter()
        self._downloads: collections.Counter[str] = collections.Counter()
        self._fail_queue: dict[str, collections.deque[tuple[int, int | None, str]]] = {}
        self._failures_injected = 0

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        method: str,
        n: int = 1,
        status: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``n`` calls of ``method`` (any method, case-insensitive) fail with ``status``.

        A 429 gets ``parameters.retry_after`` (1 unless given). Nothing is recorded for a failed call.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if status == 429 and retry_after is None:
            retry_after = 1
        entry = (status, retry_after, description or default_description(status, retry_after))
        with self._lock:
            self._fail_queue.setdefault(method.lower(), collections.deque()).extend([entry] * n)

    def clear_failures(self, method: str | None = None) -> None:
        """Forget scripted failures (of ``method``, or all); random ones stay as configured."""
        with self._lock:
            if method is None:
                self._fail_queue.clear()
            else:
                self._fail_queue.pop(method.lower(), None)

    def _maybe_inject_failure(self, method: str) -> None:
        """Raises the scripted or random failure for this call, if any (before anything is recorded)."""
        queue = self._fail_queue.get(method.lower())
        if queue:
            status, retry_after, description = queue.popleft()
            self._failures_injected += 1
            raise ApiError(status, description, retry_after=retry_after)
        failable = method.startswith(FAILABLE_METHODS_PREFIXES) or method in FAILABLE_METHODS
        if not failable or (self.fail_rate <= 0 and self.retry_after_rate <= 0):
            return
        draw = self._rng.random()
        if draw < self.fail_rate:
            self._failures_injected += 1
            raise ApiError(500, default_description(500))
        if draw < self.fail_rate + self.retry_after_rate:
            self._failures_injected += 1
            raise ApiError(429, default_description(429, 1), retry_after=1)

    # ------------------------------------------------------------------ users and chats

    def _user(self, user_id: int, **fields: Any) -> dict[str, Any]:
        if user_id <= 0:
            raise ValueError(f"user ids are positive, got {user_id}")
        user = dict(self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        user.update({key: value for key, value in fields.items() if value is not None})
        self._users[user_id] = user
        if user_id in self._chats:  # keep the private chat's name in step with the user's
            self._chats[user_id] = self._private_chat(user)
        return user

    @staticmethod
    def _private_chat(user: Mapping[str, Any]) -> dict[str, Any]:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """The chat with this id, created on first use (positive: private, negative: a group)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id > 0:
                chat = self._private_chat(self._users.get(chat_id) or self._user(chat_id))
            elif chat_id <= -1_000_000_000_000:
                chat = {"id": chat_id, "type": "supergroup", "title": f"Group {-chat_id}"}
            else:
                chat = {"id": chat_id, "type": "group", "title": f"Group {-chat_id}"}
            self._chats[chat_id] = chat
        return chat

    def _chat_for_bot(self, chat_id: int | str) -> dict[str, Any]:
        """The chat a bot method addresses: 400 "chat not found" / 403 "blocked" as Telegram answers."""
        if isinstance(chat_id, str):
            name = chat_id[1:].lower()
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == name:
                    return chat
            raise bad_request("chat not found")
        if chat_id == 0 or (self.known_chats_only and chat_id not in self._chats):
            raise bad_request("chat not found")
        chat = self._chat(chat_id)
        if chat["type"] == "private" and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def block_user(self, user_id: int) -> None:
        """From now on every send to this user's private chat fails with 403 "bot was blocked"."""
        with self._lock:
            self._blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        """Undo :meth:`block_user`."""
        with self._lock:
            self._blocked.discard(user_id)

    # ------------------------------------------------------------------ messages, files, updates

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

    def _store_file(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int = 0,
        height: int = 0,
    ) -> StoredFile:
        number = next(self._file_numbers)
        digest = hashlib.sha256(data).hexdigest()[:20]
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        if kind == "photo":
            extension = ".jpg"
        else:
            extension = ""
            if file_name and "." in file_name:
                extension = "." + file_name.rsplit(".", 1)[1][:10]
            elif mime_type:
                extension = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}{digest}",
            file_unique_id=f"AQAD{number:08d}",
            kind=kind,
            data=bytes(data),
            file_path=f"{'photos' if kind == 'photo' else 'documents'}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _store_photo(self, data: bytes, *, strict: bool) -> list[dict[str, Any]]:
        """Stores a photo as Telegram does: PhotoSizes from a thumbnail up to the original bytes.

        An undecodable image is refused (``strict``, for bot uploads: IMAGE_PROCESS_FAILED) or kept as a
        single 0x0 size (users' photos; tests send corrupt images on purpose).
        """
        probe = _probe_image(data)
        if probe is None:
            if strict:
                raise bad_request("IMAGE_PROCESS_FAILED")
            sizes = [self._store_file(data, "photo").as_photo_size()]
        else:
            width, height, thumbnail, thumb_width, thumb_height = probe
            thumb = self._store_file(thumbnail, "photo", width=thumb_width, height=thumb_height)
            original = self._store_file(data, "photo", width=width, height=height)
            sizes = [thumb.as_photo_size(), original.as_photo_size()]
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return sizes

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

    # ------------------------------------------------------------------ simulated users

    def _sender(self, user_id: int, chat_id: int | None, fields: dict[str, Any]) -> tuple[dict, dict]:
        user = self._user(user_id, **fields)
        chat = self._chat(user_id if chat_id is None else chat_id)
        if chat["type"] == "private" and chat["id"] != user_id:
            raise ValueError(f"user {user_id} cannot write in the private chat of user {chat['id']}")
        return user, chat

    def _user_message(
        self,
        user: dict[str, Any],
        chat: dict[str, Any],
        content: dict[str, Any],
        *,
        reply_to_message_id: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
        }
        if media_group_id is not None:
            message["media_group_id"] = str(media_group_id)
        if reply_to_message_id is not None:
            target = self._messages.get((chat["id"], reply_to_message_id))
            if target is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat['id']} to reply to")
            message["reply_to_message"] = self._snapshot(target)
        message.update(content)
        self._messages[(chat["id"], message["message_id"])] = message
        return message

    @staticmethod
    def _check_user_caption(caption: str | None) -> dict[str, Any]:
        if caption is None:
            return {}
        if utf16_len(caption) > CAPTION_LIMIT:
            raise ValueError(f"a caption is at most {CAPTION_LIMIT} characters")
        return {"caption": caption}

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user sends ``text`` (to their private chat, or to group ``chat_id`` < 0); returns the update.

        A text starting with ``/command`` (optionally ``/command@botname``) gets a ``bot_command`` entity.
        """
        if not text.strip():
            raise ValueError("Telegram clients cannot send an empty text")
        if utf16_len(text) > TEXT_LIMIT:
            raise ValueError(f"a text message is at most {TEXT_LIMIT} characters (clients split longer ones)")
        fields = {"first_name": first_name, "last_name": last_name, "username": username}
        fields["language_code"] = language_code
        with self._lock:
            user, chat = self._sender(user_id, chat_id, fields)
            content: dict[str, Any] = {"text": text}
            entities = _command_entities(text)
            if entities:
                content["entities"] = entities
            message = self._user_message(user, chat, content, reply_to_message_id=reply_to_message_id)
            return self._push_update("message", message)

    def send_photo(
        self,
        user_id: int,
        image_bytes: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | int | None = None,
        chat_id: int | None = None,
        first_name: str | None = None,
        language_code: str | None = "en",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A user sends a photo; returns the update. ``message.photo[-1]`` holds the exact bytes given.

        Bytes that are not a decodable image are still accepted (one 0x0 PhotoSize, no thumbnail).
        Several calls with the same ``media_group_id`` make an album, as Telegram delivers them.
        """
        if not image_bytes:
            raise ValueError("a photo cannot be empty")
        with self._lock:
            user, chat = self._sender(user_id, chat_id, {"first_name": first_name, "language_code": language_code})
            content: dict[str, Any] = {"photo": self._store_photo(bytes(image_bytes), strict=False)}
            content.update(self._check_user_caption(caption))
            message = self._user_message(
                user,
                chat,
                content,
                reply_to_message_id=reply_to_message_id,
                media_group_id=None if media_group_id is None else str(media_group_id),
            )
            return self._push_update("message", message)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        chat_id: int | None = None,
        first_name: str | None = None,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """A user sends a file as a document (for example an uncompressed image); returns the update."""
        if not data:
            raise ValueError("a document cannot be empty")
        with self._lock:
            user, chat = self._sender(user_id, chat_id, {"first_name": first_name, "language_code": language_code})
            stored = self._store_file(bytes(data), "document", file_name=file_name, mime_type=mime_type)
            content: dict[str, Any] = {"document": stored.as_document()}
            content.update(self._check_user_caption(caption))
            message = self._user_message(user, chat, content)
            return self._push_update("message", message)

    def press_button(
        self,
        user_id: int,
        message: Any,
        callback_data: str,
        *,
        first_name: str | None = None,
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """A user presses the inline button carrying ``callback_data`` on a message the bot sent.

        ``message`` is a record from :attr:`sent`, a Message dict, a PTB Message or ``(chat_id,
        message_id)``. The button must exist on the message's *current* keyboard (as for a real user);
        otherwise ValueError names the buttons that do. Returns the ``callback_query`` update.
        """
        chat_id, message_id = message_key(message)
        with self._lock:
            current = self._messages.get((chat_id, message_id))
            if current is None:
                raise ValueError(f"message {message_id} in chat {chat_id} does not exist (never sent or deleted)")
            if not self._is_bot_message(current):
                raise ValueError(f"message {message_id} in chat {chat_id} was not sent by the bot")
            if current["chat"]["type"] == "private" and chat_id != user_id:
                raise ValueError(f"user {user_id} cannot see the private chat of user {chat_id}")
            buttons = [b["callback_data"] for b in buttons_of(current.get("reply_markup")) if "callback_data" in b]
            if callback_data not in buttons:
                raise ValueError(
                    f"message {message_id} in chat {chat_id} has no button with callback_data {callback_data!r}; "
                    f"its buttons carry {buttons!r}"
                )
            user = self._user(user_id, first_name=first_name, language_code=language_code)
            query_id = str(next(self._callback_ids))
            self._open_callbacks[query_id] = {
                "user_id": user_id,
                "chat_id": chat_id,
                "message_id": message_id,
                "data": callback_data,
            }
            query = {
                "id": query_id,
                "from": user,
                "message": current,
                "chat_instance": str(abs(chat_id) * 7919 + 1),
                "data": callback_data,
            }
            return self._push_update("callback_query", query)

    # ------------------------------------------------------------------ inspection

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
    def failures_injected(self) -> int:
        """How many calls failed because of fail_rate, retry_after_rate or fail_next."""
        with self._lock:
            return self._failures_injected

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

    def my_commands(self, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """The command list set with setMyCommands for this scope and language."""
        with self._lock:
            return list(self._commands.get((scope_key(scope), language_code), []))

    def file_bytes(self, file_id: str) -> bytes:
        """The stored bytes of any file (user or bot upload, any photo size); KeyError if unknown."""
        with self._lock:
            return self._files[file_id].data

    def downloads(self, file_id: str) -> int:
        """How many times the file was downloaded through the file URL."""
        with self._lock:
            return self._downloads[file_id]

    def _download(self, file_path: str) -> StoredFile | None:
        with self._lock:
            stored = self._files_by_path.get(file_path)
            if stored is not None:
                self._downloads[stored.file_id] += 1
            return stored

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


def scope_key(scope: Any) -> str:
    """The key commands are stored under for a BotCommandScope (None: the default scope)."""
    if not scope:
        return '{"type": "default"}'
    return json.dumps(scope, sort_keys=True)


def buttons_of(markup: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
    """Every button of an inline keyboard markup (empty for None or other markups)."""
    for row in (markup or {}).get("inline_keyboard", []):
        yield from row
