"""Telegram's limits in UTF-16 units, and the renderers that must respect them."""

from __future__ import annotations

import base64

import pytest

from bot.rendering import media_kind, prompt_part, split_text, text_parts
from bot.telegram_limits import (
    MESSAGE_LIMIT,
    PLACEHOLDER_LIMIT,
    callback_data_fits,
    cut,
    fit_index,
    fits,
    truncate,
    utf16_len,
)
from bot.texts import Texts
from dermvqa.config import BotConfig, IntakeConfig

EMOJI = "😀"  # U+1F600: one Python character, two UTF-16 units
TEXTS = Texts.from_config(BotConfig(), IntakeConfig())


def _is_valid_utf16(text: str) -> bool:
    text.encode("utf-16-le")  # raises on a lone surrogate
    return True


def test_utf16_len_counts_astral_characters_twice():
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("é€") == 2  # BMP characters are one unit
    assert utf16_len(EMOJI) == 2
    assert utf16_len("a" + EMOJI * 3) == 7
    assert utf16_len("a" + EMOJI * 3) == len(("a" + EMOJI * 3).encode("utf-16-le")) // 2


def test_fit_index_and_cut_never_split_a_surrogate_pair():
    text = EMOJI * 5
    assert fit_index(text, 3) == 1  # one emoji (2 units); a second would need 4
    assert fit_index(text, 4) == 2
    assert fit_index(text, 0) == 0 and fit_index(text, -1) == 0
    assert fit_index("abc", 10) == 3
    head, rest = cut("a" + EMOJI + "b", 2)
    assert (head, rest) == ("a", EMOJI + "b")
    assert _is_valid_utf16(head) and _is_valid_utf16(rest)


def test_truncate_fits_in_utf16_units_and_marks_the_cut():
    text = EMOJI * 600  # 600 characters, 1200 units
    short = truncate(text, 1024)
    assert utf16_len(short) <= 1024 and short.endswith("…") and _is_valid_utf16(short)
    assert truncate("short", 1024) == "short"
    assert truncate("abcdef", 1) == "…"


def test_callback_data_is_measured_in_utf8_bytes():
    assert callback_data_fits("rv:approve:1:2")
    assert callback_data_fits("x" * 64) and not callback_data_fits("x" * 65)
    assert not callback_data_fits("é" * 33)  # 66 bytes
    assert not callback_data_fits("")


def test_split_text_respects_utf16_units_for_emoji_text():
    text = " ".join([EMOJI * 10 + "."] * 400)  # ~4400 characters, ~8400 UTF-16 units
    assert len(text) < 2 * MESSAGE_LIMIT and utf16_len(text) > 2 * MESSAGE_LIMIT
    chunks = split_text(text)
    assert len(chunks) >= 3
    assert all(fits(chunk, MESSAGE_LIMIT) for chunk in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


def test_split_text_cuts_a_huge_word_between_code_points():
    word = EMOJI * 3000  # 6000 units, no spaces
    chunks = split_text(word)
    assert [utf16_len(c) for c in chunks] == [4096, 6000 - 4096]
    assert "".join(chunks) == word and all(_is_valid_utf16(c) for c in chunks)


def test_text_parts_continued_label_on_every_later_part():
    text = "Case #7\n\n" + " ".join([EMOJI * 20 + "."] * 300)
    parts = text_parts(text, [[["OK", "rv:approve:7:1"]]], continued="Case #7 (continued)")
    assert len(parts) >= 2
    assert all(fits(p["text"], MESSAGE_LIMIT) for p in parts)
    assert all(p["text"].startswith("Case #7 (continued)") for p in parts[1:])
    assert parts[-1]["buttons"] and not any("buttons" in p for p in parts[:-1])


def _file_id(file_type: int) -> str:
    return base64.urlsafe_b64encode(bytes([file_type, 0, 0, 0]) + b"\x01" * 20).decode().rstrip("=")


def test_media_kind_reads_the_file_type_from_the_file_id():
    assert media_kind(_file_id(2)) == "photo"
    assert media_kind(_file_id(5)) == "document"
    assert media_kind("AgACAgIAAxkBAAI00000001") == "photo"  # the usual prefixes of real ids
    assert media_kind("BQACAgIAAxkBAAI00000001") == "document"
    assert media_kind(None) == "photo" and media_kind("f1") == "photo" and media_kind("!!!!") == "photo"


@pytest.mark.parametrize("private", [True, False])
def test_prompt_part_force_reply_and_mention(private):
    placeholder = "Answer for case #12 " + EMOJI * 40  # over 64 UTF-16 units
    mention = None if private else (900, "Dr " + EMOJI + " Ada")
    part = prompt_part("send the corrected answer for case #12.", placeholder, mention)
    assert utf16_len(part["force_reply"]) <= PLACEHOLDER_LIMIT and _is_valid_utf16(part["force_reply"])
    if private:
        assert part["text"].startswith("Send the corrected") and "entities" not in part
    else:
        (entity,) = part["entities"]
        assert part["text"].startswith("Dr " + EMOJI + " Ada, send the corrected")
        assert (entity["type"], entity["offset"], entity["user"]["id"]) == ("text_mention", 0, 900)
        assert entity["length"] == utf16_len("Dr " + EMOJI + " Ada") == 9
