"""Patient handlers: one async function per step, each parsing the update, calling the core and
rendering the result. The conversation table is in ``bot.conversations``.

The database is the truth: after a restart the conversation state is rebuilt from it (``resume``),
so nothing a patient sent is lost and no step is repeated.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes, ConversationHandler

from bot import questions
from bot.deps import deps
from bot.rendering import status_text
from bot.replies import best_effort, reply
from dermvqa.casework import intake
from dermvqa.casework.intake import Added, Refusal
from dermvqa.errors import DownloadError, FileTooLarge

logger = logging.getLogger(__name__)

ALBUM_SETTLE_SECONDS = 1.0


class PatientState(enum.IntEnum):
    CONSENT = enum.auto()
    COLLECTING = enum.auto()
    CONFIRM_DELETE = enum.auto()


def _buttons(*buttons: tuple[str, str]) -> list:
    return [[[label, data] for label, data in buttons]]


def _submit_button(context: ContextTypes.DEFAULT_TYPE) -> list:
    return _buttons((deps(context).texts.submit_button, "submit"))


def _consent_buttons(context: ContextTypes.DEFAULT_TYPE) -> list:
    t = deps(context).texts
    return _buttons((t.consent_yes_button, "consent:yes"), (t.consent_no_button, "consent:no"))


def _training_buttons(context: ContextTypes.DEFAULT_TYPE) -> list:
    t = deps(context).texts
    return _buttons((t.training_yes_button, "train:yes"), (t.training_no_button, "train:no"))


def _privacy_buttons(context: ContextTypes.DEFAULT_TYPE) -> list:
    t = deps(context).texts
    return _buttons((t.privacy_yes_button, "privacy:yes"), (t.privacy_no_button, "privacy:no"))


async def _reply(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, buttons: list | None = None) -> None:
    await reply(context, update.effective_chat.id, text, buttons)


async def _used(update: Update) -> None:
    """Acknowledge a button press and remove the buttons it came with."""
    query = update.callback_query
    await best_effort(query.answer(), "answering a button")
    await best_effort(query.edit_message_reply_markup(None), "removing used buttons")


# -- consent ------------------------------------------------------------------------------------


PATIENT_BUTTONS = ("submit", "delete:", "consent:", "train:", "privacy:", "cq:")


async def refuse_buttons_outside_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A patient's button is for their private chat only: pressed anywhere else (a forwarded keyboard,
    a modified client in a group) it is answered and goes no further, so nobody can consent, submit or
    erase from a group."""
    query = update.callback_query
    if query is None or not (query.data or "").startswith(PATIENT_BUTTONS):
        return
    if update.effective_chat is not None and update.effective_chat.type == "private":
        return
    logger.warning("patient button refused outside a private chat (chat %s)", update.effective_chat.id)
    await best_effort(query.answer(), "answering a button")
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    d = deps(context)
    view = await d.call(intake.view, d.db, update.effective_user.id)
    if view.consented:
        await _reply(update, context, d.texts.consent_given())
        if view.training_consent is None:  # not answered yet (or consented under an earlier text)
            await _reply(update, context, d.texts.training_question(), _training_buttons(context))
        return PatientState.COLLECTING
    await _reply(update, context, d.texts.welcome(), _consent_buttons(context))
    return PatientState.CONSENT


async def consent_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState | int:
    d = deps(context)
    query = update.callback_query
    user, chat = update.effective_user, update.effective_chat
    await _used(update)
    if query.data == "consent:yes":
        await d.call(intake.consent, d.db, user.id, chat.id, user.language_code)
        await _reply(update, context, d.texts.consent_given())
        # The second, separate question; photos are taken meanwhile, whatever the answer will be.
        await _reply(update, context, d.texts.training_question(), _training_buttons(context))
        return PatientState.COLLECTING
    await d.call(intake.refuse, d.db, user.id, chat.id)
    await _reply(update, context, d.texts.consent_refused())
    return ConversationHandler.END


async def training_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    """The answer to the training question (``train:``), or its change from /privacy (``privacy:``)."""
    d = deps(context)
    source, _, answer = (update.callback_query.data or "").partition(":")
    await _used(update)
    agreed = answer == "yes"
    result = await d.call(intake.set_training_consent, d.db, update.effective_user.id, agreed)
    if isinstance(result, Refusal):  # a button left over from before a refusal or /delete
        await _reply(update, context, d.texts.no_consent_yet())
        return PatientState.CONSENT
    changed = d.texts.privacy_changed(agreed) if source == "privacy" else d.texts.training_answer(agreed)
    await _reply(update, context, changed)
    return PatientState.COLLECTING


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/privacy``: the stored answers, the consent version and date, how long things are kept; buttons
    change the training answer."""
    d = deps(context)
    view = await d.call(intake.privacy, d.db, update.effective_user.id)
    text = d.texts.privacy(
        consented=view.consented,
        version=view.consent_version,
        consent_at=view.consent_at,
        training=view.training_consent,
        training_at=view.training_consent_at,
    )
    await _reply(update, context, text, _privacy_buttons(context) if view.consented else None)


async def need_consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    """Anything but the consent buttons before consent: nothing is stored, the question repeated."""
    d = deps(context)
    await _reply(update, context, d.texts.consent_needed(), _consent_buttons(context))
    return PatientState.CONSENT


# -- collecting a case --------------------------------------------------------------------------


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    message = update.effective_message
    size = message.photo[-1]
    await _take_image(update, context, message, size.file_id, size.file_unique_id, size.file_size)
    return PatientState.COLLECTING


async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    message = update.effective_message
    doc = message.document
    if refusal := intake.check_document(doc.mime_type, doc.file_name):  # EPS, TIFF, PDF...: never downloaded
        await _reply(update, context, deps(context).texts.refused(refusal.code))
        return PatientState.COLLECTING
    await _take_image(update, context, message, doc.file_id, doc.file_unique_id, doc.file_size)
    return PatientState.COLLECTING


async def _take_image(update, context, message: Message, file_id: str, unique_id: str, size: int | None) -> None:
    d = deps(context)
    limits = d.config.intake
    try:
        result = await _add_photo(update, context, file_id, unique_id, size)
    except DownloadError as exc:
        logger.warning("photo download failed: %s", type(exc).__name__)
        await _reply(update, context, d.texts.download_failed())
        return
    if message.caption:
        caption = await d.call(
            intake.add_description,
            d.db,
            update.effective_user.id,
            message.caption,
            limits,
            prompt_id=d.config.model.prompt_id,
        )
        if isinstance(caption, Refusal):
            await _reply(update, context, d.texts.refused(caption.code, caption.limit, caption.detail))
    if message.media_group_id:
        _album_note(update, context, message.media_group_id, result)
    elif isinstance(result, Refusal):
        await _reply(update, context, d.texts.refused(result.code, result.limit, result.detail))
    else:
        await _reply(update, context, d.texts.photo_received(result.photos), _submit_button(context))
    if message.caption and not isinstance(caption, Refusal):  # a caption is a description too
        await questions.after_description(update, context)


async def _add_photo(update, context, file_id: str, unique_id: str, size: int | None) -> Added | Refusal:
    """Refuse what can be refused before downloading (declared size, a full case), then download with
    a hard byte cap, check the format and pixel count from the header, decode, store, attach. A
    refused photo leaves nothing behind: no file, no row."""
    d = deps(context)
    limits = d.config.intake
    if size is not None and size > limits.max_file_bytes:
        return Refusal("file_too_large", limits.max_file_bytes)
    if room := await d.call(intake.check_room, d.db, update.effective_user.id, limits):
        return room
    try:
        data = await d.downloads.fetch(context.bot, file_id, limits.max_file_bytes)
    except FileTooLarge:
        return Refusal("file_too_large", limits.max_file_bytes)
    # Decoding and writing the file happen off the database thread; only the row goes through it.
    stored = await asyncio.to_thread(intake.store_photo, d.store, data, limits, max_pixels=d.config.storage.max_pixels)
    if isinstance(stored, Refusal):
        return stored
    result = await d.call(
        intake.attach_photo,
        d.db,
        update.effective_user.id,
        stored,
        limits,
        file_id=file_id,
        file_unique_id=unique_id,
        prompt_id=d.config.model.prompt_id,
    )
    if isinstance(result, Refusal):  # the case filled up meanwhile: keep no file no case refers to
        await d.call(intake.discard_photo, d.db, d.store, stored.sha256)
    return result


def _album_note(update: Update, context: ContextTypes.DEFAULT_TYPE, group: str, result: Added | Refusal) -> None:
    """Albums arrive as one update per photo: answer once, when the album has settled."""
    albums = context.chat_data.setdefault("albums", {})
    note = albums.setdefault(group, {"added": 0, "count": 0, "refusals": []})
    if isinstance(result, Refusal):
        note["refusals"].append(result)
    else:
        note["added"] += 1
        note["count"] = result.photos
    if task := note.get("task"):
        task.cancel()
    note["task"] = asyncio.create_task(_album_reply(update, context, group))


async def _album_reply(update: Update, context: ContextTypes.DEFAULT_TYPE, group: str) -> None:
    await asyncio.sleep(ALBUM_SETTLE_SECONDS)
    note = context.chat_data.get("albums", {}).pop(group, None)
    if note is None:
        return
    d = deps(context)
    if note["added"]:
        await _reply(update, context, d.texts.album_received(note["added"], note["count"]), _submit_button(context))
    for code in dict.fromkeys(r.code for r in note["refusals"]):
        first = next(r for r in note["refusals"] if r.code == code)
        await _reply(update, context, d.texts.refused(first.code, first.limit, first.detail))


async def description(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    d = deps(context)
    result = await d.call(
        intake.add_description,
        d.db,
        update.effective_user.id,
        update.effective_message.text,
        d.config.intake,
        prompt_id=d.config.model.prompt_id,
    )
    if isinstance(result, Refusal):
        await _reply(update, context, d.texts.refused(result.code, result.limit, result.detail))
    else:
        await _reply(
            update,
            context,
            d.texts.description_received(result.description_chars, result.photos),
            _submit_button(context),
        )
        await questions.after_description(update, context)  # the pre-fill or the next closed question
    return PatientState.COLLECTING


async def submit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    """Submit: the press is answered while its transaction runs (shared with presses arriving at
    the same time: ``bot.submissions``), and the acknowledgement it wrote is sent at once. The Submit
    button stays (removing it would cost a crowd one more call per Submit); a second press is told
    the case is already submitted."""
    d = deps(context)
    query = update.callback_query
    answered = asyncio.ensure_future(best_effort(query.answer(), "answering a button")) if query else None
    chat = update.effective_chat.id
    # Held from before the transaction until the acknowledgement is sent: an outbox pass in between
    # would find it pending and send it too.
    with d.reserve_chat(chat):
        result = await d.submissions.submit(update.effective_user.id)  # one transaction, shared with other presses
        if answered is not None:
            await answered
        if not isinstance(result, Refusal):
            await d.deliver_now(result.deliver, reserved=chat)  # the acknowledgement (and any urgent advice)
    if isinstance(result, Refusal):  # (queued after the hold: the next pass sends it)
        await _reply(update, context, d.texts.refused(result.code, result.limit))
        return PatientState.COLLECTING
    if result.urgent:
        d.nudge()  # the clinicians' urgent alert goes with the next pass
    logger.info("case %s submitted (urgent=%s, %d photos)", result.case_id, result.urgent, result.photos)
    return PatientState.COLLECTING


# -- commands available at any step ------------------------------------------------------------


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    cases = await d.call(intake.cases_of, d.db, update.effective_user.id)
    await _reply(update, context, status_text(cases, d.texts))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    d = deps(context)
    result = await d.call(intake.withdraw, d.db, update.effective_user.id)
    if isinstance(result, Refusal):
        await _reply(update, context, d.texts.refused(result.code))
    elif result.submitted_at is None:
        await _reply(update, context, d.texts.withdrawn_collecting())
    else:
        d.nudge()
    return PatientState.COLLECTING


async def delete_request(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState:
    d = deps(context)
    await _reply(
        update,
        context,
        d.texts.delete_confirm(),
        _buttons((d.texts.delete_yes_button, "delete:yes"), (d.texts.delete_no_button, "delete:no")),
    )
    return PatientState.CONFIRM_DELETE


async def delete_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState | int:
    d = deps(context)
    query = update.callback_query
    await _used(update)
    if query.data != "delete:yes":
        await _reply(update, context, d.texts.delete_kept())
        return PatientState.COLLECTING
    await d.call(intake.delete_everything, d.db, d.store, update.effective_user.id, update.effective_chat.id)
    context.chat_data.clear()
    d.nudge()  # (the erasure logs what it removed: dermvqa.casework.erasure)
    return ConversationHandler.END


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, context, deps(context).texts.help())


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    command = (update.effective_message.text or "").split()[0]
    await _reply(update, context, deps(context).texts.unknown_command(command))


async def other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice notes, locations, stale buttons...: a short hint, never silence."""
    if update.callback_query:
        await best_effort(update.callback_query.answer(), "answering a button")
    await _reply(update, context, deps(context).texts.hint())


# -- after a restart --------------------------------------------------------------------------


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> PatientState | int | None:
    """No conversation in memory (first contact, or the bot restarted): rebuild it from the database."""
    d = deps(context)
    view = await d.call(intake.view, d.db, update.effective_user.id)
    if not view.consented:
        if update.callback_query and (update.callback_query.data or "").startswith("consent:"):
            return await consent_choice(update, context)
        # A first contact, or consent given to an earlier text: show the whole (current) text.
        first_time = not view.known or view.outdated_consent
        return await start(update, context) if first_time else await need_consent(update, context)
    message = update.effective_message
    query = update.callback_query
    if query is not None:
        data = query.data or ""
        if data == "submit":
            return await submit(update, context)
        if data.startswith("delete:"):
            return await delete_choice(update, context)
        if data.startswith("consent:"):
            await best_effort(query.answer(), "answering a button")
            return PatientState.COLLECTING
        if data.startswith(("train:", "privacy:")):
            return await training_choice(update, context)
        if data.startswith("cq:"):
            await questions.button(update, context)
            return PatientState.COLLECTING
        await other(update, context)
        return PatientState.COLLECTING
    if message is not None and message.photo:
        return await photo(update, context)
    if message is not None and message.document:
        return await document(update, context)
    if message is not None and message.text and not message.text.startswith("/"):
        return await description(update, context)
    await other(update, context)
    return PatientState.COLLECTING
