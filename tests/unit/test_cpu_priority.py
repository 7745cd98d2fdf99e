"""The background processes' CPU priority (dermvqa/cpu_priority.py): the pure rule, the real call in a child
process (a nice value cannot be undone, so never in the test process itself), and the calls it makes
with the operating system's replaced."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dermvqa import cpu_priority
from dermvqa.cpu_priority import lower_priority, nice_increment

ROOT = Path(__file__).resolve().parents[2]
LINUX_THREADS = hasattr(os, "setpriority") and Path("/proc/self/task").is_dir()

pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX nice values")


def test_the_increment_only_ever_lowers_the_priority():
    assert nice_increment(0, 10) == 10
    assert nice_increment(4, 10) == 6
    assert nice_increment(10, 10) == 0
    assert nice_increment(15, 10) == 0  # started nicer (nice -n 15): stays so
    assert nice_increment(0, 0) == 0


CHILD = """
import os, threading
started = threading.Event(); release = threading.Event(); seen = {{}}
def before():  # a thread that exists before the call, as one a library starts at import
    seen["id"] = threading.get_native_id(); started.set(); release.wait()
early = threading.Thread(target=before); early.start(); started.wait()
os.nice({started_at})
from dermvqa.cpu_priority import lower_priority
now = lower_priority({wanted}, "worker")
later = threading.Thread(target=lambda: seen.setdefault("later", os.nice(0)))  # Linux: this thread's
later.start(); later.join()
early_value = os.getpriority(os.PRIO_PROCESS, seen["id"]) if hasattr(os, "setpriority") else now
release.set(); early.join()
print(os.nice(0) - {base}, now - {base}, seen["later"] - {base}, early_value - {base})
"""


def _child(wanted: int, started_at: int = 0) -> list[str]:
    base = os.nice(0)  # (this test process may itself run niced: the child starts there)
    if max(wanted, base + started_at) > 19:
        pytest.skip("this test process runs too nice to see the change")
    code = CHILD.format(wanted=wanted, started_at=started_at, base=base)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.skipif(not LINUX_THREADS, reason="per-thread nice values (Linux)")
def test_every_thread_gets_the_wanted_value_those_already_running_and_those_started_later():
    assert _child(wanted=os.nice(0) + 7) == ["7", "7", "7", "7"]


@pytest.mark.skipif(not LINUX_THREADS, reason="per-thread nice values (Linux)")
def test_a_process_started_nicer_stays_as_it_is():
    # Only the main thread was made nicer (12): it stays so, and so does the thread it starts; the
    # thread that was already running (at 0) comes up to the wanted 5.
    assert _child(wanted=os.nice(0) + 5, started_at=12) == ["12", "12", "12", "5"]


def test_zero_leaves_the_process_as_it_was_started():
    assert _child(wanted=0) == ["0", "0", "0", "0"]


@pytest.mark.skipif(not LINUX_THREADS, reason="per-thread nice values (Linux)")
def test_it_never_asks_for_a_higher_priority(monkeypatch):
    # Unprivileged, such a request would fail and be logged; here every call is recorded instead.
    asked: list[int] = []
    monkeypatch.setattr(cpu_priority.os, "getpriority", lambda which, who: 15)
    monkeypatch.setattr(cpu_priority.os, "setpriority", lambda which, who, value: asked.append(value))
    lower_priority(10, "worker")
    assert asked == []
    monkeypatch.setattr(cpu_priority.os, "getpriority", lambda which, who: 3)
    lower_priority(10, "worker")
    assert asked and set(asked) == {10}  # one per thread of this process


@pytest.mark.skipif(not LINUX_THREADS, reason="per-thread nice values (Linux)")
def test_a_refusal_is_logged_and_the_worker_goes_on(monkeypatch, caplog):
    def refuse(which, who, value):
        raise PermissionError("sandbox")

    monkeypatch.setattr(cpu_priority.os, "getpriority", lambda which, who: 0)
    monkeypatch.setattr(cpu_priority.os, "setpriority", refuse)
    with caplog.at_level(logging.WARNING, logger="dermvqa.cpu_priority"):
        assert lower_priority(10, "worker") == os.nice(0)  # unchanged, and no exception
    assert "could not lower this process's CPU priority to nice 10 (PermissionError)" in caplog.text
