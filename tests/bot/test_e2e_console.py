"""The clinician console end to end over HTTP: /stats with figures and a chart, /templates, and a
template offered by Edit that goes through the confirm step to the patient."""

from __future__ import annotations

import io

from harness import CLINICIAN, CLINICIAN_2, REVIEW_GROUP, STRANGER, Harness, button
from PIL import Image
from sqlalchemy import select

from dermvqa.metrics.review_report import STUDY_LINE
from dermvqa.states import CaseState
from dermvqa.storage.models import ReplyTemplate, Review


async def test_stats_sends_the_figures_and_a_chart_photo(harness):
    server = harness.server
    case_id = await harness.submit_case(1101)
    post = await harness.review_post(CLINICIAN, case_id)
    server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    await harness.wait_state(case_id, CaseState.ANSWERED)
    server.send_text(CLINICIAN, "/stats 7d")
    stats = await harness.said(CLINICIAN, "Cases by state")
    text = stats["plain_text"]
    assert "100% of approvals" in text  # the all-time counts are still there
    assert f"Clinician {CLINICIAN}: 1 decisions: approved unedited 100%" in text and "Period " in text
    assert "to answer: p50" in text and STUDY_LINE in text
    photo = await server.async_wait_for(
        lambda r: r["method"] == "sendPhoto" and "Decisions and times to answer" in (r["plain_caption"] or ""), 15
    )
    assert photo["chat_id"] == CLINICIAN and photo["upload_size"]  # uploaded bytes, not a file id
    with Image.open(io.BytesIO(server.file_bytes(photo["photo"][-1]))) as chart:
        assert chart.format == "PNG" and chart.size == (1200, 500)
    server.send_text(CLINICIAN, "/stats last-week")
    await harness.said(CLINICIAN, "Usage: /stats [PERIOD]")


async def test_templates_add_list_replace_remove_and_refusals(harness):
    server = harness.server
    server.send_text(CLINICIAN, "/templates")
    await harness.said(CLINICIAN, "You have no templates yet")
    server.send_text(CLINICIAN, "/templates add followup Case #{case}: please send a new photo.\nThanks, {date}")
    await harness.said(CLINICIAN, "Template followup added")
    server.send_text(CLINICIAN, "/templates add bad Dear {patient}")
    await harness.said(CLINICIAN, "unknown placeholder {patient}")
    server.send_text(CLINICIAN, "/templates list")
    listed = await harness.said(CLINICIAN, "Your templates")
    assert "- followup: Case #{case}: please send a new photo. Thanks, {date}" in listed["plain_text"]
    with harness.db.read() as session:
        assert session.scalar(select(ReplyTemplate.text)).endswith("photo.\nThanks, {date}")  # line breaks kept
    server.send_text(STRANGER, "/templates add mine Hello")
    await harness.said(STRANGER, "Not authorised")
    server.send_text(CLINICIAN, "/templates remove followup")
    await harness.said(CLINICIAN, "Template followup removed")
    server.send_text(CLINICIAN, "/templates frobnicate")
    await harness.said(CLINICIAN, "Usage: /templates")
    with harness.db.read() as session:
        assert session.scalar(select(ReplyTemplate.id)) is None


async def test_edit_offers_a_template_which_goes_through_the_confirm_step(harness):
    server = harness.server
    server.send_text(CLINICIAN, "/templates add dermoscopy Case {case} needs a closer look: please book a visit.")
    await harness.said(CLINICIAN, "Template dermoscopy added")
    case_id = await harness.submit_case(1102)
    post = await harness.review_post(CLINICIAN, case_id)
    server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
    await harness.said(CLINICIAN, "Send the corrected answer")
    offer = await harness.said(CLINICIAN, "Or use one of your templates")
    server.press_button(CLINICIAN, offer, button(offer, "tp:"))
    preview = await harness.said(CLINICIAN, "Preview of what the patient")
    expanded = f"Case {case_id} needs a closer look: please book a visit."
    assert expanded in preview["plain_text"] and harness.config.bot.disclaimer in preview["plain_text"]
    assert harness.case_states()[case_id] == CaseState.AWAITING_REVIEW  # nothing sent before the confirm
    server.press_button(CLINICIAN, preview, "ed:send")
    answer = await harness.said(1102, expanded)
    assert "mild eczema" not in answer["plain_text"]
    await harness.wait_state(case_id, CaseState.ANSWERED)
    with harness.db.read() as session:
        review = session.scalar(select(Review))
        assert review.action == "edit" and review.final_text == expanded


async def test_in_the_review_group_only_the_editing_clinician_can_use_their_template(tmp_path, server):
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    h.start_worker()
    try:
        server.send_text(CLINICIAN, "/templates add visit Case {case}: please book an in-person visit.")
        await h.said(CLINICIAN, "Template visit added")
        case_id = await h.submit_case(1103)
        post = await h.review_post(REVIEW_GROUP, case_id)
        server.press_button(CLINICIAN, post, button(post, "rv:edit:"))
        offer = await h.said(REVIEW_GROUP, "Or use one of your templates")
        server.press_button(CLINICIAN_2, offer, button(offer, "tp:"))  # a colleague without an Edit under way
        await server.async_wait_until(
            lambda: any("press Edit under a case first" in (c.get("text") or "") for c in server.answered_callbacks),
            10,
            what="the colleague's refusal",
        )
        server.press_button(CLINICIAN, offer, button(offer, "tp:"))
        preview = await h.said(REVIEW_GROUP, "Preview of what the patient")
        server.press_button(CLINICIAN, preview, "ed:send")
        await h.said(1103, f"Case {case_id}: please book an in-person visit.")
        assert len([r for r in server.messages_to(REVIEW_GROUP) if "Preview of what" in (r["plain_text"] or "")]) == 1
    finally:
        await h.close()
