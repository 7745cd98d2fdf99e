"""Run the real bot against the fake Bot API server, with a real database and a worker.

The bot runs inside the test's event loop (``BotService.start``); the worker drafts in a thread
with the scripted drafter (the tiny-model path is covered in tests/model and the demo test).
Patients and clinicians are simulated through the fake server's user API, over real HTTP.
"""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from bot.app import BotService
from dermvqa.config import Config, load_config
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.states import CaseState
from dermvqa.storage.database import Database, open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import Case, CaseImage, Patient
from dermvqa.worker import Worker
from fake_telegram import FakeTelegramServer

CLINICIAN = 900
CLINICIAN_2 = 901
STRANGER = 666
REVIEW_GROUP = -1001234567890


def jpeg(color=(190, 100, 80), size=(120, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def write_config(
    tmp: Path,
    server: FakeTelegramServer,
    *,
    review_chat: int = 0,
    rate: float = 1000.0,
    retention: dict[str, int] | None = None,
    **intake: int,
) -> Path:
    lines = [
        "[database]",
        f'url = "sqlite:///{tmp / "bot.sqlite3"}"',
        "[storage]",
        f'dir = "{tmp / "images"}"',
        "[telegram]",
        f'base_url = "{server.base_url}"',
        f'base_file_url = "{server.base_file_url}"',
        f"rate_overall_per_second = {rate}",
        "rate_group_per_minute = 100000.0",
        "[review]",
        f"clinician_ids = [{CLINICIAN}, {CLINICIAN_2}]",
        f"chat_id = {review_chat}",
        "[bot]",
        "outbox_poll_seconds = 0.05",
        "[worker]",
        "poll_seconds = 0.05",
        "batch_size = 8",
        "[intake]",
        *(f"{k} = {v}" for k, v in intake.items()),
        "[retention]",
        *(f"{k} = {v}" for k, v in (retention or {}).items()),
    ]
    path = tmp / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Harness:
    server: FakeTelegramServer
    config: Config
    db: Database
    store: ImageStore
    service: BotService | None = None
    config_path: Path | None = None  # the bot reloads the clinician list from it when it changes
    drafter: ScriptedDrafter = field(default_factory=ScriptedDrafter)
    _worker_stop: threading.Event = field(default_factory=threading.Event)
    _worker_thread: threading.Thread | None = None

    @classmethod
    def create(cls, tmp: Path, server: FakeTelegramServer, **kw) -> Harness:
        path = write_config(tmp, server, **kw)
        config = load_config(path, environ={})
        db = open_database(config.database_url, key=load_data_key(config))  # tests/conftest.py's key
        upgrade(db)
        return cls(server, config, db, ImageStore(config.storage_dir), config_path=path)

    async def start_bot(self) -> BotService:
        self.service = BotService(self.config, self.server.token, self.db, self.store, config_path=self.config_path)
        await self.service.start(poll_timeout=0.5)
        return self.service

    async def stop_bot(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    def start_worker(self) -> None:
        worker = Worker(self.config, self.db, lambda spec: self.drafter, store=self.store, worker_id="test-worker")
        self._worker_stop.clear()
        self._worker_thread = threading.Thread(target=worker.run, args=(self._worker_stop,), daemon=True)
        self._worker_thread.start()

    def stop_worker(self) -> None:
        self._worker_stop.set()
        if self._worker_thread:
            self._worker_thread.join(10)

    async def close(self) -> None:
        self.stop_worker()
        await self.stop_bot()
        self.db.dispose()

    # -- observing ----------------------------------------------------------------------------

    def photos_of(self, user_id: int) -> int:
        """How many photo rows the patient with this Telegram user id has."""
        with self.db.read() as session:
            return session.scalar(
                select(func.count())
                .select_from(CaseImage)
                .join(Case)
                .join(Patient)
                .where(Patient.telegram_user_id == user_id)
            )

    def case_states(self) -> dict[int, CaseState]:
        with self.db.read() as session:
            return {c.id: CaseState(c.state) for c in session.scalars(select(Case))}

    async def wait_state(self, case_id: int, state: CaseState, timeout: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.case_states().get(case_id) != state:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"case {case_id} is {self.case_states().get(case_id)}, wanted {state}")
            await asyncio.sleep(0.02)

    async def drained(self, timeout: float = 20) -> None:
        """Wait until the outbox has nothing pending."""
        from sqlalchemy import func

        from dermvqa.storage.models import OutboxMessage

        def pending() -> int:
            with self.db.read() as session:
                return session.scalar(select(func.count()).where(OutboxMessage.state == "pending")) or 0

        deadline = asyncio.get_running_loop().time() + timeout
        while pending():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{pending()} outbox rows still pending")
            await asyncio.sleep(0.05)

    async def said(self, chat_id: int, needle: str, timeout: float = 10) -> dict:
        """Wait for a message to ``chat_id`` whose visible text contains ``needle``."""
        return await self.server.async_wait_for(
            lambda r: r["chat_id"] == chat_id and needle in (r.get("plain_text") or r.get("plain_caption") or ""),
            timeout,
        )

    # -- acting -------------------------------------------------------------------------------

    async def consent(self, user: int, training: bool | None = True) -> None:
        """/start, agree to the service, then answer the separate training question: yes by default,
        ``False`` says no, ``None`` leaves it unanswered (one update fewer through the rate limit)."""
        self.server.send_text(user, "/start")
        welcome = await self.said(user, "Do you agree")
        self.server.press_button(user, welcome, "consent:yes")
        await self.said(user, "Thank you. Send up to")
        question = await self.said(user, "improve the computer model?")
        if training is not None:
            self.server.press_button(user, question, "train:yes" if training else "train:no")
            await self.said(user, "Saved: your")

    async def submit_case(
        self,
        user: int,
        text: str = "Itchy red patches on both elbows for three weeks.",
        photos: int = 1,
        training: bool | None = True,
    ) -> int:
        """Consent (``training``: the answer to the training question), one or more photos, a
        description, Submit; returns the case number."""
        await self.consent(user, training)
        for i in range(photos):
            self.server.send_photo(user, jpeg((40 * i % 255, 120, 90)))
            await self.said(user, f"Photo {i + 1} of")
        self.server.send_text(user, text)
        saved = await self.said(user, "Description saved")
        self.server.press_button(user, saved, "submit")
        ack = await self.said(user, "Your case number is #")
        return int(ack["plain_text"].split("#")[1].split(".")[0])

    async def review_post(self, chat_id: int, case_id: int) -> dict:
        return await self.server.async_wait_for(
            lambda r: (
                r["chat_id"] == chat_id and r.get("reply_markup") and f"Case #{case_id}" in (r.get("plain_text") or "")
            ),
            15,
        )


def button(message: dict, prefix: str) -> str:
    """The callback data of the button on ``message`` whose data starts with ``prefix``."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for b in row:
            if b.get("callback_data", "").startswith(prefix):
                return b["callback_data"]
    raise AssertionError(f"no button {prefix!r} on the message")


async def answer_prompt(h: Harness, chat_id: int, user: int, needle: str, text: str) -> dict:
    """Wait for the bot's ForceReply prompt to ``chat_id`` containing ``needle``; ``user``'s client replies to it
    (as Telegram clients do with a ForceReply; in a group that is the only way a privacy-mode bot hears it)."""
    prompt = await h.said(chat_id, needle)
    h.server.reply_to_prompt(user, prompt, text)
    return prompt
