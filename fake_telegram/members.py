"""Group membership in the fake Bot API server, as Telegram shows it to a bot without admin rights.

A user joining or leaving a group produces a service message (``new_chat_members`` /
``left_chat_member``), which Telegram delivers to every bot in the group, privacy mode or not. A
``chat_member`` update is sent only to bots that are administrators of the group (and only when
``allowed_updates`` asks for it), as on Telegram. ``getChatMemberCount`` counts the bot too.
"""

from __future__ import annotations

import time
from typing import Any

from fake_telegram.state import Params

_NO_GIFTS = {
    "unlimited_gifts": False,
    "limited_gifts": False,
    "unique_gifts": False,
    "premium_subscription": False,
    "gifts_from_channels": False,
}


class Membership:
    """Mixed into the fake bot: members per group, joins, leaves, the admin flag and the count."""

    def _member_sets(self) -> dict[int, set[int]]:
        return self.__dict__.setdefault("_group_members", {})

    def _admin_chats(self) -> set[int]:
        return self.__dict__.setdefault("_group_admin_chats", set())

    def set_bot_admin(self, chat_id: int, admin: bool = True) -> None:
        """Make the bot an administrator of the group (it then also gets ``chat_member`` updates)."""
        with self._lock:
            (self._admin_chats().add if admin else self._admin_chats().discard)(chat_id)

    def chat_members(self, chat_id: int) -> set[int]:
        with self._lock:
            return set(self._member_sets().get(chat_id, set()))

    def add_chat_member(self, chat_id: int, user_id: int, *, announce: bool = True, **fields: Any) -> None:
        """``user_id`` joins the group; with ``announce``, the bot sees it as Telegram shows it."""
        self._change_membership(chat_id, user_id, joined=True, announce=announce, fields=fields)

    def remove_chat_member(self, chat_id: int, user_id: int, *, announce: bool = True) -> None:
        self._change_membership(chat_id, user_id, joined=False, announce=announce, fields={})

    def _change_membership(
        self, chat_id: int, user_id: int, *, joined: bool, announce: bool, fields: dict[str, Any]
    ) -> None:
        if chat_id >= 0:
            raise ValueError("only groups (negative chat ids) have members")
        with self._lock:
            user, chat = self._user(user_id, **fields), self._chat(chat_id)
            members = self._member_sets().setdefault(chat_id, set())
            if (user_id in members) == joined:
                return
            (members.add if joined else members.discard)(user_id)
            if not announce:
                return
            now = int(time.time())
            message = {
                "message_id": self._new_message_id(chat_id),
                "from": user,
                "chat": chat,
                "date": now,
                **({"new_chat_members": [user]} if joined else {"left_chat_member": user}),
            }
            self._messages[(chat_id, message["message_id"])] = message
            self._push_update("message", message)
            if chat_id in self._admin_chats():
                before, after = ("left", "member") if joined else ("member", "left")
                self._push_update(
                    "chat_member",
                    {
                        "chat": chat,
                        "from": user,
                        "date": now,
                        "old_chat_member": {"status": before, "user": user},
                        "new_chat_member": {"status": after, "user": user},
                    },
                )

    def set_visible_history(self, chat_id: int, visible: bool = True) -> None:
        """The group setting "chat history for new members": visible (True) or hidden (the default here)."""
        with self._lock:
            histories = self.__dict__.setdefault("_group_visible_history", {})
            histories[chat_id] = visible

    def _get_chat(self, params: Params) -> dict[str, Any]:
        """getChat: a ChatFullInfo. ``has_visible_history`` is shown to administrators only, as on Telegram."""
        chat = dict(self._target_chat(params))
        chat.update({"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": _NO_GIFTS})
        if chat["type"] != "private" and chat["id"] in self._admin_chats():
            visible = self.__dict__.get("_group_visible_history", {}).get(chat["id"], False)
            if visible:
                chat["has_visible_history"] = True
        return chat

    def _get_chat_member_count(self, params: Params) -> int:
        chat = self._target_chat(params)
        if chat["type"] == "private":
            return 2
        return len(self._member_sets().get(chat["id"], set())) + 1  # the bot is a member too
