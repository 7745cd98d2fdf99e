"""Before the service starts: can Telegram be reached, and does it accept the token?

One ``getMe`` call to ``[telegram] base_url``, so ``dermbot bot`` / ``dermbot run`` fail at once with
one line naming the host (never the token, never the URL that contains it) instead of starting the
worker and the scheduler and then dying in the Bot API client's bootstrap with a traceback.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from dermvqa.config import TOKEN_ENV
from dermvqa.errors import ConfigError, UnreachableError

logger = logging.getLogger(__name__)


def telegram_host(base_url: str) -> str:
    """``host[:port]`` of the Bot API URL: what a message may name (no path, no credentials)."""
    parts = urlsplit(base_url.replace("{token}", ""))
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def method_url(base_url: str, token: str, method: str) -> str:
    """The URL of one Bot API method, built as python-telegram-bot builds it."""
    root = base_url.replace("{token}", token) if "{token}" in base_url else f"{base_url}{token}"
    return f"{root}/{method}"


def check_telegram(base_url: str, token: str, *, timeout: float = 15.0) -> None:
    """Raise :class:`UnreachableError` (no answer) or :class:`ConfigError` (token refused)."""
    host = telegram_host(base_url)
    try:
        response = httpx.post(method_url(base_url, token, "getMe"), timeout=timeout)
    except httpx.HTTPError as exc:
        reason = (str(exc) or type(exc).__name__).replace(token, "<token>").splitlines()[0]
        raise UnreachableError(
            f"Telegram could not be reached at {host} ({reason}); check the network, a proxy "
            "(HTTPS_PROXY) or [telegram] base_url"
        ) from None
    if response.status_code in (401, 404):
        raise ConfigError(
            f"Telegram at {host} refused the bot token (HTTP {response.status_code}): set {TOKEN_ENV} to the "
            "token @BotFather gave you"
        )
    if response.status_code != 200:
        raise UnreachableError(f"Telegram at {host} answered HTTP {response.status_code} to getMe; try again later")
    logger.info("Telegram reachable at %s", host)
