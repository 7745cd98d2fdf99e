"""Users and chats the fake Telegram server knows, and users who blocked the bot.

Chats are created on first use: a positive id is the private chat of that user, a negative one a
group (a supergroup from -1000000000000 down). ``known_chats_only`` makes bot methods answer
"chat not found" for chats no user has written in yet, as Telegram does for a fresh bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fake_telegram.errors import ApiError, bad_request


class ChatDirectory:
    """Mixed into the fake bot state: users, chats, the chat a bot method addresses, and blocking.

    Uses ``_lock``, ``_users``, ``_chats``, ``_blocked`` and ``known_chats_only``, which
    :class:`~fake_telegram.state.FakeBotState` sets up.
    """

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
