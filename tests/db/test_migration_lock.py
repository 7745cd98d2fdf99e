"""Processes that start together on a fresh database migrate it one at a time (the bot, a worker and
the trainer may all call ``upgrade`` at the same moment)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dermvqa.storage.database import current_revision, open_database

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dermvqa.storage.database import open_database, upgrade
    start = float(sys.argv[2])
    while time.time() < start:  # all processes begin the upgrade at the same instant
        time.sleep(0.001)
    db = open_database(sys.argv[1])
    upgrade(db)
    db.dispose()
    """
)


def test_concurrent_upgrades_of_a_fresh_file_all_succeed(tmp_path, data_key):
    import time

    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'race{attempt}.sqlite3'}"
        start = time.time() + 3.0  # after every interpreter has imported SQLAlchemy and Alembic
        processes = [
            subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(start)], stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in processes]
        assert [code for code, _ in results] == [0, 0, 0, 0], [err[-600:] for _, err in results]
        db = open_database(url, key=data_key)
        try:
            assert current_revision(db) is not None
        finally:
            db.dispose()
