"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermvqa.data.locations import shared_dermavqa_dir
from dermvqa.storage.database import Database, open_database, upgrade
from dermvqa.storage.image_store import ImageStore


@pytest.fixture(scope="session")
def dermavqa_dir() -> Path:
    """The shared DermaVQA copy; tests that need it skip with a reason when it is absent."""
    folder = shared_dermavqa_dir()
    if folder is None:
        pytest.skip("../shared/data/dermavqa is absent (set DERMVQA_DATA to its folder to run this test)")
    return folder


@pytest.fixture
def db(tmp_path) -> Database:
    """A real SQLite file upgraded to head with Alembic."""
    database = open_database(f"sqlite:///{tmp_path / 'dermbot.sqlite3'}")
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(tmp_path / "images")


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on loopback for this test session (skips when the binaries are absent)."""
    from support.postgres import PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not found (.ci/run installs Debian's postgresql package)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_db(postgres, request) -> Database:
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    database = open_database(postgres.create_database(name))
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_db(request, tmp_path) -> Database:
    """The same test on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("db")
    return request.getfixturevalue("pg_db")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random LLaVA built once per session and saved with save_pretrained."""
    from dermvqa.drafting.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-llava"))
