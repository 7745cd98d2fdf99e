"""The Bot API methods of the fake Telegram server, on top of :class:`~fake_telegram.state.FakeBotState`.

:meth:`BotApi.call` is the one entry point the HTTP layer uses: it counts the call, applies failure
injection (before anything is recorded, so a retrying client gets exactly-once delivery), runs the
method under the state lock and returns its JSON-ready result or raises :class:`ApiError`; a "lost
response" fault strikes after the method took effect (the HTTP layer then drops the connection).

The methods live in one mixin per family: :mod:`~fake_telegram.sending` (send*, getFile),
:mod:`~fake_telegram.editing` (edit*, deleteMessage, answerCallbackQuery), :mod:`~fake_telegram.updates`
(getUpdates, webhooks) and :mod:`~fake_telegram.members` (group membership); the bot's own methods
(getMe, the command lists, close, logOut) are here.

Validation mirrors the real Bot API where a bot is likely to trip: empty or too long texts and captions,
malformed HTML/MarkdownV2 (``can't parse entities``), callback_data over 64 bytes, editing a message
into its current content (``message is not modified``), unknown chats, blocked users, files over 20 MB
for getFile, and concurrent getUpdates (409 Conflict). Lengths are UTF-16 code units, as Telegram counts
them (texts, captions, ForceReply placeholders, answerCallbackQuery texts); a file id sent with the wrong
method (a document's id in sendPhoto) is a "type of file mismatch".
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fake_telegram.editing import Editing
from fake_telegram.errors import ApiError, bad_request
from fake_telegram.members import Membership
from fake_telegram.params import Params, scope_key
from fake_telegram.sending import Sending
from fake_telegram.state import FakeBotState
from fake_telegram.updates import UpdateDelivery

logger = logging.getLogger(__name__)

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")

# canonical name -> handler attribute; the Bot API matches method names case-insensitively
METHODS: dict[str, str] = {
    "getMe": "_get_me",
    "getUpdates": "_get_updates",
    "setWebhook": "_set_webhook",
    "deleteWebhook": "_delete_webhook",
    "getWebhookInfo": "_get_webhook_info",
    "setMyCommands": "_set_my_commands",
    "getMyCommands": "_get_my_commands",
    "deleteMyCommands": "_delete_my_commands",
    "sendMessage": "_send_message",
    "sendPhoto": "_send_photo",
    "sendDocument": "_send_document",
    "sendMediaGroup": "_send_media_group",
    "getFile": "_get_file",
    "editMessageText": "_edit_message_text",
    "editMessageCaption": "_edit_message_caption",
    "editMessageReplyMarkup": "_edit_message_reply_markup",
    "editMessageMedia": "_edit_message_media",
    "deleteMessage": "_delete_message",
    "answerCallbackQuery": "_answer_callback_query",
    "getChatMemberCount": "_get_chat_member_count",
    "getChat": "_get_chat",
    "sendChatAction": "_send_chat_action",
    "close": "_close",
    "logOut": "_log_out",
}
_BY_LOWER = {name.lower(): name for name in METHODS}


def canonical_method(name: str) -> str | None:
    """The Bot API spelling of ``name`` (matched case-insensitively), or None when not implemented."""
    return _BY_LOWER.get(name.lower())


class BotApi(Membership, Editing, Sending, UpdateDelivery, FakeBotState):
    """:class:`FakeBotState` plus the implemented Bot API methods."""

    def call(self, method: str, params: Params) -> Any:
        """Runs one Bot API call; returns the ``result`` value or raises :class:`ApiError`."""
        name = canonical_method(method)
        with self._lock:
            self._calls[name or method] += 1
            try:
                if name is None:
                    raise ApiError(404, "Not Found: method not found")
                self._maybe_inject_failure(name)
            except ApiError as error:
                self._note_error(name or method, error, injected=name is not None)
                raise
            try:
                result = getattr(self, METHODS[name])(params)
            except ApiError as error:
                self._note_error(name, error, injected=False)
                raise
            self._maybe_lose_response(name)  # may drop the answer of a call that took effect
            return result

    def _note_error(self, method: str, error: ApiError, *, injected: bool) -> None:
        self._errors.append(
            {"method": method, "status": error.status, "description": error.description, "injected": injected}
        )
        self._changed.notify_all()
        logger.debug("fake telegram: %s -> %s%s", method, error.status, " (injected)" if injected else "")

    # ------------------------------------------------------------------ the bot itself

    def _get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            description = str(command.get("description", ""))
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command["command"], "description": description})
        self._commands[(scope_key(params.get_json("scope")), params.get_str("language_code") or "")] = cleaned
        return True

    def _get_my_commands(self, params: Params) -> list[dict[str, str]]:
        key = (scope_key(params.get_json("scope")), params.get_str("language_code") or "")
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, params: Params) -> bool:
        self._commands.pop((scope_key(params.get_json("scope")), params.get_str("language_code") or ""), None)
        return True

    def _close(self, params: Params) -> bool:
        return True

    def _log_out(self, params: Params) -> bool:
        return True
