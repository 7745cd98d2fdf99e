"""Benchmark: one patient floods the bot with files; how fast is another patient's /status answered?

    python bench/flood.py [--files 60] [--rounds 2] [--probe-seconds 6] [--max-photos 10] [--rate 30]

Processes as deployed (as bench/bot_load.py, whose helpers this reuses): the real ``dermbot bot``
process on a SQLite file, this process playing Telegram (the fake Bot API server on loopback, over
HTTP) and the patients. No worker (nothing is submitted). ``--rate`` is the bot's overall limit on
messages sent (Telegram allows about 30 a second, shared by every chat: a flooder's replies use it up).

Each round starts a fresh bot with the per-user flood guard ``[intake] rate_per_minute`` on (30 a
minute after a burst of 20, the defaults) or off (0); rounds alternate off, on, off, on... Both
patients consent first (not timed). Then the flooder sends ``--files`` files (photos and documents,
alternately, 1600x1200 JPEGs of ~0.7 MB) as fast as the server takes them, while the other patient
sends /status every 0.4 s for ``--probe-seconds``. Timed: each /status from being queued at the
server to its answer being recorded there (a thread stamps every sent message, every 2 ms).

Prints one JSON line: p50/p95/max of the /status latency per mode (all rounds of a mode pooled),
and per round the messages the flooder received, the "too fast" notices among them, and the photos
stored for the flooder. The goal: p95 under 1 s with the guard on.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # fake_telegram/ lives beside the installed packages

from bot_load import ROOT, Inbox, cpu_seconds, write_config
from PIL import Image
from sqlalchemy import func, select

from dermvqa.storage.database import open_database
from dermvqa.storage.keys import load_data_key, use_ephemeral_key
from dermvqa.storage.models import Case, CaseImage, Patient
from fake_telegram import FakeTelegramServer

FLOODER, PATIENT = 20_001, 20_002
NO_CASES = "You have no cases yet"
TOO_FAST = "sending messages very fast"
# The other patient must stay within the guard's burst itself: 15 probes in 6 s, plus /start, consent, warm-up.
PROBE_EVERY_S = 0.4


def photos(count: int = 6) -> list[bytes]:
    """Distinct phone-like photos: 1600x1200 JPEGs with enough texture to weigh ~0.7 MB."""
    out = []
    for i in range(count):
        noise = Image.effect_noise((400, 300), 40 + i).resize((1600, 1200))
        image = Image.merge("RGB", (noise, noise.rotate(180), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def _texts(inbox: Inbox, chat: int) -> list[tuple[float, str]]:
    with inbox.lock:
        return [(t, r.get("plain_text") or "") for t, r in inbox.by_chat[chat]]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def one_round(guard: bool, files: list[bytes], count: int, probe_seconds: float, max_photos: int, rate: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dermbot-flood-") as tmp, FakeTelegramServer() as server:
        folder = Path(tmp)
        config = write_config(folder, server, rate=rate, chats=16, pool=8)
        with config.open("a", encoding="utf-8") as handle:
            handle.write(
                f"[intake]\nmax_photos = {max_photos}\nrate_per_minute = {30.0 if guard else 0.0}\n"
                f"rate_burst = {max(20, max_photos + 1)}\n"
            )
        logs = (folder / "bot.log").open("w")
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "bot"],
            cwd=ROOT,
            env={**os.environ, "DERMBOT_TELEGRAM_TOKEN": server.token},
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        inbox = Inbox(server)
        inbox.start()
        try:
            for user in (FLOODER, PATIENT):
                server.send_text(user, "/start")
            welcomes = inbox.wait([FLOODER, PATIENT], "Do you agree", 60)
            for user in (FLOODER, PATIENT):
                server.press_button(user, welcomes[user][1], "consent:yes")
            inbox.wait([FLOODER, PATIENT], "Thank you. Send up to", 60)
            server.send_text(PATIENT, "/status")  # warm-up, not timed
            inbox.wait([PATIENT], NO_CASES, 60)
            answered_before = sum(NO_CASES in text for _, text in _texts(inbox, PATIENT))

            cpu_before = cpu_seconds(bot.pid)
            probes: list[float] = []

            def probe() -> None:
                end = time.perf_counter() + probe_seconds
                while time.perf_counter() < end:
                    server.send_text(PATIENT, "/status")
                    probes.append(time.perf_counter())
                    time.sleep(PROBE_EVERY_S)

            prober = threading.Thread(target=probe)
            start = time.perf_counter()
            prober.start()
            for i in range(count):  # as fast as the server takes them
                data = files[i % len(files)]
                if i % 2:
                    server.send_document(FLOODER, data, file_name=f"rash{i}.jpg", mime_type="image/jpeg")
                else:
                    server.send_photo(FLOODER, data)
            flood_sent_s = time.perf_counter() - start
            prober.join()

            def answers() -> list[float]:
                return [t for t, text in _texts(inbox, PATIENT) if NO_CASES in text][answered_before:]

            _wait(lambda: len(answers()) >= len(probes), 120, "every /status answered")
            latencies = [answer - sent for answer, sent in zip(answers(), probes, strict=False)]
            # The flood is over when every update was fetched and the flooder's inbox stopped growing.
            _wait(lambda: not server.pending_updates, 120, "every update fetched")
            settled, last = time.monotonic(), -1
            while time.monotonic() - settled < 1.0:
                now = len(_texts(inbox, FLOODER))
                if now != last:
                    settled, last = time.monotonic(), now
                time.sleep(0.05)
            flood_done_s = max(t for t, _ in _texts(inbox, FLOODER)) - start  # its last answer
            cpu = round(cpu_seconds(bot.pid) - cpu_before, 2)
            flooder_texts = [text for _, text in _texts(inbox, FLOODER)]
        except Exception:
            logs.flush()
            print((folder / "bot.log").read_text()[-2000:], file=sys.stderr)  # why the bot did not answer
            raise
        finally:
            inbox.stop.set()
            bot.send_signal(signal.SIGTERM)
            bot.wait(60)
            logs.close()
        db = open_database(f"sqlite:///{folder / 'bot.sqlite3'}", key=load_data_key())
        with db.read() as session:
            stored = session.scalar(
                select(func.count())
                .select_from(CaseImage)
                .join(Case)
                .join(Patient)
                .where(Patient.telegram_user_id == FLOODER)
            )
        db.dispose()
    return {
        "guard": "on" if guard else "off",
        "status_probes": len(probes),
        "latencies": latencies,
        "flood_sent_s": round(flood_sent_s, 2),
        "flooder_last_answer_s": round(flood_done_s, 2),
        "flooder_messages": len(flooder_texts) - 2,  # less the welcome and the consent reply
        "too_fast_notices": sum(TOO_FAST in text for text in flooder_texts),
        "flooder_photos_stored": stored,
        "bot_cpu_s": cpu,
    }


def summary(latencies: list[float]) -> dict:
    return {
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "samples": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=60, help="files the flooder sends")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode (alternating off, on)")
    parser.add_argument("--probe-seconds", type=float, default=6.0)
    parser.add_argument("--max-photos", type=int, default=10, help="[intake] max_photos")
    parser.add_argument("--rate", type=float, default=30.0, help="AIORateLimiter overall messages/s (Telegram: 30)")
    args = parser.parse_args()
    use_ephemeral_key()  # throwaway data; the bot processes inherit the key
    files = photos()
    rounds = [
        one_round(guard, files, args.files, args.probe_seconds, args.max_photos, args.rate)
        for _ in range(args.rounds)
        for guard in (False, True)
    ]
    result = {
        "bench": "flood",
        "processes": "dermbot bot, SQLite, fake Bot API over HTTP (loopback)",
        "files": args.files,
        "file_bytes": sum(map(len, files)) // len(files),
        "max_photos": args.max_photos,
        "rate_limit_per_s": args.rate,
        "guard_on": summary([x for r in rounds if r["guard"] == "on" for x in r["latencies"]]),
        "guard_off": summary([x for r in rounds if r["guard"] == "off" for x in r["latencies"]]),
        "goal_p95_s": 1.0,
        "rounds": [{k: v for k, v in r.items() if k != "latencies"} for r in rounds],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
