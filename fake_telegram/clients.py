"""Simulated users of the fake Telegram server: what a person does in a Telegram client.

A user sends texts, photos (albums too) and documents, presses inline buttons and answers ForceReply
prompts. Privacy mode (``privacy_mode=True``, Telegram's default) decides which group messages reach
the bot: only commands, replies to its messages and mentions of it (an administrator bot gets
everything); the rest go to :attr:`~SimulatedUsers.withheld_updates`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from fake_telegram.limits import CAPTION_LIMIT, TEXT_LIMIT
from fake_telegram.messages import buttons_of, message_key
from fake_telegram.parsemode import utf16_len

logger = logging.getLogger(__name__)

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


def _command_entities(text: str) -> list[dict[str, Any]]:
    match = _COMMAND.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


class SimulatedUsers:
    """Mixed into the fake bot state: the simulated users' API and the privacy-mode delivery rule.

    Builds on :class:`~fake_telegram.chats.ChatDirectory`, :class:`~fake_telegram.files.FileStore`
    and :class:`~fake_telegram.messages.MessageLog`; uses ``privacy_mode``, ``bot_username``,
    ``_callback_ids``, ``_open_callbacks``, ``_force_replies`` and ``_withheld``, which
    :class:`~fake_telegram.state.FakeBotState` sets up.
    """

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

    def _bot_receives(self, message: Mapping[str, Any]) -> bool:
        """Whether Telegram delivers this user message to the bot (privacy mode, in groups)."""
        chat = message["chat"]
        if chat["type"] not in ("group", "supergroup") or not self.privacy_mode:
            return True
        admin_chats = getattr(self, "_admin_chats", None)  # fake_telegram.members, when mixed in
        if admin_chats is not None and chat["id"] in admin_chats():
            return True
        if self._is_bot_message(message.get("reply_to_message") or {}):
            return True
        body = message.get("text") or message.get("caption") or ""
        command = _COMMAND.match(body)
        if command:
            _, _, addressee = command.group(0).partition("@")
            return not addressee or addressee.lower() == self.bot_username.lower()
        mention = re.compile(rf"@{re.escape(self.bot_username)}(?![A-Za-z0-9_])", re.IGNORECASE)
        return bool(mention.search(body))

    def _push_user_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """Queues a user's message for the bot, or withholds it as Telegram would (privacy mode)."""
        if self._bot_receives(message):
            return self._push_update("message", message)
        update = {"update_id": None, "message": message}
        self._withheld.append(update)
        self._changed.notify_all()
        logger.debug("fake telegram: group message %s withheld (privacy mode)", message["message_id"])
        return update

    def _force_reply_targets(self, message: Mapping[str, Any], user_id: int) -> bool:
        """Whether a client of ``user_id`` shows the ForceReply of this bot message (``selective``:
        users mentioned in its text, and the sender of the message it replies to)."""
        markup = self._force_replies.get((message["chat"]["id"], message["message_id"]))
        if markup is None:
            return False
        if not markup.get("selective") or message["chat"]["type"] == "private":
            return True
        if (message.get("reply_to_message") or {}).get("from", {}).get("id") == user_id:
            return True
        text = message.get("text") or message.get("caption") or ""
        username = str(self._users.get(user_id, {}).get("username") or "").lower()
        for entity in message.get("entities") or message.get("caption_entities") or []:
            if entity.get("type") == "text_mention" and (entity.get("user") or {}).get("id") == user_id:
                return True
            if entity.get("type") == "text_link" and entity.get("url") == f"tg://user?id={user_id}":
                return True
        return bool(username and re.search(rf"@{re.escape(username)}(?![A-Za-z0-9_])", text, re.IGNORECASE))

    def reply_to_prompt(self, user_id: int, prompt: Any, text: str, **fields: Any) -> dict[str, Any]:
        """A user answers the bot's ForceReply prompt: their client sends ``text`` as a reply to it.

        ``prompt`` is a record from :attr:`sent`, a Message dict, a PTB Message or ``(chat_id, message_id)``.
        The prompt must carry a ForceReply whose client shows it to this user (``selective``: the user is
        mentioned in it, or it replies to the user's message); otherwise ValueError, since a real client
        would not open the reply. Returns the update (delivered: replies to the bot pass privacy mode).
        """
        chat_id, message_id = message_key(prompt)
        with self._lock:
            current = self._messages.get((chat_id, message_id))
            if current is None or not self._is_bot_message(current):
                raise ValueError(f"message {message_id} in chat {chat_id} is not a message of the bot")
            if (chat_id, message_id) not in self._force_replies:
                raise ValueError(f"message {message_id} in chat {chat_id} has no ForceReply")
            if not self._force_reply_targets(current, user_id):
                raise ValueError(
                    f"the ForceReply of message {message_id} is selective and does not target user {user_id} "
                    "(mention them in its text, or reply to their message)"
                )
        return self.send_text(user_id, text, chat_id=chat_id, reply_to_message_id=message_id, **fields)

    @property
    def withheld_updates(self) -> list[dict[str, Any]]:
        """Group messages users sent that the bot never received (privacy mode); ``update_id`` is None."""
        with self._lock:
            return list(self._withheld)

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
            return self._push_user_message(message)

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
            return self._push_user_message(message)

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
        declare_size: bool = True,
    ) -> dict[str, Any]:
        """A user sends a file as a document (for example an uncompressed image); returns the update.

        ``declare_size=False`` leaves ``file_size`` out of the Document and of getFile's File (both
        optional in the Bot API), so only the download itself tells the size."""
        if not data:
            raise ValueError("a document cannot be empty")
        with self._lock:
            user, chat = self._sender(user_id, chat_id, {"first_name": first_name, "language_code": language_code})
            stored = self._store_file(
                bytes(data), "document", file_name=file_name, mime_type=mime_type, size_declared=declare_size
            )
            content: dict[str, Any] = {"document": stored.as_document()}
            content.update(self._check_user_caption(caption))
            message = self._user_message(user, chat, content)
            return self._push_user_message(message)

    def press_button(
        self,
        user_id: int,
        message: Any,
        callback_data: str,
        *,
        first_name: str | None = None,
        language_code: str | None = "en",
        inaccessible: bool = False,
    ) -> dict[str, Any]:
        """A user presses the inline button carrying ``callback_data`` on a message the bot sent.

        ``inaccessible``: the update carries an InaccessibleMessage (chat, message_id, ``date`` 0), as
        Telegram sends for a button on an old message (hours or days after it was sent).

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
                "message": {"chat": current["chat"], "message_id": message_id, "date": 0} if inaccessible else current,
                "chat_instance": str(abs(chat_id) * 7919 + 1),
                "data": callback_data,
            }
            return self._push_update("callback_query", query)
