"""The CPU priority of the drafting worker: below the bot's, so the bot's patients come first.

The bot answers people; the worker drafts in the background, and with a model on the CPU it would
take every core it can get. On a machine the two share, ``[worker] nice`` (default 10) lets the
kernel run the bot first whenever both want a core. ``bench/bot_load.py`` measured the effect with its
scripted worker: a crowd's Submits were acknowledged sooner and cost the bot less CPU (the README,
"Submit under load").

Linux keeps a nice value per thread, and a thread inherits its creator's: so the worker sets it first
thing, before its heartbeat thread or the model's thread pools exist. An unprivileged process can
only lower its own priority, so the value is a floor: a worker started under ``nice -n 15`` stays at
15, and ``nice = 0`` leaves the worker as it was started.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def nice_increment(current: int, wanted: int) -> int:
    """What to add to niceness ``current`` to reach ``wanted`` (pure): never negative, since raising
    a priority back needs privileges the service does not have."""
    return max(0, wanted - current)


def lower_priority(wanted: int) -> int:
    """Make this process (its calling thread and the threads it starts afterwards) at least as nice
    as ``wanted``; returns its niceness now. Where the platform has no ``os.nice``, or refuses, it
    stays as it is (logged): a priority is an optimisation, never a reason not to draft."""
    if not hasattr(os, "nice"):  # (not POSIX)
        return 0
    current = os.nice(0)
    step = nice_increment(current, wanted)
    if not step:
        return current
    try:
        return os.nice(step)
    except OSError as exc:
        logger.warning("could not lower the worker's CPU priority to nice %d (%s)", wanted, type(exc).__name__)
        return current
