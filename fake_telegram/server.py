"""A fake Telegram Bot API HTTP server for end-to-end tests and the offline demo.

python-telegram-bot talks to it unmodified::

    with FakeTelegramServer() as server:
        app = (
            Application.builder().token(server.token)
            .base_url(server.base_url).base_file_url(server.base_file_url).build()
        )
        ...  # run the bot (polling works: getMe, deleteWebhook, long-polled getUpdates)
        server.send_text(1001, "/start")
        record = server.wait_for(lambda r: r["chat_id"] == 1001)

It listens on loopback only (``http.server.ThreadingHTTPServer``, one thread per connection, HTTP/1.1
keep-alive) and speaks the Bot API wire protocol:

* ``POST``/``GET`` ``/bot<TOKEN>/<method>``; parameters from the query string, and from an
  ``application/x-www-form-urlencoded``, ``multipart/form-data`` (file uploads) or ``application/json``
  body. python-telegram-bot sends every non-string value JSON-encoded inside its form field (``"true"``,
  ``"42"``, ``'{"inline_keyboard": ...}'``) and uses multipart only when a request uploads files (a direct
  upload is the part named after the parameter, ``photo``/``document``; media groups reference parts as
  ``attach://<part name>``).
* Answers ``{"ok": true, "result": ...}`` with 200, or ``{"ok": false, "error_code": N, "description":
  "...", "parameters": {"retry_after": S}}`` with HTTP status N (a wrong token: 401 Unauthorized; an
  unknown method: 404 "Not Found: method not found").
* Files download from ``GET /file/bot<TOKEN>/<file_path>``.

The methods, the simulated users and the inspection API are documented in :mod:`fake_telegram.state`
and :mod:`fake_telegram.methods`. Logs carry method names, statuses and ids only, never texts.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import ipaddress
import json
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from fake_telegram.methods import BotApi
from fake_telegram.state import ApiError, Params, ResponseLost, UploadedFile

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 60 * 1024 * 1024  # above Telegram's 50 MB upload limit; larger bodies get 413
IDLE_CONNECTION_TIMEOUT_S = 120.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fix_header_text(value: str | None) -> str | None:
    """Decodes a part's name or filename: raw UTF-8 bytes (which the email parser leaves as surrogate
    escapes) and the WHATWG form-data escapes httpx uses for '"', CR and LF (%22, %0D, %0A)."""
    if value is None:
        return None
    with contextlib.suppress(UnicodeError):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8")
    return value.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Splits a multipart/form-data body into form fields and file parts (by part name)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "Bad Request: can't parse multipart/form-data request")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = _fix_header_text(part.get_param("name", header="content-disposition"))  # type: ignore[arg-type]
        if not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = _fix_header_text(part.get_filename())
        if filename is not None or part.get("content-type") is not None:
            content_type = part.get_content_type() if part.get("content-type") is not None else None
            files[name] = UploadedFile(name=name, filename=filename, content_type=content_type, data=data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    """One connection's requests; dispatches to the server's :class:`BotApi`."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body are separate writes: without NODELAY, Nagle + delayed ACK add ~40 ms per call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default would log request paths (tokens, query-string texts)."""

    def do_GET(self) -> None:
        """Bot API calls by GET, and file downloads."""
        self._dispatch()

    def do_POST(self) -> None:
        """Bot API calls."""
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BYTES:
                    raise ApiError(413, "Request Entity Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return self.rfile.read(length) if length > 0 else b""

    def _params(self, query: str, body: bytes) -> Params:
        values: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        files: dict[str, UploadedFile] = {}
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if not body:
            return Params(values, files)
        if kind == "application/x-www-form-urlencoded":
            values.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif kind == "multipart/form-data":
            fields, files = parse_multipart(content_type, body)
            values.update(fields)
        elif kind == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(decoded, dict):
                raise ApiError(400, "Bad Request: the JSON request body must be an object")
            values.update(decoded)
        return Params(values, files)

    def _dispatch(self) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        path = unquote(url.path)
        method = "?"
        try:
            try:
                body = self._read_body()
            except ApiError:
                self.close_connection = True
                raise
            if path.startswith("/file/bot"):
                self._serve_file(path[len("/file/bot") :])
                return
            if not path.startswith("/bot"):
                raise ApiError(404, "Not Found")
            token, _, method = path[len("/bot") :].partition("/")
            if token != api.token:
                raise ApiError(401, "Unauthorized")
            if not method or "/" in method:
                raise ApiError(404, "Not Found: method not found")
            result = api.call(method, self._params(url.query, body))
            self._send_json(200, {"ok": True, "result": result})
            logger.debug("fake telegram: %s -> 200", method)
        except ApiError as error:
            self._send_json(error.status, error.payload())
        except ResponseLost:  # the call took effect; the client gets no answer, only a closed connection
            self.close_connection = True
            logger.debug("fake telegram: %s -> response dropped", method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            logger.exception("fake telegram: internal error in %s", method)
            self._send_json(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})

    def _serve_file(self, rest: str) -> None:
        token, _, file_path = rest.partition("/")
        if token != self.server.api.token:
            raise ApiError(401, "Unauthorized")
        stored = self.server.api._download(file_path)
        if stored is None:
            raise ApiError(404, "Not Found")
        logger.debug("fake telegram: download %s (%d bytes)", stored.file_id, stored.file_size)
        self._send(200, stored.data, stored.mime_type or "application/octet-stream")

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError, ValueError, OSError):
            self.close_connection = True  # the client went away (a cancelled long poll, a stopped bot)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its BotApi and its open connections (closed on stop)."""

    daemon_threads = True
    allow_reuse_address = True
    # A bot opens many connections at once under load; the default backlog of 5 resets them.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], api: BotApi, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A client that hung up (a bot shutting down) is not an error worth a traceback on stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class FakeTelegramServer(BotApi):
    """A fake Telegram Bot API server on 127.0.0.1 for python-telegram-bot clients.

    ``port=0`` picks a free port. ``fail_rate`` / ``retry_after_rate`` make that share of send*/edit*/
    answerCallbackQuery calls fail (500 / 429 with retry_after=1) before anything is recorded, drawn from
    ``random.Random(seed)``; :meth:`fail_next` scripts failures. ``known_chats_only`` makes sends to a chat
    that never wrote to the bot fail with "chat not found" (as Telegram does); by default such chats are
    created on first use. ``privacy_mode`` (on by default, as on Telegram) keeps ordinary group messages
    from the bot: it gets only commands, replies to its messages and mentions. Use as a context manager or
    call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        retry_after_rate: float = 0.0,
        seed: int | None = 0,
        bot_username: str = "dermbot_test",
        *,
        known_chats_only: bool = False,
        privacy_mode: bool = True,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the fake Telegram server listens on loopback only, not {host!r}")
        if not token or "/" in token:
            raise ValueError("the token must be a non-empty string without '/'")
        super().__init__(
            token,
            fail_rate=fail_rate,
            retry_after_rate=retry_after_rate,
            seed=seed,
            bot_username=bot_username,
            known_chats_only=known_chats_only,
            privacy_mode=privacy_mode,
        )
        self.host = "127.0.0.1" if host == "localhost" else host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeTelegramServer:
        """Binds the port and serves from a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the fake Telegram server is already started")
        if self._closed:
            raise RuntimeError("a stopped fake Telegram server cannot be restarted; make a new one")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._httpd = _HTTPServer((self.host, self._requested_port), self, family)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        logger.info("fake telegram server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stops serving: wakes long-polling getUpdates (they answer []) and closes connections."""
        self._close_state()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("fake telegram server stopped")

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._httpd is None:
            raise RuntimeError("the fake Telegram server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder.base_url``: ``http://127.0.0.1:PORT/bot``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``base_file_url``: ``http://127.0.0.1:PORT/file/bot``."""
        return f"{self.url}/file/bot"
