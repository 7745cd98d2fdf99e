from __future__ import annotations

import base64

from support.cases import case_detail

from bot.rendering import CAPTION_LIMIT, clip, review_post, review_update, split_text, text_parts
from bot.telegram_limits import MESSAGE_LIMIT, fits, utf16_len
from bot.texts import Texts
from dermvqa.casework.posts import PostState
from dermvqa.config import BotConfig, IntakeConfig
from dermvqa.states import CaseState

TEXTS = Texts.from_config(BotConfig(), IntakeConfig())
EMOJI = "😀"  # U+1F600: one Python character, two UTF-16 units


detail = case_detail


def test_short_text_is_one_part():
    assert split_text("Hello. World.") == ["Hello. World."]


def test_split_at_sentence_boundaries_within_the_limit():
    text = " ".join(f"Sentence {i} is here." for i in range(100))
    chunks = split_text(text, limit=120)
    assert all(len(c) <= 120 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text


def test_a_sentence_longer_than_the_limit_splits_at_spaces_and_a_huge_word_is_cut():
    chunks = split_text("word " * 50 + "x" * 30, limit=20)
    assert all(len(c) <= 20 for c in chunks)
    assert "".join(chunks).replace(" ", "") == ("word" * 50 + "x" * 30)


def test_clip_respects_the_caption_limit():
    assert len(clip("a" * 5000)) == CAPTION_LIMIT
    assert clip("short") == "short"


def test_buttons_go_on_the_last_part():
    parts = text_parts("A. " * 3000, [[["Ok", "ok"]]])
    assert len(parts) >= 2 and "buttons" not in parts[0] and parts[-1]["buttons"] == [[["Ok", "ok"]]]


def test_review_post_has_photos_draft_disclaimer_and_the_four_buttons():
    parts = review_post(detail(), TEXTS)
    assert parts[0]["op"] == "photo" and len(parts[0]["caption"]) <= CAPTION_LIMIT
    text = parts[-1]["text"]
    assert "Draft (model m@1, prompt 1)" in text and TEXTS.disclaimer in text
    labels = [b[0] for row in parts[-1]["buttons"] for b in row]
    assert [any(w in label for label in labels) for w in ("Approve", "Edit", "Regenerate", "Reject")] == [True] * 4


def test_many_photos_become_albums_of_at_most_ten():
    parts = review_post(
        detail(photo_file_ids=tuple(f"f{i}" for i in range(12)), photo_hashes=tuple(f"h{i}" for i in range(12))), TEXTS
    )
    assert [p["op"] for p in parts[:2]] == ["album", "album"]
    assert [len(p["photos"]) for p in parts[:2]] == [10, 2]


def test_failed_case_offers_regenerate_and_reject_only():
    parts = review_post(detail(state=CaseState.FAILED, draft_text=None, failure="ImageError: corrupt"), TEXTS)
    labels = [b[0] for row in parts[-1]["buttons"] for b in row]
    assert not any("Approve" in x for x in labels) and "corrupt" in parts[-1]["text"]


def test_review_update_edits_the_last_message_or_deletes():
    post = PostState(delivered=True, pending=False, message_id=42, text="Case #7 ...", is_caption=False)
    [edit] = review_update({"post_id": 1, "outcome": "approved by Dr A"}, post)
    assert edit == {"op": "edit", "message_id": 42, "text": "Case #7 ...\n\n— approved by Dr A", "is_caption": False}
    assert review_update({"delete_message_ids": [1, 2], "outcome": "x"}, None) == [
        {"op": "delete", "message_id": 1},
        {"op": "delete", "message_id": 2},
    ]
    assert review_update({"post_id": 1, "outcome": "x"}, PostState(False, False, None, "", False)) == []


def test_review_post_of_an_emoji_description_fits_and_keeps_its_buttons():
    description = (EMOJI * 9 + " ") * 400  # 4000 characters, 7600 UTF-16 units
    assert len(description) < MESSAGE_LIMIT < utf16_len(description)
    parts = [p for p in review_post(detail(description=description), TEXTS) if p["op"] == "message"]
    assert len(parts) >= 2 and all(fits(p["text"], MESSAGE_LIMIT) for p in parts)
    assert parts[-1]["text"].startswith("Case #7 (continued)") and parts[-1]["buttons"]


def _file_id(file_type: int) -> str:
    """A Bot API file id whose first byte is the file type (2: photo, 5: document)."""
    return base64.urlsafe_b64encode(bytes([file_type, 0, 0, 0]) + b"\x01" * 20).decode().rstrip("=")


def test_review_post_sends_documents_as_documents_and_never_mixes_albums():
    photo, document = _file_id(2), _file_id(5)
    ids = (photo, photo, document, document, document, photo)
    parts = review_post(detail(photo_file_ids=ids, photo_hashes=tuple(f"h{i}" for i in range(6))), TEXTS)
    media = [p for p in parts if p["op"] != "message"]
    assert [p["op"] for p in media] == ["album", "album", "photo"]
    assert media[0].get("media") is None and [r["file_id"] for r in media[0]["photos"]] == [photo, photo]
    assert media[1]["media"] == "document" and len(media[1]["photos"]) == 3
    single = review_post(detail(photo_file_ids=(document,)), TEXTS)[0]
    # Sent as a file: our cleaned copy is uploaded (the original's file id still carries EXIF and GPS).
    assert single["op"] == "document" and single["document"] == {"file_id": None, "sha256": "h1"}
    assert all(ref["file_id"] is None for ref in media[1]["photos"])

