"""Safety checks on a real database: a planted draft is shown, never sent; outcomes are recorded;
red-flag cases need an explicit confirmation and their answer always carries the urgent advice."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from support.cases import submit
from support.safety import deliver, posts_of, work

from dermvqa.casework import canaries, kinds, review
from dermvqa.casework.console import load_figures
from dermvqa.casework.intake import delete_everything
from dermvqa.casework.posts import PostRef
from dermvqa.casework.purge import purge
from dermvqa.casework.safety_checks import Planter, catch_rate
from dermvqa.config import RetentionConfig
from dermvqa.states import CaseState
from dermvqa.storage.models import Case, ClinicianSession, Draft, MessageLog, OutboxMessage, SafetyCheck, utcnow
from dermvqa.storage.outbox import add_message

GROUP = -100500
CLINICIAN, OTHER = 900, 901


def always(*draws: float) -> Planter:
    """Plants on every non-urgent draft; the item is picked by ``draws`` (cycled)."""
    values = iter(draws * 50)
    return Planter(1.0, draw=lambda: next(values))


def planted_case(db, store, user_id: int = 1, text: str = "Itchy red patch on my arm for two weeks") -> int:
    case_id = submit(db, store, user_id, text=text)
    work(db, always(0.0, 0.5))
    deliver(db, [GROUP])
    return case_id


def the_check(db, case_id: int) -> SafetyCheck:
    with db.read() as session:
        return session.scalars(select(SafetyCheck).where(SafetyCheck.case_id == case_id)).one()


def patient_rows(db, user_id: int) -> list[OutboxMessage]:
    with db.read() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == user_id)))


def answers(db, case_id: int) -> list[str]:
    with db.read() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kinds.ANSWER, OutboxMessage.case_id == case_id)
        )
        return [row.payload["text"] for row in rows]


def state(db, case_id: int) -> CaseState:
    with db.read() as session:
        return CaseState(session.scalar(select(Case.state).where(Case.id == case_id)))


def updates_of(db, post_ref: PostRef) -> list[str]:
    """The outcomes queued to close the post shown at ``post_ref``."""
    with db.read() as session:
        post = next(
            r
            for r in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.REVIEW_REQUEST))
            if r.chat_id == post_ref.chat_id and post_ref.message_id in (r.telegram_message_ids or ())
        )
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.REVIEW_UPDATE))
        return [r.payload["outcome"] for r in rows if r.payload.get("post_id") == post.id]


def test_a_planted_post_shows_the_planted_text_and_the_real_draft_stays(any_db, store):
    case_id = planted_case(any_db, store)
    check = the_check(any_db, case_id)
    [post] = posts_of(any_db, case_id)
    with any_db.read() as session:
        draft = session.get(Draft, check.draft_id)
        shown = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.REVIEW_REQUEST)).all()
        shown_text = next(r.payload["parts"][-1]["text"] for r in shown if r.chat_id == GROUP)
    assert (post.check_id, post.draft_id) == (check.id, draft.id)
    assert check.planted_text in shown_text and draft.text not in shown_text
    assert draft.text.startswith("Real draft")  # untouched
    assert (check.outcome, check.list_version) == (canaries.PENDING, canaries.load_canaries().version)
    assert canaries.load_canaries().get(check.canary_id).kind == check.kind


def test_approving_a_planted_draft_sends_nothing_and_posts_the_real_draft_again(any_db, store):
    case_id = planted_case(any_db, store)
    check = the_check(any_db, case_id)
    [planted] = posts_of(any_db, case_id)
    decision = review.approve(any_db, case_id, planted.draft_id, CLINICIAN, post=planted.ref)
    assert (decision.ok, decision.reason, decision.note) == (False, "safety_check", check.explanation)
    check = the_check(any_db, case_id)
    assert (check.outcome, check.clinician_id) == (canaries.MISSED_APPROVED, CLINICIAN)
    assert check.resolved_at is not None
    assert (check.post_chat_id, check.post_message_id) == (planted.ref.chat_id, planted.ref.message_id)
    assert state(any_db, case_id) == CaseState.AWAITING_REVIEW and answers(any_db, case_id) == []
    [note] = updates_of(any_db, planted.ref)
    assert "SAFETY CHECK" in note and check.explanation in note and "a miss" in note
    deliver(any_db, [GROUP])
    real = [p for p in posts_of(any_db, case_id) if p.check_id is None]
    assert [p.draft_id for p in real] == [check.draft_id]
    # The patient gets nothing until the real draft is approved, then the real text.
    assert patient_rows(any_db, 1) == []
    assert review.approve(any_db, case_id, real[0].draft_id, OTHER, post=real[0].ref).ok
    with any_db.read() as session:
        real_text = session.get(Draft, check.draft_id).text
    assert answers(any_db, case_id) == [real_text]
    assert updates_of(any_db, planted.ref) == [note]  # the planted post is never "approved by" anyone
    deliver(any_db, [GROUP])
    assert state(any_db, case_id) == CaseState.ANSWERED


@pytest.mark.parametrize("action", [review.EDIT, review.REJECT])
def test_edit_or_reject_on_a_planted_draft_is_caught_and_asks_for_no_text(db, store, action):
    case_id = planted_case(db, store)
    [planted] = posts_of(db, case_id)
    started = review.begin_session(db, CLINICIAN, GROUP, case_id, planted.draft_id, action, post=planted.ref)
    assert (started.ok, started.reason) == (False, "safety_check")
    expected = canaries.CAUGHT_EDIT if action == review.EDIT else canaries.CAUGHT_REJECT
    assert the_check(db, case_id).outcome == expected
    assert review.current_session(db, CLINICIAN, GROUP) is None  # no edited text can follow
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ClinicianSession)) == 0
    assert state(db, case_id) == CaseState.AWAITING_REVIEW
    assert "Well caught" in updates_of(db, planted.ref)[0]
    deliver(db, [GROUP])
    assert patient_rows(db, 1) == []
    assert len([p for p in posts_of(db, case_id) if p.check_id is None]) == 1  # the real draft, again


def test_regenerate_on_a_planted_draft_supersedes_the_check_and_goes_on(db, store):
    case_id = planted_case(db, store)
    [planted] = posts_of(db, case_id)
    decision = review.regenerate(db, case_id, CLINICIAN, draft_id=planted.draft_id, post=planted.ref)
    assert decision.ok and state(db, case_id) == CaseState.QUEUED
    assert the_check(db, case_id).outcome == canaries.SUPERSEDED
    assert "new draft was requested" in updates_of(db, planted.ref)[0]
    assert work(db)  # a new draft, not planted (rate 0 here)
    deliver(db, [GROUP])
    newest = posts_of(db, case_id)[-1]
    assert newest.check_id is None and review.approve(db, case_id, newest.draft_id, CLINICIAN, post=newest.ref).ok


def test_a_second_press_on_a_settled_planted_post_changes_nothing(db, store):
    case_id = planted_case(db, store)
    [planted] = posts_of(db, case_id)
    review.approve(db, case_id, planted.draft_id, CLINICIAN, post=planted.ref)
    for again in (
        review.approve(db, case_id, planted.draft_id, OTHER, post=planted.ref),
        review.begin_session(db, OTHER, GROUP, case_id, planted.draft_id, review.EDIT, post=planted.ref),
    ):
        assert (again.ok, again.reason) == (False, "checked")
    check = the_check(db, case_id)
    assert (check.outcome, check.clinician_id) == (canaries.MISSED_APPROVED, CLINICIAN)
    with db.read() as session:
        reposts = session.scalar(
            select(func.count()).where(OutboxMessage.kind == kinds.REVIEW_REQUEST, OutboxMessage.chat_id.is_(None))
        )
    assert reposts == 2  # the worker's request and one repost, not two
    assert answers(db, case_id) == []


def test_a_decision_on_a_real_post_supersedes_the_pending_check(db, store):
    case_id = planted_case(db, store)
    [planted] = posts_of(db, case_id)
    with db.write() as session:  # /case in a clinician's private chat shows the real draft
        add_message(
            session, kinds.REVIEW_REQUEST, chat_id=CLINICIAN, case_id=case_id, payload={"draft_id": planted.draft_id}
        )
    deliver(db, [GROUP])
    real = next(p for p in posts_of(db, case_id) if p.check_id is None)
    assert review.approve(db, case_id, real.draft_id, CLINICIAN, post=real.ref).ok
    assert the_check(db, case_id).outcome == canaries.SUPERSEDED
    assert any("SAFETY CHECK" in n for n in updates_of(db, planted.ref))
    assert (review.approve(db, case_id, planted.draft_id, OTHER, post=planted.ref).reason) == "checked"


def test_urgent_cases_are_never_planted_on(db, store):
    case_id = submit(db, store, 1, urgent=True)
    work(db, always(0.0))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(SafetyCheck)) == 0
        request = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.REVIEW_REQUEST)).one()
    assert request.payload == {"draft_id": request.payload["draft_id"]} and request.case_id == case_id


def test_rate_zero_draws_nothing_and_plants_nothing(db, store):
    def no_draw() -> float:
        raise AssertionError("rate 0 must not draw")

    submit(db, store, 1)
    work(db, Planter(0.0, draw=no_draw))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(SafetyCheck)) == 0


def test_the_plant_decision_follows_the_draw(db, store):
    first = submit(db, store, 1)
    work(db, Planter(0.3, draw=iter([0.31, 0.0]).__next__))  # 0.31 >= 0.3: not planted
    second = submit(db, store, 2)
    work(db, Planter(0.3, draw=iter([0.29, 0.0]).__next__))  # planted
    with db.read() as session:
        cases = set(session.scalars(select(SafetyCheck.case_id)))
    assert cases == {second} and first not in cases


def test_a_wrong_side_item_names_the_other_side(db, store):
    case_id = submit(db, store, 1, text="A dark mole on my right shoulder that itches")
    work(db, always(0.0, 0.0))  # the first item of the list: a wrong_side one
    check = the_check(db, case_id)
    assert check.kind == canaries.WRONG_SIDE
    assert "left side" in check.planted_text and "right" not in check.planted_text


def test_catch_rate_counts_filters_and_rates(db, store):
    outcomes = [canaries.CAUGHT_EDIT, canaries.CAUGHT_REJECT, canaries.MISSED_APPROVED, canaries.PENDING]
    cases = [planted_case(db, store, user) for user in range(1, 5)]
    early = utcnow() - dt.timedelta(days=30)
    with db.write() as session:
        for n, (case_id, outcome) in enumerate(zip(cases, outcomes, strict=True)):
            check = session.scalars(select(SafetyCheck).where(SafetyCheck.case_id == case_id)).one()
            check.outcome = outcome
            check.clinician_id = CLINICIAN if n < 2 else OTHER
            if n == 0:
                check.created_at = early
    everything = catch_rate(db)
    assert (everything.planted, everything.caught, everything.missed, everything.pending) == (4, 2, 1, 1)
    assert everything.rate == pytest.approx(2 / 3)
    recent = catch_rate(db, since=utcnow() - dt.timedelta(days=1))
    assert (recent.planted, recent.caught, recent.missed) == (3, 1, 1)
    assert catch_rate(db, until=utcnow() - dt.timedelta(days=1)).planted == 1
    mine = catch_rate(db, clinician=CLINICIAN)
    assert (mine.caught, mine.missed, mine.rate) == (2, 0, 1.0)
    assert review.stats(db).safety.planted == 4
    # The console (/stats and `dermbot report`) shows the period's checks as one more block.
    (block,) = load_figures(db, since=utcnow() - dt.timedelta(days=1)).blocks
    assert dict(block.rows)["catch rate"] == "50% (1 of 2)" and dict(block.rows)["planted"] == "3"
    assert load_figures(db, until=early - dt.timedelta(days=1)).blocks == ()  # none planted then: no block


def test_erasing_the_patient_removes_the_checks_with_the_case(db, store):
    planted_case(db, store)
    delete_everything(db, store, 1, 1)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(SafetyCheck)) == 0


# -- red flags ---------------------------------------------------------------------------------


def urgent_posted(db, store) -> tuple[int, PostRef, int]:
    case_id = submit(db, store, 1, text="A mole that is bleeding", urgent=True)
    with db.write() as session:
        session.get(Case, case_id).urgent_reasons = ["changing_or_bleeding_mole"]
    work(db, always(0.0))
    deliver(db, [GROUP])
    [post] = posts_of(db, case_id)
    return case_id, post.ref, post.draft_id


def test_a_red_flag_case_is_not_approved_without_the_confirmation(any_db, store):
    case_id, post, draft_id = urgent_posted(any_db, store)
    first = review.approve(any_db, case_id, draft_id, CLINICIAN, post=post)
    assert (first.ok, first.reason) == (False, "confirm_urgent")
    assert state(any_db, case_id) == CaseState.AWAITING_REVIEW and answers(any_db, case_id) == []
    assert review.approve(any_db, case_id, draft_id, CLINICIAN, post=post, urgent_checked=True).ok
    again = review.approve(any_db, case_id, draft_id, OTHER, post=post, urgent_checked=True)
    assert (again.ok, again.reason) == (False, "handled")  # a double press approves once
    with any_db.read() as session:
        [answer] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.ANSWER)).all()
    assert answer.payload["urgent_flags"] == ["a mole that is changing fast or bleeding"]


def test_an_edited_red_flag_answer_still_carries_the_flags(db, store):
    case_id, post, draft_id = urgent_posted(db, store)
    assert review.begin_session(db, CLINICIAN, GROUP, case_id, draft_id, review.EDIT, post=post).ok
    view = review.propose_text(db, CLINICIAN, GROUP, "Probably a harmless bump; no rush.")
    assert view.urgent_flags == ("a mole that is changing fast or bleeding",)  # the preview shows the advice
    without = review.approve(db, case_id, draft_id, CLINICIAN, final_text=view.proposed_text)
    assert without.reason == "confirm_urgent"
    assert without.flags == view.urgent_flags  # what the confirmation message names, without a second read
    assert review.approve(db, case_id, draft_id, CLINICIAN, final_text=view.proposed_text, urgent_checked=True).ok
    with db.read() as session:
        answer = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.ANSWER)).one()
    assert answer.payload["urgent_flags"] and answer.payload["text"] == "Probably a harmless bump; no rush."


def test_a_case_without_red_flags_approves_with_one_press(db, store):
    case_id = submit(db, store, 1)
    work(db)
    deliver(db, [GROUP])
    [post] = posts_of(db, case_id)
    assert review.approve(db, case_id, post.draft_id, CLINICIAN, post=post.ref).ok
    with db.read() as session:
        answer = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.ANSWER)).one()
        logged = session.scalars(select(MessageLog.text)).all()
    assert "urgent_flags" not in answer.payload and logged


def test_the_retention_purge_removes_the_checks_with_the_case(db, store):
    case_id = planted_case(db, store)
    long_ago = utcnow() - dt.timedelta(days=400)
    with db.write() as session:
        session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(state="answered", answered_at=long_ago, reviewed_at=long_ago, updated_at=long_ago)
        )
    purge(db, store, RetentionConfig(answered_days=365))
    with db.read() as session:
        assert session.get(Case, case_id) is None
        assert session.scalar(select(func.count()).select_from(SafetyCheck)) == 0
