"""A drafting worker with the scripted drafter (no model), for bench/bot_load.py.

    python bench/stub_worker.py CONFIG_TOML

The real ``Worker`` loop (claims, leases, heartbeats, storing drafts, outbox rows); only the
model is replaced. Stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

from dermvqa.config import load_config
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.storage.database import open_database, upgrade
from dermvqa.worker import Worker


def main() -> None:
    config = load_config(sys.argv[1])
    db = open_database(config.database_url)
    upgrade(db)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    drafter = ScriptedDrafter(seconds_per_batch=0.05)
    Worker(config, db, lambda spec: drafter, worker_id="bench-stub").run(stop)


if __name__ == "__main__":
    main()
