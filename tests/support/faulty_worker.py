"""A real drafting worker process whose drafter misbehaves, for the fault tests.

    python tests/support/faulty_worker.py CONFIG_TOML WORKER_ID FAULT

FAULT is ``hang`` (the model never returns, like a hung CUDA call), ``crash`` (the process dies in
the middle of drafting, like a segfault or an out-of-memory kill) or ``raise`` (the drafter raises
an exception type its own error handling does not expect). Everything else is the real ``Worker``
loop on the real database: claims, leases, heartbeats, the watchdog, storing outcomes. Stops on
SIGTERM; exits like ``dermbot worker`` (uncaught errors: status 1).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.logsetup import configure_logging
from bot.stopsignal import install_stop_handlers
from dermvqa.config import load_config
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.storage.database import open_database
from dermvqa.storage.keys import load_data_key
from dermvqa.worker import Worker

CRASH_STATUS = 70


class Poison(Exception):
    pass


class FaultyDrafter(ScriptedDrafter):
    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault

    def draft_batch(self, requests):
        if self.fault == "hang":
            while True:
                time.sleep(3600)
        if self.fault == "crash":
            os._exit(CRASH_STATUS)
        if self.fault == "raise":
            raise Poison("an error nobody planned for")
        return super().draft_batch(requests)


def main() -> int:
    config_path, worker_id, fault = sys.argv[1:4]
    configure_logging()
    config = load_config(config_path)
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    stop = threading.Event()
    install_stop_handlers(stop)  # never stop.set() in a handler: bot/stopsignal.py
    drafter = FaultyDrafter(fault)
    worker = Worker(config, db, lambda spec: drafter, worker_id=worker_id)
    try:
        worker.run(stop)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
