"""``dermbot config`` says whether the webhook secret is set, never what it is."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from dermvqa.config import WEBHOOK_SECRET_ENV

SECRET = "cli-test-secret_" + "Z9" * 20


@pytest.fixture(autouse=True)
def _keep_the_root_logger(monkeypatch):
    """main() configures logging onto capsys's stderr, which closes after the test: not here."""
    monkeypatch.setattr("bot.cli.configure_logging", lambda verbose=False: None)


def test_config_says_the_secret_is_set_without_showing_it(capsys, monkeypatch):
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, SECRET)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert json.loads(out)["telegram"]["webhook_secret"] == f"set ({WEBHOOK_SECRET_ENV})"


def test_config_says_when_the_secret_will_be_drawn(capsys, monkeypatch):
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    assert main(["config"]) == 0
    telegram = json.loads(capsys.readouterr().out)["telegram"]
    assert telegram["webhook_secret"] == "not set (drawn at start)"
    assert telegram["webhook_path"] == ""
