"""Property: whatever clinicians press, in any order, a planted draft never reaches a patient.

Hypothesis drives sequences of every clinician action at the casework level (what the bot's handlers
call): Approve (with or without the urgent confirmation), Edit (begin, text, send, cancel, in
separate steps, also after other steps), Reject, Regenerate, /case, stale buttons (any post of the
case, old or closed), a stranger's press (a post that is not the case's), a restart (a new database
object on the same file), the worker (planting at random) and the outbox sender. After every step
no planted text, nor any text containing it, is in the patient's outbox, conversation record or the
case's final text; after the last step, once the worker and the sender have caught up, every case is
answered with a real draft or a clinician's text, rejected, or waiting for review with a live post.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support.cases import submit
from support.safety import Post, deliver, posts_of, work

from dermvqa.casework import canaries, kinds, review
from dermvqa.casework.posts import PostRef
from dermvqa.casework.safety_checks import Planter
from dermvqa.states import CaseState
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.models import Case, ClinicianSession, Draft, MessageLog, OutboxMessage, SafetyCheck
from dermvqa.storage.outbox import add_message

GROUP = -100500
CLINICIANS = (900, 901)
EDITS = ("Edited: a mild eczema; use an emollient twice a day.", "Edited: see your GP if it spreads.")
DESCRIPTIONS = ("Itchy red patch on my right forearm", "Dry scaly skin on both hands")
_users = itertools.count(10_000)
SEEN: Counter[str] = Counter()  # what the examples exercised

index = st.integers(0, 50)
clinician = st.sampled_from(CLINICIANS)
buttons = st.one_of(
    st.tuples(st.just("approve"), index, index, clinician, st.booleans()),
    st.tuples(st.just("edit"), index, index, clinician),
    st.tuples(st.just("reject"), index, index, clinician),
    st.tuples(st.just("text"), index, index),
    st.tuples(st.just("send"), index),
)
step = st.one_of(
    buttons,
    buttons,
    st.tuples(st.just("work")),
    st.tuples(st.just("deliver")),
    st.tuples(st.just("approve"), index, index, clinician, st.booleans()),
    st.tuples(st.just("edit"), index, index, clinician),
    st.tuples(st.just("reject"), index, index, clinician),
    st.tuples(st.just("regenerate"), index, index, clinician),
    st.tuples(st.just("text"), index, index),
    st.tuples(st.just("send"), index),
    st.tuples(st.just("cancel"), index),
    st.tuples(st.just("case"), index, clinician),
    st.tuples(st.just("stranger"), index, index),
    st.tuples(st.just("restart")),
)


def strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


class Run:
    def __init__(self, db, store, reopen, rnd) -> None:
        self.db, self.store, self.reopen = db, store, reopen
        self.planter = Planter(0.6, draw=rnd.random)
        self.patients = [next(_users) for _ in range(3)]
        self.cases = [submit(db, store, user, text=DESCRIPTIONS[n % 2]) for n, user in enumerate(self.patients[:2])]
        self.cases.append(submit(db, store, self.patients[2], text="A mole that is bleeding", urgent=True))
        with db.write() as session:
            session.get(Case, self.cases[2]).urgent_reasons = ["changing_or_bleeding_mole"]
        self.origin: dict[tuple[int, int], Post] = {}  # where each Edit/Reject began
        work(db, self.planter)
        deliver(db, [GROUP])

    def post(self, case_n: int, post_n: int) -> tuple[int, Post | None]:
        case_id = self.cases[case_n % len(self.cases)]
        posts = posts_of(self.db, case_id)
        return case_id, posts[post_n % len(posts)] if posts else None

    def sessions(self) -> list[tuple[int, int]]:
        with self.db.read() as session:
            rows = session.execute(select(ClinicianSession.clinician_id, ClinicianSession.chat_id)).all()
        return sorted((r[0], r[1]) for r in rows if r[1] in (GROUP, *CLINICIANS))

    def do(self, action: tuple) -> None:
        db, name = self.db, action[0]
        if name == "work":
            work(db, self.planter)
        elif name == "deliver":
            deliver(db, [GROUP])
        elif name == "restart":
            self.db = self.reopen()
        elif name in ("approve", "edit", "reject", "regenerate"):
            case_id, post = self.post(action[1], action[2])
            if post is None:
                return
            who = action[3]
            if name == "approve":
                decision = review.approve(db, case_id, post.draft_id or 0, who, post=post.ref, urgent_checked=action[4])
            elif name == "regenerate":
                decision = review.regenerate(db, case_id, who, draft_id=post.draft_id, post=post.ref)
            else:
                action_name = review.EDIT if name == "edit" else review.REJECT
                chat = post.ref.chat_id
                decision = review.begin_session(db, who, chat, case_id, post.draft_id, action_name, post=post.ref)
                if decision.ok:
                    self.origin[(who, chat)] = post
            if post.check_id is not None and name != "regenerate":
                assert not decision.ok  # a planted post's button never acts on the case
        elif name == "text":
            sessions = self.sessions()
            if sessions:
                who, chat = sessions[action[1] % len(sessions)]
                began = self.origin.get((who, chat))
                text = EDITS[action[2] % len(EDITS)]
                if began is not None and began.check_id is not None:  # would be derived from a planted draft
                    with db.read() as session:
                        text = session.get(SafetyCheck, began.check_id).planted_text + " (reworded)"
                review.propose_text(db, who, chat, text)
        elif name in ("send", "cancel"):
            sessions = self.sessions()
            if sessions:
                who, chat = sessions[action[1] % len(sessions)]
                self.confirm(who, chat, send=name == "send")
        elif name == "case":
            case_id = self.cases[action[1] % len(self.cases)]
            detail = review.case_detail(db, case_id)
            with db.write() as session:  # what /case queues (bot.clinician._queue_post)
                add_message(
                    session,
                    kinds.REVIEW_REQUEST,
                    chat_id=action[2],
                    case_id=case_id,
                    payload={"draft_id": detail.draft_id},
                )
        elif name == "stranger":
            case_id, _ = self.post(action[1], 0)
            before = review.case_detail(db, case_id).state
            decision = review.approve(db, case_id, 1, 4242, post=PostRef(-777, action[2]), urgent_checked=True)
            assert not decision.ok and review.case_detail(db, case_id).state == before

    def confirm(self, who: int, chat: int, *, send: bool) -> None:
        """What bot.clinician.confirm does with ed:send / ed:cancel."""
        view = review.current_session(self.db, who, chat)
        if view is None or view.state != "awaiting_confirm":
            return
        review.end_session(self.db, who, chat)
        if not send:
            return
        if view.action == review.EDIT:
            review.approve(
                self.db, view.case_id, view.draft_id or 0, who, final_text=view.proposed_text, urgent_checked=True
            )
        else:
            review.reject(self.db, view.case_id, who, view.proposed_text or "")

    def check_nothing_planted_reached_a_patient(self) -> None:
        with self.db.read() as session:
            planted = list(session.scalars(select(SafetyCheck.planted_text)))
            rows = session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id.in_(self.patients)))
            sent = [text for row in rows for text in strings(row.payload)]
            logged = session.scalars(select(MessageLog.text).where(MessageLog.chat_id.in_(self.patients)))
            finals = session.scalars(select(Case.final_text).where(Case.id.in_(self.cases)))
            texts = [t for t in [*sent, *logged, *finals] if t]
        for text in texts:
            for bad in planted:
                assert bad not in text

    def check_every_case_ends_well(self) -> None:
        for _ in range(3):  # the worker and the sender catch up
            work(self.db, self.planter)
            deliver(self.db, [GROUP])
        with self.db.read() as session:
            for case_id in self.cases:
                case = session.get(Case, case_id)
                state = CaseState(case.state)
                real = set(session.scalars(select(Draft.text).where(Draft.case_id == case_id)))
                if state == CaseState.ANSWERED:
                    assert case.final_text in real | set(EDITS)
                    continue
                assert state in (CaseState.REJECTED, CaseState.AWAITING_REVIEW), state
                if state == CaseState.AWAITING_REVIEW:
                    assert self.live_post(session, case_id), f"case {case_id} waits with no post to act on"

    def report(self) -> None:
        """What the example exercised (``pytest --hypothesis-show-statistics``)."""
        with self.db.read() as session:
            for outcome in session.scalars(select(SafetyCheck.outcome).where(SafetyCheck.case_id.in_(self.cases))):
                SEEN[f"check {outcome}"] += 1
            for state in session.scalars(select(Case.state).where(Case.id.in_(self.cases))):
                SEEN[f"case {state}"] += 1

    def live_post(self, session, case_id: int) -> bool:
        """A delivered post of the newest draft that no update closed and that is no finished check."""
        newest = max(session.scalars(select(Draft.id).where(Draft.case_id == case_id)))
        closed = {
            row.payload.get("post_id")
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.REVIEW_UPDATE))
        }
        for post in posts_of(self.db, case_id):
            with self.db.read() as s:
                row = next(
                    r
                    for r in s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id))
                    if r.chat_id == post.ref.chat_id and post.ref.message_id in (r.telegram_message_ids or ())
                )
                pending = post.check_id is None or s.get(SafetyCheck, post.check_id).outcome == canaries.PENDING
            if post.draft_id == newest and row.id not in closed and pending:
                return True
        return False


def test_no_planted_draft_ever_reaches_a_patient(tmp_path, store, data_key):
    url = f"sqlite:///{tmp_path / 'property.sqlite3'}"
    opened = [open_database(url, key=data_key)]
    upgrade(opened[0])

    def reopen():
        opened.append(open_database(url, key=data_key))
        return opened[-1]

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    # One sequence that surely reaches a caught Edit, an approved miss and an answered case (with these
    # draws the first two cases are planted on): which random sequences Hypothesis draws may change with its
    # version or with what else the test run imports, so the coverage check below never rests on them.
    @example(
        steps=[
            (("edit", 0, 0, 900), False),
            (("deliver",), False),
            (("approve", 1, 0, 900, False), False),
            (("deliver",), False),
            (("approve", 0, 1, 901, False), False),
            (("approve", 1, 1, 901, False), False),
        ],
        rnd=random.Random(3),
    )
    @given(steps=st.lists(st.tuples(step, st.booleans()), max_size=30), rnd=st.randoms(use_true_random=False))
    def run(steps, rnd):
        state = Run(opened[-1], store, reopen, rnd)
        for action, then_deliver in steps:
            state.do(action)
            if then_deliver:  # the sender usually runs between two presses, not always
                deliver(state.db, [GROUP])
            state.check_nothing_planted_reached_a_patient()
        state.check_every_case_ends_well()
        state.check_nothing_planted_reached_a_patient()
        state.report()

    try:
        run()
    finally:
        for db in opened:
            db.dispose()
    # The examples reached every path that matters.
    assert SEEN["check missed_approved"] and SEEN["check caught_edit"] and SEEN["case answered"], dict(SEEN)
