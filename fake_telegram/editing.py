"""Methods of the fake Telegram server that act on messages already sent.

editMessageText, editMessageCaption, editMessageReplyMarkup and editMessageMedia (editing a message into
its current content is "message is not modified", as on Telegram), deleteMessage (only within 48 hours
of sending, see :meth:`~fake_telegram.state.FakeBotState.age_message`) and answerCallbackQuery.
"""

from __future__ import annotations

import time
from typing import Any

from fake_telegram.errors import bad_request
from fake_telegram.limits import CALLBACK_ANSWER_LIMIT
from fake_telegram.params import Params
from fake_telegram.parsemode import utf16_len

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
DELETE_WINDOW_SECONDS = 48 * 3600  # deleteMessage refuses messages sent longer ago (see age_message)


class Editing:
    """Mixed into :class:`~fake_telegram.methods.BotApi`: editing, deleting, answering callback queries.

    Builds on the helpers of :class:`~fake_telegram.sending.Sending`, under the state lock (``BotApi.call``).
    """

    # ------------------------------------------------------------------ shared helpers

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
                message.get(key)
                for key in ("text", "entities", "caption", "caption_entities", "reply_markup", "photo", "document")
            )

        if content(old) == content(new):
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        key = (new["chat"]["id"], new["message_id"])
        self._messages[key] = new
        self._raw_texts[key] = {**self._raw_texts.get(key, {}), **raw}
        self._record(method, new, reply_markup=markup, parse_mode=params.get_str("parse_mode"))
        return new

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

    def _edit_message_media(self, params: Params) -> dict[str, Any]:
        """A photo or document message's file (and caption) replaced; a text message cannot take media."""
        message = self._editable_message(params)
        media = params.get_json("media")
        if not isinstance(media, dict) or media.get("type") not in ("photo", "document"):
            raise bad_request("the fake server supports photo and document media only")
        if "photo" not in message and "document" not in message:
            raise bad_request("there is no media in the message to edit")
        item_params = Params(
            {key: media.get(key) for key in ("caption", "parse_mode", "caption_entities")}, params.files
        )
        raw, plain, entities = self._caption(item_params)
        if media["type"] == "photo":
            content: dict[str, Any] = {"photo": self._photo_input(media.get("media"), params.files, "media")[0]}
        else:
            content = {"document": self._document_input(media.get("media"), params.files, "media")[0]}
        markup = self._reply_markup(params, inline_only=True)
        drop = ("photo", "document", "caption", "caption_entities", "reply_markup")
        new = {key: value for key, value in message.items() if key not in drop}
        new.update(content)
        self._with_text(new, "caption", plain, entities, "caption_entities")
        if markup is not None:
            new["reply_markup"] = markup
        return self._store_edit("editMessageMedia", message, new, {"caption": raw}, markup, params)

    def _delete_message(self, params: Params) -> bool:
        chat = self._chat_for_bot(params.get_chat_id())
        message_id = params.get_int("message_id", required=True)
        key = (chat["id"], message_id)
        message = self._messages.get(key)
        if message is not None and time.time() - message["date"] > DELETE_WINDOW_SECONDS:
            raise bad_request("message can't be deleted")  # Telegram: only within 48 hours of sending
        if self._messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        self._raw_texts.pop(key, None)
        self._deleted.append({"chat_id": key[0], "message_id": key[1]})
        self._changed.notify_all()
        return True

    def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id", required=True)
        text = params.get_str("text")
        if text is not None and utf16_len(text) > CALLBACK_ANSWER_LIMIT:
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
