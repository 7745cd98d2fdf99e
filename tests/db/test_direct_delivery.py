"""A Submit's acknowledgement is sent at once by its handler (``OutboxSender.deliver_now``) while
the sender's passes keep running: however the two interleave, every row is sent exactly once and
recorded as sent, and a chat being written to keeps its order."""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from support.cases import photo_bytes

from bot.dbthread import DbThread
from bot.delivery import OutboxSender
from bot.texts import Texts
from dermvqa.casework import intake, kinds
from dermvqa.config import BotConfig, IntakeConfig
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import OutboxMessage
from dermvqa.storage.outbox import REVIEW_REQUEST, add_message

LIMITS = IntakeConfig()


class SlowBot:
    """Answers every send after ``delay`` seconds, counting what each chat received."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay, self.sent, self.ids = delay, [], itertools.count(100)

    async def send_message(self, chat_id, text, **kwargs):
        await asyncio.sleep(self.delay)
        self.sent.append((chat_id, text))
        return SimpleNamespace(message_id=next(self.ids))


def submitted(db, tmp_path, users: range) -> list:
    store = ImageStore(tmp_path / "images")
    for user in users:
        intake.consent(db, user, user, "en")
        intake.attach_photo(db, user, intake.store_photo(store, photo_bytes(), LIMITS, max_pixels=10**8), LIMITS)
        intake.add_description(db, user, "Itchy rash on my forearm for two weeks.", LIMITS)
    return intake.submit_many(db, list(users), LIMITS, max_attempts=3)


def sender(db, bot: SlowBot, thread: DbThread) -> OutboxSender:
    return OutboxSender(bot, db, ImageStore(db.url), Texts.from_config(BotConfig(), LIMITS), [], db_thread=thread)


@pytest.mark.parametrize("pass_first", [True, False])
@pytest.mark.parametrize("pause", [0.0, 0.002, 0.02])
async def test_a_pass_and_direct_deliveries_never_send_a_row_twice(db, tmp_path, pass_first, pause):
    results = submitted(db, tmp_path, range(1, 21))
    bot, thread = SlowBot(), DbThread()
    outbox = sender(db, bot, thread)
    try:
        direct = [outbox.deliver_now(result.deliver) for result in results]
        if pass_first:
            passing = asyncio.create_task(outbox.deliver_due())
            await asyncio.sleep(pause)
            await asyncio.gather(*direct)
        else:
            first = asyncio.gather(*direct[:10])
            await asyncio.sleep(pause)
            passing = asyncio.create_task(outbox.deliver_due())
            await asyncio.gather(first, *direct[10:])
        await passing
        await outbox.drain()
        await outbox.deliver_due()  # a later pass finds nothing left
        await outbox.drain()
    finally:
        thread.close()
    chats = sorted(chat for chat, _ in bot.sent)
    assert chats == list(range(1, 21))  # every acknowledgement exactly once
    with db.read() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {"sent"}


async def test_a_chat_being_written_to_gets_the_acknowledgement_from_the_next_pass_in_order(db, tmp_path):
    (result,) = submitted(db, tmp_path, range(5, 6))
    bot, thread = SlowBot(delay=0.05), DbThread()
    outbox = sender(db, bot, thread)
    try:
        outbox._claim(5)  # another message to this chat is on its way
        await outbox.deliver_now(result.deliver)
        assert bot.sent == []  # not sent beside it
        outbox._release(5)
        assert await outbox.deliver_due() == 1
    finally:
        thread.close()
    assert [chat for chat, _ in bot.sent] == [5]


async def test_a_pass_between_the_commit_and_the_direct_send_leaves_a_reserved_chat_alone(db, tmp_path):
    # The Submit handler holds its chat from before the transaction: a pass reading the new row as
    # pending in between must not send it too (it did: a hundred patients, one got two acknowledgements).
    bot, thread = SlowBot(), DbThread()
    outbox = sender(db, bot, thread)
    try:
        with outbox.reserve(1):
            (result,) = submitted(db, tmp_path, range(1, 2))
            await outbox.deliver_due()  # a pass at the worst moment
            assert bot.sent == []
            await outbox.deliver_now(result.deliver, reserved=1)
        await outbox.drain()
        assert not outbox._wake.is_set()  # what the pass passed over was that very row: no pass to wake
        await outbox.deliver_due()
        await outbox.drain()
    finally:
        thread.close()
    assert [chat for chat, _ in bot.sent] == [1]  # exactly once
    with db.read() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {"sent"}


async def test_while_a_patient_waits_for_an_acknowledgement_case_posts_wait_then_go(db, tmp_path):
    # Patients first (dermvqa.casework.post_priority): a pass during a Submit keeps the clinicians'
    # new case post back and sends the rest; the end of the Submit wakes the sender for the post.
    bot, thread = SlowBot(), DbThread()
    outbox = sender(db, bot, thread)
    with db.write() as session:
        add_message(session, REVIEW_REQUEST, chat_id=700, payload={})
        add_message(session, kinds.REPLY, chat_id=800, payload={"parts": [{"op": "message", "text": "Noted."}]})
    try:
        with outbox.reserve(1):
            assert await outbox.deliver_due() == 1
            assert [chat for chat, _ in bot.sent] == [800]  # the post to 700 waits
            assert not outbox._wake.is_set()
        assert outbox._wake.is_set()  # the Submit is over: the next pass goes at once
    finally:
        thread.close()
    with db.read() as session:
        states = dict(session.execute(select(OutboxMessage.chat_id, OutboxMessage.state)).all())
    assert states == {700: "pending", 800: "sent"}


async def test_a_pass_that_passed_over_a_busy_chat_is_woken_when_the_chat_is_free(db, tmp_path):
    # A direct delivery keeps its chat until its record is committed (within ``direct_window``): a
    # reply queued meanwhile goes as soon as the chat is free, not at the next poll.
    bot, thread = SlowBot(), DbThread()
    outbox = sender(db, bot, thread)
    with db.write() as session:
        add_message(session, kinds.REPLY, chat_id=800, payload={"parts": [{"op": "message", "text": "Noted."}]})
    try:
        with outbox.reserve(800):
            assert await outbox.deliver_due() == 0  # passed over
            outbox._wake.clear()
        assert outbox._wake.is_set()
        assert await outbox.deliver_due() == 1
    finally:
        thread.close()
    assert [chat for chat, _ in bot.sent] == [800]
