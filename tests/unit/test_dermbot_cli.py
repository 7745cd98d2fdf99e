from __future__ import annotations

import json

from bot.cli import main


def test_config_prints_effective_values_without_the_token(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DERMBOT_TELEGRAM_TOKEN", "123456:SECRET")
    monkeypatch.setenv("DERMBOT_WORKER_BATCH_SIZE", "3")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "SECRET" not in out
    assert json.loads(out)["worker"]["batch_size"] == 3


def test_invalid_config_exits_2_naming_the_key(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nbackend = "nope"\n')
    assert main(["--config", str(path), "config"]) == 2
    assert "[model] backend" in capsys.readouterr().err


def test_the_token_never_reaches_the_log(monkeypatch, capsys):
    import logging

    from bot.logsetup import configure_logging

    monkeypatch.setenv("DERMBOT_TELEGRAM_TOKEN", "123456:SUPERSECRET")
    configure_logging()
    logging.getLogger("telegram.ext").warning("calling https://api.telegram.org/bot123456:SUPERSECRET/getMe")
    logging.getLogger("httpx").info("HTTP Request: POST .../bot123456:SUPERSECRET/sendMessage")
    err = capsys.readouterr().err
    assert "SUPERSECRET" not in err
    assert "<redacted>/getMe" in err
    assert "sendMessage" not in err  # httpx's per-request lines are silenced


def test_config_masks_the_database_password(capsys, monkeypatch):
    monkeypatch.setenv("DERMBOT_DATABASE_URL", "postgresql+psycopg://dermbot:hunter2@db.internal/dermbot")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert json.loads(out)["database"]["url"] == "postgresql+psycopg://dermbot:***@db.internal/dermbot"


def test_the_worker_child_does_not_inherit_the_token(tmp_path, monkeypatch):
    import sys

    from bot.service import WorkerProcess

    monkeypatch.setenv("DERMBOT_TELEGRAM_TOKEN", "123456:SUPERSECRET")
    out = tmp_path / "env.txt"
    code = f"import os; open({str(out)!r}, 'w').write(os.environ.get('DERMBOT_TELEGRAM_TOKEN', 'absent'))"
    worker = WorkerProcess(None)
    monkeypatch.setattr(worker, "_command", lambda: [sys.executable, "-c", code])
    worker.start()
    try:
        import time

        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop(timeout=5)
    assert out.read_text() == "absent"
