"""/delete end to end over real HTTP: a patient's case is edited and answered, another rejected with a
reason; after /delete nothing of them is left in the database or the photo store except the audit rows
of the clinicians' decisions, which still say who decided what about each case number."""

from __future__ import annotations

import asyncio

from harness import CLINICIAN, answer_prompt, button, jpeg
from sqlalchemy import func, select
from support.erasure import leftovers

from dermvqa.casework.audit import decisions_for_case
from dermvqa.states import CaseState
from dermvqa.storage.models import CaseAudit, OutboxMessage

PATIENT = 6001
WORDS = ("Marmaladepatch", "Quillrash", "Tundrascale", "Saffronwheal")


async def said_after(h, after: int, needle: str) -> dict:
    """The bot's newer message to the patient containing ``needle`` (not one from the first case)."""
    return await h.server.async_wait_for(
        lambda r: r["chat_id"] == PATIENT and r["message_id"] > after and needle in (r.get("plain_text") or ""), 10
    )


async def test_delete_after_edit_and_reject_leaves_only_audit_rows(harness):
    h = harness
    first = await h.submit_case(PATIENT, text=f"Itchy {WORDS[0]} on both elbows for three weeks.")
    post = await h.review_post(CLINICIAN, first)
    h.server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    await answer_prompt(h, CLINICIAN, CLINICIAN, "Send the corrected answer", f"This is {WORDS[1]}; use an emollient.")
    preview = await h.said(CLINICIAN, "Preview of what the patient")
    assert WORDS[1] in preview["plain_text"]
    h.server.press_button(CLINICIAN, preview, "ed:send")
    await h.said(PATIENT, WORDS[1])
    await h.wait_state(first, CaseState.ANSWERED)

    last = max(r["message_id"] for r in h.server.messages_to(PATIENT))
    h.server.send_photo(PATIENT, jpeg((10, 200, 30)))
    await said_after(h, last, "Photo 1 of")
    h.server.send_text(PATIENT, f"A new {WORDS[2]} on my left knee since Monday.")
    saved = await said_after(h, last, "Description saved")
    h.server.press_button(PATIENT, saved, "submit")
    ack = await said_after(h, last, "Your case number is #")
    second = int(ack["plain_text"].split("#")[1].split(".")[0])
    post = await h.review_post(CLINICIAN, second)
    h.server.press_button(CLINICIAN, post, button(post, "rv:reject:"))
    await answer_prompt(h, CLINICIAN, CLINICIAN, "Send the reason", f"Looks like {WORDS[3]}, needs dermoscopy")
    confirm_reason = await h.said(CLINICIAN, "reason recorded")
    assert WORDS[3] in confirm_reason["plain_text"]
    h.server.press_button(CLINICIAN, confirm_reason, "ed:send")
    await h.said(PATIENT, "see a doctor or dermatologist in person")
    await h.wait_state(second, CaseState.REJECTED)
    await h.drained()
    assert leftovers(h.db, user_id=PATIENT, chat_id=PATIENT, case_ids=[first, second], words=WORDS)  # all there

    h.server.send_text(PATIENT, "/delete")
    confirm = await h.said(PATIENT, "permanently deletes")
    h.server.press_button(PATIENT, confirm, "delete:yes")
    await h.said(PATIENT, "All your data")
    await h.drained()

    def notice_rows() -> int:
        with h.db.read() as session:
            return session.scalar(select(func.count()).where(OutboxMessage.chat_id == PATIENT)) or 0

    for _ in range(100):  # the delivered notice removes its own row
        if not notice_rows():
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # incoming messages are stored in small batches: let a late one land
    left = leftovers(h.db, user_id=PATIENT, chat_id=PATIENT, case_ids=[first, second], words=WORDS)
    assert left == [], "\n".join(left)
    assert not [f for f in h.config.storage_dir.rglob("*") if f.is_file()]
    with h.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CaseAudit)) == 2
    assert [(e.action, e.clinician_id) for e in decisions_for_case(h.db, first)] == [("edit", CLINICIAN)]
    assert [(e.action, e.clinician_id) for e in decisions_for_case(h.db, second)] == [("reject", CLINICIAN)]
    # The clinician's previews quoting the edited answer and the reason are withdrawn like the review posts.
    for shown in (preview, confirm_reason):
        await h.server.async_wait_until(
            lambda m=shown: h.server.current_message(CLINICIAN, m["message_id"]) is None,
            10,
            what="the preview to be deleted",
        )
