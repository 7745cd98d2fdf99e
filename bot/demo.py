"""The offline demo (``make demo``): one full case through the real service, without Telegram.

    python -m bot.demo [--model ID_OR_PATH] [--backend hf|moondream] [--revision REV] [--keep DIR]

It starts the fake Bot API server shipped in ``fake_telegram`` (real HTTP, as Telegram speaks it),
then ``dermbot run`` (the bot, a drafting worker as a child process, the scheduler) pointed at it,
and plays a patient and a clinician: consent, a photo, a description, Submit, the draft, the
clinician's approval, the answer delivered. The conversation is printed as a transcript.

Without ``--model`` the worker drafts with a tiny randomly initialised LLaVA built on the spot
(its words are meaningless; the demo shows the machinery). The description is a DermaVQA query
when ``../shared/data/dermavqa`` is present, else one written for the demo.

When the demo fails it says why in one line, prints the last lines of the service's log and where
the whole log is (the demo's folder is then kept), and exits 1. A worker that reports that its model
cannot be loaded ends the demo at once rather than after ``--timeout``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFilter

from dermvqa.config import DATA_KEY_ENV
from dermvqa.errors import DermError, explain
from dermvqa.storage.keys import new_key_text, write_key_file

if TYPE_CHECKING:
    from fake_telegram import FakeTelegramServer

PATIENT, CLINICIAN = 111_111, 222_222
# Lines of the service's log after which no draft can ever come (the worker exits 3 and is restarted).
FATAL_LOG_LINES = ("the model cannot be loaded", "its model cannot be loaded")
LOG_TAIL_LINES = 20


class DemoFailed(Exception):
    """The demo cannot go on; the message says why in one line."""


class ServiceWatch:
    """Is the service still able to finish the demo? Its process is alive and its log has no fatal line."""

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process, self.log_path = process, log_path
        self._offset, self._checked = 0, 0.0

    def check(self, waiting_for: str) -> None:
        if self.process.poll() is not None:
            raise DemoFailed(f"the service exited (code {self.process.returncode}) while waiting for {waiting_for}")
        now = time.monotonic()
        if now - self._checked < 0.5:
            return
        self._checked = now
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except OSError:
            return
        cut = chunk.rfind(b"\n") + 1  # only whole lines; a half-written one is read next time
        self._offset += cut
        for line in chunk[:cut].decode("utf-8", "replace").splitlines():
            if any(fatal in line for fatal in FATAL_LOG_LINES):
                raise DemoFailed(f"the worker cannot load the model, so no draft can come (waiting for {waiting_for})")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []
DEMO_DESCRIPTION = (
    "For three weeks I have had an itchy, red, scaly patch on the inside of my left elbow. "
    "It gets worse at night and after hot showers. I have not changed soap or detergent."
)


def demo_photo() -> bytes:
    """A synthetic photo: skin tone with a blurred reddish patch."""
    image = Image.new("RGB", (640, 480), (224, 182, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((200, 140, 460, 330), fill=(196, 98, 92))
    image = image.filter(ImageFilter.GaussianBlur(18))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def demo_description() -> tuple[str, str]:
    """(text, where it came from)."""
    from dermvqa.data.challenge import load_encounters
    from dermvqa.data.locations import shared_dermavqa_dir

    folder = shared_dermavqa_dir()
    if folder is not None:
        encounter = load_encounters(folder / "iiyi" / "valid_ht.json")[0]
        text = " ".join(part for part in (encounter.title.get("en"), encounter.content.get("en")) if part)
        return text.strip(), f"DermaVQA iiyi valid_ht encounter {encounter.encounter_id} (CC BY 4.0)"
    return DEMO_DESCRIPTION, "written for the demo"


class Transcript:
    """Prints what each side says, in order, as it happens."""

    def __init__(self, server: FakeTelegramServer, names: dict[int, str]) -> None:
        self.server, self.names, self.seen = server, names, 0

    def user(self, user_id: int, what: str) -> None:
        self.flush()
        self._print(f"{self.names[user_id]} →", what)

    def flush(self) -> None:
        records = self.server.sent
        for record in records[self.seen :]:
            who = self.names.get(record["chat_id"], str(record["chat_id"]))
            what = record.get("plain_text") or record.get("plain_caption") or ""
            if record["method"] in ("sendPhoto", "sendMediaGroup"):
                what = "[photo] " + what
            elif record["method"].startswith("edit"):
                what = "[edited] " + what
            buttons = [b["text"] for row in (record.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
            if buttons:
                what += "\n[buttons: " + " | ".join(buttons) + "]"
            self._print(f"bot → {who}", what)
        self.seen = len(records)

    @staticmethod
    def _print(label: str, text: str) -> None:
        body = "\n".join(
            textwrap.fill(line, 96, subsequent_indent="    ") if line else "" for line in text.splitlines()
        )
        print(f"\n[{label}]\n    " + body.replace("\n", "\n    "), flush=True)


def wait_for(
    server: FakeTelegramServer, what: str, predicate: Callable[[dict], bool], timeout: float, service: ServiceWatch
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in reversed(server.sent):
            if predicate(record):
                return record
        service.check(what)
        time.sleep(0.05)
    raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}")


def text_of(record: dict) -> str:
    return record.get("plain_text") or record.get("plain_caption") or ""


def write_config(folder: Path, server: FakeTelegramServer, model: str, backend: str, revision: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        textwrap.dedent(f"""\
        [database]
        url = "sqlite:///{folder / "demo.sqlite3"}"
        [storage]
        dir = "{folder / "images"}"
        [model]
        backend = "{backend}"
        name = "{model}"
        revision = "{revision}"
        max_new_tokens = 48
        [worker]
        batch_size = 1
        poll_seconds = 0.2
        [telegram]
        base_url = "{server.base_url}"
        base_file_url = "{server.base_file_url}"
        poll_timeout_s = 1
        rate_overall_per_second = 1000.0
        rate_group_per_minute = 10000.0
        [review]
        clinician_ids = [{CLINICIAN}]
        [bot]
        outbox_poll_seconds = 0.2
        """),
        encoding="utf-8",
    )
    return path


def play(
    server: FakeTelegramServer, service: ServiceWatch, description: str, timeout: float, meaningless: bool
) -> None:
    log = Transcript(server, {PATIENT: "patient (Alex)", CLINICIAN: "clinician (Dr Rivera)"})

    def said(chat: int, needle: str, what: str, wait: float = 60) -> dict:
        record = wait_for(server, what, lambda r: r["chat_id"] == chat and needle in text_of(r), wait, service)
        log.flush()
        return record

    log.user(PATIENT, "/start")
    server.send_text(PATIENT, "/start", first_name="Alex")
    welcome = said(PATIENT, "Do you agree", "the welcome and consent question")
    log.user(PATIENT, "[presses: I agree]")
    server.press_button(PATIENT, welcome, "consent:yes")
    said(PATIENT, "Thank you. Send up to", "the consent confirmation")
    log.user(PATIENT, "[sends a photo of the elbow]")
    server.send_photo(PATIENT, demo_photo())
    said(PATIENT, "Photo 1 of", "the photo receipt")
    log.user(PATIENT, description)
    server.send_text(PATIENT, description, first_name="Alex")
    saved = said(PATIENT, "Description saved", "the description receipt")
    log.user(PATIENT, "[presses: Submit]")
    server.press_button(PATIENT, saved, "submit")
    ack = said(PATIENT, "Your case number is #", "the acknowledgement")
    case_id = text_of(ack).split("#")[1].split(".")[0]
    print("\n... the worker drafts the answer with the model ...", flush=True)
    post = wait_for(
        server,
        "the draft for review",
        lambda r: r["chat_id"] == CLINICIAN and bool(r.get("reply_markup")) and f"Case #{case_id}" in text_of(r),
        timeout,
        service,
    )
    log.flush()
    if meaningless:
        print("\n(The draft above was written by a model with random weights: its words are meaningless.)")
    approve = next(
        b["callback_data"]
        for row in post["reply_markup"]["inline_keyboard"]
        for b in row
        if b["callback_data"].startswith("rv:approve:")
    )
    log.user(CLINICIAN, "[presses: ✅ Approve]")
    server.press_button(CLINICIAN, post, approve, first_name="Dr Rivera")
    said(PATIENT, f"Answer to your case #{case_id}", "the answer to the patient")
    time.sleep(0.5)
    log.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a Hugging Face id or local path (default: a tiny random LLaVA built now)")
    parser.add_argument("--backend", choices=("hf", "moondream"), default="hf")
    parser.add_argument("--revision", default=None)
    parser.add_argument("--keep", type=Path, help="keep the demo's folder (database, photos, logs) here")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the draft")
    args = parser.parse_args(argv)

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dermbot-demo-"))
    log_path = folder / "service.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return run_demo(args, folder, log_path)
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        tail = log_tail(log_path)
        if tail:
            print(f"last {len(tail)} lines of the service log:", file=sys.stderr)
            print("\n".join("  | " + line for line in tail), file=sys.stderr)
        print(f"the whole log: {log_path} (the demo's folder is kept)", file=sys.stderr)
        return 1
    except (DermError, OSError) as exc:
        message, code = explain(exc)
        print(f"demo failed: {message}", file=sys.stderr)
        return code


def run_demo(args: argparse.Namespace, folder: Path, log_path: Path) -> int:
    tiny = args.model is None
    if tiny:
        from dermvqa.drafting.tiny_model import make_tiny_model

        print("Building a tiny randomly initialised LLaVA (real tokenizer and processor)...", flush=True)
        model = str(make_tiny_model(folder / "tiny-llava"))
    else:
        model = args.model
    revision = args.revision or ("2025-06-21" if args.backend == "moondream" else "main")
    description, source = demo_description()
    try:  # the project's testing tool, beside the package in a checkout (not in the installed wheel)
        from fake_telegram import FakeTelegramServer
    except ImportError:
        print(
            "demo: error: the offline demo runs from a checkout of the repository (`make demo`): it needs "
            "fake_telegram/, which is not part of the installed package",
            file=sys.stderr,
        )
        return 2
    with FakeTelegramServer(token="424242:DEMO") as server:
        config = write_config(folder, server, model, args.backend, revision)
        env = {**os.environ, "DERMBOT_TELEGRAM_TOKEN": server.token, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env[DATA_KEY_ENV] = new_key_text()  # an ephemeral data key (with --keep, also in data.key, mode 600)
        if args.keep:
            (folder / "data.key").unlink(missing_ok=True)
            write_key_file(folder / "data.key", env[DATA_KEY_ENV])
        log_file = log_path.open("w")
        print(f"Fake Telegram Bot API at {server.url}; starting `dermbot run` (bot + worker + scheduler).")
        print(f"Model: {model}" + (" — RANDOM WEIGHTS: the draft's words are meaningless" if tiny else ""))
        print(f"Description: {source}.")
        service = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "run"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            play(server, ServiceWatch(service, log_path), description, args.timeout, meaningless=tiny)
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(60)
            except subprocess.TimeoutExpired:
                service.kill()
            log_file.close()
    if tiny:
        print(
            "\nNote: the draft came from a randomly initialised tiny model, so its text is meaningless; "
            'the demo shows the flow. Run `make demo DEMO_ARGS="--model bczhou/tiny-llava-v1-hf"` (with the '
            "weights available) for a real model."
        )
    print(
        f"\nDemo complete: case submitted, drafted, approved by the clinician and delivered. "
        f"Service exit code {service.returncode}."
    )
    if args.keep:
        print(f"Files kept in {folder} (service.log, demo.sqlite3, images/).")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
