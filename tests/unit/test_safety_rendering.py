"""What the patient and the clinicians see of the safety features (pure rendering)."""

from __future__ import annotations

from bot.rendering import patient_message, safety_lines, stats_text
from bot.texts import Texts
from dermvqa.casework import kinds
from dermvqa.casework.canaries import CatchRate
from dermvqa.casework.review import Stats
from dermvqa.config import BotConfig, IntakeConfig

TEXTS = Texts.from_config(BotConfig(), IntakeConfig())


def rendered(payload: dict) -> str:
    return "\n".join(part["text"] for part in patient_message(kinds.ANSWER, payload, TEXTS))


def test_a_red_flag_answer_starts_with_the_urgent_advice_whatever_the_clinician_wrote():
    flags = ["swelling of the lips, face, tongue or throat"]
    text = rendered({"case_id": 7, "text": "Nothing to worry about.", "urgent_flags": flags})
    advice = TEXTS.urgent_advice(flags)
    assert advice in text and text.index(advice) < text.index("Nothing to worry about.")
    assert text.endswith(BotConfig().disclaimer)


def test_an_answer_without_red_flags_carries_no_urgent_advice():
    text = rendered({"case_id": 7, "text": "Use an emollient."})
    assert "urgent" not in text.lower() and "Use an emollient." in text


def test_stats_show_the_catch_rate_as_one_separate_line():
    base = Stats(
        counts={"answered": 3}, answered=3, median_seconds_to_answer=60.0, approved_unedited_share=0.5, reviews=4
    )
    assert "Safety checks" not in stats_text(base)  # nothing planted: no line
    rate = CatchRate(planted=5, caught=3, missed=1, pending=1, superseded=0)
    [line] = safety_lines(rate)
    assert "5 planted, 3 caught, 1 approved unedited" in line and "catch rate 75%" in line
    with_checks = Stats(**{**base.__dict__, "safety": rate})
    assert stats_text(with_checks).endswith(line)
    assert "catch rate n/a" in safety_lines(CatchRate(1, 0, 0, 1, 0))[0]
