"""The outbox's promise: at least once, and after a crash at most the one send in flight repeated.

One test kills the real ``dermbot bot`` process (SIGKILL) in the middle of a slow pass and restarts
it; the others use the fake server's "delivered, but the answer was lost" fault.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from harness import Harness, write_config
from sqlalchemy import select

from dermvqa.casework import kinds
from dermvqa.config import load_config
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.models import OutboxMessage
from dermvqa.storage.outbox import add_message
from fake_telegram import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[2]
PATIENT = 4242


def _texts_to(server: FakeTelegramServer, chat: int) -> list[str]:
    return [r["plain_text"] for r in server.messages_to(chat) if r["method"] == "sendMessage"]


def _queue(db, chat: int, rows: list[list[str]]) -> list[int]:
    """One outbox row per list of texts, each text one part (one message)."""
    with db.write() as session:
        return [
            add_message(
                session, kinds.CASE_RECEIVED, chat_id=chat, payload={"parts": [{"op": "message", "text": t} for t in r]}
            ).id
            for r in rows
        ]


def _outbox(db, ids: list[int]) -> dict[int, tuple[str, int, int]]:
    with db.read() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
        return {r.id: (r.state, r.progress, r.attempts) for r in rows}


def _start_bot(config: Path, server: FakeTelegramServer, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "bot"],
        cwd=ROOT,
        env={**os.environ, "DERMBOT_TELEGRAM_TOKEN": server.token},
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_pass_repeats_at_most_the_message_in_flight(tmp_path, server):
    """A pass slowed by the rate limit (5 messages/s to one chat) is killed after some sends: the
    restarted bot sends the rest, and at most one message arrives twice."""
    config = write_config(tmp_path, server, rate=5.0)
    db = open_database(load_config(config, environ={}).database_url)
    upgrade(db)
    texts = [f"Owed message {i:02d}." for i in range(1, 26)]
    ids = _queue(db, PATIENT, [texts[:15], *[[t] for t in texts[15:]]])  # one 15-part row, ten one-part rows
    log = tmp_path / "bot.log"
    bot = _start_bot(config, server, log)
    try:
        _wait(lambda: len(_texts_to(server, PATIENT)) >= 8, 90, "the first bot never sent 8 messages")
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
        seen = len(_texts_to(server, PATIENT))
        assert seen < len(texts), "the pass finished before the kill: the test proves nothing"
        recorded = sum(progress for _, progress, _ in _outbox(db, ids).values())
        assert recorded >= seen - 1  # every send but the one in flight was recorded before the kill

        bot = _start_bot(config, server, log)
        _wait(lambda: set(_texts_to(server, PATIENT)) >= set(texts), 90, "the restarted bot did not finish")
        _wait(lambda: all(s == "sent" for s, _, _ in _outbox(db, ids).values()), 30, "rows not all sent")
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(30)
        db.dispose()
    received = Counter(_texts_to(server, PATIENT))
    assert set(received) == set(texts)
    assert sum(received.values()) - len(texts) <= 1, {t: n for t, n in received.items() if n > 1}
    assert [t for t in _texts_to(server, PATIENT) if received[t] == 1] == [t for t in texts if received[t] == 1]


def test_the_fake_server_can_lose_the_answer_of_a_call_that_took_effect(server):
    server.lose_response_next("sendMessage")
    url = f"{server.base_url}{server.token}/sendMessage"
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, data={"chat_id": PATIENT, "text": "hello"}, timeout=5)
    assert _texts_to(server, PATIENT) == ["hello"]  # delivered all the same
    assert server.responses_lost == 1
    answer = httpx.post(url, data={"chat_id": PATIENT, "text": "again"}, timeout=5).json()
    assert answer["ok"] is True  # only the next call was affected
    assert server.responses_lost == 1


async def test_a_lost_response_is_retried_and_the_patient_sees_that_message_at_most_twice(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.service.sender.backoff_base = 0.05
    try:
        await asyncio.sleep(0.2)
        server.lose_response_next("sendMessage", 1)
        (row,) = await asyncio.to_thread(_queue, h.db, PATIENT, [["Part one.", "Part two.", "Part three."]])
        h.service.sender.nudge()
        await h.drained()
        state, progress, attempts = _outbox(h.db, [row])[row]
        assert (state, progress) == ("sent", 3)
        assert attempts == 1  # the lost answer was a network error: one retry
        assert server.responses_lost == 1
        received = Counter(_texts_to(server, PATIENT))
        assert received == {"Part one.": 2, "Part two.": 1, "Part three.": 1}  # only the unconfirmed one twice
    finally:
        await h.close()


async def test_a_lost_response_mid_row_resends_only_that_part(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.service.sender.backoff_base = 0.05
    try:
        await asyncio.sleep(0.2)
        (row,) = await asyncio.to_thread(_queue, h.db, PATIENT, [["First."]])
        h.service.sender.nudge()
        await h.drained()
        server.lose_response_next("sendMessage", 1)  # the next send: "Second." of the next row
        (row,) = await asyncio.to_thread(_queue, h.db, PATIENT, [["Second.", "Third."]])
        h.service.sender.nudge()
        await h.drained()
        assert _outbox(h.db, [row])[row][:2] == ("sent", 2)
        assert _texts_to(server, PATIENT) == ["First.", "Second.", "Second.", "Third."]
    finally:
        await h.close()


async def test_a_row_deleted_mid_delivery_is_sent_no_further(tmp_path, server):
    """Each part is recorded before the next is sent, so the sender notices at once that its row was
    deleted (its case erased) and stops, instead of sending the rest."""
    h = Harness.create(tmp_path, server, rate=1.0)  # one message a second
    await h.start_bot()
    try:
        await asyncio.sleep(1.0)  # let the rate limiter refill after the startup calls
        texts = [f"Part {i}." for i in range(1, 9)]
        (row,) = await asyncio.to_thread(_queue, h.db, PATIENT, [texts])
        h.service.sender.nudge()
        await server.async_wait_for(lambda r: r["chat_id"] == PATIENT, 10)
        with h.db.write() as session:
            session.delete(session.get(OutboxMessage, row))
        await asyncio.sleep(4.0)  # time for four more messages
        sent = _texts_to(server, PATIENT)
        assert sent == texts[: len(sent)] and len(sent) <= 3  # the one in flight (waiting for the limiter) at most
    finally:
        await h.close()


async def test_with_a_fifth_of_answers_lost_everything_arrives_and_each_loss_costs_one_copy(tmp_path):
    with FakeTelegramServer(seed=3) as lossy:
        lossy.lost_response_rate = 0.2
        h = Harness.create(tmp_path, lossy)
        await h.start_bot()
        h.service.sender.backoff_base, h.service.sender.backoff_max = 0.02, 0.1
        try:
            rows = {chat: [[f"To {chat}: {i}a.", f"To {chat}: {i}b."] for i in range(4)] for chat in (5001, 5002, 5003)}
            for chat, texts in rows.items():
                await asyncio.to_thread(_queue, h.db, chat, texts)
            h.service.sender.nudge()
            await h.drained(timeout=30)
            assert lossy.responses_lost >= 3
            extra = 0
            for chat, texts in rows.items():
                received = Counter(_texts_to(lossy, chat))
                assert set(received) == {t for pair in texts for t in pair}
                extra += sum(received.values()) - len(received)
            # A send whose answer was lost is sent again (it may be lost again); nothing else repeats.
            assert extra == lossy.responses_lost
            with h.db.read() as session:
                assert set(session.scalars(select(OutboxMessage.state))) == {"sent"}
        finally:
            await h.close()
