"""Benchmark: patients press Submit at once; how fast is each one acknowledged, and at what cost?

    python bench/bot_load.py [--variant both|project|bare] [--patients 200,50] [--rounds 5]
                             [--rate 1000] [--encryption on|off|both] [--no-worker] [--profile DIR]

Two bots, as processes: ``project`` is the real ``dermbot bot`` with a worker process drafting with
the scripted drafter (no model, ``bench/stub_worker.py``), both on one SQLite file; ``bare`` is
``bench/bare_bot.py``, a bare python-telegram-bot bot built with the same builder settings
(``bot/builder.py``: rate limiter, connection pool, concurrent chats) that answers the press and sends
one acknowledgement (the service's own text), with no database: the framework's floor. This process
plays Telegram (the fake Bot API server, over HTTP) and the patients. Every patient first consents and
sends a photo and a description (not timed; the bot's follow-up messages are let settle); then all
press Submit together.

Timed: from each Submit press being queued at the server to that patient's acknowledgement being
recorded there (a thread stamps every sent message as it appears, every 2 ms). Also: the bot's CPU
time while the Submits are handled, its database process included (per Submit; split into its main
thread and the rest, with their voluntary context switches: how often the threads hand the
interpreter lock to each other, or the database process waits for work), and the
Bot API calls made meanwhile, per Submit. A bot or worker still running 60 s after SIGTERM fails
the run, with a py-spy dump of where it hangs (when py-spy is installed) and the log's tail.
``--rate`` is the bot's AIORateLimiter overall limit in messages per second: Telegram allows about
30, which bounds real latency for a crowd; here it is set high to measure the bot's own work.

The default (``--variant both``) runs ``--rounds`` rounds; in each, for every crowd size, both bots,
alternating which goes first (cancels order effects), each on fresh files and a fresh fake server; it
reports per bot and size the pooled latencies (p50/p95/max) and mean CPU, and the ratios project/bare
as ``"ratios": {"200": {"p95": ..., "cpu_per_submit": ...}, "50": {...}}`` (goal: within 1.5), with the
lost and duplicated acknowledgements over all runs (must be 0). Five rounds by default: on a shared
2-core machine the same bot measures up to 1.7x apart in runs minutes apart, and more pairs make the
pooled ratios steadier. ``--variant project|bare`` runs one.

``--encryption both`` (the project only): ``--rounds`` rounds with encryption at rest on (as deployed)
and off (``bench/plain_bot.py`` and ``stub_worker.py --plain``), alternating, and the ratios on/off;
after each run the files at rest are checked: plain SQLite and JPEG files exactly in the off mode.

``--profile DIR`` (one run): py-spy profiles while the Submits are handled, as collapsed stacks, one
file per process: the bot's (samples holding the interpreter lock, per thread) and its database
process' (every sample) (needs ``pip install py-spy``).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # fake_telegram/ lives beside the installed packages

from PIL import Image
from sqlalchemy import func, select

from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.keys import load_data_key, use_ephemeral_key
from dermvqa.storage.models import Case
from fake_telegram import FakeTelegramServer

CLINICIAN = 900
CASE_HEAD = re.compile(r"Case #(\d+)")  # bot.rendering.review_post: the first line
DRAFT_MARK = "Draft (model "  # ... and the draft's heading
SQLITE_HEADER = b"SQLite format 3\x00"
JPEG_MAGIC = b"\xff\xd8\xff"
ROUND_FIELDS = (
    "encryption",
    "cases_submitted",
    "acks",
    "drafts",
    "p95_s",
    "max_s",
    "drafts_per_s",
    "cpu_s_during_submits",
)


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

    def wait(
        self, chats: list[int], needle: str, timeout: float, require_all: bool = True
    ) -> dict[int, tuple[float, dict]]:
        """First message with ``needle`` per chat; past ``timeout``: TimeoutError, or (``require_all``
        false) the chats found so far."""
        deadline = time.monotonic() + timeout
        found: dict[int, tuple[float, dict]] = {}
        while len(found) < len(chats):
            for chat in chats:
                if chat not in found and (hit := self.find(chat, needle)):
                    found[chat] = hit
            if time.monotonic() > deadline:
                if not require_all:
                    return found
                raise TimeoutError(f"{len(chats) - len(found)} chats never got {needle!r}")
            time.sleep(0.01)
        return found

    def settle(self, quiet: float = 0.5, timeout: float = 60.0) -> None:
        """Wait until the bot has sent nothing for ``quiet`` seconds (what setup owes is out: the
        timed window measures Submit alone)."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                seen = self.seen
            if seen != last:
                last, since = seen, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.02)

    def review_posts(self, chat: int, cases: int, timeout: float) -> dict[int, float]:
        """When each case's review post with a draft was first sent to ``chat``, by case number (up to
        ``cases`` of them, or what arrived before ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                posts: dict[int, float] = {}
                for t, record in self.by_chat[chat]:
                    text = record.get("plain_text") or ""
                    if DRAFT_MARK in text and (case := CASE_HEAD.match(text)):
                        posts.setdefault(int(case.group(1)), t)
            if len(posts) >= cases or time.monotonic() > deadline:
                return posts
            time.sleep(0.01)


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """User + system CPU time of a process, and (``descendants``) the processes it started, so far
    (Linux /proc)."""
    pids = process_tree(pid) if descendants else [pid]
    return sum(stat_cpu_seconds(Path(f"/proc/{p}/stat")) for p in pids)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a bot's helper process does the bot's work: its CPU is the bot's)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return tree


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU time in a /proc ``stat`` file (a process's or one thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, float]:
    """The bot's main thread, and its other threads and processes together (its database process, or
    thread): CPU seconds and voluntary context switches so far (Linux /proc). A thread that gives up
    the CPU to wait for the interpreter lock counts a voluntary switch: with a database thread, the
    switches show the two threads handing the lock back and forth (every SQLite call releases it)."""
    totals = {"main_cpu_s": 0.0, "other_cpu_s": 0.0, "main_switches": 0.0, "other_switches": 0.0}
    for task in (t for p in process_tree(pid) for t in Path(f"/proc/{p}/task").iterdir()):
        try:
            cpu = stat_cpu_seconds(task / "stat")
            status = (task / "status").read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        which = "main" if int(task.name) == pid else "other"
        totals[f"{which}_cpu_s"] += cpu
        switches = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.MULTILINE)
        totals[f"{which}_switches"] += int(switches.group(1)) if switches else 0
    return totals


def py_spy() -> str | None:
    """py-spy's command: on PATH, or beside this interpreter (a virtual environment not activated)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def start_profile(pid: int, folder: Path, name: str) -> list[subprocess.Popen]:
    """py-spy sampling profiles of the bot while Submits are handled (``--profile``), as collapsed
    stacks in ``folder``, one file per process (py-spy must be installed: ``pip install py-spy``).
    The bot's own process: the samples holding the interpreter lock, per thread; its database
    process: every sample (SQLite releases the lock while it works, and waiting for work shows as
    idle frames)."""
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    for p in process_tree(pid):
        role = "" if p == pid else f"-child{p}"
        out = folder / f"{name}{role}-{time.strftime('%H%M%S')}.txt"
        sampled = ["--rate", "1000", "--format", "raw", "--threads"] + (["--gil"] if p == pid else [])
        spies.append(
            subprocess.Popen(
                [py_spy() or "py-spy", "record", "--pid", str(p), *sampled, "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(0.3)  # attached before the first press
    return spies


def write_config(folder: Path, server: FakeTelegramServer, rate: float, chats: int, pool: int) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{folder / "bot.sqlite3"}"\n[storage]\ndir = "{folder / "images"}"\n'
        f'[telegram]\nbase_url = "{server.base_url}"\nbase_file_url = "{server.base_file_url}"\n'
        f"poll_timeout_s = 1\nrate_overall_per_second = {rate}\nrate_group_per_minute = 100000.0\n"
        f"concurrent_chats = {chats}\nconnection_pool_size = {pool}\n"
        f"[review]\nclinician_ids = [{CLINICIAN}]\n"
        "[worker]\npoll_seconds = 0.05\nbatch_size = 8\n",
        encoding="utf-8",
    )
    return path


def check_at_rest(folder: Path, encrypted: bool) -> None:
    """The database file and the stored photos are plain exactly when encryption is off."""
    db_plain = (folder / "bot.sqlite3").read_bytes()[: len(SQLITE_HEADER)] == SQLITE_HEADER
    photos = [p for p in (folder / "images").rglob("*") if p.is_file() and not p.name.endswith(".tmp")]
    photos_plain = [p.read_bytes()[: len(JPEG_MAGIC)] == JPEG_MAGIC for p in photos]
    if not photos or db_plain == encrypted or any(photos_plain) == encrypted or len(set(photos_plain)) > 1:
        raise RuntimeError(
            f"encryption {'on' if encrypted else 'off'}, but database plain: {db_plain}, "
            f"photos plain: {sum(photos_plain)} of {len(photos)}"
        )


def run(
    patients: int,
    rate: float,
    chats: int,
    pool: int,
    with_worker: bool = True,
    encrypted: bool = True,
    keep_latencies: bool = False,
    variant: str = "project",
    profile: Path | None = None,
) -> dict:
    with tempfile.TemporaryDirectory(prefix="dermbot-load-") as tmp, FakeTelegramServer() as server:
        folder = Path(tmp)
        config = write_config(folder, server, rate, chats, pool)
        url = f"sqlite:///{folder / 'bot.sqlite3'}"
        db = open_database(url, key=load_data_key(), encrypt=encrypted)
        upgrade(db)  # first, as `dermbot run` does: the bot and the worker migrating at once race
        db.dispose()
        env = {**os.environ, "DERMBOT_TELEGRAM_TOKEN": server.token}
        logs = (folder / "bot.log").open("w")
        bot_command = ["-m", "bot.cli", "--config", str(config), "bot"]
        if variant == "bare":
            bot_command, with_worker = [str(ROOT / "bench" / "bare_bot.py"), str(config)], False
        elif not encrypted:
            bot_command = [str(ROOT / "bench" / "plain_bot.py"), str(config)]
        bot = subprocess.Popen(
            [sys.executable, *bot_command],
            cwd=ROOT,
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
        )
        processes = {"bot": bot}
        if with_worker:
            processes["worker"] = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "stub_worker.py"), str(config)]
                + ([] if encrypted else ["--plain"]),
                cwd=ROOT,
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
        inbox = Inbox(server)
        inbox.start()
        users = list(range(10_000, 10_000 + patients))
        failed = True
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
            inbox.settle()  # e.g. the first intake question after each description

            pids = {name: process.pid for name, process in processes.items()}
            pids["telegram_and_patients"] = os.getpid()
            tree = {name: name != "telegram_and_patients" for name in pids}  # this process: not its bots
            cpu_before = {name: cpu_seconds(pid, tree[name]) for name, pid in pids.items()}
            threads_before = thread_times(bot.pid)
            spies = start_profile(bot.pid, profile, f"{variant}-{patients}") if profile else []
            calls_before = server.calls
            pressed: dict[int, float] = {}
            start = time.perf_counter()
            for user in users:
                server.press_button(user, saved[user][1], "submit")
                pressed[user] = time.perf_counter()
            acks = inbox.wait(users, "Your case number is #", 300, require_all=False)
            cpu = {name: round(cpu_seconds(pid, tree[name]) - cpu_before[name], 2) for name, pid in pids.items()}
            calls = server.calls - calls_before
            threads = {k: round(v - threads_before[k], 2) for k, v in thread_times(bot.pid).items()}
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            if not acks:
                raise TimeoutError("no patient was acknowledged")
            wall = max(t for t, _ in acks.values()) - start
            latencies = sorted(acks[u][0] - pressed[u] for u in acks)
            drafts = inbox.review_posts(CLINICIAN, patients, 300) if with_worker else {}
            time.sleep(0.5)
            with inbox.lock:
                duplicates = sum(
                    max(0, sum("Your case number is" in (r.get("plain_text") or "") for _, r in inbox.by_chat[u]) - 1)
                    for u in users
                )
            failed = False
        finally:
            inbox.stop.set()
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            hung = []
            for name, process in processes.items():
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:  # show where it hangs (and the log, below), then end it
                    if spy_command := py_spy():
                        subprocess.run([spy_command, "dump", "--pid", str(process.pid)], stdout=sys.stderr)
                    process.kill()
                    hung.append(name)
            logs.close()
            log_text = (folder / "bot.log").read_text(errors="replace")
            stopped = re.search(
                r"stopping: (\d+) submit batches .* in (\d+) shared transactions .*?\((\d+) writes rode", log_text
            )
            if failed or hung:  # throwaway data: show why
                tail = (folder / "bot.log").read_text(errors="replace").splitlines()[-40:]
                print("bot_load: the bot's and worker's log, last lines:", *tail, sep="\n", file=sys.stderr)
            if hung:
                raise RuntimeError(f"{', '.join(hung)} still running 60 s after SIGTERM")
        if variant == "bare":  # no database: what was acknowledged is what was submitted
            submitted = len(acks)
        else:
            db = open_database(url, key=load_data_key(), encrypt=encrypted)
            with db.read() as session:
                submitted = session.scalar(select(func.count()).select_from(Case).where(Case.submitted_at.is_not(None)))
            db.dispose()
            check_at_rest(folder, encrypted)
    result = {
        "bench": "bot_load",
        "variant": variant,
        "patients": patients,
        "encryption": "on" if encrypted else "off",
        "processes": (
            "bench/bare_bot.py" if variant == "bare" else "dermbot bot" if encrypted else "bench/plain_bot.py"
        )
        + (" + stub worker" if with_worker else "")
        + ", SQLite, fake Bot API over HTTP",
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
        "bot_cpu_ms_per_submit": round(1000 * cpu["bot"] / patients, 2),
        # the bot's main thread and its others (the database thread): CPU s, voluntary switches
        "bot_threads": threads,
        # Bot API calls per Submit while the Submits were handled (review posts included, with a worker)
        # since the bot started: its group commits of Submits (one per press without them), and the
        # transactions its hot writes shared (Submits, delivery and incoming records); None: bare bot
        "submit_batches": int(stopped.group(1)) if stopped else None,
        "shared_transactions": int(stopped.group(2)) if stopped else None,
        "rides": int(stopped.group(3)) if stopped else None,
        "calls_per_submit": {method: round(n / patients, 2) for method, n in sorted(calls.items())},
    }
    if with_worker:
        drafted_wall = max(drafts.values(), default=start) - start
        result["drafts"] = len(drafts)
        result["drafts_per_s"] = round(len(drafts) / drafted_wall, 2) if drafts else 0.0
    if keep_latencies:
        result["latencies_s"] = latencies
    return result


def percentile(values: list[float], q: float) -> float:
    """The same rank as the single run's p95 (``int(q * (n - 1))``)."""
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def compare(patients: int, rate: float, chats: int, pool: int, with_worker: bool, rounds: int) -> dict:
    """``rounds`` runs with encryption on and as many off, alternating; per mode and the ratios on/off."""
    modes = ("on", "off")
    runs: list[dict] = []
    for r in range(rounds):
        for mode in modes if r % 2 == 0 else reversed(modes):
            runs.append(run(patients, rate, chats, pool, with_worker, encrypted=mode == "on", keep_latencies=True))
    latencies: dict[str, list[float]] = {m: [] for m in modes}
    for one in runs:
        latencies[one["encryption"]] += one.pop("latencies_s")
    per_mode = {}
    for mode in modes:
        mine = [one for one in runs if one["encryption"] == mode]
        per_mode[mode] = {
            "ack_p50_s": round(percentile(latencies[mode], 0.5), 4),
            "ack_p95_s": round(percentile(latencies[mode], 0.95), 4),
            "ack_max_s": round(max(latencies[mode]), 4),
            "bot_cpu_s": round(statistics.fmean(one["cpu_s_during_submits"]["bot"] for one in mine), 3),
            "cases_per_s": round(statistics.fmean(one["cases_per_s"] for one in mine), 2),
        }
        if with_worker:
            per_mode[mode]["worker_cpu_s"] = round(
                statistics.fmean(one["cpu_s_during_submits"]["worker"] for one in mine), 3
            )
            per_mode[mode]["drafts_per_s"] = round(statistics.fmean(one["drafts_per_s"] for one in mine), 2)
    on, off = per_mode["on"], per_mode["off"]
    lost = sum(one["patients"] - min(one["acks"], one["cases_submitted"]) for one in runs)
    if with_worker:
        lost += sum(one["patients"] - one["drafts"] for one in runs)
    return {
        "bench": "bot_load_encryption",
        "patients": patients,
        "rounds_per_mode": rounds,
        "order": [one["encryption"] for one in runs],
        "rate_limit_per_s": rate,
        "concurrent_chats": chats,
        "connection_pool_size": pool,
        "worker": "stub (scripted drafter)" if with_worker else "none",
        **per_mode,
        "ratios_on_over_off": {name: round(on[name] / off[name], 3) if off[name] else None for name in on},
        "lost": lost,
        "duplicated": sum(one["duplicate_acks"] for one in runs),
        "rounds": [{k: one[k] for k in ROUND_FIELDS if k in one} for one in runs],
    }


def compare_variants(sizes: list[int], rate: float, chats: int, pool: int, with_worker: bool, rounds: int) -> dict:
    """``rounds`` rounds; in each, for every crowd size, the project and the bare bot, alternating which
    goes first (cancels order effects); per variant and size the pooled latencies and the mean CPU."""
    variants = ("project", "bare")
    runs: list[dict] = []
    for r in range(rounds):
        for size in sizes:
            for variant in variants if r % 2 == 0 else reversed(variants):
                runs.append(run(size, rate, chats, pool, with_worker, keep_latencies=True, variant=variant))
    figures: dict[str, dict[str, dict]] = {v: {} for v in variants}
    for variant in variants:
        for size in sizes:
            mine = [one for one in runs if one["variant"] == variant and one["patients"] == size]
            pooled = [t for one in mine for t in one["latencies_s"]]
            figures[variant][str(size)] = {
                "ack_p50_s": round(percentile(pooled, 0.5), 4),
                "ack_p95_s": round(percentile(pooled, 0.95), 4),
                "ack_max_s": round(max(pooled), 4),
                "bot_cpu_s": round(statistics.fmean(one["cpu_s_during_submits"]["bot"] for one in mine), 3),
                "cpu_ms_per_submit": round(statistics.fmean(one["bot_cpu_ms_per_submit"] for one in mine), 2),
                # per Submit: the main thread's CPU, and its voluntary switches and the other threads'
                "main_thread_ms_per_submit": round(
                    1000 * statistics.fmean(one["bot_threads"]["main_cpu_s"] for one in mine) / size, 2
                ),
                "switches_per_submit": {
                    which: round(statistics.fmean(one["bot_threads"][f"{which}_switches"] for one in mine) / size, 1)
                    for which in ("main", "other")
                },
            }
            if variant == "project" and with_worker:
                figures[variant][str(size)]["drafts_per_s"] = round(
                    statistics.fmean(one["drafts_per_s"] for one in mine), 2
                )
    ratios = {
        str(size): {
            "p95": round(figures["project"][str(size)]["ack_p95_s"] / figures["bare"][str(size)]["ack_p95_s"], 3),
            "p50": round(figures["project"][str(size)]["ack_p50_s"] / figures["bare"][str(size)]["ack_p50_s"], 3),
            "cpu_per_submit": round(
                figures["project"][str(size)]["cpu_ms_per_submit"] / figures["bare"][str(size)]["cpu_ms_per_submit"], 3
            ),
        }
        for size in sizes
    }
    lost = sum(one["patients"] - min(one["acks"], one["cases_submitted"]) for one in runs)
    if with_worker:
        lost += sum(one["patients"] - one["drafts"] for one in runs if one["variant"] == "project")
    for one in runs:
        one.pop("latencies_s")
    return {
        "bench": "bot_load_variants",
        "rounds": rounds,
        "sizes": sizes,
        "order": [f"{one['variant']}@{one['patients']}" for one in runs],
        "rate_limit_per_s": rate,
        "concurrent_chats": chats,
        "connection_pool_size": pool,
        "project_worker": "stub (scripted drafter)" if with_worker else "none",
        **figures,
        "ratios": ratios,
        "goal_ratio": 1.5,
        "lost": lost,
        "duplicated": sum(one["duplicate_acks"] for one in runs),
        "runs": [
            {k: one[k] for k in ("variant", "patients", "acks", "cases_submitted", "p95_s", "bot_cpu_ms_per_submit")}
            for one in runs
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--patients", default="200,50", help="crowd sizes, comma-separated (one size: a single run per variant)"
    )
    parser.add_argument(
        "--variant",
        choices=("project", "bare", "both"),
        default="both",
        help="the bot (project), the framework's floor (bench/bare_bot.py), or both alternating (the default)",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="AIORateLimiter overall messages/s")
    parser.add_argument("--concurrent-chats", type=int, default=16, help="[telegram] concurrent_chats")
    parser.add_argument("--pool", type=int, default=8, help="[telegram] connection_pool_size")
    parser.add_argument("--no-worker", action="store_true", help="no drafting: only intake and acknowledgements")
    parser.add_argument(
        "--encryption",
        choices=("on", "off", "both"),
        default="on",
        help="at rest: on (as deployed), off (bench/plain_bot.py), or both alternating",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per variant (or per encryption mode)")
    parser.add_argument("--profile", type=Path, help="one run: py-spy profile of the bot during the Submits, to DIR")
    args = parser.parse_args()
    use_ephemeral_key()  # throwaway data; the bot and worker processes inherit the key
    crowds = [int(n) for n in args.patients.split(",") if n.strip()]
    settings = (args.rate, args.concurrent_chats, args.pool, not args.no_worker)
    if args.encryption == "both":  # the project only, encryption on against off
        print(json.dumps(compare(crowds[0], *settings, rounds=args.rounds)))
    elif args.variant == "both":
        print(json.dumps(compare_variants(crowds, *settings, rounds=args.rounds)))
    else:
        one = run(crowds[0], *settings, encrypted=args.encryption == "on", variant=args.variant, profile=args.profile)
        print(json.dumps(one))


if __name__ == "__main__":
    main()
