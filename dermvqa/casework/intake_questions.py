"""The structured intake's transactions: the closed questions of the patient's open case.

The bot parses a button, calls one of these (in a thread: they block on the database) and renders
the steps (``dermvqa.casework.questionnaire``). The state is stored with the case in the same
transaction, so the questions resume where they were after a restart. A button of another case (an
older one, or one already submitted) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dermvqa.casework import questionnaire as qn
from dermvqa.closedqa.extractor import extract
from dermvqa.storage.case_answers import save_answers
from dermvqa.storage.database import Database
from dermvqa.storage.intake import collecting_case, find_patient


@dataclass(frozen=True)
class Outcome:
    case_id: int | None  # the open case (None: there is none)
    steps: tuple[qn.Step, ...] = ()
    stale: bool = False  # the button belongs to another case: nothing changed


def _apply(db: Database, user_id: int, case_id: int | None, change: Callable[[qn.Questionnaire, str], qn.Result]):
    """Run ``change`` on the open case's questionnaire (only if it is ``case_id``, when given) and store it."""
    with db.write() as session:
        patient = find_patient(session, user_id)
        case = collecting_case(session, patient.id) if patient is not None else None
        if case is None or (case_id is not None and case.id != case_id):
            return Outcome(case.id if case else None, stale=True)
        before = qn.Questionnaire.from_json(case.questionnaire)
        after, steps = change(before, case.description or "")
        if after != before:
            save_answers(case, after.to_json(), after.chosen())
        return Outcome(case.id, steps)


def after_description(db: Database, user_id: int) -> Outcome:
    """The description changed: pre-fill what it answers (never over the patient's own answers) and
    say what to show next."""
    return _apply(db, user_id, None, lambda q, text: qn.apply_description(q, extract(text)))


def confirm_prefill(db: Database, user_id: int, case_id: int, serial: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.confirm_prefill(q, serial))


def change_prefill(db: Database, user_id: int, case_id: int, serial: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.change_prefill(q, serial))


def press_option(db: Database, user_id: int, case_id: int, serial: int, index: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.press_option(q, serial, index))


def press_done(db: Database, user_id: int, case_id: int, serial: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.press_done(q, serial))


def press_skip(db: Database, user_id: int, case_id: int, serial: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.press_skip(q, serial))


def ask_change(db: Database, user_id: int, case_id: int) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.ask_change(q))


def reopen(db: Database, user_id: int, case_id: int, family_id: str) -> Outcome:
    return _apply(db, user_id, case_id, lambda q, _: qn.reopen(q, family_id))
