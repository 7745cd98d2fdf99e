"""Restarts, a flaky Bot API server and a crowd: nothing lost, nothing sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from harness import CLINICIAN, CLINICIAN_2, Harness, button, jpeg
from sqlalchemy import func, select

from dermvqa.states import CaseState
from dermvqa.storage.models import OutboxMessage
from fake_telegram import FakeTelegramServer


async def test_bot_restart_between_submission_and_approval(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.start_worker()
    try:
        case_id = await h.submit_case(2001)
        post = await h.review_post(CLINICIAN, case_id)
        await h.stop_bot()  # the bot is down...
        server.press_button(CLINICIAN, post, button(post, "rv:edit:"))  # ...while the clinician acts
        await h.start_bot()
        await h.said(CLINICIAN, "Send the corrected answer")
        await h.stop_bot()  # down again between the button and the text
        server.send_text(CLINICIAN, "Corrected: seborrhoeic dermatitis; ketoconazole shampoo twice weekly.")
        await h.start_bot()
        preview = await h.said(CLINICIAN, "Preview of what the patient")
        server.press_button(CLINICIAN, preview, "ed:send")
        await h.said(2001, "seborrhoeic dermatitis")
        await h.wait_state(case_id, CaseState.ANSWERED)
        answers = [r for r in server.messages_to(2001) if "Answer to your case" in (r["plain_text"] or "")]
        assert len(answers) == 1
        assert len([r for r in server.messages_to(2001) if "Your case number is" in (r["plain_text"] or "")]) == 1
    finally:
        await h.close()


async def test_messages_owed_survive_a_restart_before_delivery(tmp_path, server):
    """An approval written while Telegram was unreachable is delivered by the next bot process."""
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.start_worker()
    try:
        case_id = await h.submit_case(2002)
        post = await h.review_post(CLINICIAN, case_id)
        server.fail_next("sendMessage", n=1000)  # every send fails from now on
        server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
        await h.wait_state(case_id, CaseState.APPROVED)
        await asyncio.sleep(0.3)
        await h.stop_bot()
        with h.db.read() as session:
            pending = session.scalar(
                select(func.count()).where(OutboxMessage.kind == "answer", OutboxMessage.state == "pending")
            )
        assert pending == 1
        server.clear_failures()
        await h.start_bot()
        await h.said(2002, f"Answer to your case #{case_id}", timeout=20)
        await h.wait_state(case_id, CaseState.ANSWERED)
    finally:
        await h.close()


@pytest.mark.slow
async def test_thirty_percent_failing_sends_still_deliver_everything_exactly_once(tmp_path):
    with FakeTelegramServer(fail_rate=0.3, seed=7) as flaky:
        h = Harness.create(tmp_path, flaky)
        await h.start_bot()
        h.service.sender.backoff_base, h.service.sender.backoff_max = 0.05, 0.5  # quick retries in tests
        # This test is about exactly-once delivery, not the give-up policy: with 30% of calls failing,
        # one row in a few hundred runs legitimately reaches the default 8 failed attempts.
        h.service.sender.max_attempts = h.service.sender.progress.max_attempts = 40
        h.start_worker()
        try:
            users = list(range(3001, 3006))
            cases = await asyncio.gather(*(h.submit_case(u) for u in users))
            for case_id in cases:
                post = await h.review_post(CLINICIAN, case_id)
                flaky.press_button(CLINICIAN, post, button(post, "rv:approve:"))
            for user, case_id in zip(users, cases, strict=True):
                await h.said(user, f"Answer to your case #{case_id}", timeout=30)
                await h.wait_state(case_id, CaseState.ANSWERED, timeout=30)
            await h.drained()
            assert flaky.failures_injected > 10
            # Exactly once: every text reached each chat once, despite the failures.
            for chat in [*users, CLINICIAN, CLINICIAN_2]:
                texts = Counter(r["plain_text"] for r in flaky.messages_to(chat) if r["method"] == "sendMessage")
                duplicated = {t: n for t, n in texts.items() if n > 1}
                assert duplicated == {}, (chat, duplicated)
            with h.db.read() as session:
                states = Counter(session.scalars(select(OutboxMessage.state)))
            assert states.get("failed", 0) == 0 and states.get("pending", 0) == 0
        finally:
            await h.close()


@pytest.mark.slow
async def test_a_hundred_patients_submit_at_once(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    try:
        users = list(range(5000, 5100))
        for user in users:  # consent, photo and description, then everyone presses Submit together
            await h.consent(user)
            server.send_photo(user, jpeg())
            server.send_text(user, f"Itchy rash number {user} on the left forearm since last month.")
        saved = [await h.said(u, "Description saved", timeout=30) for u in users]
        for user, message in zip(users, saved, strict=True):
            server.press_button(user, message, "submit")
        acks = [await h.said(u, "Your case number is #", timeout=60) for u in users]
        numbers = [int(a["plain_text"].split("#")[1].split(".")[0]) for a in acks]
        assert sorted(numbers) == list(range(1, 101))
        assert set(h.case_states().values()) == {CaseState.QUEUED}
        for user in users:
            assert len([r for r in server.messages_to(user) if "Your case number is" in (r["plain_text"] or "")]) == 1
    finally:
        await h.close()
