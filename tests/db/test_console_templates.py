"""Clinicians' canned replies in a real database: per clinician, replaced by name, limits, kept on erasure."""

from __future__ import annotations

import datetime as dt

import pytest
from support.cases import submit

from dermvqa.casework import templates
from dermvqa.casework.erasure import erase_patient
from dermvqa.casework.template_text import MAX_TEMPLATES
from dermvqa.errors import UsageError

ANNA, BEN = 601, 602
TODAY = dt.date(2026, 12, 1)


def test_add_list_replace_remove_per_clinician(any_db):
    db = any_db
    saved, new = templates.save_template(db, ANNA, "followup", "Case #{case}: photo again on {date}.")
    assert new
    templates.save_template(db, BEN, "followup", "Ben's own text")  # the same name for another clinician
    again, new = templates.save_template(db, ANNA, "followup", "Case {case}: replaced")
    assert not new and again.template_id == saved.template_id
    assert [(t.name, t.text) for t in templates.list_templates(db, ANNA)] == [("followup", "Case {case}: replaced")]
    assert templates.filled_template(db, ANNA, saved.template_id, 42, TODAY) == "Case 42: replaced"
    assert templates.filled_template(db, BEN, saved.template_id, 42, TODAY) is None  # not Ben's
    assert templates.remove_template(db, ANNA, "followup") and not templates.remove_template(db, ANNA, "followup")
    assert templates.filled_template(db, ANNA, saved.template_id, 42, TODAY) is None
    assert [t.text for t in templates.list_templates(db, BEN)] == ["Ben's own text"]


def test_bad_placeholders_and_too_many_templates_are_refused(db):
    with pytest.raises(UsageError, match="unknown placeholder"):
        templates.save_template(db, ANNA, "bad", "Dear {patient}")
    for i in range(MAX_TEMPLATES):
        templates.save_template(db, ANNA, f"t{i}", "text")
    with pytest.raises(UsageError, match="remove one first"):
        templates.save_template(db, ANNA, "one-more", "text")
    templates.save_template(db, ANNA, "t0", "replacing is still allowed")
    assert len(templates.list_templates(db, ANNA)) == MAX_TEMPLATES


def test_erasing_a_patient_leaves_the_templates(db, store):
    submit(db, store, 777)
    templates.save_template(db, ANNA, "followup", "See you on {date}.")
    erase_patient(db, store, 777, 777)
    assert [t.name for t in templates.list_templates(db, ANNA)] == ["followup"]
