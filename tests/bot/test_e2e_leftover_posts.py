"""A review post outliving its case (patient /delete) can never act on another case, and is withdrawn.

Over real HTTP against the fake Bot API server: Telegram refuses to delete messages older than 48
hours (``age_message``), and a post sent while the patient deletes their data is missed by the
erasure itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from harness import CLINICIAN, REVIEW_GROUP, Harness, button
from sqlalchemy import func, select

from dermvqa.casework.intake import delete_everything
from dermvqa.states import CaseState
from dermvqa.storage.models import OutboxMessage

OLD = 48 * 3600 + 60
A, B = 7001, 7002


def rows(h: Harness, kind: str, state: str | None = None) -> int:
    with h.db.read() as session:
        query = select(func.count()).where(OutboxMessage.kind == kind)
        if state is not None:
            query = query.where(OutboxMessage.state == state)
        return session.scalar(query) or 0


def photo_of(h: Harness, case_id: int) -> dict:
    return next(
        r
        for r in h.server.messages_to(REVIEW_GROUP)
        if r["method"] == "sendPhoto" and r.get("plain_caption") == f"Case #{case_id}"
    )


def reuse_ids(h: Harness) -> None:
    """Back to the ids of the old schema (0004 undone): SQLite hands a deleted case's number out again."""
    path = Path(__file__).parents[2] / "migrations" / "versions" / "0004_ids_never_reused.py"
    spec = importlib.util.spec_from_file_location("migration_0004", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with h.db.engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration.downgrade()


async def group_harness(tmp_path, server, schema: str) -> Harness:
    h = Harness.create(tmp_path, server, review_chat=REVIEW_GROUP)
    if schema == "reused-ids":
        reuse_ids(h)
    await h.start_bot()
    h.start_worker()
    return h


async def delete_patient(h: Harness, user: int) -> None:
    h.server.send_text(user, "/delete")
    confirm = await h.said(user, "permanently deletes")
    h.server.press_button(user, confirm, "delete:yes")
    await h.said(user, "All your data")


@pytest.mark.parametrize("schema", ["head", "reused-ids"])
async def test_approve_on_a_deleted_cases_leftover_post_changes_nothing(tmp_path, server, schema):
    h = await group_harness(tmp_path, server, schema)
    try:
        a_case = await h.submit_case(A)
        a_post = await h.review_post(REVIEW_GROUP, a_case)
        a_photo = photo_of(h, a_case)
        await h.drained()
        # Older than 48 hours: Telegram refuses to delete them. The photo is blanked; the text's blanking
        # fails too (injected), so its buttons stay: the leftover post a clinician can still press.
        server.age_message(REVIEW_GROUP, a_post["message_id"], OLD)
        server.age_message(REVIEW_GROUP, a_photo["message_id"], OLD)
        server.fail_next("editMessageText", status=400, description="Bad Request: message can't be edited")
        await delete_patient(h, A)
        await server.async_wait_until(lambda: rows(h, "withdraw_post", "failed") == 1, 10, what="the withdrawal")
        blanked = server.current_message(REVIEW_GROUP, a_photo["message_id"])
        assert blanked["caption"] == "Case withdrawn." and blanked["photo"] != a_photo["message"]["photo"]
        assert server.current_message(REVIEW_GROUP, a_post["message_id"])["reply_markup"]  # still pressable

        b_case = await h.submit_case(B, text="Dry flaky skin on both hands since the winter.")
        b_post = await server.async_wait_for(
            lambda r: (
                r["chat_id"] == REVIEW_GROUP
                and r["message_id"] != a_post["message_id"]
                and r.get("reply_markup")
                and f"Case #{b_case}" in (r.get("plain_text") or "")
            ),
            15,
        )
        await h.drained()
        if schema == "head":
            assert b_case > a_case
        else:
            assert b_case == a_case  # the reuse the post check must survive
            assert button(b_post, "rv:approve:") == button(a_post, "rv:approve:")
        to_b = len(server.messages_to(B))

        server.press_button(CLINICIAN, a_post, button(a_post, "rv:approve:"))
        alert = await server.async_wait_until(
            lambda: next(
                (
                    c
                    for c in server.answered_callbacks
                    if (c["chat_id"], c["message_id"]) == (REVIEW_GROUP, a_post["message_id"])
                ),
                None,
            ),
            10,
            what="the answer to the button",
        )
        assert alert["show_alert"] and "no longer exists" in alert["text"], alert
        await asyncio.sleep(0.3)
        await h.drained()
        assert h.case_states()[b_case] == CaseState.AWAITING_REVIEW
        assert len(server.messages_to(B)) == to_b and rows(h, "answer") == 0
        # B's own post still works.
        server.press_button(CLINICIAN, b_post, button(b_post, "rv:approve:"))
        await h.said(B, f"Answer to your case #{b_case}")
    finally:
        await h.close()


@pytest.mark.parametrize("aged", [False, True], ids=["deleted", "blanked"])
async def test_a_post_sent_while_its_case_is_deleted_is_withdrawn(tmp_path, server, aged):
    """The patient's /delete commits between the post's send and its record: the erasure saw no message
    ids, so recording the send finds the post gone and withdraws what was sent."""
    h = await group_harness(tmp_path, server, "head")
    sender = h.service.sender
    perform = sender._perform
    sent: list[int] = []
    patient_gone = asyncio.Event()

    async def send_then_patient_deletes(chat_id, part):
        ids = await perform(chat_id, part)
        if chat_id == REVIEW_GROUP and part["op"] in ("photo", "message"):
            sent.extend(ids)
            if aged:
                for message_id in ids:
                    server.age_message(chat_id, message_id, OLD)
            if part.get("buttons"):  # the post's last message is out: the patient's delete commits now
                await asyncio.to_thread(delete_everything, h.db, h.store, A, A)
                patient_gone.set()
        return ids

    sender._perform = send_then_patient_deletes
    try:
        a_case = await h.submit_case(A)
        await h.review_post(REVIEW_GROUP, a_case)
        await server.async_wait_until(lambda: patient_gone.is_set(), 10, what="the patient's deletion")
        assert len(sent) == 2  # the photo, then the text with the buttons
        if not aged:
            await server.async_wait_until(
                lambda: all(server.current_message(REVIEW_GROUP, m) is None for m in sent), 10, what="deletion"
            )
            return
        await server.async_wait_until(
            lambda: all(
                "Case #" not in (server.current_message(REVIEW_GROUP, m) or {}).get("caption", "")
                and "Case #" not in (server.current_message(REVIEW_GROUP, m) or {}).get("text", "")
                for m in sent
            ),
            10,
            what="blanking",
        )
        photo, text = (server.current_message(REVIEW_GROUP, m) for m in sent)
        assert photo["caption"] == "Case withdrawn." and "text" not in photo and "reply_markup" not in photo
        assert text["text"] == "Case withdrawn." and "reply_markup" not in text
        await h.drained()
        assert rows(h, "withdraw_post", "sent") >= 1
    finally:
        sender._perform = perform
        await h.close()
