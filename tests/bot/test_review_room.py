"""The review group stays a clinicians' room (issue: safe with strangers, item 6), over real HTTP."""

from __future__ import annotations

import asyncio

import pytest
from harness import CLINICIAN, CLINICIAN_2, REVIEW_GROUP, STRANGER, Harness, button

from bot.cli import main as dermbot

OUTSIDER = 4242


def _visible(record: dict) -> str:
    return record.get("plain_text") or record.get("plain_caption") or ""


def _photos_to(server, chat_id: int) -> int:
    return sum(1 for r in server.messages_to(chat_id) if r["photo"] or r["document"])


@pytest.fixture
async def room(tmp_path, server):
    for user in (CLINICIAN, CLINICIAN_2):
        server.add_chat_member(REVIEW_GROUP, user, announce=False)
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()


async def test_a_stranger_joining_locks_the_room_until_the_operator_acknowledges(room):
    h, server = room, room.server
    first = await h.submit_case(2001, text="Scaly plaques on my knees since spring")
    assert "Scaly plaques" in _visible(await h.review_post(REVIEW_GROUP, first))

    server.add_chat_member(REVIEW_GROUP, STRANGER)
    await h.said(REVIEW_GROUP, "the review group is locked")
    await h.said(CLINICIAN, "the review group is locked")  # each clinician is warned privately too
    await h.said(CLINICIAN_2, "the review group is locked")
    photos_before = _photos_to(server, REVIEW_GROUP)

    second = await h.submit_case(2002, text="A dark mole on my back that itches")
    await h.said(REVIEW_GROUP, f"Case #{second} is waiting for review")
    await h.drained()
    assert not any("dark mole" in _visible(r) for r in server.messages_to(REVIEW_GROUP))
    assert _photos_to(server, REVIEW_GROUP) == photos_before  # no photo either

    first_post = await h.review_post(REVIEW_GROUP, first)  # a post from before the lock: Edit shows nothing now
    server.press_button(CLINICIAN, first_post, button(first_post, "rv:edit:"))
    alert = await server.async_wait_until(lambda: [a for a in server.answered_callbacks if a.get("show_alert")])
    assert "locked" in alert[-1]["text"]
    server.send_text(CLINICIAN, f"/case {second}", chat_id=REVIEW_GROUP)
    await h.said(REVIEW_GROUP, "is not shown here")
    server.send_text(CLINICIAN, f"/case {second}")  # the clinician's private chat still works
    assert "dark mole" in _visible(await h.review_post(CLINICIAN, second))

    await h.stop_bot()  # the lock survives a restart
    await h.start_bot()
    third = await h.submit_case(2003, text="Cracked skin on both heels")
    await h.said(REVIEW_GROUP, f"Case #{third} is waiting for review")

    server.remove_chat_member(REVIEW_GROUP, STRANGER)
    assert dermbot(["--config", str(h.config_path), "room", "ack", "--by", "operator"]) == 0
    fourth = await h.submit_case(2004, text="Dry patches on my hands in winter")
    assert "Dry patches" in _visible(await h.review_post(REVIEW_GROUP, fourth))
    assert not any("Cracked skin" in _visible(r) for r in server.messages_to(REVIEW_GROUP))


async def test_more_members_than_clinicians_at_start_locks_the_room(tmp_path, server):
    for user in (CLINICIAN, CLINICIAN_2, OUTSIDER):  # joined while the bot was down: no service message seen
        server.add_chat_member(REVIEW_GROUP, user, announce=False)
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    h.start_worker()
    try:
        warning = await h.said(REVIEW_GROUP, "the review group is locked")
        assert "4 members, more than the 2 clinicians" in _visible(warning)
        case_id = await h.submit_case(2101, text="Blisters on my feet after hiking")
        await h.said(REVIEW_GROUP, f"Case #{case_id} is waiting for review")
        await h.drained()
        assert not any("Blisters" in _visible(r) for r in server.messages_to(REVIEW_GROUP))
    finally:
        await h.close()


async def test_an_admin_bot_sees_both_signals_and_warns_once(tmp_path, server):
    for user in (CLINICIAN, CLINICIAN_2):
        server.add_chat_member(REVIEW_GROUP, user, announce=False)
    server.set_bot_admin(REVIEW_GROUP)
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    try:
        server.add_chat_member(REVIEW_GROUP, STRANGER)  # a service message and a chat_member update
        await h.said(REVIEW_GROUP, "the review group is locked")
        await asyncio.sleep(0.5)
        await h.drained()
        warnings = [r for r in server.messages_to(REVIEW_GROUP) if "review group is locked" in _visible(r)]
        assert len(warnings) == 1
    finally:
        await h.close()


async def test_a_clinician_joining_does_not_lock_the_room(room):
    h, server = room, room.server
    server.remove_chat_member(REVIEW_GROUP, CLINICIAN_2)
    server.add_chat_member(REVIEW_GROUP, CLINICIAN_2)
    case_id = await h.submit_case(2201, text="Peeling skin on my fingertips")
    assert "Peeling skin" in _visible(await h.review_post(REVIEW_GROUP, case_id))
    assert not any("locked" in _visible(r) for r in server.messages_to(REVIEW_GROUP))


async def test_case_answers_only_in_the_review_group_or_a_private_chat(room):
    h, server = room, room.server
    case_id = await h.submit_case(2301, text="Red rings on my forearm")
    await h.review_post(REVIEW_GROUP, case_id)
    other_group = -100777
    server.send_text(CLINICIAN, f"/case {case_id}", chat_id=other_group)
    await h.said(other_group, "only in the review group or in your private chat")
    await h.drained()
    assert not any("Red rings" in _visible(r) for r in server.messages_to(other_group))


async def test_a_changed_clinician_list_applies_without_a_restart(room):
    h, server = room, room.server
    newcomer = 902
    server.send_text(newcomer, "/queue")
    await h.said(newcomer, "Not authorised")
    text = h.config_path.read_text()
    old, new = f"clinician_ids = [{CLINICIAN}, {CLINICIAN_2}]", f"clinician_ids = [{CLINICIAN}, {newcomer}]"
    assert old in text
    h.config_path.write_text(text.replace(old, new))
    deadline = asyncio.get_running_loop().time() + 15
    while not h.service.roster.is_clinician(newcomer):
        assert asyncio.get_running_loop().time() < deadline, "the clinician list was not reloaded"
        await asyncio.sleep(0.1)
    server.send_text(newcomer, "/queue")
    await h.said(newcomer, "queue")  # "The queue is empty." or the waiting list
    server.send_text(CLINICIAN_2, "/queue")
    await h.said(CLINICIAN_2, "Not authorised")


async def test_a_post_frozen_before_the_lock_goes_out_as_a_notice(room):
    """A post rendered (and frozen) by an earlier attempt, held back by a rate limit or the network
    while a stranger joined, is checked again at the next attempt."""
    from dermvqa.casework import kinds
    from dermvqa.casework.review_room import lock_room
    from dermvqa.storage.outbox import add_message

    h, server = room, room.server
    case_id = await h.submit_case(2401, text="Weeping blisters behind my knees")
    await h.review_post(REVIEW_GROUP, case_id)
    await h.drained()
    lock_room(h.db, REVIEW_GROUP, "user 7 (not a clinician) joined the group", [CLINICIAN])
    with h.db.write() as session:
        add_message(
            session,
            kinds.REVIEW_REQUEST,
            chat_id=REVIEW_GROUP,
            case_id=case_id,
            payload={"parts": [{"op": "message", "text": f"Case #{case_id}: Weeping blisters, frozen earlier"}]},
        )
    h.service.sender.nudge()
    await h.said(REVIEW_GROUP, f"Case #{case_id} is waiting for review")
    await h.drained()
    assert not any("frozen earlier" in _visible(r) for r in server.messages_to(REVIEW_GROUP))


async def test_a_group_whose_history_new_members_can_read_is_locked(tmp_path, server):
    for user in (CLINICIAN, CLINICIAN_2):
        server.add_chat_member(REVIEW_GROUP, user, announce=False)
    server.set_bot_admin(REVIEW_GROUP)  # Telegram shows the history setting to administrators only
    server.set_visible_history(REVIEW_GROUP)
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    await h.start_bot()
    try:
        warning = await h.said(REVIEW_GROUP, "the review group is locked")
        assert "earlier messages" in _visible(warning)
    finally:
        await h.close()
