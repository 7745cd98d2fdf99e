"""Turn outbox rows and views into Telegram message parts (pure: plain values in, plain values out).

A *part* is one Bot API call, as a JSON-able dict the sender performs and the outbox stores, so a
retry sends exactly what was rendered the first time:

* ``{"op": "message", "text": ..., "buttons": [[[label, data], ...], ...]}``
* ``{"op": "photo", "photo": {"file_id": ..., "sha256": ...}, "caption": ...}``
* ``{"op": "album", "photos": [{"file_id": ..., "sha256": ...}, ...]}``
* ``{"op": "edit", "message_id": ..., "text": ..., "is_caption": bool}`` (removes the buttons)
* ``{"op": "delete", "message_id": ...}``

Telegram limits: 4096 characters a message (long texts split at sentence boundaries), 1024 a
caption, 10 photos an album.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.texts import Texts
from dermvqa.casework import kinds
from dermvqa.casework.posts import PostState
from dermvqa.casework.review import CaseDetail, QueueItem, Stats
from dermvqa.disclaimer import with_disclaimer
from dermvqa.states import CaseState
from dermvqa.triage import flag_label

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")

Part = dict[str, Any]


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at sentence boundaries into chunks of at most ``limit`` characters.

    A sentence longer than the limit is split at spaces, and a word longer than that is cut.
    """
    text = text.strip()
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    for sentence in _sentences(text):
        pieces.extend(_split_long(sentence, limit) if len(sentence) > limit else [sentence])
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}".strip() if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _split_long(sentence: str, limit: int) -> list[str]:
    out, current = [], ""
    for word in sentence.split(" "):
        while len(word) > limit:
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out


def clip(text: str, limit: int = CAPTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def text_parts(text: str, buttons: list | None = None) -> list[Part]:
    """A text as message parts; buttons go on the last part."""
    chunks = split_text(text)
    parts: list[Part] = [{"op": "message", "text": chunk} for chunk in chunks]
    if buttons:
        parts[-1]["buttons"] = buttons
    return parts


def review_buttons(texts: Texts, case_id: int, draft_id: int | None, can_approve: bool) -> list:
    d = draft_id or 0
    row1 = [[texts.approve_button, f"rv:approve:{case_id}:{d}"], [texts.edit_button, f"rv:edit:{case_id}:{d}"]]
    row2 = [[texts.regenerate_button, f"rv:regen:{case_id}:{d}"], [texts.reject_button, f"rv:reject:{case_id}:{d}"]]
    return [row1, row2] if can_approve else [row2]


def _photo_parts(detail: CaseDetail) -> list[Part]:
    refs = [{"file_id": f, "sha256": s} for f, s in zip(detail.photo_file_ids, detail.photo_hashes, strict=True)]
    parts: list[Part] = []
    for start in range(0, len(refs), ALBUM_LIMIT):
        chunk = refs[start : start + ALBUM_LIMIT]
        if len(chunk) == 1:
            parts.append({"op": "photo", "photo": chunk[0], "caption": f"Case #{detail.case_id}"})
        else:
            parts.append({"op": "album", "photos": chunk})
    return parts


def review_post(detail: CaseDetail, texts: Texts) -> list[Part]:
    """A case for clinicians: its photos, then the description, the draft (with the disclaimer the
    patient would see) and the decision buttons."""
    head = f"Case #{detail.case_id}"
    if detail.urgent:
        head += " — URGENT: " + ", ".join(flag_label(f) for f in detail.urgent_reasons)
    lines = [head, "", "Patient's description:", detail.description.strip() or "(none)", ""]
    if detail.draft_text is not None and detail.state == CaseState.AWAITING_REVIEW:
        lines += [
            f"Draft (model {detail.model_version}, prompt {detail.prompt_id}):",
            "",
            with_disclaimer(detail.draft_text, texts.disclaimer),
        ]
        buttons = review_buttons(texts, detail.case_id, detail.draft_id, can_approve=True)
    elif detail.state == CaseState.FAILED:
        lines += [
            "The model could not draft an answer: " + (detail.failure or "unknown error"),
            "Regenerate to try again, or reject.",
        ]
        buttons = review_buttons(texts, detail.case_id, detail.draft_id, can_approve=False)
    else:
        lines += [f"Current state: {detail.state.value} (no action needed here)."]
        buttons = None
    return _photo_parts(detail) + text_parts("\n".join(lines), buttons)


def clinician_notice(kind: str, payload: dict[str, Any]) -> list[Part]:
    if kind == kinds.URGENT_ALERT:
        return text_parts(
            f"URGENT case #{payload['case_id']} submitted ({', '.join(payload.get('flags', []))}). "
            "The patient was told to seek urgent in-person care; its draft is first in the queue."
        )
    if kind == kinds.CASE_FAILED:
        return text_parts(f"Drafting failed: {payload.get('reason', 'unknown error')}")
    raise ValueError(f"not a clinician notice: {kind}")


def review_update(payload: dict[str, Any], post: PostState | None) -> list[Part]:
    """Parts that close a review post: delete its messages, or edit its last one (no buttons)."""
    if "delete_message_ids" in payload:
        return [{"op": "delete", "message_id": m} for m in payload["delete_message_ids"]]
    if post is None or not post.delivered or post.message_id is None:
        return []  # the post never reached this chat: nothing to close
    limit = CAPTION_LIMIT if post.is_caption else MESSAGE_LIMIT
    suffix = f"\n\n— {payload['outcome']}"
    return [
        {
            "op": "edit",
            "message_id": post.message_id,
            "text": clip(post.text, limit - len(suffix)) + suffix,
            "is_caption": post.is_caption,
        }
    ]


def patient_message(kind: str, payload: dict[str, Any], texts: Texts) -> list[Part]:
    case_id = payload.get("case_id", 0)
    if kind == kinds.CASE_RECEIVED:
        return text_parts(texts.case_received(case_id, bool(payload.get("urgent"))))
    if kind == kinds.URGENT_ADVICE:
        return text_parts(texts.urgent_advice(list(payload.get("flags", []))))
    if kind == kinds.ANSWER:
        return text_parts(texts.answer(case_id, payload["text"]))
    if kind == kinds.REJECTED:
        return text_parts(texts.rejected(case_id))
    if kind == kinds.WITHDRAWN:
        return text_parts(texts.withdrawn(case_id))
    if kind == kinds.DELETED:
        return text_parts(texts.deleted())
    raise ValueError(f"not a patient message: {kind}")


# -- views for commands -------------------------------------------------------------------------


def status_text(cases: Sequence, texts: Texts) -> str:
    if not cases:
        return texts.no_cases()
    lines = ["Your cases:"]
    for c in cases:
        when = (c.submitted_at or c.created_at).strftime("%Y-%m-%d")
        urgent = " (urgent)" if c.urgent else ""
        lines.append(f"#{c.case_id} from {when}{urgent}: {texts.state_names.get(c.state.value, c.state.value)}")
    return "\n".join(lines)


def queue_text(items: Sequence[QueueItem]) -> str:
    if not items:
        return "The queue is empty."
    lines = ["Waiting (urgent first):"]
    for item in items:
        flag = "URGENT " if item.urgent else ""
        when = item.submitted_at.strftime("%Y-%m-%d %H:%M") if item.submitted_at else "?"
        lines.append(f"{flag}#{item.case_id} {item.state.value} since {when} — /case {item.case_id}")
    return "\n".join(lines)


def stats_text(s: Stats) -> str:
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(s.counts.items())) or "no cases"
    median = f"{s.median_seconds_to_answer / 3600:.1f} h" if s.median_seconds_to_answer is not None else "n/a"
    share = f"{100 * s.approved_unedited_share:.0f}%" if s.approved_unedited_share is not None else "n/a"
    return (
        f"Cases by state: {counts}\nAnswered: {s.answered}; median time from submission to answer: {median}\n"
        f"Drafts approved unedited: {share} of approvals ({s.reviews} review actions in all)"
    )
