"""The fake Telegram server's in-memory world, and the test-facing API on top of it.

:class:`FakeBotState` holds users, chats, messages, stored files, the queue of pending updates and
the records of everything the bot sent. It knows nothing about HTTP or about Bot API methods (those
live in :mod:`fake_telegram.methods`). It is made of one mixin per concern, each in its module:

* :mod:`~fake_telegram.faults`: failure injection: ``fail_rate``/``retry_after_rate`` (random, seeded)
  and :meth:`~FakeBotState.fail_next`; "delivered but the answer was lost": ``lost_response_rate`` and
  :meth:`~FakeBotState.lose_response_next`;
* :mod:`~fake_telegram.chats`: users, chats, :meth:`~FakeBotState.block_user`;
* :mod:`~fake_telegram.files`: stored photos and documents, :meth:`~FakeBotState.file_bytes`;
* :mod:`~fake_telegram.messages`: message ids, the update queue, the records of what the bot sent;
* :mod:`~fake_telegram.clients`: simulated users: :meth:`~FakeBotState.send_text`,
  :meth:`~FakeBotState.send_photo`, :meth:`~FakeBotState.send_document`, :meth:`~FakeBotState.press_button`,
  :meth:`~FakeBotState.reply_to_prompt` (a client answering a ForceReply), and privacy mode
  (``privacy_mode=True``, Telegram's default): in groups the bot receives only commands, replies to its
  messages and mentions of it; other group messages go to :attr:`~FakeBotState.withheld_updates`;
* :mod:`~fake_telegram.inspection`: :attr:`~FakeBotState.sent`, :meth:`~FakeBotState.messages_to`,
  :meth:`~FakeBotState.wait_for` (and ``async_wait_for`` for tests whose bot runs on the same event loop),
  :attr:`~FakeBotState.calls`, :attr:`~FakeBotState.answered_callbacks`, :attr:`~FakeBotState.errors`.

Every piece of state is set up here, in :meth:`FakeBotState.__init__`, and guarded by one re-entrant
lock; ``self._changed`` (a condition on that lock) is notified on every change, which is what long
polling and ``wait_for`` wait on. Stored dicts (messages, records, updates) are never mutated once
published: an edit stores a new dict, so a snapshot handed to a test or serialised for a response stays
consistent.

The names other modules import from here (errors, limits, files, :class:`Params`, helpers) are
re-exported from the modules that define them.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
from typing import Any

from fake_telegram.chats import ChatDirectory
from fake_telegram.clients import SimulatedUsers
from fake_telegram.errors import ApiError, ResponseLost, bad_request, default_description
from fake_telegram.faults import FAILABLE_METHODS, FAILABLE_METHODS_PREFIXES, FaultInjection
from fake_telegram.files import FileStore, StoredFile, UploadedFile
from fake_telegram.inspection import Inspection
from fake_telegram.limits import (
    CALLBACK_ANSWER_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    FILE_DOWNLOAD_LIMIT,
    PLACEHOLDER_LIMIT,
    TEXT_LIMIT,
    THUMBNAIL_SIDE,
)
from fake_telegram.messages import MessageLog, buttons_of, message_key
from fake_telegram.params import Params, scope_key

__all__ = [
    "CALLBACK_ANSWER_LIMIT",
    "CALLBACK_DATA_LIMIT",
    "CAPTION_LIMIT",
    "FAILABLE_METHODS",
    "FAILABLE_METHODS_PREFIXES",
    "FILE_DOWNLOAD_LIMIT",
    "PLACEHOLDER_LIMIT",
    "TEXT_LIMIT",
    "THUMBNAIL_SIDE",
    "ApiError",
    "FakeBotState",
    "Params",
    "ResponseLost",
    "StoredFile",
    "UploadedFile",
    "bad_request",
    "buttons_of",
    "default_description",
    "message_key",
    "scope_key",
]


class FakeBotState(FaultInjection, ChatDirectory, FileStore, MessageLog, SimulatedUsers, Inspection):
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
        privacy_mode: bool = True,
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
        # Telegram's default for bots in groups (BotFather /setprivacy): only commands, replies to the bot,
        # mentions of the bot and service messages reach it; an administrator bot gets everything.
        self.privacy_mode = privacy_mode
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
        self._force_replies: dict[tuple[int, int], dict[str, Any]] = {}  # message -> its ForceReply markup
        self._withheld: list[dict[str, Any]] = []  # group messages a bot in privacy mode never receives

        self._sent: list[dict[str, Any]] = []
        self._answered: list[dict[str, Any]] = []
        self._errors: list[dict[str, Any]] = []
        self._chat_actions: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._calls: collections.Counter[str] = collections.Counter()
        self._downloads: collections.Counter[str] = collections.Counter()
        self._fail_queue: dict[str, collections.deque[tuple[int, int | None, str]]] = {}
        self._failures_injected = 0
        # "Delivered, but the answer was lost": the share of successful send*/edit* calls whose response
        # is dropped (set it after construction), and the scripted ones (lose_response_next).
        self.lost_response_rate = 0.0
        self._lose_queue: collections.Counter[str] = collections.Counter()
        self._responses_lost = 0
