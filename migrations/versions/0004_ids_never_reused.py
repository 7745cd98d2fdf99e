"""ids never reused: AUTOINCREMENT for cases, drafts, outbox (review posts) and clinician sessions

Without AUTOINCREMENT, SQLite hands the highest id to the next row once that row is deleted: after a
patient's /delete, the next patient's case got the same number, and a leftover review post's button
acted on it. PostgreSQL sequences never reuse ids, so this migration changes nothing there.

SQLite cannot alter a table's primary key, so each table is rebuilt (copied, dropped, renamed). A
dropped parent table would cascade-delete its children's rows, so foreign keys are switched off
while rebuilding (possible only outside a transaction) and checked before committing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("cases", "drafts", "outbox", "clinician_sessions")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    bind.exec_driver_sql("COMMIT")  # PRAGMA foreign_keys is a no-op inside a transaction
    bind.exec_driver_sql("PRAGMA foreign_keys = OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        for table in TABLES:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
                pass
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {len(broken)} rows")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        raise
    finally:
        bind.exec_driver_sql("PRAGMA foreign_keys = ON")
        bind.exec_driver_sql("BEGIN IMMEDIATE")  # Alembic records the revision and commits


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
