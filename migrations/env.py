"""Alembic environment: migrates the URL given by the caller, else the configured database."""

from __future__ import annotations

from alembic import context

from dermvqa.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from dermvqa.config import load_config  # DERMBOT_CONFIG / DERMBOT_DATABASE_URL

    return load_config().database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from dermvqa.config import load_config
    from dermvqa.storage.database import open_database
    from dermvqa.storage.keys import load_data_key

    # The data key of the configured service (DERMBOT_DATA_KEY, else its [storage] key_file).
    db = open_database(_url(), key=load_data_key(load_config()))
    try:
        with db.engine.begin() as conn:
            _run(conn)
    finally:
        db.dispose()


def _run(connection) -> None:
    # Batch mode: SQLite cannot ALTER most things, so Alembic copies the table instead.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
