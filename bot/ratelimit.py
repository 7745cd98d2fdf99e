"""The flood guard (handler group -2, before everything else): a patient sending updates faster than
``[intake] rate_burst`` / ``rate_per_minute`` has the excess dropped before any download or database
work, and is told once per flood episode (a button tap counts as a quarter). Clinicians and group
chats are never limited."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.deps import deps
from bot.replies import reply
from dermvqa.ratelimit import RateLimiter, Verdict

logger = logging.getLogger(__name__)

KEY = "rate_limiter"
# A tap on one of the bot's own buttons costs a quarter of a message or a file: the intake's questions
# are a dozen taps in a minute, and a tap carries no download. Four times as many taps as messages
# still keeps a flood of them bounded.
TAP_COST = 0.25


def _limiter(context: ContextTypes.DEFAULT_TYPE) -> RateLimiter | None:
    data = context.application.bot_data
    if KEY not in data:
        intake = deps(context).config.intake
        data[KEY] = RateLimiter(intake.rate_per_minute, intake.rate_burst) if intake.rate_per_minute > 0 else None
    return data[KEY]


async def limit_rate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    d = deps(context)
    limiter = _limiter(context)
    if limiter is None or d.is_clinician(user.id):
        return
    verdict = limiter.check(user.id, TAP_COST if update.callback_query is not None else 1.0)
    if verdict is Verdict.PASS:
        return
    if verdict is Verdict.WARN:
        logger.info("chat %s sends too fast: dropping its updates for a while", chat.id)
        await reply(context, chat.id, d.texts.too_fast())
    raise ApplicationHandlerStop
