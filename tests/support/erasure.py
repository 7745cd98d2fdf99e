"""What an erasure left behind: every row of every table that still names the patient or their words."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from dermvqa.storage.database import Database
from dermvqa.storage.models import Base

# Kept on purpose: audit rows (no ids, no words) and the runs' case-id lists (to find tainted models).
KEPT_TABLES = {"case_audit", "training_run_cases"}


def leftovers(db: Database, *, user_id: int, chat_id: int, case_ids: Iterable[int], words: Iterable[str]) -> list[str]:
    """Rows that still carry the patient's ids, case ids or words (the erased patient's own 'deleted'
    notice, no payload, still on its way, is allowed)."""
    ids, words, found = set(case_ids), list(words), []
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                values = dict(row)
                text = repr(values)
                hits = [w for w in words if w in text]
                if hits:
                    found.append(f"{table.name}: words {hits}")
                if table.name in KEPT_TABLES:
                    continue
                if values.get("case_id") in ids or (table.name == "cases" and values["id"] in ids):
                    found.append(f"{table.name} #{values.get('id')}: a case id")
                if user_id in (values.get("user_id"), values.get("telegram_user_id")):
                    found.append(f"{table.name} #{values.get('id')}: the user id")
                if values.get("chat_id") == chat_id:
                    notice = table.name == "outbox" and values["kind"] == "deleted" and not values["payload"]
                    if not notice:
                        found.append(f"{table.name} #{values.get('id')}: the chat id ({values.get('kind')})")
    return found


def file_bytes(db_path: Path) -> bytes:
    """The database file and its write-ahead log, as stored on disk."""
    data = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")
