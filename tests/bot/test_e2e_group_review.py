"""Review in a group as Telegram really behaves: privacy mode on, no admin rights, ForceReply prompts;
images sent as files; descriptions measured in UTF-16 units."""

from __future__ import annotations

import pytest
from harness import CLINICIAN, CLINICIAN_2, REVIEW_GROUP, Harness, answer_prompt, button, jpeg
from sqlalchemy import select

from bot.telegram_limits import MESSAGE_LIMIT, utf16_len
from dermvqa.states import CaseState
from dermvqa.storage.models import OutboxMessage, Review

EMOJI = "🙂"  # two UTF-16 units


@pytest.fixture
async def group(tmp_path, server):
    assert server.privacy_mode  # Telegram's default for bots in groups
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP, max_description_chars=4000)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()


def _previews(h: Harness) -> list[str]:
    return [r["plain_text"] for r in h.server.messages_to(REVIEW_GROUP) if "Preview of what" in (r["plain_text"] or "")]


def _no_failed_sends(h: Harness) -> None:
    """No send or edit was refused by Telegram, and no outbox row failed."""
    refused = [e for e in h.server.errors if e["method"].startswith(("send", "edit")) and not e["injected"]]
    assert not refused, refused
    with h.db.read() as session:
        assert not session.scalars(select(OutboxMessage).where(OutboxMessage.state == "failed")).all()


async def test_edit_in_a_privacy_mode_group_through_the_force_reply(group):
    h, server = group, group.server
    case_id = await h.submit_case(2001)
    post = await h.review_post(REVIEW_GROUP, case_id)
    server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    prompt = await h.said(REVIEW_GROUP, f"send the corrected answer for case #{case_id}")
    # The prompt names the clinician (text_mention) so that the selective ForceReply opens for them only.
    assert prompt["message"]["entities"][0]["type"] == "text_mention"
    assert prompt["message"]["entities"][0]["user"]["id"] == CLINICIAN
    # A plain group message never reaches a bot in privacy mode, and breaks nothing.
    server.send_text(CLINICIAN, "Colleagues, I am fixing case one now", chat_id=REVIEW_GROUP)
    assert any("fixing case" in u["message"]["text"] for u in server.withheld_updates)
    # A colleague's reply to the prompt reaches the bot but is not taken as the clinician's answer.
    server.send_text(
        CLINICIAN_2, "Not my prompt but here is text", chat_id=REVIEW_GROUP, reply_to_message_id=prompt["message_id"]
    )
    server.reply_to_prompt(CLINICIAN, prompt, "Contact dermatitis. Avoid the new soap; use 1% hydrocortisone.")
    preview = await h.said(REVIEW_GROUP, "Preview of what the patient")
    assert "hydrocortisone" in preview["plain_text"]
    assert not any("Not my prompt" in p or "fixing case" in p for p in _previews(h))
    server.press_button(CLINICIAN, preview, "ed:send")
    answer = await h.said(2001, "Contact dermatitis")
    assert "mild eczema" not in answer["plain_text"]
    await h.wait_state(case_id, CaseState.ANSWERED)
    await h.drained()
    _no_failed_sends(h)


async def test_change_then_reject_and_cancel_in_the_group(group):
    h, server = group, group.server
    case_id = await h.submit_case(2002)
    post = await h.review_post(REVIEW_GROUP, case_id)
    server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    await answer_prompt(h, REVIEW_GROUP, CLINICIAN, "send the corrected answer", "First try.")
    preview = await h.said(REVIEW_GROUP, "Preview of what the patient")
    server.press_button(CLINICIAN, preview, "ed:change")
    await answer_prompt(h, REVIEW_GROUP, CLINICIAN, "send the new text", "Second try, better.")
    second = await h.server.async_wait_for(
        lambda r: r["chat_id"] == REVIEW_GROUP and "Second try" in (r["plain_text"] or "") and r["reply_markup"]
    )
    server.press_button(CLINICIAN, second, "ed:cancel")
    await h.server.async_wait_until(
        lambda: any("Cancelled" in (c["text"] or "") for c in server.answered_callbacks), what="cancel"
    )
    assert h.case_states()[case_id] == CaseState.AWAITING_REVIEW
    # Reject, by another clinician, with the reason as a reply to their own prompt.
    server.press_button(CLINICIAN_2, post, button(post, "rv:reject:"))
    prompt = await h.said(REVIEW_GROUP, f"send the reason for rejecting case #{case_id}")
    with pytest.raises(ValueError, match="selective"):
        server.reply_to_prompt(CLINICIAN, prompt, "not for me")  # the prompt names CLINICIAN_2 only
    server.reply_to_prompt(CLINICIAN_2, prompt, "Needs dermoscopy; photo too blurry")
    confirm = await h.said(REVIEW_GROUP, "reason recorded")
    server.press_button(CLINICIAN_2, confirm, "ed:send")
    await h.said(2002, "see a doctor or dermatologist in person")
    await h.wait_state(case_id, CaseState.REJECTED)
    with h.db.read() as session:
        assert session.scalar(select(Review.reason).where(Review.action == "reject")) == (
            "Needs dermoscopy; photo too blurry"
        )


async def test_approve_regenerate_and_commands_in_the_group(group):
    h, server = group, group.server
    first = await h.submit_case(2003)
    second = await h.submit_case(2004)
    post = await h.review_post(REVIEW_GROUP, second)
    server.press_button(CLINICIAN, post, button(post, "rv:regen:"))
    newer = await server.async_wait_for(
        lambda r: r["chat_id"] == REVIEW_GROUP and f"rv:approve:{second}:" in str(r["reply_markup"])
        and r["message_id"] != post["message_id"],
        15,
    )
    server.press_button(CLINICIAN, newer, button(newer, "rv:approve:"))
    await h.said(2004, f"Answer to your case #{second}")
    server.send_text(CLINICIAN, "/queue@dermbot_test", chat_id=REVIEW_GROUP)
    queue = await h.said(REVIEW_GROUP, "Waiting (urgent first)")
    assert f"#{first}" in queue["plain_text"] and f"#{second} " not in queue["plain_text"]
    server.send_text(CLINICIAN, f"/case {first}", chat_id=REVIEW_GROUP)
    shown = await server.async_wait_for(
        lambda r: r["chat_id"] == REVIEW_GROUP and r["reply_markup"] and f"Case #{first}" in (r["plain_text"] or "")
        and r["message_id"] > queue["message_id"]
    )
    server.press_button(CLINICIAN, shown, button(shown, "rv:approve:"))
    await h.said(2003, f"Answer to your case #{first}")
    server.send_text(CLINICIAN, "/stats", chat_id=REVIEW_GROUP)
    stats = await h.said(REVIEW_GROUP, "Cases by state")
    assert "answered: 2" in stats["plain_text"] or "approved" in stats["plain_text"]
    await h.drained()
    _no_failed_sends(h)


async def test_image_sent_as_a_file_reaches_the_group_as_a_document(group):
    h, server = group, group.server
    await h.consent(2005)
    server.send_document(2005, jpeg(size=(200, 150)), file_name="elbow.jpg", mime_type="image/jpeg")
    await h.said(2005, "Photo 1 of")
    server.send_photo(2005, jpeg((10, 200, 30)))
    await h.said(2005, "Photo 2 of")
    server.send_text(2005, "Dry scaly patch on the elbow for a month.")
    saved = await h.said(2005, "Description saved")
    server.press_button(2005, saved, "submit")
    await h.said(2005, "Your case number is #")
    post = await h.review_post(REVIEW_GROUP, 1)
    media = [r for r in server.messages_to(REVIEW_GROUP) if r["photo"] or r["document"]]
    assert [("photo" if r["photo"] else "document") for r in media] == ["document", "photo"]
    assert media[0]["upload_size"]  # our cleaned copy is uploaded, not the original's file id (EXIF)
    assert media[0]["document"]["file_name"] == "photo-1.jpg"
    server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    await h.said(2005, "Answer to your case #1")
    await h.wait_state(1, CaseState.ANSWERED)
    assert not [e for e in server.errors if "mismatch" in e["description"]]
    await h.drained()
    _no_failed_sends(h)


async def test_emoji_description_over_4096_utf16_units_still_makes_a_review_post(group):
    h, server = group, group.server
    await h.consent(2006)
    server.send_photo(2006, jpeg())
    await h.said(2006, "Photo 1 of")
    chunk = " ".join([EMOJI * 9 + "."] * 150)  # 1499 characters, 2849 UTF-16 units
    for _ in range(2):
        server.send_text(2006, chunk)
        saved = await h.said(2006, "Description saved", timeout=10)
    server.press_button(2006, saved, "submit")
    await h.said(2006, "Your case number is #")
    post = await h.review_post(REVIEW_GROUP, 1)
    texts = [r["plain_text"] for r in server.messages_to(REVIEW_GROUP) if r["plain_text"]]
    assert sum(utf16_len(t) for t in texts) > MESSAGE_LIMIT and len(" ".join(texts)) < 2 * MESSAGE_LIMIT
    assert all(utf16_len(t) <= MESSAGE_LIMIT for t in texts)
    assert post["plain_text"].startswith("Case #1 (continued)") and "Draft (model" in post["plain_text"]
    server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    await h.wait_state(1, CaseState.ANSWERED)
    _no_failed_sends(h)
