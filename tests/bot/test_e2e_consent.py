"""Consent that says what happens: the service question, then a separate training question, both
stored with the consent text's version; /privacy shows and changes them. Over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from harness import CLINICIAN, Harness, button
from sqlalchemy import func, select

from dermvqa.casework.intake import CONSENT_VERSION
from dermvqa.storage.models import Patient, utcnow
from training.sources import approved_cases

RETENTION = {"answered_days": 200, "rejected_days": 100, "withdrawn_days": 7, "message_log_days": 14}


@pytest.fixture
async def harness(tmp_path, server):
    h = Harness.create(tmp_path, server, retention=RETENTION)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()


def patient_row(h: Harness, user: int) -> Patient | None:
    with h.db.read() as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == user))
        if patient is not None:
            session.expunge(patient)
        return patient


def buttons(message: dict) -> list[str]:
    return [b["callback_data"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def today() -> str:
    now = utcnow()
    return f"{now.day} {now:%B %Y}"


async def test_two_questions_say_what_happens_and_both_answers_are_stored_with_the_version(harness):
    harness.server.send_text(5001, "/start")
    welcome = await harness.said(5001, "Do you agree")
    text = welcome["plain_text"]
    assert "stored encrypted" in text and "Only the clinicians of this service see them" in text
    # The periods come from [retention]: these are the test's, not the defaults.
    assert "deleted 200 days after it was answered" in text
    assert "100 days after a clinician closed it without an answer" in text
    assert "7 days after you withdrew it" in text
    assert "The record of our conversation is deleted after 14 days" in text
    assert "/delete" in text and "separate question" in text and "anonymised" not in text
    assert buttons(welcome) == ["consent:yes", "consent:no"]  # only the first question so far

    harness.server.press_button(5001, welcome, "consent:yes")
    await harness.said(5001, "Thank you. Send up to")
    question = await harness.said(5001, "improve the computer model?")
    assert buttons(question) == ["train:yes", "train:no"]
    stored = patient_row(harness, 5001)
    assert stored.consent_version == CONSENT_VERSION == "2026-12" and stored.consent_at is not None
    assert stored.training_consent is None and stored.training_consent_at is None  # asked, not answered yet

    harness.server.press_button(5001, question, "train:no")
    await harness.said(5001, "Saved: your cases will not be used to improve the model")
    stored = patient_row(harness, 5001)
    assert stored.training_consent is False and stored.training_consent_at is not None
    assert stored.consent_version == CONSENT_VERSION
    assert harness.server.current_message(5001, question["message_id"]).get("reply_markup") in (None, {})


async def test_a_patient_who_declined_training_is_served_and_never_trains_the_model(harness):
    declined = await harness.submit_case(5002, training=False)
    agreed = await harness.submit_case(5003, text="Dry flaky skin on both hands since the winter.")
    for user, case_id in ((5002, declined), (5003, agreed)):
        post = await harness.review_post(CLINICIAN, case_id)
        harness.server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
        await harness.said(user, f"Answer to your case #{case_id}")
    with harness.db.read() as session:
        assert [e.key for e in approved_cases(session, harness.store)] == [f"case:{agreed}"]


async def test_privacy_shows_the_answers_and_changes_the_training_one(harness):
    await harness.consent(5004, training=True)
    first = patient_row(harness, 5004).training_consent_at
    harness.server.send_text(5004, "/privacy")
    shown = await harness.said(5004, "Your privacy settings")
    text = shown["plain_text"]
    assert f"given on {today()} (consent text version {CONSENT_VERSION})" in text
    assert f"improve the model: yes, since {today()}" in text
    assert "deleted 200 days after it was answered" in text and "after 14 days" in text
    assert buttons(shown) == ["privacy:yes", "privacy:no"]

    harness.server.press_button(5004, shown, "privacy:no")
    await harness.said(5004, "Changed: your cases will not be used")
    changed = patient_row(harness, 5004)
    assert changed.training_consent is False and changed.training_consent_at >= first
    assert changed.consent_version == CONSENT_VERSION  # the service consent is untouched

    harness.server.send_text(5004, "/privacy")
    await harness.server.async_wait_until(
        lambda: any(
            "improve the model: no, since" in (r.get("plain_text") or "") for r in harness.server.messages_to(5004)
        ),
        10,
        what="/privacy showing the changed answer",
    )
    shown_again = [
        r for r in harness.server.messages_to(5004) if "Your privacy settings" in (r.get("plain_text") or "")
    ]
    harness.server.press_button(5004, shown_again[-1], "privacy:yes")
    await harness.said(5004, "Changed: your approved cases may now be used")
    assert patient_row(harness, 5004).training_consent is True


async def test_privacy_is_in_the_menu_and_help_and_keeps_nothing_before_consent(harness):
    assert "privacy" in [c["command"] for c in harness.server.my_commands()]
    harness.server.send_text(5005, "/help")
    help_text = await harness.said(5005, "/privacy - ")
    assert "/delete" in help_text["plain_text"]
    harness.server.send_text(5006, "/privacy")
    answer = await harness.said(5006, "You have not agreed to this service")
    assert buttons(answer) == []
    with harness.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Patient).where(Patient.telegram_user_id == 5006)) == 0


async def test_the_training_question_survives_a_restart_and_is_asked_again_if_unanswered(harness):
    await harness.consent(5007, training=None)
    question = await harness.said(5007, "improve the computer model?")
    await harness.stop_bot()
    await harness.start_bot()  # the conversation is rebuilt from the database
    harness.server.press_button(5007, question, "train:yes")
    await harness.said(5007, "Saved: your approved cases may be used")
    assert patient_row(harness, 5007).training_consent is True

    # A patient who consented under the earlier text: /start shows the current text and both questions.
    with harness.db.write() as session:
        old = Patient(
            telegram_user_id=5008,
            chat_id=5008,
            consent_at=utcnow() - dt.timedelta(days=30),
            consent_version="2026-11",
        )
        session.add(old)
    harness.server.send_text(5008, "/start")
    welcome = await harness.said(5008, "Do you agree")
    harness.server.press_button(5008, welcome, "consent:yes")
    again = await harness.said(5008, "improve the computer model?")
    harness.server.press_button(5008, again, "train:no")
    await harness.said(5008, "Saved: your cases will not be used")
    assert patient_row(harness, 5008).training_consent is False


async def test_consent_to_an_earlier_text_is_asked_again(harness):
    from harness import jpeg
    from sqlalchemy import update

    from dermvqa.storage.models import Patient

    await harness.consent(5301)
    with harness.db.write() as session:  # this patient agreed before the consent text changed
        session.execute(update(Patient).where(Patient.telegram_user_id == 5301).values(consent_version="2026-11"))
    await harness.stop_bot()  # a new text ships with a new deployment
    await harness.start_bot()
    asked_before = len([r for r in harness.server.messages_to(5301) if "Do you agree" in (r["plain_text"] or "")])
    harness.server.send_photo(5301, jpeg())
    await harness.server.async_wait_until(
        lambda: len([r for r in harness.server.messages_to(5301) if "Do you agree" in (r["plain_text"] or "")])
        > asked_before
    )
    assert harness.photos_of(5301) == 0  # nothing kept until the patient agrees to the current text
