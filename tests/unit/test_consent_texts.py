"""The consent texts state the configured retention periods, and what 0 (keep forever) means."""

from __future__ import annotations

import datetime as dt

from bot.texts import Texts
from dermvqa.config import BotConfig, IntakeConfig, RetentionConfig


def texts(**retention: int) -> Texts:
    return Texts.from_config(BotConfig(), IntakeConfig(), RetentionConfig(**retention))


def test_the_welcome_states_the_configured_periods_and_the_separate_training_question():
    welcome = texts(answered_days=365, rejected_days=730, withdrawn_days=30, message_log_days=1).welcome()
    assert "deleted 1 year after it was answered, 2 years after a clinician closed it" in welcome
    assert "or 30 days after you withdrew it" in welcome
    assert "The record of our conversation is deleted after 1 day." in welcome
    assert "stored encrypted" in welcome and "/delete" in welcome and "separate question" in welcome


def test_zero_days_is_told_as_kept_until_deleted():
    partly = texts(answered_days=90, rejected_days=0, withdrawn_days=0, message_log_days=0).retention_summary()
    assert partly == (
        "Each case, with its photos and words, is deleted 90 days after it was answered. "
        "Cases closed without an answer and withdrawn cases are kept until you delete them. "
        "The record of our conversation is kept until you delete it."
    )
    never = texts(answered_days=0, rejected_days=0, withdrawn_days=0, message_log_days=0).retention_summary()
    assert never.startswith("Your cases are kept until you delete them.")


def test_privacy_shows_version_dates_and_answers():
    t = texts(audit_days=3650)
    at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    shown = t.privacy(consented=True, version="2026-12", consent_at=at, training=False, training_at=at)
    assert "given on 1 December 2026 (consent text version 2026-12)" in shown
    assert "improve the model: no, since 1 December 2026" in shown
    assert "kept for 10 years" in shown
    unanswered = t.privacy(consented=True, version="2026-11", consent_at=at, training=None, training_at=None)
    assert "not answered yet (so they are not used)" in unanswered
    assert "Send /start" in t.privacy(consented=False, version=None, consent_at=None, training=None, training_at=None)
