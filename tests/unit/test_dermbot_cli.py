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
