"""A database error never carries the values bound to it (a patient's words are values)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dermvqa.storage.database import open_database

WORDS = "a mole that bleeds when I shave"


def test_integrity_error_text_has_no_bound_values(tmp_path, data_key):
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}", key=data_key)
    try:
        with db.write() as session:
            session.execute(text("CREATE TABLE notes (body TEXT UNIQUE)"))
            session.execute(text("INSERT INTO notes VALUES (:b)"), {"b": WORDS})
        with pytest.raises(IntegrityError) as caught, db.write() as session:
            session.execute(text("INSERT INTO notes VALUES (:b)"), {"b": WORDS})
        assert WORDS not in str(caught.value)
        assert "hidden due to hide_parameters" in str(caught.value)
    finally:
        db.dispose()
