"""Webhook mode's authentication: the secret Telegram sends back with each update, and the path.

``setWebhook`` takes a ``secret_token`` (1-256 characters of ``A-Z a-z 0-9 _ -``) and Telegram puts
it in the ``X-Telegram-Bot-Api-Secret-Token`` header of every update it posts; python-telegram-bot's
listener answers 403 to a request without it and handles nothing. The secret comes from
``DERMBOT_WEBHOOK_SECRET`` (at least 32 characters), else a new one is drawn with :mod:`secrets` at
each start (setWebhook hands it to Telegram again, so nothing else needs to know it). The listener's
URL path is a keyed hash of the secret, so it cannot be guessed either, unless ``[telegram]
webhook_path`` names one. Neither is ever logged: :class:`WebhookLogGuard` masks them on the
libraries' loggers and drops their debug lines that quote a request.

Pure: no I/O here; :class:`bot.app.BotService` starts the listener.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from dermvqa.config import WEBHOOK_SECRET_ENV, TelegramConfig
from dermvqa.errors import ConfigError

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MIN_SECRET_CHARS = 32  # Telegram allows 1; a short secret could be guessed
MAX_SECRET_CHARS = 256  # Telegram's limit
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_PATH_KEY = b"dermbot webhook path v1"

# The loggers that could see the secret, the path or a request: python-telegram-bot's (its debug
# lines quote API call parameters, setWebhook's secret among them, and webhook request bodies) and
# tornado's (the listener).
GUARDED_LOGGERS = (
    "telegram",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.ext.Application",
    "tornado.access",
    "tornado.application",
    "tornado.general",
)

# python-telegram-bot 22's webhook handler lines that quote what a request carried (its body, or the
# header value it refused), with what is logged instead (None: dropped).
_CONTENT_LINES: dict[str, str | None] = {
    "Webhook received data:": None,
    "Request had the wrong secret token:": "Request had the wrong secret token",
    "Something went wrong processing the data received from Telegram.": (
        "An update could not be parsed and was not processed (its content is not logged)"
    ),
}


def validate_secret(secret: str) -> str:
    """``secret`` if Telegram accepts it and it is long enough, else ConfigError naming the variable."""
    if len(secret) < MIN_SECRET_CHARS or len(secret) > MAX_SECRET_CHARS:
        raise ConfigError(
            f"{WEBHOOK_SECRET_ENV}: must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters long "
            f"(it has {len(secret)}); for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    if not _SECRET_CHARS.fullmatch(secret):
        raise ConfigError(f"{WEBHOOK_SECRET_ENV}: only the characters A-Z, a-z, 0-9, _ and - are allowed")
    return secret


def generate_secret() -> str:
    """A new random secret: 64 characters of A-Z a-z 0-9 _ - (384 bits)."""
    return secrets.token_urlsafe(48)


def read_secret(environ: Mapping[str, str]) -> str:
    """The secret from ``DERMBOT_WEBHOOK_SECRET`` (validated) when set, else a new random one."""
    value = environ.get(WEBHOOK_SECRET_ENV, "").strip()
    return validate_secret(value) if value else generate_secret()


def derive_path(secret: str) -> str:
    """The listener's URL path for ``secret``: an HMAC-SHA256 keyed with it, in hex (64 characters)."""
    return hmac.new(secret.encode("ascii"), _PATH_KEY, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookSettings:
    """Where the listener binds, the path it answers on, and what setWebhook is given."""

    listen: str
    port: int
    url_path: str  # without the leading "/"
    webhook_url: str  # the public URL Telegram posts to: [telegram] webhook_url + "/" + url_path
    secret_token: str = field(repr=False)


def webhook_settings(telegram: TelegramConfig, secret: str) -> WebhookSettings:
    """The listener's settings from ``[telegram]`` and the secret (see the module docstring)."""
    path = telegram.webhook_path.strip("/") or derive_path(secret)
    return WebhookSettings(
        listen=telegram.webhook_listen,
        port=telegram.webhook_port,
        url_path=path,
        webhook_url=f"{telegram.webhook_url.rstrip('/')}/{path}",
        secret_token=secret,
    )


def refusal_reason(status: int) -> str:
    """Why the listener answered ``status`` (for a log line that quotes nothing of the request)."""
    return {
        400: "the update could not be parsed",
        403: "no or wrong secret token header, or not JSON",
        404: "unknown path",
        405: "method not allowed",
    }.get(status, "error")


class WebhookLogGuard(logging.Filter):
    """On the loggers in :data:`GUARDED_LOGGERS`: masks the secret and the path, and rewrites or
    drops the lines that quote a webhook request (python-telegram-bot logs them at debug level)."""

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__()
        self._masks = [(settings.secret_token, "<webhook-secret>")]
        if len(settings.url_path) >= 16:  # a derived path; a short configured one would mangle words
            self._masks.append((settings.url_path, "<webhook-path>"))

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        for prefix, replacement in _CONTENT_LINES.items():
            if template.startswith(prefix):
                if replacement is None:
                    return False
                record.msg, record.args, record.exc_info, record.exc_text = replacement, None, None, None
                return True
        if isinstance(record.args, tuple) and record.args[-1:] == ("Exception in TelegramHandler",):
            # PTB's log_exception: the exception can carry the request's bytes; keep its type only.
            error = record.exc_info[1] if isinstance(record.exc_info, tuple) else record.exc_info
            record.msg = f"Exception in the webhook handler: {type(error).__name__}"
            record.args, record.exc_info, record.exc_text = None, None, None
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        masked = message
        for value, mask in self._masks:
            if value:
                masked = masked.replace(value, mask)
        if masked != message:
            record.msg, record.args = masked, None
        return True
