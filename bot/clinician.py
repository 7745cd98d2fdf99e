"""Clinician handlers: the review buttons, Edit and Reject with their text, and the commands
``/queue``, ``/case ID``, ``/stats [PERIOD]`` (figures and a chart) and ``/templates`` (canned replies,
offered as buttons when Edit asks for the text).

Every action is authorised here (the user id must be in ``[review] clinician_ids``); anyone else
is told "not authorised", the attempt is logged, and nothing changes. The unfinished Edit/Reject
lives in the database, so a restart between the button and the text loses nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes, ConversationHandler

from bot.console_view import console_text, template_list_text, template_offer_parts
from bot.deps import Deps, deps
from bot.rendering import prompt_part, queue_text, stats_text
from bot.replies import best_effort, reply, reply_parts
from bot.telegram_limits import CALLBACK_ANSWER_LIMIT, truncate
from dermvqa.casework import review, templates
from dermvqa.casework.alerts import load_attention
from dermvqa.casework.console import load_rows
from dermvqa.casework.posts import PostRef
from dermvqa.casework.review import Decision
from dermvqa.casework.review_room import room_state
from dermvqa.errors import UsageError
from dermvqa.metrics.period import parse_stats_period
from dermvqa.metrics.review_figures import console_figures
from dermvqa.storage.database import Database
from dermvqa.storage.models import utcnow
from dermvqa.storage.outbox import REVIEW_REQUEST, add_message

logger = logging.getLogger(__name__)


class ReviewState(enum.IntEnum):
    AWAITING_TEXT = enum.auto()
    AWAITING_CONFIRM = enum.auto()


ACTIONS = {"approve": review.APPROVE, "edit": review.EDIT, "reject": review.REJECT, "regen": review.REGENERATE}


def _name(update: Update) -> str:
    user = update.effective_user
    return user.full_name or str(user.id)


async def _refuse_stranger(update: Update, context: ContextTypes.DEFAULT_TYPE, action: str) -> bool:
    """False for a clinician; a stranger is told "not authorised" and the update goes no further."""
    d = deps(context)
    user = update.effective_user
    if d.is_clinician(user.id if user else None):
        return False
    logger.warning(
        "unauthorised clinician action %r by user %s in chat %s",
        action,
        user.id if user else None,
        update.effective_chat.id if update.effective_chat else None,
    )
    if update.callback_query:
        await best_effort(update.callback_query.answer(d.texts.not_authorised, show_alert=True), "answering a button")
    else:
        await reply(context, update.effective_chat.id, d.texts.not_authorised)
    raise ApplicationHandlerStop  # no other handler (e.g. the patient flow) may act on it either


def _lost_message(decision: Decision) -> str:
    if decision.reason == "missing":
        return f"Case #{decision.case_id} no longer exists (the patient may have deleted it)."
    if decision.reason == "unrecorded":
        return f"This post of case #{decision.case_id} is still being delivered; try again in a moment."
    if decision.reason == "outdated":
        return f"Case #{decision.case_id} has a newer draft; use the newest post."
    if decision.reason == "empty":
        return f"The answer to case #{decision.case_id} would be empty, so nothing was sent. Use Edit to write one."
    if decision.reason == "safety_check":
        return SAFETY_CHECK_ALERT
    if decision.reason == "checked":
        return f"This post of case #{decision.case_id} was a safety check that is over; use the newest post."
    if decision.reason == "confirm_urgent":
        return f"Case #{decision.case_id} is urgent: confirm in the message below that you checked the urgent advice."
    who = f" by clinician {decision.last_actor}" if decision.last_actor else ""
    state = decision.state.value if decision.state else "changed"
    return f"Already handled{who}: case #{decision.case_id} is now {state}. Nothing was changed."


SAFETY_CHECK_ALERT = (
    "Safety check: this was a planted faulty draft. Nothing was sent to the patient. The post now says what "
    "was wrong, and the real draft is posted again for review."
)
URGENT_CONFIRM = "uok"  # rv:uok:<case>:<draft>:<review post message id>, under the urgent-advice question

_UNRECORDED_RETRIES, _UNRECORDED_WAIT = 40, 0.1  # a post's send is recorded milliseconds after it goes out


async def _decide(d: Deps, fn, *args, **kwargs) -> Decision:
    """A review decision; asked again while the post's send is not yet recorded."""
    decision = await d.call(fn, *args, **kwargs)
    for _ in range(_UNRECORDED_RETRIES):
        if decision.reason != "unrecorded":
            break
        await asyncio.sleep(_UNRECORDED_WAIT)
        decision = await d.call(fn, *args, **kwargs)
    return decision


def _pressed_post(update: Update) -> PostRef | None:
    """The message the button is on (an inaccessible old message still names its chat and id)."""
    message = update.callback_query.message
    if message is None:  # a button on an inline message: never a review post
        return None
    return PostRef(message.chat.id, message.message_id)


async def review_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ReviewState | int | None:
    """rv:<action>:<case>:<draft> pressed under a review post.

    The button acts only on the case and draft of the recorded post it is on (checked with the
    decision, in one transaction): a leftover post of a deleted case changes nothing.
    """
    d = deps(context)
    query = update.callback_query
    if (query.data or "").startswith(f"rv:{URGENT_CONFIRM}:"):
        return await _urgent_confirmed(update, context)
    try:
        _, action_code, case_text, draft_text = (query.data or "").split(":")
        action, case_id, draft_id = ACTIONS[action_code], int(case_text), int(draft_text) or None
    except (ValueError, KeyError):
        await best_effort(query.answer("Unknown button."), "answering a button")
        return None
    if await _refuse_stranger(update, context, f"button {action}"):
        return ConversationHandler.END
    user, chat = update.effective_user, update.effective_chat
    post = _pressed_post(update)
    if post is None:
        await best_effort(query.answer("Unknown button."), "answering a button")
        return None
    if action == review.APPROVE:
        decision = await _decide(
            d, review.approve, d.db, case_id, draft_id or 0, user.id, clinician_name=_name(update), post=post
        )
        if decision.reason == "confirm_urgent":
            await _ask_urgent_confirmation(context, d, chat.id, case_id, draft_id, post, decision.flags)
        return await _answer(update, d, decision, f"Approved: the answer to case #{case_id} is on its way.")
    if action == review.REGENERATE:
        decision = await _decide(
            d,
            review.regenerate,
            d.db,
            case_id,
            user.id,
            clinician_name=_name(update),
            max_attempts=d.config.worker.max_attempts,
            draft_id=draft_id,
            post=post,
        )
        return await _answer(update, d, decision, f"A new draft for case #{case_id} is queued.")
    if await _room_locked(d, chat.id):  # the preview and the reason would be shown to a non-clinician
        alert = truncate(d.texts.room_locked(case_id), CALLBACK_ANSWER_LIMIT)
        await best_effort(query.answer(alert, show_alert=True), "answering a button")
        return ConversationHandler.END
    started = await _decide(d, review.begin_session, d.db, user.id, chat.id, case_id, draft_id, action, post=post)
    if not started.ok:
        if started.reason == "safety_check":
            return await _answer(update, d, started, "")
        state = started.state.value if started.state else "gone"
        refusal = f"Case #{case_id} is {state}: nothing to {action}." if started.reason == "handled" else None
        await best_effort(query.answer(refusal or _lost_message(started), show_alert=True), "answering a button")
        return ConversationHandler.END
    await best_effort(query.answer(), "answering a button")
    prompt = d.texts.edit_prompt(case_id) if action == review.EDIT else d.texts.reject_prompt(case_id)
    offer = await _template_offer(d, user.id, case_id) if action == review.EDIT else []
    await _ask_for_text(update, context, prompt, d.texts.text_placeholder(action, case_id), offer)
    return ReviewState.AWAITING_TEXT


async def _ask_urgent_confirmation(
    context: ContextTypes.DEFAULT_TYPE,
    d: Deps,
    chat_id: int,
    case_id: int,
    draft_id: int | None,
    post: PostRef,
    labels: tuple[str, ...],
) -> None:
    """A red-flag case: show the urgent advice the answer will start with; only its button approves.
    ``labels``: the red flags the approval found (no second read of the case)."""
    text = (
        f"Case #{case_id} is URGENT ({', '.join(labels)}). The patient's answer will start with this advice:\n\n"
        f"{d.texts.urgent_advice(list(labels))}\n\nCheck that the draft fits it; nothing is sent until you confirm."
    )
    data = f"rv:{URGENT_CONFIRM}:{case_id}:{draft_id or 0}:{post.message_id}"
    once = f"uok:{case_id}:{draft_id or 0}:{chat_id}"  # a double tap of Approve asks once
    await reply(
        context, chat_id, text, [[["I checked the urgent advice: approve", data]]], case_id=case_id, dedupe_key=once
    )


async def _urgent_confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """rv:uok:<case>:<draft>:<post>: the explicit confirmation that approves a red-flag case. The
    review post it names is checked like a pressed one; a second press finds the case handled."""
    d = deps(context)
    query = update.callback_query
    try:
        _, _, case_text, draft_text, post_text = (query.data or "").split(":")
        case_id, draft_id, message_id = int(case_text), int(draft_text), int(post_text)
    except ValueError:
        await best_effort(query.answer("Unknown button."), "answering a button")
        return None
    if await _refuse_stranger(update, context, "button urgent confirm"):
        return ConversationHandler.END
    user, chat = update.effective_user, update.effective_chat
    decision = await _decide(
        d,
        review.approve,
        d.db,
        case_id,
        draft_id,
        user.id,
        clinician_name=_name(update),
        post=PostRef(chat.id, message_id),
        urgent_checked=True,
    )
    await best_effort(query.edit_message_reply_markup(None), "removing used buttons")
    return await _answer(update, d, decision, f"Approved: the answer to case #{case_id} is on its way.")


async def _answer(update: Update, d: Deps, decision: Decision, success: str) -> int:
    query = update.callback_query
    if decision.ok:
        d.nudge()
        await best_effort(query.answer(success), "answering a button")
    else:
        if decision.reason == "safety_check":  # the planted post is closed and the real draft posted again
            d.nudge()
        await best_effort(query.answer(_lost_message(decision), show_alert=True), "answering a button")
    return ConversationHandler.END


async def _ask_for_text(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    placeholder: str,
    extra: list[dict[str, Any]] | None = None,
) -> None:
    """Ask the clinician for a text with a selective ForceReply; in a group the prompt names them.
    ``extra``: parts sent right after the prompt (the clinician's templates as buttons).

    A bot in privacy mode (Telegram's default in groups) receives only commands and replies to its
    own messages, so in a group the clinician's text must be a reply to this prompt: the mention
    makes their client (and only theirs) open the reply.
    """
    user, chat = update.effective_user, update.effective_chat
    mention = None if chat.type == ChatType.PRIVATE else (user.id, _name(update))
    await reply_parts(context, chat.id, [prompt_part(text, placeholder, mention), *(extra or [])])


def answers_prompt(message: Message, bot_id: int, user_id: int) -> bool:
    """Whether a group message is ``user_id``'s reply to the bot's prompt naming them.

    Anything else a clinician writes in the group (a reply to a colleague, to a review post, or to
    another clinician's prompt) is conversation, not their corrected answer or reason.
    """
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != bot_id:
        return False
    return any(
        entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == user_id
        for entity in target.entities
    )


async def receive_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ReviewState | int | None:
    """The corrected answer (Edit) or the reason (Reject): show what will happen and ask to confirm.

    In a group only a reply to the clinician's own prompt counts (anything else is left alone)."""
    d = deps(context)
    user, chat = update.effective_user, update.effective_chat
    if chat.type != ChatType.PRIVATE and not answers_prompt(update.effective_message, context.bot.id, user.id):
        return None
    if await _room_locked(d, chat.id):  # locked since the prompt: show nothing more here
        await d.call(review.end_session, d.db, user.id, chat.id)
        await reply(context, chat.id, "This group is locked, so nothing was shown or changed; use your private chat.")
        return ConversationHandler.END
    session = await d.call(review.propose_text, d.db, user.id, chat.id, update.effective_message.text or "")
    if session is None:
        return ConversationHandler.END
    if not (session.proposed_text or "").strip():
        placeholder = d.texts.text_placeholder(session.action, session.case_id)
        await _ask_for_text(update, context, d.texts.again_prompt(session.case_id, empty=True), placeholder)
        return ReviewState.AWAITING_TEXT
    await _show_preview(context, d, chat.id, session)
    return ReviewState.AWAITING_CONFIRM


async def _show_preview(context: ContextTypes.DEFAULT_TYPE, d: Deps, chat_id: int, session: review.SessionView) -> None:
    """The confirm step: what the patient will receive (Edit) or the reason and the kind template (Reject)."""
    if session.action == review.EDIT:
        preview = d.texts.answer(session.case_id, session.proposed_text, session.urgent_flags)
        buttons = [
            [[d.texts.send_edit_button, "ed:send"], [d.texts.change_edit_button, "ed:change"]],
            [[d.texts.cancel_edit_button, "ed:cancel"]],
        ]
        header = f"Preview of what the patient of case #{session.case_id} will receive:\n\n"
    else:
        preview = d.texts.rejected(session.case_id)
        buttons = [[[d.texts.confirm_reject_button, "ed:send"]], [[d.texts.cancel_edit_button, "ed:cancel"]]]
        header = (
            f"Reject case #{session.case_id}; reason recorded: {session.proposed_text}\nThe patient will receive:\n\n"
        )
    await reply(context, chat_id, header + preview, buttons, case_id=session.case_id)  # erased with the case


async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ReviewState | int | None:
    """ed:send / ed:change / ed:cancel under a preview."""
    d = deps(context)
    query = update.callback_query
    if await _refuse_stranger(update, context, "confirm"):
        return ConversationHandler.END
    user, chat = update.effective_user, update.effective_chat
    session = await d.call(review.current_session, d.db, user.id, chat.id)
    await best_effort(query.edit_message_reply_markup(None), "removing used buttons")
    if session is None or session.state != "awaiting_confirm":
        await best_effort(query.answer("Nothing to confirm."), "answering a button")
        return ConversationHandler.END
    if query.data == "ed:change":
        await best_effort(query.answer(), "answering a button")
        placeholder = d.texts.text_placeholder(session.action, session.case_id)
        offer = await _template_offer(d, user.id, session.case_id) if session.action == review.EDIT else []
        await _ask_for_text(update, context, d.texts.again_prompt(session.case_id), placeholder, offer)
        return ReviewState.AWAITING_TEXT
    await d.call(review.end_session, d.db, user.id, chat.id)
    if query.data == "ed:cancel":
        await best_effort(query.answer("Cancelled; nothing was changed."), "answering a button")
        return ConversationHandler.END
    if session.action == review.EDIT:
        decision = await d.call(
            review.approve,
            d.db,
            session.case_id,
            session.draft_id or 0,
            user.id,
            final_text=session.proposed_text,
            clinician_name=_name(update),
            urgent_checked=True,  # the preview the clinician confirmed starts with the urgent advice
        )
        done = f"Sent: your edited answer to case #{session.case_id} is on its way."
    else:
        decision = await d.call(
            review.reject, d.db, session.case_id, user.id, session.proposed_text or "", clinician_name=_name(update)
        )
        done = f"Case #{session.case_id} rejected; the patient will be told to see a doctor in person."
    if decision.ok:
        d.nudge()
        await best_effort(query.answer(), "answering a button")
        await reply(context, chat.id, done)
    else:
        await best_effort(query.answer(), "answering a button")
        await reply(context, chat.id, _lost_message(decision))
    return ConversationHandler.END


async def cancel_session(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    d = deps(context)
    await d.call(review.end_session, d.db, update.effective_user.id, update.effective_chat.id)
    await reply(context, update.effective_chat.id, "Stopped; nothing was changed.")
    return ConversationHandler.END


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ReviewState | int | None:
    """A clinician's text or button with no conversation in memory (e.g. after a restart)."""
    d = deps(context)
    if update.callback_query and (update.callback_query.data or "").startswith("ed:"):
        return await confirm(update, context)
    session = await d.call(review.current_session, d.db, update.effective_user.id, update.effective_chat.id)
    if session is not None:
        return await receive_text(update, context)
    if update.effective_chat.type == "private":
        await reply(
            context,
            update.effective_chat.id,
            "Clinician commands: /queue (waiting cases), /case ID (show a case), /stats [PERIOD], "
            "/templates (your canned replies). "
            "Use the buttons under a case to approve, edit, regenerate or reject it.",
        )
    return ConversationHandler.END


# -- commands --------------------------------------------------------------------------------


async def _room_locked(d: Deps, chat_id: int) -> bool:
    """Is ``chat_id`` the review group while a non-clinician may be in it (see bot/room.py)?"""
    return chat_id == d.config.review.chat_id and (await d.call(room_state, d.db, chat_id)).locked


async def _refuse_elsewhere(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Clinician commands answer only in the review group or in the clinician's own private chat."""
    d = deps(context)
    chat, user = update.effective_chat, update.effective_user
    if chat.id == d.config.review.chat_id or (chat.type == "private" and chat.id == user.id):
        return False
    logger.warning("clinician command refused in chat %s: not the review group", chat.id)
    await reply(context, chat.id, "Clinician commands work only in the review group or in your private chat with me.")
    return True


async def queue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if await _refuse_stranger(update, context, "/queue") or await _refuse_elsewhere(update, context):
        return
    items = await d.call(review.queue_view, d.db)
    watch = await d.call(load_attention, d.db, utcnow(), d.config.review.alert_after)
    await reply(context, update.effective_chat.id, queue_text(items, watch))


async def case_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if await _refuse_stranger(update, context, "/case") or await _refuse_elsewhere(update, context):
        return
    try:
        case_id = int(context.args[0].lstrip("#"))
    except (IndexError, ValueError):
        await reply(context, update.effective_chat.id, "Usage: /case ID, for example /case 12")
        return
    if await _room_locked(d, update.effective_chat.id):
        await reply(context, update.effective_chat.id, d.texts.room_locked(case_id))
        return
    detail = await d.call(review.case_detail, d.db, case_id)
    if detail is None:
        await reply(context, update.effective_chat.id, f"There is no case #{case_id}.")
        return
    await d.call(_queue_post, d.db, update.effective_chat.id, case_id, detail.draft_id)
    d.nudge()


def _queue_post(db: Database, chat_id: int, case_id: int, draft_id: int | None) -> None:
    """Show the case to the asking clinician through the outbox, like any review post."""
    with db.write() as session:
        add_message(session, REVIEW_REQUEST, chat_id=chat_id, case_id=case_id, payload={"draft_id": draft_id})


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    if await _refuse_stranger(update, context, "/stats") or await _refuse_elsewhere(update, context):
        return
    chat_id = update.effective_chat.id
    try:
        period = parse_stats_period(context.args or [], utcnow())
    except UsageError as exc:
        await reply(context, chat_id, str(exc))
        return
    numbers = await d.call(review.stats, d.db, alert_after=d.config.review.alert_after)
    reviews, cases = await d.call(load_rows, d.db, period.since, period.until)
    # edit distances and the chart are CPU work: off the database thread, which every handler shares
    figures = await asyncio.to_thread(console_figures, reviews, cases, since=period.since, until=period.until)
    await reply(context, chat_id, console_text(stats_text(numbers), figures, period))
    chart = await asyncio.to_thread(_console_chart, figures)
    caption = f"Decisions and times to answer, {period.label()}"
    await best_effort(context.bot.send_photo(chat_id, photo=chart, caption=caption), "sending the stats chart")


def _console_chart(figures) -> bytes:
    from dermvqa.charts import console_chart  # matplotlib loads on the first /stats, not at the bot's start

    return console_chart(figures)


# -- canned replies ----------------------------------------------------------------------------

# /templates [add|remove|list] [NAME] [TEXT...]: the text may span lines (it keeps them)
_TEMPLATES_COMMAND = re.compile(
    r"^/templates(?:@\w+)?(?:\s+(?P<op>\S+))?(?:\s+(?P<name>\S+))?(?:\s+(?P<text>.*?))?\s*$", re.S
)
TEMPLATES_USAGE = (
    "Usage: /templates (list yours), /templates add NAME TEXT (add, or replace NAME's text), "
    "/templates remove NAME. Placeholders: {case} (the case number), {date} (today, YYYY-MM-DD). "
    "When you press Edit under a case, your templates are offered as buttons."
)


async def _template_offer(d: Deps, clinician_id: int, case_id: int) -> list[dict[str, Any]]:
    return template_offer_parts(await d.call(templates.list_templates, d.db, clinician_id), case_id)


async def templates_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/templates, /templates add NAME TEXT..., /templates remove NAME (the text keeps its line breaks)."""
    d = deps(context)
    if await _refuse_stranger(update, context, "/templates") or await _refuse_elsewhere(update, context):
        return
    user, chat_id = update.effective_user, update.effective_chat.id
    match = _TEMPLATES_COMMAND.match(update.effective_message.text or "")
    op, name, text = (match.group("op"), match.group("name"), match.group("text")) if match else ("?", None, None)
    if op is None or (op.lower() == "list" and name is None):
        await reply(context, chat_id, template_list_text(await d.call(templates.list_templates, d.db, user.id)))
        return
    op, text = op.lower(), text or ""
    try:
        if op == "add" and name and text.strip():
            saved, new = await d.call(templates.save_template, d.db, user.id, name, text)
            done = "added" if new else "replaced"
            await reply(context, chat_id, f"Template {saved.name} {done}. It is offered when you press Edit.")
            return
        if op == "remove" and name and not text.strip():
            removed = await d.call(templates.remove_template, d.db, user.id, name)
            await reply(context, chat_id, f"Template {name} removed." if removed else f"You have no template {name}.")
            return
    except UsageError as exc:
        await reply(context, chat_id, f"Not saved: {exc}.")
        return
    await reply(context, chat_id, TEMPLATES_USAGE)


async def template_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> ReviewState | int | None:
    """tp:<template id> under an Edit prompt: the template, filled in for the case, goes to the confirm
    step exactly as if the clinician had typed it."""
    d = deps(context)
    query = update.callback_query
    if await _refuse_stranger(update, context, "template"):
        return ConversationHandler.END
    try:
        template_id = int((query.data or "").split(":")[1])
    except (IndexError, ValueError):
        await best_effort(query.answer("Unknown button."), "answering a button")
        return None
    user, chat = update.effective_user, update.effective_chat
    session = await d.call(review.current_session, d.db, user.id, chat.id)
    if session is None or session.action != review.EDIT:
        await best_effort(query.answer("Nothing to fill in: press Edit under a case first."), "answering a button")
        return ConversationHandler.END
    if await _room_locked(d, chat.id):  # locked since the prompt: show nothing more here
        await d.call(review.end_session, d.db, user.id, chat.id)
        await best_effort(query.answer(), "answering a button")
        await reply(context, chat.id, "This group is locked, so nothing was shown or changed; use your private chat.")
        return ConversationHandler.END
    text = await d.call(templates.filled_template, d.db, user.id, template_id, session.case_id, utcnow().date())
    if text is None:
        gone = "That is not one of your templates (or it was removed)."
        await best_effort(query.answer(gone, show_alert=True), "answering a button")
        return None
    await best_effort(query.answer(), "answering a button")
    session = await d.call(review.propose_text, d.db, user.id, chat.id, text)
    if session is None:
        return ConversationHandler.END
    await _show_preview(context, d, chat.id, session)
    return ReviewState.AWAITING_CONFIRM
