"""bot.stopsignal: SIGTERM stops a batch worker even when it lands while the main thread holds the
stop event's lock (a handler calling ``Event.set()`` then waits for itself forever)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_child(body: str) -> subprocess.CompletedProcess:
    code = "import os, signal, threading, time\nfrom bot.stopsignal import install_stop_handlers\n" + textwrap.dedent(
        body
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_signal_while_the_main_thread_holds_the_events_lock_still_stops_it() -> None:
    # Holding ``stop._cond`` is where ``stop.wait()`` is when it enters or leaves its wait: the
    # handler runs right there, in the same thread.
    child = run_child(
        """
        stop = threading.Event()
        install_stop_handlers(stop)
        with stop._cond:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run, the lock still held
        print("stopped" if stop.wait(10) else "not stopped")
        """
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip() == "stopped"


def test_the_second_signal_exits_at_once_with_cleanup() -> None:
    child = run_child(
        """
        stop = threading.Event()
        install_stop_handlers(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(10)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
            print("slept through it")
        finally:
            print("claims released")
        """
    )
    assert child.returncode == 128 + signal.SIGINT
    assert child.stdout.split() == ["claims", "released"]


def test_other_signals_do_not_stop_it() -> None:
    child = run_child(
        """
        stop = threading.Event()
        install_stop_handlers(stop)
        signal.signal(signal.SIGUSR1, lambda *_: print("usr1"))
        os.kill(os.getpid(), signal.SIGUSR1)
        print("stopped" if stop.wait(0.5) else "running")
        """
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["usr1", "running"]


def test_a_first_signal_handled_after_the_watcher_set_stop_is_still_the_first() -> None:
    # The interpreter runs the Python-level handler only between bytecodes; during a long C call that
    # releases the lock (hashing), the watcher has already set ``stop`` when the handler runs.
    child = run_child(
        """
        import hashlib
        stop = threading.Event()
        install_stop_handlers(stop)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        hashlib.sha256(b"x" * 600_000_000)
        print("set first" if stop.is_set() else "handler first")
        print("stopped" if stop.wait(10) else "not stopped")
        """
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split()[-1] == "stopped"
