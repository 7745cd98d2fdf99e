"""/delete at the database level: nothing of the patient is left (rows, words in the file bytes, photo
files) except the audit rows of clinicians' decisions, which still answer "who approved this?"."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import func, select, text
from support.cases import photo_bytes, submit
from support.erasure import file_bytes, leftovers

from dermvqa.casework import kinds, review
from dermvqa.casework.audit import audit_key_of, case_key, decisions_for_case, rekey_audit
from dermvqa.casework.erasure import ensure_secure_delete, erase_patient
from dermvqa.casework.intake import delete_everything
from dermvqa.storage.conversation import IncomingEntry, Outgoing, record_incoming, record_outgoing_many
from dermvqa.storage.delivery import RowOutcome, record_outcomes
from dermvqa.storage.keys import DataKey, new_key_text, parse_key
from dermvqa.storage.models import Case, CaseAudit, Draft, MessageLog, OutboxMessage, Patient, utcnow
from dermvqa.storage.outbox import add_message

PATIENT, OTHER, CLINICIAN = 5001, 5002, 77
WORDS = ("Zanzibarite", "Quokkarash", "Vellichorpatch", "Oblivionstreak", "Petrichorblister", "Hiraethspots")


def with_draft(db, case_id: int, words: str) -> int:
    with db.write() as session:
        session.get(Case, case_id).state = "awaiting_review"
        draft = Draft(case_id=case_id, text=f"Draft answer about {words}", model_version="m", prompt_id=1)
        session.add(draft)
        session.flush()
        return draft.id


def populate(db, store) -> list[int]:
    """A patient with three cases: one edited and approved, one rejected, one with an unfinished edit;
    messages both ways (some without a case link), a reply owed to their chat; and another patient."""
    a = submit(db, store, PATIENT, photos=[photo_bytes((10, 20, 30))], text=f"My arm has {WORDS[0]}")
    b = submit(db, store, PATIENT, photos=[photo_bytes((40, 50, 60))], text="Second case, my leg")
    c = submit(db, store, PATIENT, photos=[photo_bytes((70, 80, 90))], text="Third case, my back")
    other = submit(db, store, OTHER, photos=[photo_bytes((1, 2, 3))], text="Someone else's rash")
    draft_a, draft_c = with_draft(db, a, WORDS[1]), with_draft(db, c, "y")
    with_draft(db, b, "x")
    with_draft(db, other, "z")
    assert review.approve(db, a, draft_a, CLINICIAN, final_text=f"Edited answer: {WORDS[2]}").ok
    assert review.reject(db, b, CLINICIAN, f"Reason: {WORDS[3]}").ok
    assert review.begin_session(db, CLINICIAN, CLINICIAN, c, draft_c, review.EDIT).ok
    assert review.propose_text(db, CLINICIAN, CLINICIAN, f"Proposed: {WORDS[4]}") is not None
    record_incoming(db, [IncomingEntry(PATIENT, PATIENT, "text", f"Hello {WORDS[5]}", 9, False)])
    with db.write() as session:
        record_outgoing_many(session, [Outgoing(PATIENT, None, "reply:message", f"Reply about {WORDS[5]}", 10)])
        add_message(session, "reply", chat_id=PATIENT, payload={"parts": [{"op": "message", "text": WORDS[5]}]})
        session.add(MessageLog(chat_id=PATIENT, direction="out", kind="notice", text=f"Notice {WORDS[5]}"))
    return [a, b, c]


def test_erasure_leaves_only_audit_rows_and_no_words_in_the_file(plain_db, store, tmp_path):
    db = plain_db
    case_ids = populate(db, store)
    with db.read() as session:
        hashes = set(session.scalars(text("SELECT sha256 FROM case_images")))
    photo_files = {store.path_for(h) for h in hashes}
    assert len(photo_files) == 4 and all(p.exists() for p in photo_files)
    raw = file_bytes(tmp_path / "plain.sqlite3")
    assert all(w.encode() in raw for w in WORDS)  # the check below can fail: the words were on disk

    result = delete_everything(db, store, PATIENT, PATIENT)  # the bot's /delete path

    assert (result.cases, result.images, result.files_removed) == (3, 3, 3)
    assert leftovers(db, user_id=PATIENT, chat_id=PATIENT, case_ids=case_ids, words=WORDS) == []
    raw = file_bytes(tmp_path / "plain.sqlite3")
    assert [w for w in WORDS if w.encode() in raw] == []
    assert sum(p.exists() for p in photo_files) == 1  # only the other patient's photo
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 1  # the other patient
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        audit = session.scalars(select(CaseAudit).order_by(CaseAudit.id)).all()
        notice = session.scalars(select(OutboxMessage).where(OutboxMessage.chat_id == PATIENT)).one()
    assert [(r.action, r.clinician_id) for r in audit] == [("edit", CLINICIAN), ("reject", CLINICIAN)]
    assert notice.kind == kinds.DELETED and notice.payload == {}

    # Who approved the answer to case a? Still answerable from the case number alone.
    assert [(e.action, e.clinician_id) for e in decisions_for_case(db, case_ids[0])] == [("edit", CLINICIAN)]
    assert [e.action for e in decisions_for_case(db, case_ids[1])] == ["reject"]
    assert decisions_for_case(db, case_ids[2]) == []

    # Delivering the notice leaves neither the row nor a conversation record of it.
    row = record_view(db, notice.id)
    sent = RowOutcome(row, [{"op": "message", "text": "deleted"}], 1, [11], delivered=[0], done=True)
    record_outcomes(db, [sent], max_attempts=3, now=utcnow())
    assert leftovers(db, user_id=PATIENT, chat_id=PATIENT, case_ids=case_ids, words=WORDS) == []
    with db.read() as session:
        assert session.scalar(select(func.count()).where(OutboxMessage.chat_id == PATIENT)) == 0
        assert session.scalar(select(func.count()).where(MessageLog.chat_id == PATIENT)) == 0


def record_view(db, row_id):
    from dermvqa.storage.delivery import _view

    with db.read() as session:
        return _view(session.get(OutboxMessage, row_id))


def test_audit_rows_are_keyed_hashes_written_with_each_decision(db, store, data_key):
    case_id = submit(db, store, PATIENT)
    first = with_draft(db, case_id, "a")
    assert review.regenerate(db, case_id, CLINICIAN, draft_id=first).ok
    second = with_draft(db, case_id, "b")
    assert review.approve(db, case_id, second, CLINICIAN).ok
    assert not review.approve(db, case_id, second, 99).ok  # lost the race: no audit row
    expected = hmac.new(data_key.audit_key, f"case:{case_id}".encode(), hashlib.sha256).hexdigest()
    assert audit_key_of(db) == data_key.audit_key and case_key(data_key.audit_key, case_id) == expected
    with db.read() as session:
        rows = session.scalars(select(CaseAudit).order_by(CaseAudit.id)).all()
    assert [(r.case_key, r.action, r.clinician_id) for r in rows] == [
        (expected, "regenerate", CLINICIAN),
        (expected, "approve", CLINICIAN),
    ]
    assert rows[0].at <= rows[1].at
    # another key (another service) cannot link the rows to the case
    assert case_key(parse_key(new_key_text(), "t").audit_key, case_id) != expected


def test_rekey_audit_follows_a_data_key_rotation(db, store, data_key):
    case_id = submit(db, store, PATIENT)
    draft = with_draft(db, case_id, "a")
    assert review.approve(db, case_id, draft, CLINICIAN).ok
    delete_everything(db, store, PATIENT, PATIENT)  # the case is gone; its number must still be found
    new = DataKey(bytes(range(32)))
    with db.write() as session:
        assert rekey_audit(session, data_key, new) == 1
    with db.read() as session:
        assert session.scalar(select(CaseAudit.case_key)) == case_key(new.audit_key, case_id)


def test_the_erasing_connection_overwrites_deleted_rows(db):
    with db.write() as session:
        assert session.execute(text("PRAGMA secure_delete")).scalar() == 1  # set by open_database
        session.execute(text("PRAGMA secure_delete = OFF"))
        ensure_secure_delete(session)
        assert session.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_erasing_an_unknown_user_only_queues_the_notice(db, store):
    submit(db, store, OTHER)
    result = erase_patient(db, store, PATIENT, PATIENT)
    assert (result.cases, result.images, result.models_tainted) == (0, 0, ())
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert session.scalar(select(OutboxMessage.kind).where(OutboxMessage.chat_id == PATIENT)) == kinds.DELETED


def test_a_delete_pressed_outside_the_private_chat_erases_no_other_chat(db, store):
    group = -100555
    with db.write() as session:  # the review group's own records, and a message owed to it
        record_outgoing_many(session, [Outgoing(group, None, "reply", "Case #7 preview, words of another patient", 1)])
        add_message(session, kinds.REPLY, chat_id=group, payload={"parts": []})
    submit(db, store, PATIENT)
    erase_patient(db, store, PATIENT, group)  # a patient's /delete button pressed in the group
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(MessageLog).where(MessageLog.chat_id == group)) == 1
        assert session.scalar(select(func.count()).where(OutboxMessage.chat_id == group)) == 1
        notice = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == kinds.DELETED))
        assert notice.chat_id == PATIENT  # the confirmation goes to the patient's private chat
        assert session.scalar(select(func.count()).select_from(Case)) == 0
