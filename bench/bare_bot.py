"""The framework's floor for ``bench/bot_load.py --variant bare``: a bare python-telegram-bot bot.

    python bench/bare_bot.py CONFIG_TOML

Built by the service's own ``bot.builder.application_builder`` from the same ``[telegram]`` settings
(endpoint, AIORateLimiter, connection pool, 16 concurrent chats in per-chat order), polling the same
way; no database, no files, no outbox. It walks a patient through the bench's steps with the texts the
bench waits for, and on Submit does what any bot must: answers the button press and sends one
acknowledgement, the service's own (``bot.texts.Texts.case_received``, from the same config): the two
bots put the same message on the wire, so what the real bot spends beyond this is the project's own
machinery, not a longer text. Benchmarks only.
"""

from __future__ import annotations

import itertools
import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.builder import application_builder
from bot.service import require_token
from bot.texts import Texts
from dermvqa.config import load_config


def _button(label: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_chat.send_message("Do you agree?", reply_markup=_button("I agree", "consent:yes"))


async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.callback_query.answer()
    await update.effective_chat.send_message("Thank you. Send up to 10 photos and a description.")


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_chat.send_message("Photo received.")


async def description(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    submit_button = _button("Submit", "submit")
    await update.effective_chat.send_message("Description saved. Press Submit when ready.", reply_markup=submit_button)


async def submit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.callback_query.answer()
    number = next(context.bot_data["case_numbers"])
    await update.effective_chat.send_message(context.bot_data["texts"].case_received(number, urgent=False))


def main() -> None:
    config = load_config(sys.argv[1])
    application = application_builder(require_token(), config.telegram).build()
    application.bot_data["case_numbers"] = itertools.count(1)
    application.bot_data["texts"] = Texts.from_config(config.bot, config.intake, config.retention)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(consent, pattern=r"^consent:"))
    application.add_handler(CallbackQueryHandler(submit, pattern=r"^submit$"))
    application.add_handler(MessageHandler(filters.PHOTO, photo))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, description))
    application.run_polling(timeout=config.telegram.poll_timeout_s, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
