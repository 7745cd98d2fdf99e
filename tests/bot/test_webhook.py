"""Webhook mode for real: the bot's listener on 127.0.0.1, updates posted to it over HTTP.

The fake Bot API server records setWebhook (it never delivers to the public URL); the tests post
updates built by the fake server to the listener themselves, as Telegram would, with and without
the secret token header.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from harness import CLINICIAN, Harness
from sqlalchemy import select

from bot.app import BotService
from bot.webhook import SECRET_HEADER, derive_path
from dermvqa.config import WEBHOOK_SECRET_ENV
from dermvqa.errors import ConfigError
from dermvqa.storage.models import MessageLog
from fake_telegram import FakeTelegramServer

SECRET = "Webhook-test_secret-" + "0123456789abcdefXYZ" * 2  # 58 characters
PATIENT = 4242
MARKER = "Mallory7731"  # a first name put in forged updates: it must never reach the log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Hook:
    harness: Harness
    base: str  # http://127.0.0.1:PORT

    @property
    def server(self) -> FakeTelegramServer:
        return self.harness.server

    async def post(self, update: dict, *, secret: str | None, path: str | None = None) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        path = derive_path(SECRET) if path is None else path
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(f"{self.base}/{path}", json=update, headers=headers)


@contextlib.asynccontextmanager
async def webhook_bot(tmp_path, server: FakeTelegramServer) -> AsyncIterator[Hook]:
    h = Harness.create(tmp_path, server)
    port = free_port()
    tg = dataclasses.replace(
        h.config.telegram,
        mode="webhook",
        webhook_url="https://bot.example.org/tg",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    h.config = dataclasses.replace(h.config, telegram=tg)
    h.service = BotService(h.config, server.token, h.db, h.store)
    try:
        await h.service.start_webhook()
        yield Hook(h, f"http://127.0.0.1:{port}")
    finally:
        await h.close()


@pytest.fixture
async def hook(tmp_path, server, monkeypatch, caplog) -> AsyncIterator[Hook]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, SECRET)
    caplog.set_level(logging.DEBUG)  # python-telegram-bot's debug lines too: they must not leak either
    # (named explicitly: an entry point's logging setup, run by an earlier test, holds these at INFO)
    for name in ("telegram", "tornado"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with webhook_bot(tmp_path, server) as hook:
        yield hook


def bot_log(hook: Hook, caplog) -> str:
    """Everything logged, less the test client's own request lines (httpx logs the URL it posts to)."""
    records = caplog.get_records("setup") + caplog.get_records("call")  # the bot starts in the fixture
    return "\n".join(r.getMessage() for r in records if hook.base not in r.getMessage())


def incoming_from(hook: Hook, user_id: int) -> list[MessageLog]:
    with hook.harness.db.read() as session:
        return list(session.scalars(select(MessageLog).where(MessageLog.user_id == user_id)))


async def test_set_webhook_gets_the_secret_and_the_derived_url(hook: Hook) -> None:
    assert hook.server.webhook_secret_token == SECRET
    assert hook.server.webhook_url == f"https://bot.example.org/tg/{derive_path(SECRET)}"
    assert hook.server.calls["getUpdates"] == 0


async def test_a_genuine_update_is_handled(hook: Hook) -> None:
    update = hook.server.send_text(PATIENT, "/start")
    response = await hook.post(update, secret=SECRET)
    assert response.status_code == 200
    await hook.harness.said(PATIENT, "Do you agree")


async def test_forged_updates_are_refused_unhandled_and_logged_without_content(hook: Hook, caplog) -> None:
    forged = hook.server.send_text(CLINICIAN, "/queue", first_name=MARKER)
    wrong = "Forged-" + "x" * 50
    assert (await hook.post(forged, secret=None)).status_code == 403
    assert (await hook.post(forged, secret=wrong)).status_code == 403
    assert (await hook.post(forged, secret="")).status_code == 403
    # The right secret on a wrong path is refused too (the path is part of what an attacker must know).
    assert (await hook.post(forged, secret=SECRET, path=derive_path("x" * 40))).status_code == 404
    assert (await hook.post(forged, secret=SECRET, path="")).status_code == 404

    # A genuine update after them is handled: the forged ones had their chance to be.
    await hook.post(hook.server.send_text(PATIENT, "/start"), secret=SECRET)
    await hook.harness.said(PATIENT, "Do you agree")
    await asyncio.sleep(0.3)  # the incoming record is flushed every 0.05 s
    assert hook.server.messages_to(CLINICIAN) == []
    assert incoming_from(hook, CLINICIAN) == []  # a clinician's messages are recorded: none was

    log = bot_log(hook, caplog)
    assert len(re.findall(r"webhook: refused a request: HTTP 403", log)) == 3
    assert len(re.findall(r"webhook: refused a request: HTTP 404", log)) == 2
    assert MARKER not in log  # no body
    assert wrong not in log  # no header value
    assert SECRET not in log and derive_path(SECRET) not in log

    # Control: the same update with the secret is handled, so the refusals above are what stopped it.
    assert (await hook.post(forged, secret=SECRET)).status_code == 200
    await hook.server.async_wait_for(lambda r: r["chat_id"] == CLINICIAN, 10)
    await asyncio.sleep(0.3)
    assert [m.kind for m in incoming_from(hook, CLINICIAN)] == ["command"]


async def test_the_secret_never_reaches_the_log_even_at_debug_level(hook: Hook, caplog) -> None:
    await hook.post(hook.server.send_text(PATIENT, "/start", first_name=MARKER), secret=SECRET)
    await hook.harness.said(PATIENT, "Do you agree")
    log = bot_log(hook, caplog)
    assert "Calling Bot API endpoint `setWebhook`" in log  # python-telegram-bot's debug line was captured...
    assert SECRET not in log and derive_path(SECRET) not in log  # ...with the secret and the path masked
    # The listener does not log the body (python-telegram-bot's Application logs whole updates at
    # debug level in any mode: a verbose-logging matter, not the webhook's).
    listener = [r.getMessage() for r in caplog.records if r.name.startswith(("telegram.ext.Updater", "tornado"))]
    assert listener and not [m for m in listener if MARKER in m]


async def test_without_the_variable_a_secret_is_drawn_and_used(tmp_path, server, monkeypatch) -> None:
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    async with webhook_bot(tmp_path, server) as hook:
        secret = server.webhook_secret_token
        assert secret and len(secret) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        assert server.webhook_url == f"https://bot.example.org/tg/{derive_path(secret)}"
        update = server.send_text(PATIENT, "/start")
        assert (await hook.post(update, secret=None, path=derive_path(secret))).status_code == 403
        assert (await hook.post(update, secret=secret, path=derive_path(secret))).status_code == 200
        await hook.harness.said(PATIENT, "Do you agree")


def test_a_bad_secret_stops_the_start_naming_the_variable(tmp_path, server, monkeypatch) -> None:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "too-short")
    h = Harness.create(tmp_path, server)
    config = dataclasses.replace(
        h.config, telegram=dataclasses.replace(h.config.telegram, mode="webhook", webhook_url="https://x.example")
    )
    try:
        with pytest.raises(ConfigError, match=WEBHOOK_SECRET_ENV) as info:
            BotService(config, server.token, h.db, h.store)
        assert "too-short" not in str(info.value)
    finally:
        h.db.dispose()
