"""Which database URLs name a SQLite file (``dermvqa.storage.database.sqlite_path``): only a file
can be shared with another process (the bot's database process, a worker) and locked for migration."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermvqa.storage.database import sqlite_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/dermbot.sqlite3", Path("var/dermbot.sqlite3")),
        ("sqlite+pysqlite:////srv/db.sqlite3", Path("/srv/db.sqlite3")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:shared?mode=memory&uri=true", None),
        ("postgresql+psycopg://u:p@localhost/db", None),
    ],
)
def test_only_a_sqlite_file_has_a_path(url, path):
    assert sqlite_path(url) == path
