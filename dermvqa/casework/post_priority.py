"""Patients first: while patients wait for their Submit to be acknowledged, new case posts wait.

A crowd pressing Submit shares the bot's one core with everything else it sends. A new case's post
to the clinicians (its photos, its draft and the decision buttons: two or more Bot API calls and a
read of the case) is not urgent to the second, while each patient watching their phone is; so while
acknowledgements are owed, the outbox passes keep the due case posts back, and send them as soon as
the acknowledgements are out, or once they have been kept back for ``limit`` seconds, whichever comes
first. Urgent alerts, patient messages and everything else go as always.

Pure: the sender (``bot.delivery``) says when posts started waiting and whether patients wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dermvqa.storage.delivery import OutboxRow
from dermvqa.storage.outbox import REVIEW_REQUEST

HOLD_LIMIT_S = 2.0  # the longest a case post waits for patients' acknowledgements


@dataclass(frozen=True)
class Hold:
    """What a pass sends now and what it keeps back (``held``: the case posts and, in their chat,
    every later row, so that each chat still gets its messages in order)."""

    now: list[OutboxRow]
    held: list[OutboxRow]


def hold_case_posts(
    rows: Sequence[OutboxRow],
    *,
    patients_waiting: bool,
    held_for_s: float | None,
    complete: bool = True,
    limit: float = HOLD_LIMIT_S,
) -> Hold:
    """Split a pass's due ``rows`` (in id order). ``held_for_s``: how long case posts have already
    been kept back (None: none were). ``complete``: False when the pass read as many rows as it
    may and more are due: then nothing is held, since held rows would fill the next reads too and
    keep back the rows behind them (an urgent alert, a patient's message) that no pass got to see."""
    if not patients_waiting or not complete or (held_for_s is not None and held_for_s >= limit):
        return Hold(list(rows), [])
    now: list[OutboxRow] = []
    held: list[OutboxRow] = []
    stopped: set[int] = set()  # chats whose rows from a case post on wait
    for row in rows:
        if row.chat_id is not None and row.chat_id in stopped:
            held.append(row)
        elif row.kind == REVIEW_REQUEST:
            held.append(row)
            if row.chat_id is not None:
                stopped.add(row.chat_id)
        else:  # (rows for every clinician are copied to their chats in id order once they go)
            now.append(row)
    return Hold(now, held)
