"""Sending methods of the fake Telegram server, and the checks every outgoing message goes through.

sendMessage, sendPhoto, sendDocument, sendMediaGroup, sendChatAction and getFile, plus the helpers
the editing methods share: formatted texts and captions (``parse_mode`` or entities; lengths in UTF-16
code units), reply markup (callback_data of 1-64 bytes, ForceReply placeholders), reply targets, and
file parameters (an upload, ``attach://`` or a file id; a file id of the wrong kind is a "type of file
mismatch").
"""

from __future__ import annotations

import mimetypes
import time
from typing import Any

from fake_telegram.errors import bad_request
from fake_telegram.files import StoredFile, UploadedFile
from fake_telegram.limits import CALLBACK_DATA_LIMIT, CAPTION_LIMIT, FILE_DOWNLOAD_LIMIT, PLACEHOLDER_LIMIT, TEXT_LIMIT
from fake_telegram.params import Params
from fake_telegram.parsemode import EntityParseError, parse_formatted_text, utf16_len

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


class Sending:
    """Mixed into :class:`~fake_telegram.methods.BotApi`: the sending methods and the shared helpers.

    Works on the state of :class:`~fake_telegram.state.FakeBotState`, under its lock (``BotApi.call``).
    """

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
        elif "force_reply" in markup:
            placeholder = markup.get("input_field_placeholder")
            if placeholder is not None and (
                not isinstance(placeholder, str) or not 1 <= utf16_len(placeholder) <= PLACEHOLDER_LIMIT
            ):
                raise bad_request("can't parse reply keyboard markup JSON object: placeholder must be 1-64 characters")
        elif not any(key in markup for key in ("keyboard", "remove_keyboard")):
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
        if markup is not None and markup.get("force_reply"):  # clients act on it; the Message does not show it
            self._force_replies[key] = markup
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
