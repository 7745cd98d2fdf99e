"""Fetch a patient's file from Telegram with a hard byte cap (an adapter).

python-telegram-bot's ``File.download_*`` read the whole body whatever its size; here the body is
streamed and the download stops as soon as it passes ``max_bytes``, so a file whose size Telegram
did not declare cannot fill the bot's memory. Sizes declared by getFile or by the HTTP response are
checked before a byte is read. Nothing touches the disk.

The download URL carries the bot token: it is never logged, and errors name only their type.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from telegram import Bot
from telegram.error import TelegramError

from dermvqa.errors import DownloadError, FileTooLarge

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Downloader:
    """One HTTP client for every download, opened at the first and closed with the bot.

    A client per download cost 50 ms of the bot's one core each (building its TLS context: measured
    on this machine), so an album of ten photos held every other patient up for half a second.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, transport=self._transport)
        return self._client

    async def fetch(self, bot: Bot, file_id: str, max_bytes: int) -> bytes:
        """:func:`fetch_file` over this client."""
        return await fetch_file(bot, file_id, max_bytes, client=self.client())

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def fetch_file(bot: Bot, file_id: str, max_bytes: int, *, client: httpx.AsyncClient | None = None) -> bytes:
    """The bytes of ``file_id``; raises FileTooLarge past ``max_bytes``, DownloadError otherwise."""
    try:
        file = await bot.get_file(file_id)
    except TelegramError as exc:
        if "too big" in str(exc).lower():  # Telegram: "Bad Request: file is too big" (over 20 MB)
            raise FileTooLarge("the file is larger than Telegram lets a bot download") from None
        raise DownloadError(f"getFile failed: {type(exc).__name__}") from None
    if file.file_size is not None and file.file_size > max_bytes:
        raise FileTooLarge(f"the file has {file.file_size} bytes (limit {max_bytes})")
    if not file.file_path:
        raise DownloadError("Telegram gave no file path")
    if not file.file_path.startswith(("http://", "https://")):  # a local Bot API server (--local): a path
        return _read_local(Path(file.file_path), max_bytes)
    return await download_capped(_encoded(file.file_path), max_bytes, client=client)


def _encoded(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=quote(parts.path)))


def _read_local(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DownloadError(f"reading the file failed: {type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise FileTooLarge(f"the file has more than {max_bytes} bytes")
    return data


async def download_capped(
    url: str,
    max_bytes: int,
    *,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """GET ``url``, streaming; stops and raises FileTooLarge as soon as the body passes ``max_bytes``.
    Without ``client``, a client of its own (with ``transport``) for this one download."""
    if client is None:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, transport=transport) as own:
            return await download_capped(url, max_bytes, client=own)
    data = bytearray()
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DownloadError(f"download failed with HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FileTooLarge(f"the file has {declared} bytes (limit {max_bytes})")
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise FileTooLarge(f"the file has more than {max_bytes} bytes")
    except httpx.HTTPError as exc:  # its message would quote the URL, and so the token
        raise DownloadError(f"download failed: {type(exc).__name__}") from None
    return bytes(data)
