"""Downloads stop at the byte cap, whatever the server says or does not say about the size."""

from __future__ import annotations

import httpx
import pytest

from bot.download import Downloader, download_capped
from dermvqa.errors import DownloadError, FileTooLarge


def streaming(total: int, chunk: int, sent: list[int], *, length: bool = False) -> httpx.MockTransport:
    async def body():
        for _ in range(total // chunk):
            sent.append(chunk)
            yield b"\x00" * chunk

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-length": str(total)} if length else {}
        return httpx.Response(200, headers=headers, content=body())

    return httpx.MockTransport(handler)


async def test_an_undeclared_size_is_capped_while_streaming():
    sent: list[int] = []
    with pytest.raises(FileTooLarge):
        await download_capped("http://files/x", 100_000, transport=streaming(50_000_000, 10_000, sent))
    assert sum(sent) <= 110_000  # stopped right after the cap, not after 50 MB


async def test_a_declared_content_length_over_the_cap_reads_nothing():
    sent: list[int] = []
    with pytest.raises(FileTooLarge):
        await download_capped("http://files/x", 100_000, transport=streaming(500_000, 10_000, sent, length=True))
    assert sent == []


async def test_within_the_cap_the_bytes_arrive_whole():
    sent: list[int] = []
    data = await download_capped("http://files/x", 100_000, transport=streaming(100_000, 10_000, sent))
    assert data == b"\x00" * 100_000


async def test_http_errors_do_not_quote_the_url():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("cannot reach http://api/file/bot123:SECRET/x", request=request)

    with pytest.raises(DownloadError) as error:
        await download_capped("http://api/file/bot123:SECRET/x", 10, transport=httpx.MockTransport(handler))
    assert "SECRET" not in str(error.value)
    with pytest.raises(DownloadError, match="HTTP 404"):
        await download_capped("http://x/y", 10, transport=httpx.MockTransport(lambda r: httpx.Response(404)))


async def test_one_client_serves_every_download_until_closed():
    sent: list[int] = []
    downloader = Downloader(streaming(20_000, 10_000, sent))
    client = downloader.client()
    for _ in range(3):  # a capped download leaves the shared client usable
        assert await download_capped("http://files/x", 100_000, client=downloader.client()) == b"\x00" * 20_000
    with pytest.raises(FileTooLarge):
        await download_capped("http://files/x", 10_000, client=downloader.client())
    assert downloader.client() is client and not client.is_closed
    await downloader.aclose()
    assert client.is_closed
    assert downloader.client() is not client  # reopened on demand (a restarted application)
    await downloader.aclose()
