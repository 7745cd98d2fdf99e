"""SIGTERM/SIGINT for a process that works in batches (the drafting worker): the first signal lets
the current batch finish, the second stops at once.

A Python signal handler runs in the main thread between two bytecodes, possibly while that thread
holds a lock, and ``threading`` locks are not re-entrant. A handler that calls ``Event.set()`` takes
the event's lock: arriving while the main thread is entering or leaving ``stop.wait()`` it waits for
itself forever (seen: a worker still running a minute after SIGTERM, stuck in ``Event.set`` inside
``Event.wait``). Starting a thread from the handler has the same flaw (``Thread.start`` takes the
module's thread-registry lock). So the handler takes no lock at all: the signal number reaches a
watcher thread through ``signal.set_wakeup_fd`` (written by the interpreter's C handler), and the
watcher sets the event.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_stop_handlers(stop: threading.Event) -> threading.Thread:
    """First SIGTERM/SIGINT: ``stop`` is set (the caller finishes its batch and returns). Second:
    ``SystemExit(128 + signum)`` in the main thread, whose ``finally`` blocks run (claims released).
    Call from the main thread; returns the watcher thread."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)  # set_wakeup_fd requires it: a full pipe drops a byte, never blocks
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    handled = 0  # counted here, not read from ``stop``: the watcher may set it before this runs

    def handler(signum: int, _frame) -> None:
        nonlocal handled
        handled += 1
        if handled > 1:
            raise SystemExit(128 + signum)
        # the first one: the watcher sets ``stop`` (woken by the byte the interpreter wrote)

    def watch() -> None:
        while True:
            data = os.read(read_fd, 16)
            if not data:
                return
            received = [signum for signum in data if signum in STOP_SIGNALS]  # every handled signal writes
            if received and not stop.is_set():
                logger.info("signal %s: stopping after the current batch", received[0])
                stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    watcher = threading.Thread(target=watch, name="stop-signals", daemon=True)
    watcher.start()
    return watcher
