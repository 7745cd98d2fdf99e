"""Webhook mode's pure parts: the secret, the path, the settings, the log guard (bot/webhook.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import pytest

from bot.webhook import (
    MAX_SECRET_CHARS,
    MIN_SECRET_CHARS,
    WebhookLogGuard,
    derive_path,
    generate_secret,
    read_secret,
    validate_secret,
    webhook_settings,
)
from dermvqa.config import WEBHOOK_SECRET_ENV, TelegramConfig, load_config
from dermvqa.errors import ConfigError

GOOD = "a" * 20 + "B-_9" * 5  # 40 characters


def test_generated_secrets_are_long_random_and_use_telegrams_charset():
    drawn = {generate_secret() for _ in range(50)}
    assert len(drawn) == 50
    for secret in drawn:
        assert MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        assert validate_secret(secret) == secret


def test_the_environment_secret_is_used_when_set_and_stripped():
    assert read_secret({WEBHOOK_SECRET_ENV: f"  {GOOD}\n"}) == GOOD


def test_without_the_variable_a_new_secret_is_drawn_each_time():
    first, second = read_secret({}), read_secret({WEBHOOK_SECRET_ENV: "   "})
    assert first != second
    assert len(first) >= MIN_SECRET_CHARS and len(second) >= MIN_SECRET_CHARS


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("x" * (MIN_SECRET_CHARS - 1), "characters long"),
        ("x" * (MAX_SECRET_CHARS + 1), "characters long"),
        ("x" * 31 + "!", "only the characters"),
        ("x" * 31 + " y", "only the characters"),
        ("é" * 40, "only the characters"),
    ],
)
def test_a_bad_environment_secret_fails_naming_the_variable_and_not_quoting_it(value, why):
    with pytest.raises(ConfigError) as info:
        read_secret({WEBHOOK_SECRET_ENV: value})
    assert str(info.value).startswith(WEBHOOK_SECRET_ENV)
    assert why in str(info.value)
    assert value.strip() not in str(info.value)


def test_the_path_is_a_keyed_hash_of_the_secret():
    path = derive_path(GOOD)
    assert re.fullmatch(r"[0-9a-f]{64}", path)
    assert derive_path(GOOD) == path  # stable across restarts with the same secret
    assert derive_path(GOOD[:-1] + "x") != path
    assert GOOD not in path


def test_settings_join_the_public_base_url_and_the_derived_path():
    tg = TelegramConfig(
        mode="webhook", webhook_url="https://bot.example.org/tg/", webhook_listen="0.0.0.0", webhook_port=8080
    )
    s = webhook_settings(tg, GOOD)
    assert s.url_path == derive_path(GOOD)
    assert s.webhook_url == f"https://bot.example.org/tg/{derive_path(GOOD)}"
    assert (s.listen, s.port, s.secret_token) == ("0.0.0.0", 8080, GOOD)
    assert GOOD not in repr(s)


def test_a_configured_path_replaces_the_derived_one():
    tg = TelegramConfig(mode="webhook", webhook_url="https://bot.example.org", webhook_path="/hooks/telegram/")
    s = webhook_settings(tg, GOOD)
    assert s.url_path == "hooks/telegram"
    assert s.webhook_url == "https://bot.example.org/hooks/telegram"


def test_config_accepts_the_webhook_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[telegram]\nmode = "webhook"\nwebhook_url = "https://x.example"\nwebhook_path = "a/b-c_d"\n')
    tg = load_config(path, environ={}).telegram
    assert (tg.webhook_url, tg.webhook_path) == ("https://x.example", "a/b-c_d")
    assert load_config(environ={}).telegram.webhook_path == ""


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('webhook_url = "http://x.example"', "[telegram] webhook_url"),
        ('webhook_path = "a/../b"', "[telegram] webhook_path"),
        ('webhook_path = "a b"', "[telegram] webhook_path"),
        ('webhook_path = "a.*"', "[telegram] webhook_path"),
    ],
)
def test_config_refuses_bad_webhook_values(tmp_path, line, key):
    path = tmp_path / "c.toml"
    path.write_text(f"[telegram]\n{line}\n")
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(path, environ={})


def test_the_secret_variable_is_not_taken_for_a_config_key():
    """DERMBOT_WEBHOOK_SECRET looks like DERMBOT_<SECTION>_<KEY>; it must not be read as config."""
    config = load_config(environ={WEBHOOK_SECRET_ENV: GOOD})
    assert GOOD not in json.dumps(dataclasses.asdict(config), default=str)


# -- the log guard --------------------------------------------------------------------------------


def _record(msg, args=(), name="telegram.ext.Updater", level=logging.DEBUG, exc_info=None):
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


@pytest.fixture
def guard():
    tg = TelegramConfig(mode="webhook", webhook_url="https://bot.example.org")
    return WebhookLogGuard(webhook_settings(tg, GOOD))


def test_the_guard_masks_the_secret_and_the_path(guard):
    params = {"url": f"https://bot.example.org/{derive_path(GOOD)}", "secret_token": GOOD}
    template = "Calling Bot API endpoint `%s` with parameters `%s`"
    record = _record(template, ("setWebhook", params), "telegram.ext.ExtBot")
    assert guard.filter(record)
    message = record.getMessage()
    assert GOOD not in message and derive_path(GOOD) not in message
    assert "<webhook-secret>" in message and "<webhook-path>" in message and "setWebhook" in message


def test_the_guard_drops_the_request_body_line(guard):
    assert not guard.filter(_record("Webhook received data: %s", ('{"message": {"text": "my rash"}}',)))


def test_the_guard_keeps_the_refusal_but_not_the_refused_header_value(guard):
    record = _record("Request had the wrong secret token: %s", ("forged-value",))
    assert guard.filter(record)
    assert record.getMessage() == "Request had the wrong secret token"


def test_the_guard_rewrites_the_unparseable_update_line_without_its_data(guard):
    try:
        raise KeyError("my rash")
    except KeyError as exc:
        info = (type(exc), exc, exc.__traceback__)
    record = _record(
        "Something went wrong processing the data received from Telegram. "
        "Received data was *not* processed! Received data was: %r",
        ({"text": "my rash"},),
        level=logging.CRITICAL,
        exc_info=info,
    )
    assert guard.filter(record)
    assert "my rash" not in record.getMessage() and record.exc_info is None


def test_the_guard_keeps_only_the_type_of_a_handler_exception(guard):
    try:
        b"\xffmy rash".decode()
    except UnicodeDecodeError as exc:
        info = (type(exc), exc, exc.__traceback__)
    record = _record("%s - %s", ("1.2.3.4", "Exception in TelegramHandler"), exc_info=info)
    assert guard.filter(record)
    assert record.getMessage() == "Exception in the webhook handler: UnicodeDecodeError"
    assert record.exc_info is None


def test_the_guard_leaves_other_lines_alone(guard):
    record = _record("Network Retry Loop (%s): %s", ("Polling Updates", "timed out"))
    assert guard.filter(record)
    assert record.getMessage() == "Network Retry Loop (Polling Updates): timed out"
    assert record.args  # untouched
