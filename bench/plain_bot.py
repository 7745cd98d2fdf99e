"""The bot with encryption at rest off, for ``bench/bot_load.py --encryption off``. Benchmarks only.

    python bench/plain_bot.py CONFIG_TOML

The same ``BotService`` that ``dermbot bot`` runs (bot.service.run_service), polling until SIGTERM or
SIGINT; only the database (``encrypt=False``: a plain SQLite file) and the photo store
(``encrypt=False``: plain files) are opened unencrypted, to measure what encryption costs. The service
itself has no way to turn encryption off: this script lives outside the installed packages.
"""

from __future__ import annotations

import sys

from bot.app import BotService
from bot.logsetup import configure_logging
from bot.service import require_token
from dermvqa.config import load_config
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore


def main() -> None:
    configure_logging()
    config_path = sys.argv[1]
    config = load_config(config_path)
    db = open_database(config.database_url, encrypt=False, busy_timeout_ms=config.database.busy_timeout_ms)
    upgrade(db)
    store = ImageStore(config.storage_dir, encrypt=False)
    try:
        BotService(config, require_token(), db, store, config_path=config_path).run_polling()
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
