"""Patients' bad input gets a clear, specific message and loses nothing; commands at every step."""

from __future__ import annotations

import asyncio

from harness import CLINICIAN, CLINICIAN_2, Harness, button, jpeg
from sqlalchemy import func, select

from dermvqa.states import CaseState
from dermvqa.storage.models import Case, MessageLog, Patient


async def test_nothing_is_stored_before_consent_and_a_refusal_is_respected(harness):
    harness.server.send_text(4001, "Hi, I have a rash on my neck")  # before /start
    welcome = await harness.said(4001, "Do you agree")
    harness.server.send_photo(4001, jpeg())
    await harness.said(4001, "please read the note above")
    harness.server.press_button(4001, welcome, "consent:no")
    await harness.said(4001, "We have not kept anything except your refusal")
    with harness.db.read() as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == 4001))
        assert patient.consent_at is None and patient.refused_at is not None
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(MessageLog).where(MessageLog.direction == "in")) == 0


async def test_bad_files_are_refused_with_reasons_and_nothing_is_lost(tmp_path, server):
    h = Harness.create(tmp_path, server, max_photos=2, max_file_bytes=300_000)
    await h.start_bot()
    try:
        await h.consent(4002)
        server.send_photo(4002, jpeg())
        await h.said(4002, "Photo 1 of 2")
        server.send_photo(4002, b"\xff\xd8\xff\xe0 definitely not a jpeg")
        await h.said(4002, "could not be read as a photo")
        server.send_document(4002, b"%PDF-1.4 ...", file_name="report.pdf", mime_type="application/pdf")
        await h.said(4002, "Only photos can be added")
        server.send_document(4002, b"\x00" * 400_000, file_name="huge.jpg", mime_type="image/jpeg")
        await h.said(4002, "larger than the 0 MB limit")
        server.send_document(4002, jpeg(size=(200, 150)), file_name="second.jpg", mime_type="image/jpeg")
        await h.said(4002, "Photo 2 of 2")
        server.send_photo(4002, jpeg((1, 2, 3)))
        await h.said(4002, "at most 2 photos")
        server.send_text(4002, "/frobnicate")
        await h.said(4002, "I don't know the command /frobnicate")
        server.send_text(4002, "x" * 2500)
        await h.said(4002, "at most 2000 characters")
        server.send_text(4002, "Red itchy ring on my wrist.")
        saved = await h.said(4002, "Description saved (27 of 2000")
        assert h.photos_of(4002) == 2  # both good photos kept through every refusal
        server.press_button(4002, saved, "submit")
        await h.said(4002, "Your case number is #1")
    finally:
        await h.close()


async def test_submit_needs_a_photo_and_a_description(harness):
    await harness.consent(4003)
    harness.server.send_text(4003, "/done")
    await harness.said(4003, "nothing to submit yet")
    harness.server.send_text(4003, "Scaly patch on my scalp")
    await harness.said(4003, "Please also send at least one photo")
    harness.server.send_text(4003, "/done")
    await harness.said(4003, "send at least one photo of the skin problem before submitting")
    harness.server.send_photo(4003, jpeg())
    await harness.said(4003, "Photo 1 of")
    harness.server.send_text(4003, "/done")
    await harness.said(4003, "Your case number is #1")


async def test_urgent_red_flags_warn_at_once_and_jump_the_queue(harness):
    harness.stop_worker()  # keep both cases queued to see the order
    normal = await harness.submit_case(4004)
    urgent = await harness.submit_case(4005, text="My lips and tongue are swollen after a new cream, and it itches.")
    advice = await harness.said(4005, "seek urgent in-person care now")
    assert "swelling of the lips, face, tongue or throat" in advice["plain_text"]
    await harness.said(CLINICIAN, f"URGENT case #{urgent}")
    harness.server.send_text(CLINICIAN, "/queue")
    queue = await harness.said(CLINICIAN, "Waiting (urgent first)")
    assert queue["plain_text"].index(f"#{urgent}") < queue["plain_text"].index(f"#{normal}")
    harness.start_worker()
    post = await harness.review_post(CLINICIAN, urgent)
    assert "URGENT: swelling of the lips, face, tongue or throat" in post["plain_text"]


async def test_status_cancel_and_delete(harness):
    case_id = await harness.submit_case(4006)
    harness.server.send_text(4006, "/status")
    status = await harness.said(4006, "Your cases:")
    assert f"#{case_id}" in status["plain_text"]
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.send_text(4006, "/cancel")
    await harness.said(4006, f"Your case #{case_id} has been withdrawn")
    await harness.wait_state(case_id, CaseState.WITHDRAWN)
    closed = await harness.server.async_wait_for(
        lambda r: r["method"] == "editMessageText" and r["chat_id"] == CLINICIAN
    )
    assert "withdrawn by the patient" in closed["plain_text"]
    # Delete everything: rows, photo files, the conversation; the review posts are removed.
    files = list((harness.config.storage_dir).rglob("*"))
    assert any(f.is_file() for f in files)
    harness.server.send_text(4006, "/delete")
    confirm = await harness.said(4006, "permanently deletes")
    harness.server.press_button(4006, confirm, "delete:yes")
    await harness.said(4006, "All your data")
    with harness.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
        assert session.scalar(select(func.count()).select_from(Case)) == 0
        assert session.scalar(select(func.count()).select_from(MessageLog).where(MessageLog.user_id == 4006)) == 0
    assert not [f for f in harness.config.storage_dir.rglob("*") if f.is_file()]
    await harness.server.async_wait_until(
        lambda: harness.server.current_message(CLINICIAN, post["message_id"]) is None,
        10,
        what="the review post to be deleted",
    )


async def test_two_clinicians_press_approve_at_once(harness):
    case_id = await harness.submit_case(4007)
    post1 = await harness.review_post(CLINICIAN, case_id)
    post2 = await harness.review_post(CLINICIAN_2, case_id)
    harness.server.press_button(CLINICIAN, post1, button(post1, "rv:approve:"))
    harness.server.press_button(CLINICIAN_2, post2, button(post2, "rv:approve:"))
    await harness.said(4007, f"Answer to your case #{case_id}")
    await harness.server.async_wait_until(
        lambda: any("Already handled" in (c.get("text") or "") for c in harness.server.answered_callbacks),
        10,
        what="the second clinician to be told",
    )
    await harness.drained()
    await asyncio.sleep(0.2)
    answers = [r for r in harness.server.messages_to(4007) if "Answer to your case" in (r["plain_text"] or "")]
    assert len(answers) == 1


async def test_long_answers_are_split_at_sentences(harness):
    case_id = await harness.submit_case(4008)
    post = await harness.review_post(CLINICIAN, case_id)
    harness.server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    await harness.said(CLINICIAN, "Send the corrected answer")
    long_text = " ".join(f"Sentence number {i} explains one more step of the treatment plan." for i in range(61))
    assert 3800 < len(long_text) <= 4096  # the most a client can send; with the disclaimer it is longer
    harness.server.send_text(CLINICIAN, long_text)
    preview = await harness.server.async_wait_for(  # the preview's last part holds the buttons
        lambda r: r["chat_id"] == CLINICIAN and "ed:send" in str(r.get("reply_markup")), 10
    )
    harness.server.press_button(CLINICIAN, preview, "ed:send")
    await harness.said(4008, harness.config.bot.disclaimer[-30:])  # the end of the last part
    parts = [r["plain_text"] for r in harness.server.messages_to(4008) if r["method"] == "sendMessage"]
    answer_parts = parts[parts.index(next(p for p in parts if p.startswith("Answer to your case"))) :]
    assert len(answer_parts) >= 2 and all(len(p) <= 4096 for p in answer_parts)
    assert all(p.rstrip().endswith((".", harness.config.bot.disclaimer[-1])) for p in answer_parts)
