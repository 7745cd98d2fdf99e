"""Benchmark: N patients press Submit at once; how fast is each one acknowledged?

    python bench/bot_load.py [--patients 200] [--rate 1000]

Processes as deployed: the bot is the real ``dermbot bot`` process and a worker process drafts
with the scripted drafter (no model, ``bench/stub_worker.py``), both on one SQLite file; this
process plays Telegram (the fake Bot API server, over HTTP) and the patients. Every patient first
consents and sends a photo and a description (not timed); then all press Submit together.

Timed: from each Submit press being queued at the server to that patient's acknowledgement being
recorded there (a thread stamps every sent message as it appears, every 2 ms). ``--rate`` is the
bot's AIORateLimiter overall limit in messages per second: Telegram allows about 30, which bounds
real latency for a crowd; the goal (p95 under 1 s, nothing lost) is for the bot's own work.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from bot.fakeserver import FakeTelegramServer
from dermvqa.storage.database import open_database
from dermvqa.storage.models import Case

ROOT = Path(__file__).resolve().parents[1]


def photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (190, 110, 90)).save(buf, format="JPEG")
    return buf.getvalue()


class Inbox(threading.Thread):
    """Files every message the bot sends under its chat, stamped with when it was first seen."""

    def __init__(self, server: FakeTelegramServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.by_chat: dict[int, list[tuple[float, dict]]] = defaultdict(list)
        self.seen = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.is_set():
            records = self.server.sent
            now = time.perf_counter()
            with self.lock:
                for record in records[self.seen :]:
                    self.by_chat[record["chat_id"]].append((now, record))
                self.seen = len(records)
            time.sleep(0.002)

    def find(self, chat: int, needle: str) -> tuple[float, dict] | None:
        with self.lock:
            return next(((t, r) for t, r in self.by_chat[chat] if needle in (r.get("plain_text") or "")), None)

    def wait(self, chats: list[int], needle: str, timeout: float) -> dict[int, tuple[float, dict]]:
        deadline = time.monotonic() + timeout
        found: dict[int, tuple[float, dict]] = {}
        while len(found) < len(chats):
            for chat in chats:
                if chat not in found and (hit := self.find(chat, needle)):
                    found[chat] = hit
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(chats) - len(found)} chats never got {needle!r}")
            time.sleep(0.01)
        return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(folder: Path, server: FakeTelegramServer, rate: float, chats: int, pool: int) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{folder / "bot.sqlite3"}"\n[storage]\ndir = "{folder / "images"}"\n'
        f'[telegram]\nbase_url = "{server.base_url}"\nbase_file_url = "{server.base_file_url}"\n'
        f"poll_timeout_s = 1\nrate_overall_per_second = {rate}\nrate_group_per_minute = 100000.0\n"
        f"concurrent_chats = {chats}\nconnection_pool_size = {pool}\n"
        "[review]\nclinician_ids = [900]\n[bot]\noutbox_poll_seconds = 0.05\n"
        "[worker]\npoll_seconds = 0.05\nbatch_size = 8\n",
        encoding="utf-8",
    )
    return path


def run(patients: int, rate: float, chats: int, pool: int, with_worker: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="dermbot-load-") as tmp, FakeTelegramServer() as server:
        folder = Path(tmp)
        config = write_config(folder, server, rate, chats, pool)
        env = {**os.environ, "DERMBOT_TELEGRAM_TOKEN": server.token}
        logs = (folder / "bot.log").open("w")
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "bot"],
            cwd=ROOT,
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        processes = {"bot": bot}
        if with_worker:
            processes["worker"] = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "stub_worker.py"), str(config)],
                cwd=ROOT,
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        inbox = Inbox(server)
        inbox.start()
        users = list(range(10_000, 10_000 + patients))
        try:
            for user in users:
                server.send_text(user, "/start")
            welcomes = inbox.wait(users, "Do you agree", 120)
            for user in users:
                server.press_button(user, welcomes[user][1], "consent:yes")
            inbox.wait(users, "Thank you. Send up to", 120)
            for user in users:
                server.send_photo(user, photo())
                server.send_text(user, f"Itchy rash number {user} on the forearm for two weeks.")
            saved = inbox.wait(users, "Description saved", 120)

            pids = {name: process.pid for name, process in processes.items()}
            pids["telegram_and_patients"] = os.getpid()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            pressed: dict[int, float] = {}
            start = time.perf_counter()
            for user in users:
                server.press_button(user, saved[user][1], "submit")
                pressed[user] = time.perf_counter()
            acks = inbox.wait(users, "Your case number is #", 300)
            cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in pids.items()}
            wall = max(t for t, _ in acks.values()) - start
            latencies = sorted(acks[u][0] - pressed[u] for u in users)
            time.sleep(0.5)
            with inbox.lock:
                duplicates = sum(
                    sum("Your case number is" in (r.get("plain_text") or "") for _, r in inbox.by_chat[u]) - 1
                    for u in users
                )
        finally:
            inbox.stop.set()
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for process in processes.values():
                process.wait(60)
            logs.close()
        db = open_database(f"sqlite:///{folder / 'bot.sqlite3'}")
        with db.read() as session:
            submitted = session.scalar(select(func.count()).select_from(Case).where(Case.submitted_at.is_not(None)))
        db.dispose()
    return {
        "bench": "bot_load",
        "patients": patients,
        "processes": "dermbot bot" + (" + stub worker" if with_worker else "") + ", SQLite, fake Bot API over HTTP",
        "rate_limit_per_s": rate,
        "concurrent_chats": chats,
        "connection_pool_size": pool,
        "cases_submitted": submitted,
        "acks": len(acks),
        "duplicate_acks": duplicates,
        "wall_s": round(wall, 3),
        "cases_per_s": round(patients / wall, 2),
        "p50_s": round(statistics.median(latencies), 4),
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 4),
        "max_s": round(latencies[-1], 4),
        "goal_p95_s": 1.0,
        "cpu_s_during_submits": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000.0, help="AIORateLimiter overall messages/s")
    parser.add_argument("--concurrent-chats", type=int, default=16, help="[telegram] concurrent_chats")
    parser.add_argument("--pool", type=int, default=8, help="[telegram] connection_pool_size")
    parser.add_argument("--no-worker", action="store_true", help="no drafting: only intake and acknowledgements")
    args = parser.parse_args()
    print(json.dumps(run(args.patients, args.rate, args.concurrent_chats, args.pool, not args.no_worker)))


if __name__ == "__main__":
    main()
