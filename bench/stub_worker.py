"""A drafting worker with the scripted drafter (no model), for bench/bot_load.py.

    python bench/stub_worker.py CONFIG_TOML [--plain]

The real ``Worker`` loop (claims, leases, heartbeats, storing drafts, outbox rows) at the real
worker's CPU priority (``[worker] nice``); only the model is replaced. ``--plain``: the database and
the photo store unencrypted (``encrypt=False``, for ``bot_load.py --encryption off``). Stops on
SIGTERM.
"""

from __future__ import annotations

import sys
import threading

from bot.stopsignal import install_stop_handlers
from dermvqa.config import load_config
from dermvqa.cpu_priority import lower_priority
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.worker import Worker


def main() -> None:
    config = load_config(sys.argv[1])
    lower_priority(config.worker.nice, "worker")  # as `dermbot worker` does, first
    plain = "--plain" in sys.argv[2:]
    key = None if plain else load_data_key(config)  # the key: inherited from bot_load
    db = open_database(config.database_url, key=key, encrypt=not plain)
    upgrade(db)
    store = ImageStore(config.storage_dir, key, encrypt=not plain)
    stop = threading.Event()
    install_stop_handlers(stop)  # never stop.set() in a handler: bot/stopsignal.py
    drafter = ScriptedDrafter(seconds_per_batch=0.05)
    Worker(config, db, lambda spec: drafter, store=store, worker_id="bench-stub").run(stop)


if __name__ == "__main__":
    main()
