"""dermvqa.casework.post_priority: while patients wait for acknowledgements, case posts wait."""

from __future__ import annotations

from dermvqa.casework.post_priority import HOLD_LIMIT_S, hold_case_posts
from dermvqa.storage.delivery import OutboxRow


def row(row_id: int, kind: str, chat: int | None) -> OutboxRow:
    return OutboxRow(row_id, kind, chat, row_id, {}, 0, 0, ())


ROWS = [
    row(1, "urgent_alert", None),
    row(2, "review_request", None),  # for every clinician: copied to their chats when it goes
    row(3, "review_request", 500),  # the review group's copy
    row(4, "review_update", 500),  # after it in the same chat: waits with it
    row(5, "case_received", 42),
    row(6, "reply", 600),
    row(7, "review_update", None),
]


def ids(rows: list[OutboxRow]) -> list[int]:
    return [r.id for r in rows]


def test_nothing_waits_when_no_patient_waits():
    hold = hold_case_posts(ROWS, patients_waiting=False, held_for_s=None)
    assert ids(hold.now) == [1, 2, 3, 4, 5, 6, 7] and hold.held == []


def test_case_posts_and_what_follows_them_in_their_chat_wait_for_the_patients():
    hold = hold_case_posts(ROWS, patients_waiting=True, held_for_s=None)
    assert ids(hold.held) == [2, 3, 4]
    assert ids(hold.now) == [1, 5, 6, 7]  # the urgent alert, the patient's message and other chats go


def test_case_posts_wait_no_longer_than_the_limit():
    assert ids(hold_case_posts(ROWS, patients_waiting=True, held_for_s=HOLD_LIMIT_S - 0.1).held) == [2, 3, 4]
    late = hold_case_posts(ROWS, patients_waiting=True, held_for_s=HOLD_LIMIT_S)
    assert ids(late.now) == [1, 2, 3, 4, 5, 6, 7] and late.held == []


def test_nothing_waits_when_the_pass_could_not_read_everything_due():
    # Held rows would fill the next reads too, and keep back rows no pass got to see.
    hold = hold_case_posts(ROWS, patients_waiting=True, held_for_s=None, complete=False)
    assert ids(hold.now) == [1, 2, 3, 4, 5, 6, 7] and hold.held == []
