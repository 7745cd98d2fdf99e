"""What a clinician can do, as transactions: approve, edit, reject, regenerate; look at the queue,
a case and the statistics.

Every decision is a compare-and-set on the case's state and its newest draft: when two clinicians
act on one case at once, exactly one wins and the other is told who was first. Every action is
recorded (who, when, the draft and the final text), and each decision also writes its audit row
(``dermvqa.casework.audit``: kept after the patient's data is erased). Callers check that the user is
a clinician.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import func, select

from dermvqa.casework import canaries, kinds, safety_checks
from dermvqa.casework.alerts import load_attention
from dermvqa.casework.audit import audit_key_of, record_decision
from dermvqa.casework.canaries import CatchRate
from dermvqa.casework.posts import SAFETY_CHECK, UNRECORDED, PostRef, check_post, close_review_posts
from dermvqa.casework.questionnaire import Questionnaire, answer_lines
from dermvqa.casework.watchdog import Attention
from dermvqa.queue.jobs import enqueue_draft
from dermvqa.states import REGENERATABLE, REJECTABLE, REVIEWABLE, CaseState
from dermvqa.storage.case_answers import chosen_answers
from dermvqa.storage.cases import transition
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, CaseImage, ClinicianSession, Draft, Patient, Review, SafetyCheck, utcnow
from dermvqa.storage.outbox import add_message
from dermvqa.triage import flag_label

APPROVE, EDIT, REJECT, REGENERATE = "approve", "edit", "reject", "regenerate"


@dataclass(frozen=True)
class Decision:
    ok: bool
    case_id: int
    action: str
    state: CaseState | None = None  # the case's state now
    # why it did not happen: "outdated", "handled", "missing", "empty", "unrecorded"; "safety_check" (the
    # post showed a planted draft: nothing was sent, the real draft is posted again), "checked" (a
    # planted post whose check is over), "confirm_urgent" (a red-flag case: approve with urgent_checked)
    reason: str = ""
    last_actor: int | None = None  # who acted last, when someone was first
    note: str = ""  # with "safety_check": what was wrong with the planted draft
    flags: tuple[str, ...] = ()  # with "confirm_urgent": the red flags, as the patient is told them


@dataclass(frozen=True)
class CaseDetail:
    case_id: int
    state: CaseState
    urgent: bool
    urgent_reasons: tuple[str, ...]
    description: str
    photo_file_ids: tuple[str | None, ...]
    photo_hashes: tuple[str, ...]
    draft_id: int | None
    draft_text: str | None
    model_version: str | None
    prompt_id: int | None
    failure: str | None
    submitted_at: dt.datetime | None
    answers: tuple[str, ...] = ()  # the structured intake's answers, "Onset: within weeks" (answered ones only)


@dataclass(frozen=True)
class Stats:
    counts: dict[str, int]
    answered: int
    median_seconds_to_answer: float | None
    approved_unedited_share: float | None
    reviews: int
    attention: Attention | None = None  # cases waiting too long, messages failed for good
    safety: CatchRate | None = None  # planted drafts caught and missed ([review] canary_rate)


def latest_draft(session, case_id: int) -> Draft | None:
    return session.scalar(select(Draft).where(Draft.case_id == case_id).order_by(Draft.id.desc()))


def case_detail(db: Database, case_id: int) -> CaseDetail | None:
    with db.read() as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        images = session.scalars(select(CaseImage).where(CaseImage.case_id == case_id).order_by(CaseImage.position))
        images = list(images)
        draft = latest_draft(session, case_id)
        return CaseDetail(
            case_id=case.id,
            state=CaseState(case.state),
            urgent=case.urgent,
            urgent_reasons=tuple(case.urgent_reasons or ()),
            description=case.description or "",
            photo_file_ids=tuple(i.telegram_file_id for i in images),
            photo_hashes=tuple(i.sha256 for i in images),
            draft_id=draft.id if draft else None,
            draft_text=draft.text if draft else None,
            model_version=draft.model_version if draft else None,
            prompt_id=draft.prompt_id if draft else None,
            failure=case.failure,
            submitted_at=case.submitted_at,
            answers=tuple(
                answer_lines(chosen_answers(case.closed_qa), state=Questionnaire.from_json(case.questionnaire))
            ),
        )


def post_detail(db: Database, case_id: int, payload: dict) -> CaseDetail | None:
    """What a review post shows: the case, with the planted draft when the post is a safety check.

    A planted post whose check is over (or whose real draft is no longer the newest) shows nothing:
    None, so a copy still on its way to a clinician is not sent at all.
    """
    detail = case_detail(db, case_id)
    check_id = (payload or {}).get(SAFETY_CHECK)
    if detail is None or not check_id:
        return detail
    with db.read() as session:
        check = session.get(SafetyCheck, check_id)
        if check is None or check.outcome != canaries.PENDING or check.draft_id != detail.draft_id:
            return None
        planted = check.planted_text
    if detail.state != CaseState.AWAITING_REVIEW:
        return None
    return dataclasses.replace(detail, draft_text=planted)


def urgent_labels(session, case_id: int) -> tuple[str, ...]:
    """The red flags of an urgent case as the patient was told them (empty for a case that is not urgent)."""
    case = session.get(Case, case_id)
    if case is None or not case.urgent:
        return ()
    return tuple(flag_label(f) for f in case.urgent_reasons or ()) or ("a sign that needs urgent care",)


def _on_planted(
    session, check: SafetyCheck, action: str, clinician_id: int, post: PostRef, now: dt.datetime
) -> Decision:
    """A button under a planted draft's post (approve, edit or reject): settle the check, never the case."""
    case_id = check.case_id
    state = CaseState(session.scalar(select(Case.state).where(Case.id == case_id)))
    latest = latest_draft(session, case_id)
    if state not in REVIEWABLE or latest is None or latest.id != check.draft_id:
        safety_checks.settle_case(session, case_id, "The case has moved on.", now)  # nothing left to test
    if safety_checks.resolve(session, check, action, clinician_id, post, now) is None:
        return Decision(False, case_id, action, state, "checked")
    return Decision(False, case_id, action, state, "safety_check", note=check.explanation)


def _lost(session, case_id: int, action: str) -> Decision:
    case = session.get(Case, case_id)
    if case is None:
        return Decision(False, case_id, action, reason="missing")
    last = session.scalar(select(Review).where(Review.case_id == case_id).order_by(Review.id.desc()))
    return Decision(False, case_id, action, CaseState(case.state), "handled", last.clinician_id if last else None)


def _checked_post(
    session, case_id: int, draft_id: int | None, action: str, post: PostRef | None
) -> tuple[Decision | None, SafetyCheck | None]:
    """(None, the safety check the post showed or None) when the button was pressed under a recorded
    review post of this case and draft (or came from no post: ``post`` None, the Edit flow's
    confirmation, whose session a checked post began); one query finds the post for both answers.

    A leftover post (its case deleted, or ids that match no post of the case, e.g. a number reused
    by an older database) answers "missing", and nothing changes.
    """
    if post is None:
        return None, None
    why, row = check_post(session, case_id, draft_id, post)
    if not why:
        check_id = (row.payload or {}).get(SAFETY_CHECK) if row is not None else None
        return None, session.get(SafetyCheck, check_id) if check_id else None
    if why == UNRECORDED:
        state = session.scalar(select(Case.state).where(Case.id == case_id))
        return Decision(False, case_id, action, CaseState(state) if state else None, UNRECORDED), None
    return Decision(False, case_id, action, reason="missing"), None


def _patient_chat(session, case_id: int) -> int:
    return session.scalar(select(Patient.chat_id).join(Case, Case.patient_id == Patient.id).where(Case.id == case_id))


def approve(
    db: Database,
    case_id: int,
    draft_id: int,
    clinician_id: int,
    *,
    final_text: str | None = None,
    clinician_name: str = "",
    post: PostRef | None = None,
    urgent_checked: bool = False,
) -> Decision:
    """Approve the draft (``final_text`` given: the clinician's edit). The answer goes to the outbox.

    ``post``: the review post whose button was pressed; it must be a recorded post of this case and
    draft (checked in the same transaction as the decision). A post that showed a planted draft
    never approves: the check is settled instead (``dermvqa.casework.safety_checks``).

    A case with a red flag is approved only with ``urgent_checked`` (the clinician confirmed they
    checked the urgent advice), else the answer is "confirm_urgent"; its answer always carries the
    red flags (``payload["urgent_flags"]``), and the patient's message starts with the urgent advice.
    """
    action = APPROVE if final_text is None else EDIT
    now = utcnow()
    audit_key = audit_key_of(db)
    with db.write() as session:
        refused, planted = _checked_post(session, case_id, draft_id, action, post)
        if refused is not None:
            return refused
        if planted is not None:
            return _on_planted(session, planted, action, clinician_id, post, now)
        draft = latest_draft(session, case_id)
        if draft is None or draft.id != draft_id:
            state = session.scalar(select(Case.state).where(Case.id == case_id))
            return Decision(False, case_id, action, CaseState(state) if state else None, "outdated")
        text = (final_text if final_text is not None else draft.text).strip()
        if not text:  # never send a patient an empty answer (the worker never stores an empty draft)
            state = session.scalar(select(Case.state).where(Case.id == case_id))
            return Decision(False, case_id, action, CaseState(state) if state else None, "empty")
        flags = urgent_labels(session, case_id)
        state = CaseState(session.scalar(select(Case.state).where(Case.id == case_id)))
        if flags and not urgent_checked and state in REVIEWABLE:
            return Decision(False, case_id, action, state, "confirm_urgent", flags=flags)
        if not transition(session, case_id, CaseState.APPROVED, expected=REVIEWABLE, final_text=text, reviewed_at=now):
            return _lost(session, case_id, action)
        session.add(
            Review(
                case_id=case_id,
                draft_id=draft.id,
                clinician_id=clinician_id,
                action=action,
                draft_text=draft.text,
                final_text=text,
                created_at=now,
            )
        )
        record_decision(session, audit_key, case_id, action, clinician_id, now)
        add_message(
            session,
            kinds.ANSWER,
            chat_id=_patient_chat(session, case_id),
            case_id=case_id,
            payload={"case_id": case_id, "text": text, **({"urgent_flags": list(flags)} if flags else {})},
            dedupe_key=f"{kinds.ANSWER}:{case_id}",
        )
        verb = "approved" if action == APPROVE else "edited and approved"
        close_review_posts(session, case_id, f"{verb} by {clinician_name or clinician_id}")
        safety_checks.settle_case(session, case_id, "The real draft was decided on meanwhile.", now)
        return Decision(True, case_id, action, CaseState.APPROVED)


def reject(db: Database, case_id: int, clinician_id: int, reason: str, *, clinician_name: str = "") -> Decision:
    """Reject the case with a reason (kept for the record); the patient gets the kind template."""
    now = utcnow()
    audit_key = audit_key_of(db)
    with db.write() as session:
        draft = latest_draft(session, case_id)
        if not transition(session, case_id, CaseState.REJECTED, expected=REJECTABLE, reviewed_at=now):
            return _lost(session, case_id, REJECT)
        session.add(
            Review(
                case_id=case_id,
                draft_id=draft.id if draft else None,
                clinician_id=clinician_id,
                action=REJECT,
                draft_text=draft.text if draft else None,
                reason=reason.strip(),
                created_at=now,
            )
        )
        record_decision(session, audit_key, case_id, REJECT, clinician_id, now)
        add_message(
            session,
            kinds.REJECTED,
            chat_id=_patient_chat(session, case_id),
            case_id=case_id,
            payload={"case_id": case_id},
            dedupe_key=f"{kinds.REJECTED}:{case_id}",
        )
        close_review_posts(session, case_id, f"rejected by {clinician_name or clinician_id}")
        safety_checks.settle_case(session, case_id, "The case was rejected meanwhile.", now)
        return Decision(True, case_id, REJECT, CaseState.REJECTED)


def regenerate(
    db: Database,
    case_id: int,
    clinician_id: int,
    *,
    max_attempts: int = 3,
    clinician_name: str = "",
    draft_id: int | None = None,
    post: PostRef | None = None,
) -> Decision:
    """Queue a new draft for the case (its current draft stays on record).

    ``post`` and ``draft_id``: the review post whose button was pressed and the draft it showed.
    """
    now = utcnow()
    audit_key = audit_key_of(db)
    with db.write() as session:
        refused, planted = _checked_post(session, case_id, draft_id, REGENERATE, post)
        if refused is not None:
            return refused
        if planted is not None:  # a new draft for a planted post: the case goes on as usual
            safety_checks.resolve(session, planted, REGENERATE, clinician_id, post, now)
        case = session.get(Case, case_id)
        if case is None:
            return Decision(False, case_id, REGENERATE, reason="missing")
        if not transition(session, case_id, CaseState.QUEUED, expected=REGENERATABLE, failure=None):
            return _lost(session, case_id, REGENERATE)
        draft = latest_draft(session, case_id)
        session.add(
            Review(
                case_id=case_id,
                draft_id=draft.id if draft else None,
                clinician_id=clinician_id,
                action=REGENERATE,
                draft_text=draft.text if draft else None,
                created_at=now,
            )
        )
        record_decision(session, audit_key, case_id, REGENERATE, clinician_id, now)
        enqueue_draft(session, case_id, priority=10 if case.urgent else 0, max_attempts=max_attempts, now=now)
        close_review_posts(session, case_id, f"new draft requested by {clinician_name or clinician_id}")
        safety_checks.settle_case(session, case_id, "A new draft was requested.", now)
        return Decision(True, case_id, REGENERATE, CaseState.QUEUED)


# -- the clinician's unfinished Edit / Reject (survives a restart) --------------------------------


def _session_row(session, clinician_id: int, chat_id: int) -> ClinicianSession | None:
    return session.scalar(
        select(ClinicianSession).where(
            ClinicianSession.clinician_id == clinician_id, ClinicianSession.chat_id == chat_id
        )
    )


def begin_session(
    db: Database,
    clinician_id: int,
    chat_id: int,
    case_id: int,
    draft_id: int | None,
    action: str,
    *,
    post: PostRef | None = None,
) -> Decision:
    """Start an Edit or Reject (ok), or say why not: the case is no longer open for it ("handled", with
    its state), is gone or the post is a leftover ("missing"), or the post is not recorded yet; on a
    planted draft's post the safety check is settled instead ("safety_check")."""
    allowed = REVIEWABLE if action == EDIT else REJECTABLE
    with db.write() as session:
        refused, planted = _checked_post(session, case_id, draft_id, action, post)
        if refused is not None:
            return refused
        if planted is not None:  # Edit or Reject on a planted draft: caught at once, no text is asked for
            return _on_planted(session, planted, action, clinician_id, post, utcnow())
        state = session.scalar(select(Case.state).where(Case.id == case_id))
        if state is None:
            return Decision(False, case_id, action, reason="missing")
        if CaseState(state) not in allowed:
            return Decision(False, case_id, action, CaseState(state), "handled")
        row = _session_row(session, clinician_id, chat_id)
        if row is None:
            row = ClinicianSession(
                clinician_id=clinician_id, chat_id=chat_id, case_id=case_id, action=action, state="awaiting_text"
            )
            session.add(row)
        row.case_id, row.draft_id, row.action, row.state, row.proposed_text = (
            case_id,
            draft_id,
            action,
            "awaiting_text",
            None,
        )
        return Decision(True, case_id, action, CaseState(state))


@dataclass(frozen=True)
class SessionView:
    case_id: int
    draft_id: int | None
    action: str
    state: str
    proposed_text: str | None
    urgent_flags: tuple[str, ...] = ()  # the case's red flags: the answer will start with the urgent advice


def current_session(db: Database, clinician_id: int, chat_id: int) -> SessionView | None:
    with db.read() as session:
        row = _session_row(session, clinician_id, chat_id)
        if row is None:
            return None
        flags = urgent_labels(session, row.case_id)
        return SessionView(row.case_id, row.draft_id, row.action, row.state, row.proposed_text, flags)


def propose_text(db: Database, clinician_id: int, chat_id: int, text: str) -> SessionView | None:
    with db.write() as session:
        row = _session_row(session, clinician_id, chat_id)
        if row is None:
            return None
        row.proposed_text, row.state = text.strip(), "awaiting_confirm"
        flags = urgent_labels(session, row.case_id)
        return SessionView(row.case_id, row.draft_id, row.action, row.state, row.proposed_text, flags)


def end_session(db: Database, clinician_id: int, chat_id: int) -> None:
    with db.write() as session:
        row = _session_row(session, clinician_id, chat_id)
        if row is not None:
            session.delete(row)


# -- views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    case_id: int
    state: CaseState
    urgent: bool
    submitted_at: dt.datetime | None


def queue_view(db: Database, limit: int = 30) -> list[QueueItem]:
    """Cases waiting for clinicians or the model: urgent first, then oldest first."""
    waiting = [CaseState.AWAITING_REVIEW, CaseState.FAILED, CaseState.QUEUED, CaseState.DRAFTING]
    with db.read() as session:
        rows = session.execute(
            select(Case.id, Case.state, Case.urgent, Case.submitted_at)
            .where(Case.state.in_(waiting))
            .order_by(Case.urgent.desc(), Case.submitted_at, Case.id)
            .limit(limit)
        ).all()
    return [QueueItem(r[0], CaseState(r[1]), bool(r[2]), r[3]) for r in rows]


def stats(db: Database, *, alert_after: dt.timedelta | None = None, now: dt.datetime | None = None) -> Stats:
    """Counts and timings; with ``alert_after``, also what waits longer than that or failed for good."""
    attention = load_attention(db, now or utcnow(), alert_after) if alert_after is not None else None
    with db.read() as session:
        counts = dict(session.execute(select(Case.state, func.count()).group_by(Case.state)).all())
        answered = session.execute(
            select(Case.submitted_at, Case.answered_at).where(
                Case.answered_at.is_not(None), Case.submitted_at.is_not(None)
            )
        ).all()
        decided = dict(
            session.execute(
                select(Review.action, func.count()).where(Review.action.in_([APPROVE, EDIT])).group_by(Review.action)
            ).all()
        )
        reviews = session.scalar(select(func.count()).select_from(Review)) or 0
        safety = safety_checks.count_checks(session)
    seconds = [(a - s).total_seconds() for s, a in answered]
    approvals = decided.get(APPROVE, 0) + decided.get(EDIT, 0)
    return Stats(
        counts={str(k): v for k, v in counts.items()},
        answered=len(seconds),
        median_seconds_to_answer=statistics.median(seconds) if seconds else None,
        approved_unedited_share=decided.get(APPROVE, 0) / approvals if approvals else None,
        reviews=reviews,
        attention=attention,
        safety=safety,
    )
