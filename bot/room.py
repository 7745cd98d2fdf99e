"""Keeping the review group a clinicians' room (see :mod:`dermvqa.casework.review_room`).

Two ways to notice a stranger, because a bot without admin rights sees only some of them:
- the service message of a join (``new_chat_members``), which every bot in a group receives, privacy
  mode or not; and ``chat_member`` updates, which only an administrator bot receives;
- the member count (``getChatMemberCount``, allowed to any member): at start, every
  ``[review] room_check_minutes``, and whenever the clinician list is reloaded. More members than
  clinicians plus the bot means someone else is there.
Either locks the room; the operator unlocks it with ``dermbot room ack``.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, ChatMember, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.deps import Deps, deps
from bot.roster import ClinicianRoster
from bot.wake import wait_either
from dermvqa.casework.review_room import lock_room, strangers, too_many_members

logger = logging.getLogger(__name__)

PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}


async def _lock_for(d: Deps, chat_id: int, reason: str) -> bool:
    """Lock the room (the clinicians are warned through the outbox); True when it was not locked yet."""
    if not await d.call(lock_room, d.db, chat_id, reason, d.roster.ids):
        return False
    logger.warning("review group locked: %s", reason)
    d.nudge()
    return True


async def members_joined(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The service message "X joined" in the review group."""
    d = deps(context)
    joined = [user.id for user in update.effective_message.new_chat_members or ()]
    others = strangers(joined, d.roster.ids, context.bot.id)
    if others:
        await _lock_for(d, update.effective_chat.id, f"user {others[0]} (not a clinician) joined the group")


async def member_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A ``chat_member`` update (the bot is an administrator of the review group)."""
    d = deps(context)
    change = update.chat_member
    member = change.new_chat_member
    present = member.status in PRESENT and (member.status != ChatMember.RESTRICTED or member.is_member)
    if present and strangers([member.user.id], d.roster.ids, context.bot.id):
        await _lock_for(d, change.chat.id, f"user {member.user.id} (not a clinician) joined the group")


class RoomGuard:
    """Counts the review group's members now and then, and locks the room when they are too many."""

    def __init__(self, bot: Bot, d: Deps, roster: ClinicianRoster, chat_id: int, every_seconds: float) -> None:
        self.bot, self.d, self.roster, self.chat_id = bot, d, roster, chat_id
        self.every_seconds = every_seconds
        self._wake = asyncio.Event()

    def recheck(self) -> None:
        """Count again now (the clinician list changed)."""
        self._wake.set()

    async def check(self) -> bool:
        """One look at the group (its history setting, its member count); True when it locked the room."""
        try:
            chat = await self.bot.get_chat(self.chat_id)
            count = await self.bot.get_chat_member_count(self.chat_id)
        except TelegramError as exc:
            logger.warning("could not look at the review group: %s", type(exc).__name__)
            return False
        # Telegram shows this setting to administrators only; a bot that sees it set refuses the room,
        # since a newcomer (a stranger among them) could scroll back through every earlier case.
        if getattr(chat, "has_visible_history", False):
            reason = "new members can read the group's earlier messages (set 'Chat history for new members' to Hidden)"
            return await _lock_for(self.d, self.chat_id, reason)
        if not too_many_members(count, self.roster.ids):
            return False
        reason = f"the group has {count} members, more than the {len(self.roster.ids)} clinicians and the bot"
        return await _lock_for(self.d, self.chat_id, reason)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            await self.check()
            await wait_either(stop, self._wake, self.every_seconds)
