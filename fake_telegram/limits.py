"""The Bot API limits the fake Telegram server enforces, as the real server counts them.

Text lengths are UTF-16 code units (see :func:`fake_telegram.parsemode.utf16_len`); the fake server
keeps its own copy of these numbers so that it checks the bot against Telegram, not against itself.
"""

FILE_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
TEXT_LIMIT = 4096  # UTF-16 code units of a message text, after entity parsing
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
PLACEHOLDER_LIMIT = 64  # ForceReply.input_field_placeholder ("1-64 characters")
CALLBACK_ANSWER_LIMIT = 200  # answerCallbackQuery text
THUMBNAIL_SIDE = 90  # Telegram's smallest photo size ("s")
