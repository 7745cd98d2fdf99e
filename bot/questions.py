"""Handlers of the structured intake: the closed questions after the description (``cq:`` buttons).

Thin: parse the button, call ``dermvqa.casework.intake_questions`` (state in the database, so the
questions resume after a restart), render the steps (``bot.question_views``). Messages go through
the outbox like every reply; a multi-choice toggle redraws its own buttons in place.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import question_views as views
from bot.delivery import keyboard
from bot.deps import deps
from bot.replies import best_effort, reply
from bot.telegram_limits import CALLBACK_ANSWER_LIMIT, truncate
from dermvqa.casework import intake_questions
from dermvqa.casework import questionnaire as qn
from dermvqa.casework.intake_questions import Outcome

logger = logging.getLogger(__name__)


async def after_description(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """After "Description saved": the pre-fill, or the first question (nothing when one is open)."""
    d = deps(context)
    outcome = await d.call(intake_questions.after_description, d.db, update.effective_user.id)
    await _show(update, context, outcome)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any ``cq:`` button: an option, Skip, Done, the pre-fill's Correct/Change, Change an answer."""
    d = deps(context)
    query = update.callback_query
    press = views.parse(query.data or "")
    user_id = update.effective_user.id
    if press is None:
        await best_effort(query.answer(), "answering a button")
        return
    calls = {
        "o": lambda: (intake_questions.press_option, press.case_id, press.serial, int(press.arg or 0)),
        "s": lambda: (intake_questions.press_skip, press.case_id, press.serial),
        "d": lambda: (intake_questions.press_done, press.case_id, press.serial),
        "ok": lambda: (intake_questions.confirm_prefill, press.case_id, press.serial),
        "ch": lambda: (intake_questions.change_prefill, press.case_id, press.serial),
        "e": lambda: (intake_questions.ask_change, press.case_id),
        "p": lambda: (intake_questions.reopen, press.case_id, press.arg),
    }
    function, *args = calls[press.verb]()
    outcome: Outcome = await d.call(function, d.db, user_id, *args)
    if outcome.stale:
        await _remove_buttons(update)
        await reply(context, update.effective_chat.id, d.texts.question_closed_case())
        return
    redraw = next((s for s in outcome.steps if isinstance(s, qn.Redraw)), None)
    notice = next((s for s in outcome.steps if isinstance(s, qn.Notice)), None)
    if redraw is not None:  # a toggle: the same message, its buttons redrawn with the check marks
        markup = keyboard(views.question_buttons(redraw.ask, press.case_id, d.texts))
        await best_effort(query.answer(), "answering a button")
        try:
            await query.edit_message_reply_markup(markup)
        except TelegramError as exc:  # the stored choice is not on screen: ask again (the same serial)
            logger.info("redrawing toggled buttons failed: %s", type(exc).__name__)
            if "not modified" not in str(exc):
                text, buttons = views.question(redraw.ask, press.case_id, d.texts)
                await reply(context, update.effective_chat.id, text, buttons)
        return
    if notice is not None and notice.code == "too_many":
        note = truncate(d.texts.too_many_choices(notice.limit), CALLBACK_ANSWER_LIMIT)
        await best_effort(query.answer(note, show_alert=True), "answering a button")
        return
    await _remove_buttons(update)
    if notice is not None:  # an answered or replaced message: its buttons are gone now, nothing changed
        await reply(context, update.effective_chat.id, d.texts.question_old())
        return
    await _show(update, context, outcome)


async def _remove_buttons(update: Update) -> None:
    query = update.callback_query
    await best_effort(query.answer(), "answering a button")
    await best_effort(query.edit_message_reply_markup(None), "removing used buttons")


async def _show(update: Update, context: ContextTypes.DEFAULT_TYPE, outcome: Outcome) -> None:
    if outcome.case_id is None:
        return
    texts = deps(context).texts
    for step in outcome.steps:
        rendered = views.message(step, outcome.case_id, texts)
        if rendered is not None:
            text, buttons = rendered
            await reply(context, update.effective_chat.id, text, buttons)
