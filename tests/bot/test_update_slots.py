"""One chat's queued updates hold one concurrency slot at most: other chats are not kept waiting."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update

from bot.builder import PerChatUpdateProcessor


def update_in(chat_id: int, update_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, None, chat, text="x"))


async def test_a_flooding_chat_holds_one_slot_and_keeps_its_order():
    processor = PerChatUpdateProcessor(2)
    release = asyncio.Event()
    order: list[int] = []

    async def flooder_update(n: int) -> None:
        order.append(n)
        await release.wait()

    async def other_update() -> None:
        order.append(-1)

    flood = [asyncio.create_task(processor.process_update(update_in(1, n), flooder_update(n))) for n in range(20)]
    await asyncio.sleep(0.01)
    other = asyncio.create_task(processor.process_update(update_in(2, 99), other_update()))
    await asyncio.wait_for(other, 1.0)  # PTB's default ordering would wait for the flooder's updates
    assert order == [0, -1]
    release.set()
    await asyncio.gather(*flood)
    assert order[2:] == list(range(1, 20))
