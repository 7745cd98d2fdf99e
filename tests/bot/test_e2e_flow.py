"""End to end over real HTTP: patients and clinicians on the fake Bot API server, the real bot."""

from __future__ import annotations

from harness import CLINICIAN, button
from sqlalchemy import select

from dermvqa.states import CaseState
from dermvqa.storage.models import MessageLog, Review


async def test_happy_path_submit_draft_approve_deliver(harness):
    case_id = await harness.submit_case(1001)
    post = await harness.review_post(CLINICIAN, case_id)
    assert "Draft (model scripted-drafter" in post["plain_text"]
    assert harness.config.bot.disclaimer[:40] in post["plain_text"]
    labels = [b["text"] for row in post["reply_markup"]["inline_keyboard"] for b in row]
    assert any("Approve" in x for x in labels) and any("Edit" in x for x in labels)
    assert any("Regenerate" in x for x in labels) and any("Reject" in x for x in labels)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    answer = await harness.said(1001, f"Answer to your case #{case_id}")
    assert "mild eczema" in answer["plain_text"]
    assert answer["plain_text"].rstrip().endswith(harness.config.bot.disclaimer)
    await harness.wait_state(case_id, CaseState.ANSWERED)
    with harness.db.read() as session:
        review = session.scalar(select(Review))
        assert (review.action, review.clinician_id, review.final_text) == ("approve", CLINICIAN, review.draft_text)
        kinds = {(m.direction, m.kind.split(":")[0]) for m in session.scalars(select(MessageLog))}
    assert ("in", "photo") in kinds and ("in", "text") in kinds and ("out", "answer") in kinds


async def test_album_is_one_case_with_one_acknowledgement(harness):
    from harness import jpeg

    await harness.consent(1002)
    for i in range(3):
        harness.server.send_photo(
            1002,
            jpeg((i * 60, 90, 90)),
            media_group_id="album-1",
            caption="Rash on my arm, itchy for a week" if i == 0 else None,
        )
    note = await harness.said(1002, "3 photos received")
    assert len([r for r in harness.server.messages_to(1002) if "photos received" in (r["plain_text"] or "")]) == 1
    harness.server.press_button(1002, note, "submit")
    await harness.said(1002, "Your case number is #1")
    post = await harness.review_post(CLINICIAN, 1)
    album = [r for r in harness.server.messages_to(CLINICIAN) if r["media_group_id"]]
    assert len(album) == 3  # the clinician sees all three photos
    assert "Rash on my arm" in post["plain_text"]  # the album caption became the description


async def test_edit_then_preview_then_send(harness):
    case_id = await harness.submit_case(1003)
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    await harness.said(CLINICIAN, "Send the corrected answer")
    harness.server.send_text(CLINICIAN, "This is contact dermatitis. Avoid the new soap; use 1% hydrocortisone.")
    preview = await harness.said(CLINICIAN, "Preview of what the patient")
    assert harness.config.bot.disclaimer in preview["plain_text"]
    harness.server.press_button(CLINICIAN, preview, "ed:send")
    answer = await harness.said(1003, "contact dermatitis")
    assert "mild eczema" not in answer["plain_text"]
    await harness.wait_state(case_id, CaseState.ANSWERED)
    with harness.db.read() as session:
        review = session.scalar(select(Review))
        assert review.action == "edit" and "mild eczema" in review.draft_text and "hydrocortisone" in review.final_text
    closed = await harness.server.async_wait_for(
        lambda r: r["method"] == "editMessageText" and r["chat_id"] == CLINICIAN
    )
    assert "edited and approved by" in closed["plain_text"] and not closed["reply_markup"]


async def test_reject_with_reason_sends_the_kind_template(harness):
    case_id = await harness.submit_case(1004)
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:reject:"))
    await harness.said(CLINICIAN, "Send the reason")
    harness.server.send_text(CLINICIAN, "Needs dermoscopy; photo too blurry")
    confirm = await harness.said(CLINICIAN, "reason recorded")
    harness.server.press_button(CLINICIAN, confirm, "ed:send")
    message = await harness.said(1004, "see a doctor or dermatologist in person")
    assert "dermoscopy" not in message["plain_text"]  # the internal reason stays internal
    await harness.wait_state(case_id, CaseState.REJECTED)
    with harness.db.read() as session:
        assert session.scalar(select(Review.reason)) == "Needs dermoscopy; photo too blurry"


async def test_regenerate_queues_a_new_draft(harness):
    case_id = await harness.submit_case(1005)
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:regen:"))
    second = await harness.server.async_wait_for(
        lambda r: r["chat_id"] == CLINICIAN and r.get("reply_markup") and "rv:approve:1:2" in str(r["reply_markup"]),
        15,
    )
    harness.server.press_button(CLINICIAN, second, f"rv:approve:{case_id}:2")
    await harness.said(1005, f"Answer to your case #{case_id}")
    # The first post's stale Approve button cannot approve an outdated draft.
    with harness.db.read() as session:
        assert [r.action for r in session.scalars(select(Review).order_by(Review.id))] == ["regenerate", "approve"]


async def test_stranger_in_the_review_group_cannot_act_and_nothing_changes(tmp_path, server):
    from harness import REVIEW_GROUP, STRANGER, Harness

    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    h.start_worker()
    try:
        case_id = await h.submit_case(1006)
        post = await h.review_post(REVIEW_GROUP, case_id)  # the case goes to the group, not privately
        assert not [r for r in server.messages_to(CLINICIAN) if r.get("reply_markup")]
        server.press_button(STRANGER, post, button(post, "rv:approve:"))
        await server.async_wait_until(
            lambda: any("Not authorised" in (c.get("text") or "") for c in server.answered_callbacks),
            10,
            what="refusal",
        )
        server.send_text(STRANGER, "/queue")
        await h.said(STRANGER, "Not authorised")
        server.send_text(STRANGER, "/stats", chat_id=REVIEW_GROUP)
        await h.said(REVIEW_GROUP, "Not authorised")
        assert h.case_states()[case_id] == CaseState.AWAITING_REVIEW
        assert not [r for r in server.messages_to(STRANGER) if "I don't know the command" in (r["plain_text"] or "")]
        # A clinician in the same group can approve.
        server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
        await h.said(1006, f"Answer to your case #{case_id}")
    finally:
        await h.close()


async def test_clinician_commands_case_and_stats(harness):
    case_id = await harness.submit_case(1010)
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    await harness.wait_state(case_id, CaseState.ANSWERED)
    harness.server.send_text(CLINICIAN, "/stats")
    stats = await harness.said(CLINICIAN, "Cases by state")
    assert "answered: 1" in stats["plain_text"] and "100% of approvals" in stats["plain_text"]
    harness.server.send_text(CLINICIAN, f"/case {case_id}")
    shown = await harness.said(CLINICIAN, "Current state: answered")
    assert not shown.get("reply_markup")  # nothing to decide any more
    harness.server.send_text(CLINICIAN, "/case 999")
    await harness.said(CLINICIAN, "There is no case #999")
