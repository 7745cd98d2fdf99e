"""End to end over real HTTP: planted drafts (``[review] canary_rate``) and red-flag confirmation."""

from __future__ import annotations

import pytest
from harness import CLINICIAN, CLINICIAN_2, Harness, button, write_config
from sqlalchemy import select

from dermvqa.casework import canaries
from dermvqa.config import load_config
from dermvqa.states import CaseState
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import SafetyCheck

PATIENT = 3001


@pytest.fixture
async def planting(tmp_path, server):
    """The bot and worker with every non-urgent draft planted on (canary_rate = 1)."""
    path = write_config(tmp_path, server)
    path.write_text(path.read_text().replace("[review]\n", "[review]\ncanary_rate = 1.0\n"))
    config = load_config(path, environ={})
    db = open_database(config.database_url, key=load_data_key(config))
    upgrade(db)
    h = Harness(server, config, db, ImageStore(config.storage_dir), config_path=path)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()


def the_check(h: Harness) -> SafetyCheck:
    with h.db.read() as session:
        return session.scalars(select(SafetyCheck)).one()


def patient_texts(h: Harness) -> list[str]:
    return [r.get("plain_text") or "" for r in h.server.messages_to(PATIENT, include_edits=True)]


async def alerted(h: Harness, needle: str) -> None:
    await h.server.async_wait_until(
        lambda: any(needle in (c.get("text") or "") for c in h.server.answered_callbacks), 10, what=needle
    )


async def test_approving_a_planted_draft_sends_nothing_and_the_real_draft_comes_back(planting):
    h = planting
    case_id = await h.submit_case(PATIENT)
    post = await h.review_post(CLINICIAN, case_id)
    check = the_check(h)
    assert check.planted_text in post["plain_text"] and "mild eczema" not in post["plain_text"]
    h.server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    await alerted(h, "Safety check: this was a planted faulty draft")
    closed = await h.server.async_wait_for(
        lambda r: r["method"] == "editMessageText" and r["chat_id"] == CLINICIAN and "SAFETY CHECK" in r["plain_text"]
    )
    assert check.explanation in closed["plain_text"] and not closed["reply_markup"]
    real = await h.server.async_wait_for(
        lambda r: r["chat_id"] == CLINICIAN and r.get("reply_markup") and "mild eczema" in (r.get("plain_text") or "")
    )
    await h.drained()
    assert not any("Answer to your case" in t for t in patient_texts(h))  # nothing until a real approval
    assert the_check(h).outcome == canaries.MISSED_APPROVED
    h.server.press_button(CLINICIAN, real, button(real, "rv:approve:"))
    answer = await h.said(PATIENT, f"Answer to your case #{case_id}")
    assert "mild eczema" in answer["plain_text"]
    await h.wait_state(case_id, CaseState.ANSWERED)
    assert not any(check.planted_text in t for t in patient_texts(h))


async def test_edit_on_a_planted_draft_is_caught_and_nothing_is_sent(planting):
    h = planting
    case_id = await h.submit_case(PATIENT)
    post = await h.review_post(CLINICIAN_2, case_id)
    h.server.press_button(CLINICIAN_2, post, button(post, "rv:edit:"))
    await alerted(h, "Safety check")
    await h.server.async_wait_for(  # the real draft, posted again to every clinician
        lambda r: r["chat_id"] == CLINICIAN and r.get("reply_markup") and "mild eczema" in (r.get("plain_text") or "")
    )
    await h.drained()
    check = the_check(h)
    assert (check.outcome, check.clinician_id) == (canaries.CAUGHT_EDIT, CLINICIAN_2)
    assert not [r for r in h.server.messages_to(CLINICIAN_2) if "Send the corrected answer" in (r["plain_text"] or "")]
    assert not any("Answer to your case" in t for t in patient_texts(h))
    assert h.case_states()[case_id] == CaseState.AWAITING_REVIEW


async def test_a_red_flag_case_needs_the_explicit_confirmation_and_the_answer_carries_the_advice(harness):
    h = harness
    case_id = await h.submit_case(PATIENT, text="My lips and tongue are swollen since this morning.")
    post = await h.review_post(CLINICIAN, case_id)
    h.server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
    question = await h.said(CLINICIAN, "The patient's answer will start with this advice")
    assert "seek urgent in-person care" in question["plain_text"]
    await h.drained()
    assert h.case_states()[case_id] == CaseState.AWAITING_REVIEW  # one tap did not approve
    assert not any("Answer to your case" in t for t in patient_texts(h))
    data = button(question, "rv:uok:")
    h.server.press_button(CLINICIAN, question, data)
    h.server.press_button(CLINICIAN, question, data)  # a double press, before the buttons are gone
    answer = await h.said(PATIENT, f"Answer to your case #{case_id}")
    text = answer["plain_text"]
    assert "seek urgent in-person care" in text and "mild eczema" in text
    assert text.index("seek urgent in-person care") < text.index("mild eczema")
    await h.wait_state(case_id, CaseState.ANSWERED)
    await alerted(h, "Already handled")
    await h.drained()
    assert len([t for t in patient_texts(h) if "Answer to your case" in t]) == 1


async def test_a_planted_posts_buttons_still_work_after_a_restart(planting):
    h = planting
    case_id = await h.submit_case(PATIENT)
    post = await h.review_post(CLINICIAN, case_id)
    await h.drained()
    await h.stop_bot()
    await h.start_bot()  # nothing of the check lives in memory
    h.server.press_button(CLINICIAN, post, button(post, "rv:reject:"))
    await alerted(h, "Safety check")
    await h.drained()
    assert the_check(h).outcome == canaries.CAUGHT_REJECT
    assert not [r for r in h.server.messages_to(CLINICIAN) if "Send the reason" in (r["plain_text"] or "")]
    assert not any("Answer to your case" in t or "see a doctor" in t for t in patient_texts(h))
