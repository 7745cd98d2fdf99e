"""Turn outbox rows and views into Telegram message parts (pure: plain values in, plain values out).

A *part* is one Bot API call, as a JSON-able dict the sender performs and the outbox stores, so a
retry sends exactly what was rendered the first time:

* ``{"op": "message", "text": ..., "buttons": [[[label, data], ...], ...]}``
* ``{"op": "message", "text": ..., "force_reply": placeholder, "entities": [...]}`` (see :func:`prompt_part`)
* ``{"op": "photo", "photo": {"file_id": ..., "sha256": ...}, "caption": ...}``
* ``{"op": "document", "document": {"file_id": ..., "sha256": ...}, "caption": ...}``
* ``{"op": "album", "photos": [{"file_id": ..., "sha256": ...}, ...]}`` (``"media": "document"``: documents)
* ``{"op": "edit", "message_id": ..., "text": ..., "is_caption": bool}`` (removes the buttons)
* ``{"op": "delete", "message_id": ...}``

Telegram limits (measured in UTF-16 units, as Telegram does: see :mod:`bot.telegram_limits`): 4096 a
message (long texts split at sentence boundaries), 1024 a caption, 10 photos an album.

A case image is re-sent by its Telegram file id with the method of its type: Telegram answers
"type of file mismatch" to a document's id in sendPhoto, so an image the patient sent as a file goes
out as a document (``{"op": "document", ...}``, or an album of documents).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from bot.telegram_limits import CAPTION_LIMIT, MESSAGE_LIMIT, PLACEHOLDER_LIMIT, cut, fits, truncate, utf16_len
from bot.texts import Texts
from dermvqa.casework import kinds
from dermvqa.casework.canaries import CatchRate
from dermvqa.casework.posts import PostState
from dermvqa.casework.review import CaseDetail, QueueItem, Stats
from dermvqa.casework.watchdog import Attention
from dermvqa.disclaimer import with_disclaimer
from dermvqa.states import CaseState
from dermvqa.triage import flag_label

ALBUM_LIMIT = 10
_DOCUMENT_FILE_TYPE = 5  # tdlib's FileType::Document, the first byte of a document's file id

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")

Part = dict[str, Any]


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at sentence boundaries into chunks of at most ``limit`` UTF-16 units.

    A sentence longer than the limit is split at spaces, and a word longer than that is cut (never
    inside a surrogate pair).
    """
    text = text.strip()
    if fits(text, limit):
        return [text]
    pieces: list[str] = []
    for sentence in _sentences(text):
        pieces.extend(_split_long(sentence, limit) if not fits(sentence, limit) else [sentence])
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current} {piece}".strip() if current else piece
        if fits(candidate, limit):
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
        while not fits(word, limit):
            if current:
                out.append(current)
                current = ""
            head, word = cut(word, limit)
            out.append(head)
        candidate = f"{current} {word}" if current else word
        if fits(candidate, limit):
            current = candidate
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out


def clip(text: str, limit: int = CAPTION_LIMIT) -> str:
    """``text`` cut to ``limit`` UTF-16 units, ending in an ellipsis when cut."""
    return truncate(text, limit)


def text_parts(text: str, buttons: list | None = None, *, continued: str | None = None) -> list[Part]:
    """A text as message parts; buttons go on the last part.

    When the text needs several messages and ``continued`` is given (e.g. "Case #12 (continued)"),
    every message after the first starts with it, so the one carrying the buttons says what they act on.
    """
    chunks = split_text(text)
    if continued and len(chunks) > 1:
        label = continued + "\n\n"
        chunks = split_text(text, MESSAGE_LIMIT - utf16_len(label))
        chunks = chunks[:1] + [label + chunk for chunk in chunks[1:]]
    parts: list[Part] = [{"op": "message", "text": chunk} for chunk in chunks]
    if buttons:
        parts[-1]["buttons"] = buttons
    return parts


def prompt_part(text: str, placeholder: str, mention: tuple[int, str] | None = None) -> Part:
    """A message asking one person for a text, with a selective ForceReply (their client opens a reply).

    In a group a bot in privacy mode receives only replies to its own messages, and ``selective``
    shows the reply field only to users mentioned in the text: ``mention`` (user id, name) puts the
    name first as a ``text_mention`` entity (works without a username), followed by ``text``;
    without a mention, ``text`` is sent with its first letter capitalised.
    """
    part: Part = {"op": "message", "force_reply": truncate(placeholder, PLACEHOLDER_LIMIT)}
    if mention is None:
        part["text"] = truncate(text[:1].upper() + text[1:], MESSAGE_LIMIT)
        return part
    user_id, name = mention
    name = truncate(name.strip() or "Clinician", 64)
    part["text"] = truncate(f"{name}, {text}", MESSAGE_LIMIT)
    user = {"id": user_id, "is_bot": False, "first_name": name}
    part["entities"] = [{"type": "text_mention", "offset": 0, "length": utf16_len(name), "user": user}]
    return part


def review_buttons(texts: Texts, case_id: int, draft_id: int | None, can_approve: bool) -> list:
    d = draft_id or 0
    row1 = [[texts.approve_button, f"rv:approve:{case_id}:{d}"], [texts.edit_button, f"rv:edit:{case_id}:{d}"]]
    row2 = [[texts.regenerate_button, f"rv:regen:{case_id}:{d}"], [texts.reject_button, f"rv:reject:{case_id}:{d}"]]
    return [row1, row2] if can_approve else [row2]


def media_kind(file_id: str | None) -> str:
    """``"document"`` for a Telegram file id of a document, else ``"photo"``.

    A Bot API file id starts with the file's type (base64url of a little-endian int32; 2 is a photo,
    5 a document), and Telegram refuses a document's id in sendPhoto ("type of file mismatch"). An
    image we only have as bytes, or whose id cannot be read, is sent as a photo (uploaded).
    """
    if not file_id or len(file_id) < 4:
        return "photo"
    try:
        first = base64.urlsafe_b64decode(file_id[:4])[0]
    except (ValueError, IndexError):
        return "photo"
    return "document" if first == _DOCUMENT_FILE_TYPE else "photo"


def _photo_parts(detail: CaseDetail) -> list[Part]:
    """The case images: photos as photos, images sent as files as documents (albums never mix them)."""
    refs = [{"file_id": f, "sha256": s} for f, s in zip(detail.photo_file_ids, detail.photo_hashes, strict=True)]
    runs: list[tuple[str, list[dict]]] = []
    for ref in refs:
        kind = media_kind(ref["file_id"])
        if kind == "document":
            # A file's Telegram id is the patient's original, EXIF and GPS included (Telegram strips
            # metadata only from compressed photos): upload our cleaned copy instead.
            ref = {"file_id": None, "sha256": ref["sha256"]}
        if runs and runs[-1][0] == kind and len(runs[-1][1]) < ALBUM_LIMIT:
            runs[-1][1].append(ref)
        else:
            runs.append((kind, [ref]))
    parts: list[Part] = []
    for kind, chunk in runs:
        if len(chunk) == 1:
            parts.append({"op": kind, kind: chunk[0], "caption": f"Case #{detail.case_id}"})
        elif kind == "document":
            parts.append({"op": "album", "photos": chunk, "media": "document"})
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
    if detail.answers:  # the structured intake at a glance (skipped and unanswered questions left out)
        lines[-1:-1] = ["Intake answers: " + " · ".join(detail.answers)]
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
    continued = f"Case #{detail.case_id} (continued)"
    return _photo_parts(detail) + text_parts("\n".join(lines), buttons, continued=continued)


def clinician_notice(kind: str, payload: dict[str, Any]) -> list[Part]:
    if kind == kinds.URGENT_ALERT:
        return text_parts(
            f"URGENT case #{payload['case_id']} submitted ({', '.join(payload.get('flags', []))}). "
            "The patient was told to seek urgent in-person care; its draft is first in the queue."
        )
    if kind == kinds.CASE_FAILED:
        return text_parts(f"Drafting failed: {payload.get('reason', 'unknown error')}")
    if kind in (kinds.CASE_STUCK, kinds.DELIVERY_FAILED):
        return text_parts(watchdog_alert_text(kind, payload))
    if kind == kinds.ROOM_LOCKED:
        return text_parts(
            "Warning: the review group is locked: " + payload.get("reason", "a non-clinician may be in it") + ". "
            "Until the operator removes them and runs `dermbot room ack`, the group sees only case numbers; "
            "clinicians open cases in a private chat with me (/queue, /case ID)."
        )
    raise ValueError(f"not a clinician notice: {kind}")


# What a locked review group (a non-clinician is in it) may not see: these are replaced by a notice.
ROOM_GUARDED_KINDS = frozenset({kinds.REVIEW_REQUEST, kinds.URGENT_ALERT, kinds.CASE_FAILED})


def locked_room_notice(kind: str, case_id: int | None) -> list[Part]:
    """What a locked review group sees instead of a case: its number, no photo, no words."""
    label = f"Case #{case_id}" if case_id else "A case"
    urgent = "URGENT: " if kind == kinds.URGENT_ALERT else ""
    return text_parts(
        f"{urgent}{label} is waiting for review. This group is locked because someone who is not a clinician "
        f"joined it: open the case in your private chat with me (/case {case_id or 'ID'})."
    )


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
            "text": clip(post.text, limit - utf16_len(suffix)) + suffix,
            "is_caption": post.is_caption,
        }
    ]


def patient_message(kind: str, payload: dict[str, Any], texts: Texts) -> list[Part]:
    case_id = payload.get("case_id", 0)
    if kind == kinds.CASE_RECEIVED:
        return text_parts(texts.case_received(case_id, bool(payload.get("urgent"))))
    if kind == kinds.URGENT_ADVICE:
        return text_parts(texts.urgent_advice(list(payload.get("flags", []))))
    if kind == kinds.ANSWER:  # a red-flag case's answer starts with the urgent advice
        return text_parts(texts.answer(case_id, payload["text"], payload.get("urgent_flags") or ()))
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


def waited(minutes: int) -> str:
    """A wait in words: "less than a minute", "45 min", "3 h 5 min"."""
    if minutes < 1:
        return "less than a minute"
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def watchdog_alert_text(kind: str, payload: dict[str, Any]) -> str:
    """The watchdog's report: case numbers, states, durations and Telegram's error, never patient words."""
    if kind == kinds.CASE_STUCK:
        case_id = payload["case_id"]
        state = str(payload["state"]).replace("_", " ")
        return (
            f"Case #{case_id} has been {state} for {waited(int(payload.get('minutes', 0)))}, longer than the "
            f"alert limit. Nothing moves it on by itself: please look at it (/case {case_id})."
        )
    case = f", case #{payload['case_id']}" if payload.get("case_id") is not None else ""
    return (
        f"A message could not be delivered and will not be retried: {payload.get('kind')} "
        f"(outbox #{payload.get('row_id')}{case}). Error: {payload.get('error') or 'unknown'}"
    )


def attention_lines(attention: Attention | None) -> list[str]:
    """What waits too long and what failed for good, as counts and case numbers."""
    if attention is None:
        return []
    lines = []
    if attention.stuck:
        cases = ", ".join(f"#{c.case_id} ({c.state.value})" for c in attention.stuck[:20])
        more = f" and {len(attention.stuck) - 20} more" if len(attention.stuck) > 20 else ""
        lines.append(f"Waiting longer than the alert limit: {len(attention.stuck)}: {cases}{more}")
    if attention.failed:
        numbers = ", ".join(f"#{n}" for n in attention.failed_cases[:20])
        lines.append(f"Messages failed for good: {attention.failed}" + (f" (cases {numbers})" if numbers else ""))
    return lines


def queue_text(items: Sequence[QueueItem], attention: Attention | None = None) -> str:
    extra = attention_lines(attention)
    if not items:
        return "\n".join(["The queue is empty.", *extra])
    late = {c.case_id for c in attention.stuck} if attention else set()
    lines = ["Waiting (urgent first):"]
    for item in items:
        flag = "URGENT " if item.urgent else ""
        when = item.submitted_at.strftime("%Y-%m-%d %H:%M") if item.submitted_at else "?"
        mark = " (waiting too long)" if item.case_id in late else ""
        lines.append(f"{flag}#{item.case_id} {item.state.value} since {when}{mark} — /case {item.case_id}")
    return "\n".join([*lines, *extra])


def stats_text(s: Stats) -> str:
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(s.counts.items())) or "no cases"
    median = f"{s.median_seconds_to_answer / 3600:.1f} h" if s.median_seconds_to_answer is not None else "n/a"
    share = f"{100 * s.approved_unedited_share:.0f}%" if s.approved_unedited_share is not None else "n/a"
    text = (
        f"Cases by state: {counts}\nAnswered: {s.answered}; median time from submission to answer: {median}\n"
        f"Drafts approved unedited: {share} of approvals ({s.reviews} review actions in all)"
    )
    extra = attention_lines(s.attention) if s.attention is not None else []
    if s.attention is not None and not extra:
        extra = ["Nothing waits longer than the alert limit; no message failed for good."]
    return "\n".join([text, *extra, *safety_lines(s.safety)])


# -- safety checks (planted drafts, [review] canary_rate) ------------------------------------------


def safety_lines(rate: CatchRate | None) -> list[str]:
    """The catch rate of planted drafts, as one line (none when nothing was ever planted)."""
    if rate is None or not rate.planted:
        return []
    share = f"{100 * rate.rate:.0f}%" if rate.rate is not None else "n/a"
    return [
        f"Safety checks (planted faulty drafts): {rate.planted} planted, {rate.caught} caught, {rate.missed} "
        f"approved unedited (nothing sent); catch rate {share}; {rate.pending} waiting, {rate.superseded} superseded"
    ]
