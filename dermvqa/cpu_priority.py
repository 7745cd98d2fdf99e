"""The CPU priority of the background processes: below the bot's, so the bot's patients come first.

The bot answers people; the drafting worker and the nightly training work in the background, and
with a model on the CPU they would take every core they can get. On a machine they share,
``[worker] nice`` and ``[training] nice`` (default 10) let the kernel run the bot first whenever
both want a core. ``bench/bot_load.py`` measured the effect with its scripted worker: a crowd's
Submits were acknowledged sooner and cost the bot less CPU (the README, "Submit under load").

Linux keeps a nice value per thread, and a new thread inherits its creator's: so each process sets
it first thing (``dermbot worker``, ``python -m training.nightly``), and on every thread it already
has (a library may have started some at import), so that the heartbeat, the watchdog and the model's
thread pools all run at it. An unprivileged process can only lower its own priority, so the value
is a floor: a process started under ``nice -n 15`` stays at 15, and ``nice = 0`` leaves it as it
was started. The bot and its database process are never lowered.

Nice values rank the tasks of one scheduling group: the processes that ``dermbot run`` starts are in
the bot's. Where they run as separate services (systemd units, containers), give them a lower share
there too (``Nice=`` or ``CPUWeight=``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_TASKS = Path("/proc/self/task")  # Linux: one entry per thread of this process


def nice_increment(current: int, wanted: int) -> int:
    """What to add to niceness ``current`` to reach ``wanted`` (pure): never negative, since raising
    a priority back needs privileges the service does not have."""
    return max(0, wanted - current)


def lower_priority(wanted: int, section: str) -> int:
    """Make this process's threads, those it has and those it starts afterwards, at least as nice as
    ``wanted`` (``[section] nice``), and log the niceness it has then, which it returns. Where the
    platform has no nice values (not POSIX) nothing changes; where it refuses (a sandbox), nothing
    more changes and a warning is logged: a priority is an optimisation, never a reason not to draft
    or train."""
    now = _lower(wanted)
    logger.info("%s at CPU priority nice %d ([%s] nice = %d): the bot runs first", section, now, section, wanted)
    return now


def _lower(wanted: int) -> int:
    if not hasattr(os, "nice"):
        return 0
    try:
        if hasattr(os, "setpriority") and _TASKS.is_dir():
            for thread_id in (int(entry.name) for entry in _TASKS.iterdir()):
                _lower_thread(thread_id, wanted)
        else:  # (e.g. macOS: one value for the whole process)
            step = nice_increment(os.nice(0), wanted)
            if step:
                os.nice(step)
        return os.nice(0)
    except OSError as exc:
        logger.warning("could not lower this process's CPU priority to nice %d (%s)", wanted, type(exc).__name__)
        try:
            return os.nice(0)
        except OSError:
            return 0


def _lower_thread(thread_id: int, wanted: int) -> None:
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)  # (Linux: a thread id names one thread)
        if nice_increment(current, wanted):
            os.setpriority(os.PRIO_PROCESS, thread_id, wanted)
    except ProcessLookupError:  # the thread ended meanwhile
        pass
