"""Nothing waits unseen: the bot's watchdog tells the clinicians, once, what is stuck or failed."""

from __future__ import annotations

import asyncio
import dataclasses

from harness import CLINICIAN, CLINICIAN_2, Harness, button

from dermvqa.states import CaseState

DESCRIPTION = "Itchy red patches on both elbows for three weeks."


def alerts_to(server, chat: int, needle: str) -> list[str]:
    return [r["plain_text"] for r in server.messages_to(chat) if needle in (r.get("plain_text") or "")]


def with_alert_after(h: Harness, minutes: float) -> None:
    h.config = dataclasses.replace(h.config, review=dataclasses.replace(h.config.review, alert_after_minutes=minutes))


async def test_a_case_stuck_without_a_worker_is_reported_once_to_each_clinician(tmp_path, server):
    h = Harness.create(tmp_path, server)
    with_alert_after(h, 0.01)  # 0.6 s
    await h.start_bot()
    try:
        case_id = await h.submit_case(2101, DESCRIPTION)  # no worker runs: it stays queued
        for chat in (CLINICIAN, CLINICIAN_2):
            alert = await h.said(chat, f"Case #{case_id} has been queued for")
            assert DESCRIPTION not in alert["plain_text"] and "elbow" not in alert["plain_text"]
        await asyncio.sleep(2.0)  # ten more watchdog ticks
        for chat in (CLINICIAN, CLINICIAN_2):
            assert len(alerts_to(server, chat, f"Case #{case_id} has been")) == 1
        assert h.case_states()[case_id] == CaseState.QUEUED

        server.send_text(CLINICIAN, "/queue")
        queue = await h.said(CLINICIAN, "Waiting longer than the alert limit: 1")
        assert f"#{case_id} (queued)" in queue["plain_text"] and "(waiting too long)" in queue["plain_text"]
        server.send_text(CLINICIAN, "/stats")
        stats = await h.said(CLINICIAN, "Cases by state")
        assert f"Waiting longer than the alert limit: 1: #{case_id} (queued)" in stats["plain_text"]

        await h.stop_bot()  # a restart does not repeat the report
        await h.start_bot()
        await asyncio.sleep(1.5)
        assert len(alerts_to(server, CLINICIAN, f"Case #{case_id} has been")) == 1
    finally:
        await h.close()


async def test_an_answer_to_a_patient_who_blocked_the_bot_is_reported_once(tmp_path, server):
    h = Harness.create(tmp_path, server)
    with_alert_after(h, 0.01)  # a quick watchdog (the waiting case is reported too, separately)
    await h.start_bot()
    h.start_worker()
    try:
        case_id = await h.submit_case(2102, DESCRIPTION)
        post = await h.review_post(CLINICIAN, case_id)
        server.block_user(2102)
        server.press_button(CLINICIAN, post, button(post, "rv:approve:"))
        for chat in (CLINICIAN, CLINICIAN_2):
            alert = await h.said(chat, "could not be delivered")
            text = alert["plain_text"]
            assert f"case #{case_id}" in text and "answer" in text and "blocked" in text
            assert "elbow" not in text
        await h.drained()
        await asyncio.sleep(1.0)
        for chat in (CLINICIAN, CLINICIAN_2):
            assert len(alerts_to(server, chat, "could not be delivered")) == 1
        assert h.case_states()[case_id] == CaseState.APPROVED  # not answered: the clinicians know why
        server.send_text(CLINICIAN, "/stats")
        stats = await h.said(CLINICIAN, "Cases by state")
        assert f"Messages failed for good: 1 (cases #{case_id})" in stats["plain_text"]
    finally:
        await h.close()
