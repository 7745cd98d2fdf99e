"""A fake Telegram Bot API server (standard library HTTP + Pillow) for end-to-end tests and the offline demo.

``FakeTelegramServer`` speaks the Bot API HTTP protocol well enough for python-telegram-bot to run
against it unmodified (polling included), simulates users (texts, photos, documents, button presses,
groups), records everything the bot sends, and injects failures on demand. Run it standalone with
``python -m bot.fakeserver --port 8081 --token TOKEN``.
"""

from bot.fakeserver.server import FakeTelegramServer
from bot.fakeserver.state import ApiError, message_key

__all__ = ["ApiError", "FakeTelegramServer", "message_key"]
