"""The Submit benchmark's two bots, run small (no timings asserted): both acknowledge every patient
exactly once, and a Submit costs the real bot the same two Bot API calls as the bare framework bot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bot_load


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["project", "bare"])
def test_each_patient_is_acknowledged_once_with_one_answer_and_one_message(variant):
    result = bot_load.run(6, 1000.0, 16, 8, with_worker=False, variant=variant)
    assert (result["acks"], result["cases_submitted"], result["duplicate_acks"]) == (6, 6, 0)
    calls = result["calls_per_submit"]
    assert calls["answerCallbackQuery"] == 1.0 and calls["sendMessage"] == 1.0
    assert set(calls) <= {"answerCallbackQuery", "sendMessage", "getUpdates"}  # no edits, no second answer
