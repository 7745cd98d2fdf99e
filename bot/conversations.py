"""The whole conversation table in one place: which handler answers what, in which state.

Groups: -2 drops a flooding patient's excess updates (``bot.ratelimit``); -1 stores every incoming
message (the conversation record); 0 is the clinicians' conversation and commands; 1 is the
patients' conversation (private chats of non-clinicians).
Strangers pressing clinician buttons or sending clinician commands are refused in group 0, and
the update stops there.
"""

from __future__ import annotations

import warnings

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import clinician, patient, questions, room
from bot.clinician import ReviewState
from bot.incoming import record_incoming
from bot.patient import PatientState
from bot.ratelimit import limit_rate


def patient_conversation(clinicians: filters.BaseFilter) -> ConversationHandler:
    private = filters.ChatType.PRIVATE & ~clinicians
    # Available at every step (and as entry points, so they work before anything else happened).
    commands = [
        CommandHandler("start", patient.start, filters=private),
        CommandHandler("status", patient.status, filters=private),
        CommandHandler("cancel", patient.cancel, filters=private),
        CommandHandler("delete", patient.delete_request, filters=private),
        CommandHandler("privacy", patient.privacy, filters=private),
        CommandHandler("help", patient.help_command, filters=private),
        MessageHandler(private & filters.COMMAND, patient.unknown_command),
    ]
    # Buttons a conversation rebuilt from the database answers (after a restart, or out of turn).
    stored_buttons = r"^(submit|delete:|consent:|train:|privacy:|cq:)"
    return ConversationHandler(
        name="patient",
        entry_points=[
            *commands,
            MessageHandler(private, patient.resume),
            CallbackQueryHandler(patient.resume, pattern=stored_buttons),
        ],
        states={
            PatientState.CONSENT: [
                CallbackQueryHandler(patient.consent_choice, pattern=r"^consent:"),
                CommandHandler("start", patient.start, filters=private),
                CommandHandler("help", patient.help_command, filters=private),
                CommandHandler("privacy", patient.privacy, filters=private),
                MessageHandler(private, patient.need_consent),
            ],
            PatientState.COLLECTING: [
                MessageHandler(private & filters.PHOTO, patient.photo),
                MessageHandler(private & filters.Document.ALL, patient.document),
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, patient.description),
                CallbackQueryHandler(patient.submit, pattern=r"^submit$"),
                CallbackQueryHandler(patient.training_choice, pattern=r"^(train|privacy):"),
                CallbackQueryHandler(questions.button, pattern=r"^cq:"),  # the closed questions
                CommandHandler("done", patient.submit, filters=private),
            ],
            PatientState.CONFIRM_DELETE: [
                CallbackQueryHandler(patient.delete_choice, pattern=r"^delete:"),
            ],
        },
        fallbacks=[
            *commands,
            CallbackQueryHandler(patient.resume, pattern=stored_buttons),
            MessageHandler(private, patient.other),
        ],
        # Not re-entrant: inside a step its own handlers come first; the catch-all entry point
        # only rebuilds a conversation that is not in memory (first contact, or after a restart).
        allow_reentry=False,
    )


def review_conversation(clinicians: filters.BaseFilter) -> ConversationHandler:
    # In groups only replies (to the bot's ForceReply prompt: see clinician.receive_text); a bot in privacy
    # mode receives nothing else there, and with privacy off the clinicians' group chat is left alone.
    text = clinicians & filters.TEXT & ~filters.COMMAND & (filters.ChatType.PRIVATE | filters.REPLY)
    return ConversationHandler(
        name="review",
        entry_points=[
            CallbackQueryHandler(clinician.review_button, pattern=r"^rv:"),
            CallbackQueryHandler(clinician.resume, pattern=r"^ed:"),
            CallbackQueryHandler(clinician.template_chosen, pattern=r"^tp:"),
            MessageHandler(text, clinician.resume),
        ],
        states={
            ReviewState.AWAITING_TEXT: [
                MessageHandler(text, clinician.receive_text),
                CallbackQueryHandler(clinician.template_chosen, pattern=r"^tp:"),
            ],
            ReviewState.AWAITING_CONFIRM: [
                CallbackQueryHandler(clinician.confirm, pattern=r"^ed:"),
                CallbackQueryHandler(clinician.template_chosen, pattern=r"^tp:"),
                MessageHandler(text, clinician.receive_text),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", clinician.cancel_session, filters=clinicians),
            CallbackQueryHandler(clinician.review_button, pattern=r"^rv:"),
        ],
        allow_reentry=True,
    )


def install(application: Application, clinicians: filters.User, review_chat_id: int = 0) -> None:
    """Register every handler on ``application``. ``clinicians`` is the live filter of
    :class:`bot.roster.ClinicianRoster` (updated in place when the clinician list is reloaded)."""
    with warnings.catch_warnings():
        # Buttons are tracked per chat and user on purpose (not per message): see PTB's per_message note.
        warnings.filterwarnings("ignore", message=".*per_message.*", category=PTBUserWarning)
        review = review_conversation(clinicians)
        patients = patient_conversation(clinicians)
    application.add_handler(TypeHandler(Update, patient.refuse_buttons_outside_private), group=-3)
    application.add_handler(TypeHandler(Update, limit_rate), group=-2)
    application.add_handler(TypeHandler(Update, record_incoming), group=-1)
    application.add_handler(review, group=0)
    for command, callback in (
        ("queue", clinician.queue_command),
        ("case", clinician.case_command),
        ("stats", clinician.stats_command),
        ("templates", clinician.templates_command),
    ):
        application.add_handler(CommandHandler(command, callback), group=0)
    if review_chat_id:  # who comes into the review group (see bot/room.py)
        in_room = filters.Chat(chat_id=review_chat_id)
        application.add_handler(MessageHandler(in_room & filters.StatusUpdate.NEW_CHAT_MEMBERS, room.members_joined))
        application.add_handler(ChatMemberHandler(room.member_changed, ChatMemberHandler.CHAT_MEMBER, review_chat_id))
    application.add_handler(patients, group=1)
