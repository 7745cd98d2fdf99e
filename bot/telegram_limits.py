"""Telegram's size limits, measured the way Telegram measures them (pure, no I/O).

Telegram counts texts, captions, placeholders and notification texts in UTF-16 code units, not in
Python characters: an emoji outside the Basic Multilingual Plane (most of them) is one Python
character but two UTF-16 units. Callback data is limited in UTF-8 bytes. Cutting here never splits
a surrogate pair (a Python ``str`` holds whole code points, so a cut between two of them is always
a valid UTF-16 boundary).
"""

from __future__ import annotations

MESSAGE_LIMIT = 4096  # sendMessage / editMessageText text, UTF-16 units after entity parsing
CAPTION_LIMIT = 1024  # photo and document captions, UTF-16 units
CALLBACK_DATA_LIMIT = 64  # InlineKeyboardButton.callback_data, UTF-8 bytes (1-64)
PLACEHOLDER_LIMIT = 64  # ForceReply.input_field_placeholder, 1-64 characters
CALLBACK_ANSWER_LIMIT = 200  # answerCallbackQuery text, 0-200 characters
ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (a code point above U+FFFF counts twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def fit_index(text: str, limit: int) -> int:
    """The largest ``i`` with ``utf16_len(text[:i]) <= limit`` (0 for a negative limit)."""
    if limit <= 0:
        return 0
    if len(text) * 2 <= limit:  # fast path: even all-astral text fits
        return len(text)
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def fits(text: str, limit: int) -> bool:
    """Whether ``text`` is at most ``limit`` UTF-16 units long."""
    return utf16_len(text) <= limit


def cut(text: str, limit: int) -> tuple[str, str]:
    """``(head, rest)``: the longest prefix of at most ``limit`` UTF-16 units, and what remains."""
    index = fit_index(text, limit)
    return text[:index], text[index:]


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else a prefix ending in ``ellipsis`` that fits."""
    if fits(text, limit):
        return text
    room = limit - utf16_len(ellipsis)
    if room <= 0:
        return cut(ellipsis, limit)[0]
    return cut(text, room)[0].rstrip() + ellipsis


def callback_data_fits(data: str) -> bool:
    """Whether ``data`` is valid callback data: 1 to 64 bytes in UTF-8."""
    return 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT
