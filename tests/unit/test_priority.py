"""The drafting worker's CPU priority (bot/priority.py): the pure rule, and the real call in a child
process (a nice value cannot be undone, so never in the test process itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.priority import nice_increment

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX nice values")


def test_the_increment_only_ever_lowers_the_priority():
    assert nice_increment(0, 10) == 10
    assert nice_increment(4, 10) == 6
    assert nice_increment(10, 10) == 0
    assert nice_increment(15, 10) == 0  # started nicer (nice -n 15): stays so
    assert nice_increment(0, 0) == 0


def _child(code: str, *, started_at: int = 0) -> list[str]:
    prefix = ["nice", "-n", str(started_at)] if started_at else []
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.split()


LOWER_THEN_THREAD = """
import os, threading
from bot.priority import lower_priority
now = lower_priority({wanted})
seen = []
thread = threading.Thread(target=lambda: seen.append(os.nice(0)))  # Linux: the calling thread's value
thread.start(); thread.join()
print(os.nice(0) - {base}, now - {base}, seen[0] - {base})
"""


def test_lower_priority_reaches_the_wanted_value_and_later_threads_inherit_it():
    base = os.nice(0)  # (the test process may itself run niced: values are relative to it)
    wanted = base + 7
    assert _child(LOWER_THEN_THREAD.format(wanted=wanted, base=base)) == ["7", "7", "7"]


def test_a_process_started_nicer_stays_as_it_is():
    base = os.nice(0)
    code = LOWER_THEN_THREAD.format(wanted=base + 5, base=base)
    assert _child(code, started_at=12) == ["12", "12", "12"]


def test_zero_leaves_the_process_as_it_was_started():
    base = os.nice(0)
    assert _child(LOWER_THEN_THREAD.format(wanted=0, base=base)) == ["0", "0", "0"]
