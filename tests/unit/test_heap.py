"""The bot's collector settings (bot/heap.py), checked in a fresh interpreter: freezing this test
process's heap would keep the other tests' objects out of every later collection."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
import bot.app  # the bot's start-up heap
from bot.heap import SERVER_THRESHOLDS, settle_heap
before = gc.get_freeze_count()
frozen = settle_heap()
print(json.dumps({"before": before, "frozen": frozen, "count": gc.get_freeze_count(),
                  "thresholds": gc.get_threshold(), "expected": SERVER_THRESHOLDS}))
"""


def test_settling_freezes_the_start_up_heap_and_raises_the_thresholds():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    assert seen["frozen"] == seen["count"] > 10_000  # modules, metadata, the framework's classes
    assert tuple(seen["thresholds"]) == tuple(seen["expected"])
    assert seen["expected"][0] > 700  # above the interpreter's default
