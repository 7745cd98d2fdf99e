"""A fake Telegram Bot API server (standard library HTTP + Pillow): the project's testing tool for
end-to-end tests, benchmarks and the offline demo. It lives beside the product, not in it: it is not
part of the installed wheel.

It is as strict as the real Telegram where a bot is likely to trip: privacy mode in groups, ForceReply
as clients honour it, file-type mismatches, UTF-16 length limits, deleting only messages younger than
48 hours, and a "delivered but the response was lost" fault (see ``faults.py``).

``FakeTelegramServer`` speaks the Bot API HTTP protocol well enough for python-telegram-bot to run
against it unmodified (polling included), simulates users (texts, photos, documents, button presses,
groups), records everything the bot sends, and injects failures on demand. Run it standalone with
``python -m fake_telegram --port 8081 --token TOKEN``.
"""

from fake_telegram.server import FakeTelegramServer
from fake_telegram.state import ApiError, message_key

__all__ = ["ApiError", "FakeTelegramServer", "message_key"]
