"""Run the fake Telegram server standalone: ``python -m fake_telegram [--port 8081] [--token TOKEN]``.

Prints the base URL on the first line of stdout and the file base URL on the second (point the bot's
``base_url`` / ``base_file_url`` at them), then serves until interrupted (Ctrl-C or SIGTERM).

With ``--chat USER_ID`` the console becomes that user's Telegram client: each line typed is sent as a
text message, the bot's messages are printed as they arrive, and lines starting with ``!`` are client
actions::

    !photo PATH [caption]    send an image file as a photo
    !doc PATH [caption]      send a file as a document
    !press DATA              press the inline button with this callback_data on the latest message having it
    !quit                    stop
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fake_telegram.server import FakeTelegramServer
from fake_telegram.state import buttons_of


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m fake_telegram``."""
    parser = argparse.ArgumentParser(prog="python -m fake_telegram", description="a fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (0: any free port; default 8081)")
    parser.add_argument("--token", default="123456:TEST", help="the bot token the server accepts")
    parser.add_argument("--bot-username", default="dermbot_test")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of send/edit calls failing with 500")
    parser.add_argument("--retry-after-rate", type=float, default=0.0, help="share failing with 429 retry_after=1")
    parser.add_argument("--seed", type=int, default=0, help="seed of the failure draws")
    parser.add_argument(
        "--lost-response-rate",
        type=float,
        default=0.0,
        help="share of send/edit calls that take effect but get no answer (the connection is dropped)",
    )
    parser.add_argument("--chat", type=int, metavar="USER_ID", help="chat with the bot from the console as USER_ID")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (methods and ids only)")
    return parser


def _describe(record: dict[str, Any]) -> str:
    what = {"sendPhoto": "[photo] ", "sendDocument": "[document] ", "sendMediaGroup": "[album item] "}.get(
        record["method"], "[edited] " if record["method"].startswith("edit") else ""
    )
    body = record["plain_text"] if record["plain_text"] is not None else (record["plain_caption"] or "")
    buttons = [f"{b['text']} -> {b.get('callback_data') or b.get('url')}" for b in buttons_of(record["reply_markup"])]
    suffix = f"\n     buttons: {'; '.join(buttons)}" if buttons else ""
    return f"bot> {what}{body}{suffix}"


def _print_bot_messages(server: FakeTelegramServer, user_id: int, stop: threading.Event) -> None:
    seen = 0
    while not stop.is_set():
        records = server.messages_to(user_id, include_edits=True)
        for record in records[seen:]:
            print(_describe(record), flush=True)
        seen = len(records)
        stop.wait(0.1)


def _client_action(server: FakeTelegramServer, user_id: int, line: str) -> bool:
    """Runs one ``!`` action; returns False for ``!quit``."""
    command, _, rest = line[1:].partition(" ")
    if command == "quit":
        return False
    if command in ("photo", "doc"):
        path_text, _, caption = rest.strip().partition(" ")
        path = Path(path_text).expanduser()
        data = path.read_bytes()
        if command == "photo":
            server.send_photo(user_id, data, caption=caption or None)
        else:
            mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            server.send_document(user_id, data, file_name=path.name, mime_type=mime_type, caption=caption or None)
    elif command == "press":
        data = rest.strip()
        candidates = [
            r
            for r in server.messages_to(user_id, include_edits=True)
            if (current := server.current_message(r["chat_id"], r["message_id"]))
            and any(b.get("callback_data") == data for b in buttons_of(current.get("reply_markup")))
        ]
        if not candidates:
            print(f"no message has a button with callback_data {data!r}", file=sys.stderr)
        else:
            server.press_button(user_id, candidates[-1], data)
    else:
        print("actions: !photo PATH [caption], !doc PATH [caption], !press DATA, !quit", file=sys.stderr)
    return True


def _chat(server: FakeTelegramServer, user_id: int) -> None:
    stop = threading.Event()
    printer = threading.Thread(target=_print_bot_messages, args=(server, user_id, stop), daemon=True)
    printer.start()
    print(f"chatting as user {user_id}; type a message, or !photo PATH, !doc PATH, !press DATA, !quit", file=sys.stderr)
    try:
        for raw in sys.stdin:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            try:
                if line.startswith("!"):
                    if not _client_action(server, user_id, line):
                        break
                else:
                    server.send_text(user_id, line)
            except (OSError, ValueError) as error:
                print(f"error: {error}", file=sys.stderr)
    finally:
        stop.set()


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fake_telegram``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        server = FakeTelegramServer(
            token=args.token,
            host=args.host,
            port=args.port,
            fail_rate=args.fail_rate,
            retry_after_rate=args.retry_after_rate,
            seed=args.seed,
            bot_username=args.bot_username,
        ).start()
    except (ValueError, OSError) as error:
        print(f"fake_telegram: error: {error}", file=sys.stderr)
        return 2
    server.lost_response_rate = min(1.0, max(0.0, args.lost_response_rate))
    signal.signal(signal.SIGTERM, _terminate)  # before the URLs: a caller may stop us as soon as it reads them
    print(server.base_url, flush=True)
    print(server.base_file_url, flush=True)
    try:
        if args.chat is not None:
            _chat(server, args.chat)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
