"""Logs carry no patient words and no secrets (issue: logs and diagnostics)."""

from __future__ import annotations

import logging

import pytest

from dermvqa.config import child_environment
from dermvqa.errors import ConfigError, ImageError
from dermvqa.logsafety import WITHHELD, SafeLogFilter, format_safe_traceback

PATIENT_WORDS = "itchy red patch on my left thigh"
TOKEN = "123456:SUPERSECRETTOKEN"


@pytest.fixture
def captured():
    """A logger whose only handler renders through SafeLogFilter into a list."""
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SafeLogFilter([TOKEN]))
    log = logging.getLogger("test.logsafety")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log, lines
    log.handlers[:] = []


def _store_description(text: str) -> None:
    raise ValueError(f"could not store description {text!r}")


def test_an_exception_keeps_type_and_location_but_not_its_message(captured):
    log, lines = captured
    try:
        _store_description(PATIENT_WORDS)
    except ValueError:
        log.exception("intake failed")
    text = "\n".join(lines)
    assert PATIENT_WORDS not in text
    assert "ValueError: " + WITHHELD in text
    assert "in _store_description" in text  # where it happened is kept
    assert "intake failed" in text


def test_chained_exceptions_are_withheld_too(captured):
    log, lines = captured
    try:
        try:
            _store_description(PATIENT_WORDS)
        except ValueError as exc:
            raise RuntimeError("wrapped " + PATIENT_WORDS) from exc
    except RuntimeError:
        log.exception("failed")
    text = "\n".join(lines)
    assert PATIENT_WORDS not in text
    assert "direct cause" in text
    assert text.index("ValueError") < text.index("RuntimeError")  # oldest first, as Python prints


def test_an_exception_passed_as_an_argument_is_logged_by_type(captured):
    log, lines = captured
    log.warning("photo failed: %s", ImageError(f"/var/images/{PATIENT_WORDS}.jpg is corrupt"))
    assert PATIENT_WORDS not in lines[0]
    assert "ImageError" in lines[0]


def test_messages_of_loggable_errors_are_kept(captured):
    log, lines = captured
    try:
        raise ConfigError("[model] backend: must be one of hf, moondream, openai")
    except ConfigError:
        log.exception("bad config")
    assert "[model] backend: must be one of" in lines[0]


def test_secrets_are_masked_in_messages_and_tracebacks(captured):
    log, lines = captured
    log.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise ConfigError(f"token {TOKEN} refused")
    except ConfigError:
        log.exception("start failed")
    text = "\n".join(lines)
    assert "SUPERSECRET" not in text
    assert "<redacted>/getMe" in text


def test_format_safe_traceback_without_traceback_names_the_type():
    assert format_safe_traceback(KeyError(PATIENT_WORDS)) == f"KeyError: {WITHHELD}"


def test_child_processes_do_not_get_the_bot_secrets():
    env = child_environment(
        {
            "DERMBOT_TELEGRAM_TOKEN": TOKEN,
            "DERMBOT_WEBHOOK_SECRET": "x" * 40,
            "DERMBOT_WORKER_BATCH_SIZE": "2",
            "PATH": "/bin",
        }
    )
    assert env == {"DERMBOT_WORKER_BATCH_SIZE": "2", "PATH": "/bin"}


def test_verbose_logging_keeps_telegram_debug_lines_out(capsys):
    from dermvqa.logsafety import configure_logging

    configure_logging(logging.DEBUG)
    logging.getLogger("telegram.ext.Application").debug("Processing update Update(message=%s)", PATIENT_WORDS)
    logging.getLogger("dermvqa.worker").debug("batch of 3")
    err = capsys.readouterr().err
    assert PATIENT_WORDS not in err
    assert "batch of 3" in err


def test_the_model_servers_api_key_is_masked_too(monkeypatch, capsys):
    from dermvqa.logsafety import configure_logging

    monkeypatch.setenv("DERMBOT_OPENAI_API_KEY", "sk-VERYSECRETKEY123")
    configure_logging(logging.INFO)
    logging.getLogger("dermvqa.drafting").warning("server refused key sk-VERYSECRETKEY123")
    assert "VERYSECRETKEY" not in capsys.readouterr().err
