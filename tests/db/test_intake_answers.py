"""The structured intake's storage: answers in the challenge's JSON on the case, the questions' state
across transactions, buttons of another case refused, the worker's query, and erasure."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select
from support.cases import photo_bytes
from support.erasure import file_bytes

from dermvqa.casework import intake, intake_questions
from dermvqa.casework.questionnaire import Ask, ShowPrefill
from dermvqa.closedqa.answers import encounter_json
from dermvqa.config import Config, IntakeConfig
from dermvqa.prompts import ANSWERS_HEADING
from dermvqa.storage.case_answers import chosen_answers, encounter_id
from dermvqa.storage.cases import load_draft_inputs
from dermvqa.storage.models import Case
from dermvqa.worker import Worker

USER = 6101
LIMITS = IntakeConfig()


def start(db, store, text: str, user: int = USER, prompt_id: int = 1) -> int:
    intake.consent(db, user, user, "en")
    stored = store.put(photo_bytes(), max_pixels=10**9)
    added = intake.attach_photo(db, user, stored, LIMITS, prompt_id=prompt_id)
    intake.add_description(db, user, text, LIMITS)
    return added.case_id


def case_row(db, case_id: int) -> tuple[dict | None, dict | None, int]:
    with db.read() as session:
        case = session.get(Case, case_id)
        return case.closed_qa, case.questionnaire, case.prompt_id


def test_answers_are_stored_as_the_challenges_json_across_transactions(db, store):
    case_id = start(db, store, "Itchy patches on my back for three weeks.")
    outcome = intake_questions.after_description(db, USER)
    prefill = outcome.steps[0]
    assert outcome.case_id == case_id and isinstance(prefill, ShowPrefill)
    closed_qa, state, _ = case_row(db, case_id)
    # Pre-filled answers count at once (the text says so); every other id is "Not mentioned".
    assert closed_qa == encounter_json(encounter_id(case_id), {"CQID011": (5,), "CQID015": (2,), "CQID025": (0,)})
    assert len(closed_qa) == 28 and encounter_id(case_id) == f"CASE{case_id:05d}"
    assert state["answers"]["CQID015"] == {"source": "prefilled", "chosen": [2]}

    first = intake_questions.confirm_prefill(db, USER, case_id, prefill.serial).steps[0]
    assert isinstance(first, Ask) and first.family.id == "CQID010"
    intake_questions.press_option(db, USER, case_id, first.serial, 2)  # extent: widespread
    _, state, _ = case_row(db, case_id)
    assert state["answers"]["CQID010"] == {"source": "chosen", "chosen": [2]}
    assert state["answers"]["CQID015"]["source"] == "confirmed"
    assert state["asking"] == "CQID012"  # site was confirmed: size is next, and the state says so
    # A second press of the same (answered) question changes nothing.
    again = intake_questions.press_option(db, USER, case_id, first.serial, 0)
    assert again.steps[0].code == "old" and case_row(db, case_id)[1] == state
    expected = {"CQID010": (2,), "CQID011": (5,), "CQID015": (2,), "CQID025": (0,)}
    assert chosen_answers(case_row(db, case_id)[0]) == expected


def test_buttons_of_a_submitted_or_other_case_change_nothing(db, store):
    case_id = start(db, store, "A strange patch appeared on my skin.")
    ask = intake_questions.after_description(db, USER).steps[0]
    assert intake.submit(db, USER, LIMITS, max_attempts=3).case_id == case_id
    before = case_row(db, case_id)
    outcome = intake_questions.press_option(db, USER, case_id, ask.serial, 1)
    assert outcome.stale and outcome.steps == () and case_row(db, case_id) == before
    # A new case: the old case's buttons still change nothing, in either case.
    new_id = start(db, store, "Another rash, on my leg.")
    intake_questions.after_description(db, USER)
    new_before = case_row(db, new_id)
    assert intake_questions.press_skip(db, USER, case_id, ask.serial).stale
    assert case_row(db, new_id) == new_before and case_row(db, case_id) == before


def test_the_worker_query_lists_the_answers_for_prompt_3_only(db, store):
    three = start(db, store, "Itchy patches for three weeks.", user=6102, prompt_id=3)
    intake_questions.after_description(db, 6102)
    one = start(db, store, "Itchy patches for three weeks.", user=6103)
    intake_questions.after_description(db, 6103)
    with db.read() as session:
        inputs = load_draft_inputs(session, [three, one])
    worker = Worker(Config(), db, lambda spec: None, store=store, worker_id="test")
    requests = {case_id: worker._request(SimpleNamespace(id=case_id), i) for case_id, i in inputs.items()}
    assert requests[three].prompt_id == 3
    listed = f"{ANSWERS_HEADING}\n- Onset: within weeks\n- Itch: yes"
    assert requests[three].query == f"Itchy patches for three weeks.\n{listed}"
    assert requests[one].query == "Itchy patches for three weeks."  # templates 1 and 2: the text alone


def test_delete_erases_the_answers_with_the_case(plain_db, store, tmp_path):
    db = plain_db
    case_id = start(db, store, "Itchy patches on my back for three weeks.")
    intake_questions.after_description(db, USER)
    marker = encounter_id(case_id).encode()
    assert marker in file_bytes(tmp_path / "plain.sqlite3")  # the check below can fail: the JSON was on disk
    intake.delete_everything(db, store, USER, USER)
    with db.read() as session:
        assert session.scalars(select(Case)).all() == []
    assert marker not in file_bytes(tmp_path / "plain.sqlite3")


def test_training_examples_of_prompt_3_cases_carry_the_answers_as_served(db, store):
    from training.sources import approved_cases

    case_id = start(db, store, "Itchy patches for three weeks.", user=6104, prompt_id=3)
    intake_questions.after_description(db, 6104)
    with db.write() as session:
        case = session.get(Case, case_id)
        case.state, case.final_text = "approved", "Eczema: use an emollient."
        case.patient.training_consent = True
    with db.read() as session:
        (example,) = approved_cases(session, store)
    assert example.prompt_id == 3
    assert example.query == f"Itchy patches for three weeks.\n{ANSWERS_HEADING}\n- Onset: within weeks\n- Itch: yes"
