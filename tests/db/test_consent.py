"""The two consent answers as transactions (dermvqa.casework.intake), in a real database."""

from __future__ import annotations

from dermvqa.casework import intake
from dermvqa.casework.intake import CONSENT_VERSION, Refusal


def test_the_training_answer_needs_the_service_consent_and_is_stored_with_its_time(db):
    assert intake.set_training_consent(db, 1, True) == Refusal("no_consent")  # unknown patient
    assert intake.privacy(db, 1).known is False  # and asking created nothing
    intake.refuse(db, 1, 1)
    assert intake.set_training_consent(db, 1, True) == Refusal("no_consent")  # declined the service

    intake.consent(db, 1, 1, "en")
    shown = intake.privacy(db, 1)
    assert (shown.consented, shown.consent_version, shown.training_consent) == (True, CONSENT_VERSION, None)
    yes = intake.set_training_consent(db, 1, True)
    assert yes.training_consent is True and yes.training_consent_at is not None
    assert intake.set_training_consent(db, 1, True).training_consent_at == yes.training_consent_at  # unchanged
    no = intake.set_training_consent(db, 1, False)
    assert no.training_consent is False and no.training_consent_at >= yes.training_consent_at
    assert intake.view(db, 1).training_consent is False


def test_withdrawing_the_service_consent_withdraws_training_and_a_new_consent_asks_again(db):
    intake.consent(db, 2, 2, "en")
    intake.set_training_consent(db, 2, True)
    intake.refuse(db, 2, 2)
    shown = intake.privacy(db, 2)
    assert shown.consented is False and shown.training_consent is False and shown.refused_at is not None
    intake.consent(db, 2, 2, "en")
    assert intake.privacy(db, 2).training_consent is None  # asked anew under the new consent
