"""The Bot API methods of the fake Telegram server, on top of :class:`~bot.fakeserver.state.FakeBotState`.

:meth:`BotApi.call` is the one entry point the HTTP layer uses: it counts the call, applies failure
injection (before anything is recorded, so a retrying client gets exactly-once delivery), runs the
method under the state lock and returns its JSON-ready result or raises :class:`ApiError`.

Validation mirrors the real Bot API where a bot is likely to trip: empty or too long texts and captions,
malformed HTML/MarkdownV2 (``can't parse entities``), callback_data over 64 bytes, editing a message
into its current content (``message is not modified``), unknown chats, blocked users, files over 20 MB
for getFile, and concurrent getUpdates (409 Conflict).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import time
from typing import Any

from bot.fakeserver.parsemode import EntityParseError, parse_formatted_text, utf16_len
from bot.fakeserver.state import (
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    FILE_DOWNLOAD_LIMIT,
    TEXT_LIMIT,
    ApiError,
    FakeBotState,
    Params,
    StoredFile,
    UploadedFile,
    bad_request,
    scope_key,
)

logger = logging.getLogger(__name__)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
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
    "deleteMessage": "_delete_message",
    "answerCallbackQuery": "_answer_callback_query",
    "sendChatAction": "_send_chat_action",
    "close": "_close",
    "logOut": "_log_out",
}
_BY_LOWER = {name.lower(): name for name in METHODS}


def canonical_method(name: str) -> str | None:
    """The Bot API spelling of ``name`` (matched case-insensitively), or None when not implemented."""
    return _BY_LOWER.get(name.lower())


class BotApi(FakeBotState):
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
                return getattr(self, METHODS[name])(params)
            except ApiError as error:
                self._note_error(name, error, injected=False)
                raise

    def _note_error(self, method: str, error: ApiError, *, injected: bool) -> None:
        self._errors.append(
            {"method": method, "status": error.status, "description": error.description, "injected": injected}
        )
        self._changed.notify_all()
        logger.debug("fake telegram: %s -> %s%s", method, error.status, " (injected)" if injected else "")

    # ------------------------------------------------------------------ shared helpers

    def _target_chat(self, params: Params) -> dict[str, Any]:
        return self._chat_for_bot(params.get_chat_id())

    @staticmethod
    def _formatted(params: Params, text_key: str, entities_key: str) -> tuple[str | None, str | None, list]:
        """``(raw, plain, entities)`` of a text or caption parameter (raw None when absent)."""
        raw = params.get_str(text_key)
        if raw is None:
            return None, None, []
        entities = params.get_json(entities_key)
        if entities is not None:
            if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
                raise bad_request(f"can't parse {entities_key} JSON object")
            return raw, raw, entities
        try:
            plain, parsed = parse_formatted_text(raw, params.get_str("parse_mode"))
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
        except ValueError:
            raise bad_request("unsupported parse_mode") from None
        return raw, plain, parsed

    def _text(self, params: Params) -> tuple[str, str, list]:
        raw, plain, entities = self._formatted(params, "text", "entities")
        if raw is None or plain is None or not plain.strip():
            raise bad_request("message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise bad_request("message is too long")
        return raw, plain, entities

    def _caption(self, params: Params) -> tuple[str | None, str | None, list]:
        raw, plain, entities = self._formatted(params, "caption", "caption_entities")
        if plain is not None and utf16_len(plain) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        return raw, plain, entities

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            for button in (button for row in rows for button in row):
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise bad_request("can't parse inline keyboard button: Text must be a String")
                actions = [key for key in _BUTTON_ACTIONS if key in button]
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                    raise bad_request("BUTTON_DATA_INVALID")
        elif not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")

    def _reply_markup(self, params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup")
        if markup is None:
            return None
        self._check_markup(markup)
        if inline_only and "inline_keyboard" not in markup:
            raise bad_request("REPLY_MARKUP_INVALID")
        return markup

    def _reply_target(self, params: Params, chat: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get_json("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            chat_id = reply.get("chat_id", chat["id"])
            allow = bool(reply.get("allow_sending_without_reply", False))
        else:
            message_id = params.get_int("reply_to_message_id")
            chat_id = chat["id"]
            allow = params.get_bool("allow_sending_without_reply")
        if message_id is None:
            return None
        if isinstance(chat_id, str):
            chat_id = self._chat_for_bot(chat_id)["id"]
        target = self._messages.get((int(chat_id), int(message_id)))
        if target is None:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return self._snapshot(target)

    def _bot_message(
        self,
        chat: dict[str, Any],
        content: dict[str, Any],
        *,
        markup: dict[str, Any] | None,
        reply_to: dict[str, Any] | None,
        raw: dict[str, Any],
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat["id"]),
            "from": dict(self.bot_user),
            "chat": chat,
            "date": int(time.time()),
        }
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None and "inline_keyboard" in markup:  # only inline keyboards belong to a message
            message["reply_markup"] = markup
        key = (chat["id"], message["message_id"])
        self._messages[key] = message
        self._raw_texts[key] = raw
        return message

    @staticmethod
    def _with_text(content: dict[str, Any], key: str, plain: str | None, entities: list, entities_key: str) -> None:
        if plain is not None:
            content[key] = plain
            if entities:
                content[entities_key] = entities

    def _resolve_file(self, value: Any, files: dict[str, UploadedFile], field: str) -> UploadedFile | StoredFile:
        """What a file parameter points to: a new upload or a stored file (by file_id)."""
        if value is None:
            upload = files.get(field)
            if upload is None:
                raise bad_request(f"there is no {field} in the request")
            return upload
        if not isinstance(value, str):
            raise bad_request(f"wrong type of the {field} parameter")
        if value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
            if upload is None:
                raise bad_request(f"there is no {field} in the request")
            return upload
        stored = self._files.get(value)
        if stored is not None:
            return stored
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _photo_input(self, value: Any, files: dict[str, UploadedFile], field: str) -> tuple[list, int | None]:
        source = self._resolve_file(value, files, field)
        if isinstance(source, StoredFile):
            if source.kind != "photo":
                raise bad_request("type of file mismatch")
            return self._photo_sets[source.file_id], None
        if not source.data:
            raise bad_request("file must be non-empty")
        return self._store_photo(source.data, strict=True), len(source.data)

    def _document_input(self, value: Any, files: dict[str, UploadedFile], field: str) -> tuple[dict, int | None]:
        source = self._resolve_file(value, files, field)
        if isinstance(source, StoredFile):
            if source.kind != "document":
                raise bad_request("type of file mismatch")
            return source.as_document(), None
        if not source.data:
            raise bad_request("file must be non-empty")
        file_name = source.filename or "document"
        mime_type = source.content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._store_file(source.data, "document", file_name=file_name, mime_type=mime_type)
        return stored.as_document(), len(source.data)

    def _editable_message(self, params: Params) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the fake server")
        chat = self._chat_for_bot(params.get_chat_id())
        message_id = params.get_int("message_id", required=True)
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if not self._is_bot_message(message):
            raise bad_request("message can't be edited")
        return message

    def _store_edit(
        self, method: str, old: dict[str, Any], new: dict[str, Any], raw: dict[str, Any], markup: Any, params: Params
    ) -> dict[str, Any]:
        def content(message: dict[str, Any]) -> tuple:
            return tuple(
                message.get(key) for key in ("text", "entities", "caption", "caption_entities", "reply_markup")
            )

        if content(old) == content(new):
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        key = (new["chat"]["id"], new["message_id"])
        self._messages[key] = new
        self._raw_texts[key] = {**self._raw_texts.get(key, {}), **raw}
        self._record(method, new, reply_markup=markup, parse_mode=params.get_str("parse_mode"))
        return new

    # ------------------------------------------------------------------ bot and updates

    def _get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = params.get_int("offset")
        limit = min(100, max(1, params.get_int("limit") or 100))
        timeout = max(0.0, params.get_float("timeout") or 0.0)
        allowed = params.get_json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) or None
        if offset is not None:
            if offset < 0:
                del self._updates[: max(0, len(self._updates) + offset)]
            else:
                self._updates = [update for update in self._updates if update["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._changed.notify_all()  # an older long poll is now terminated (409)
        deadline = time.monotonic() + timeout
        while True:
            if self._closed:
                return []
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            if self._updates:
                return list(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._changed.wait(remaining)

    def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        if not url:
            self._webhook = None
            return True
        if not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {"url": url, "allowed_updates": params.get_json("allowed_updates")}
        self._changed.notify_all()  # a waiting getUpdates keeps waiting; the next one gets 409
        return True

    def _delete_webhook(self, params: Params) -> bool:
        self._webhook = None
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook and self._webhook.get("allowed_updates"):
            info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

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

    # ------------------------------------------------------------------ sending

    def _send_message(self, params: Params) -> dict[str, Any]:
        chat = self._target_chat(params)
        raw, plain, entities = self._text(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat)
        content: dict[str, Any] = {}
        self._with_text(content, "text", plain, entities, "entities")
        message = self._bot_message(chat, content, markup=markup, reply_to=reply_to, raw={"text": raw})
        self._record(
            "sendMessage",
            message,
            reply_markup=markup,
            parse_mode=params.get_str("parse_mode"),
            disable_notification=params.get_bool("disable_notification"),
        )
        return message

    def _send_photo(self, params: Params) -> dict[str, Any]:
        return self._send_file(params, "sendPhoto", "photo", self._photo_input)

    def _send_document(self, params: Params) -> dict[str, Any]:
        return self._send_file(params, "sendDocument", "document", self._document_input)

    def _send_file(self, params: Params, method: str, field: str, read_input) -> dict[str, Any]:
        """sendPhoto / sendDocument: a file (uploaded or by file_id) with an optional caption."""
        chat = self._target_chat(params)
        raw, plain, entities = self._caption(params)
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat)
        value, upload_size = read_input(params.raw(field), params.files, field)
        content: dict[str, Any] = {field: value}
        self._with_text(content, "caption", plain, entities, "caption_entities")
        message = self._bot_message(chat, content, markup=markup, reply_to=reply_to, raw={"caption": raw})
        self._record(
            method,
            message,
            reply_markup=markup,
            parse_mode=params.get_str("parse_mode"),
            disable_notification=params.get_bool("disable_notification"),
            upload_size=upload_size,
        )
        return message

    def _send_media_group(self, params: Params) -> list[dict[str, Any]]:
        chat = self._target_chat(params)
        media = params.get_json("media")
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media in the group: send 2-10 items")
        kinds = {item.get("type") for item in media}
        if not kinds <= {"photo", "document"}:
            raise bad_request(f"the fake server supports photo and document media only, got {sorted(map(str, kinds))}")
        if len(kinds) > 1:
            raise bad_request("document can't be mixed with other media types")
        reply_to = self._reply_target(params, chat)
        prepared = []  # validate everything before creating any message (no partial albums)
        for item in media:
            item_params = Params(
                {key: item.get(key) for key in ("caption", "parse_mode", "caption_entities")}, params.files
            )
            raw, plain, entities = self._caption(item_params)
            if item["type"] == "photo":
                sizes, upload_size = self._photo_input(item.get("media"), params.files, "media")
                content: dict[str, Any] = {"photo": sizes}
            else:
                document, upload_size = self._document_input(item.get("media"), params.files, "media")
                content = {"document": document}
            self._with_text(content, "caption", plain, entities, "caption_entities")
            prepared.append((content, raw, upload_size, item.get("parse_mode")))
        media_group_id = str(next(self._media_group_ids))
        messages = []
        for content, raw, upload_size, parse_mode in prepared:
            message = self._bot_message(
                chat, content, markup=None, reply_to=reply_to, raw={"caption": raw}, media_group_id=media_group_id
            )
            self._record(
                "sendMediaGroup",
                message,
                parse_mode=parse_mode,
                disable_notification=params.get_bool("disable_notification"),
                upload_size=upload_size,
            )
            messages.append(message)
        return messages

    def _send_chat_action(self, params: Params) -> bool:
        chat = self._target_chat(params)
        action = params.get_str("action", required=True)
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._chat_actions.append({"chat_id": chat["id"], "action": action, "date": int(time.time())})
        self._changed.notify_all()
        return True

    # ------------------------------------------------------------------ files

    def _get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.get_str("file_id", required=True)
        stored = self._files.get(file_id or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > FILE_DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return stored.as_file()

    # ------------------------------------------------------------------ editing and deleting

    def _edit_message_text(self, params: Params) -> dict[str, Any]:
        message = self._editable_message(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        raw, plain, entities = self._text(params)
        markup = self._reply_markup(params, inline_only=True)
        new = {key: value for key, value in message.items() if key not in ("text", "entities", "reply_markup")}
        self._with_text(new, "text", plain, entities, "entities")
        if markup is not None:
            new["reply_markup"] = markup
        return self._store_edit("editMessageText", message, new, {"text": raw}, markup, params)

    def _edit_message_caption(self, params: Params) -> dict[str, Any]:
        message = self._editable_message(params)
        if "photo" not in message and "document" not in message:
            raise bad_request("there is no caption in the message to edit")
        raw, plain, entities = self._caption(params)
        markup = self._reply_markup(params, inline_only=True)
        drop = ("caption", "caption_entities", "reply_markup")
        new = {key: value for key, value in message.items() if key not in drop}
        self._with_text(new, "caption", plain, entities, "caption_entities")
        if markup is not None:
            new["reply_markup"] = markup
        return self._store_edit("editMessageCaption", message, new, {"caption": raw}, markup, params)

    def _edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        message = self._editable_message(params)
        markup = self._reply_markup(params, inline_only=True)
        new = {key: value for key, value in message.items() if key != "reply_markup"}
        if markup is not None:
            new["reply_markup"] = markup
        return self._store_edit("editMessageReplyMarkup", message, new, {}, markup, params)

    def _delete_message(self, params: Params) -> bool:
        chat = self._chat_for_bot(params.get_chat_id())
        message_id = params.get_int("message_id", required=True)
        key = (chat["id"], message_id)
        if self._messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        self._raw_texts.pop(key, None)
        self._deleted.append({"chat_id": key[0], "message_id": key[1]})
        self._changed.notify_all()
        return True

    def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id", required=True)
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query = self._open_callbacks.pop(query_id or "", None)
        if query is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        self._answered.append(
            {
                "callback_query_id": query_id,
                **query,
                "text": text,
                "show_alert": params.get_bool("show_alert"),
                "url": params.get_str("url"),
                "cache_time": params.get_int("cache_time"),
            }
        )
        self._changed.notify_all()
        return True
