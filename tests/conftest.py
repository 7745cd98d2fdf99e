"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ImageFile

from dermvqa.config import DATA_KEY_ENV
from dermvqa.data.locations import shared_dermavqa_dir
from dermvqa.storage.database import Database, open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import DataKey, new_key_text, parse_key


@pytest.fixture(scope="session", autouse=True)
def data_key_env() -> str:
    """An ephemeral data key for the whole session, in the environment (subprocesses inherit it).

    Never the developer's own key: each session draws a new one before any test opens a database.
    """
    text = new_key_text()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_KEY_ENV, text)
        yield text


@pytest.fixture
def decoded(monkeypatch) -> list[tuple[int, int]]:
    """The size of every image Pillow decodes during the test (in this process: the bot, the fake server)."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self):
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


@pytest.fixture
def data_key(data_key_env) -> DataKey:
    return parse_key(data_key_env, DATA_KEY_ENV)


@pytest.fixture(scope="session")
def dermavqa_dir() -> Path:
    """The shared DermaVQA copy; tests that need it skip with a reason when it is absent."""
    folder = shared_dermavqa_dir()
    if folder is None:
        pytest.skip("../shared/data/dermavqa is absent (set DERMVQA_DATA to its folder to run this test)")
    return folder


@pytest.fixture
def db(tmp_path, data_key) -> Database:
    """A real SQLite file (encrypted with the session's data key) upgraded to head with Alembic."""
    database = open_database(f"sqlite:///{tmp_path / 'dermbot.sqlite3'}", key=data_key)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def plain_db(tmp_path) -> Database:
    """A plain (unencrypted) SQLite file, so a test can look for a patient's words in its bytes."""
    database = open_database(f"sqlite:///{tmp_path / 'plain.sqlite3'}", encrypt=False)
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
