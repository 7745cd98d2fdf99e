"""Run the service: the bot (polling or webhook), the drafting worker as a child process, and the
nightly training scheduler, started and stopped together by ``dermbot run``.

The worker runs in its own process so a model crash or an out-of-memory kill cannot take the bot
down; it is restarted with a growing delay if it dies, and when it exits because a batch hung past
``[worker] batch_timeout_s`` (its watchdog requeued the jobs first). The scheduler starts training in a separate
process too (see ``training.scheduler``), so the bot stays responsive.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bot.app import BotService
from dermvqa.config import TOKEN_ENV, Config, child_environment, read_token
from dermvqa.errors import ConfigError
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.keys import load_data_key
from dermvqa.worker import EXIT_BATCH_TIMEOUT

logger = logging.getLogger(__name__)

MODEL_LOAD_FAILED = 3  # the worker's exit code when its model cannot be loaded


def require_token() -> str:
    token = read_token()
    if token is None:
        raise ConfigError(
            f"no bot token: set the environment variable {TOKEN_ENV} to the token BotFather gave you "
            "(in Telegram, talk to @BotFather and send /newbot). The token is never read from a file. "
            "To try everything without Telegram, run `make demo`."
        )
    return token


def exit_reason(code: int) -> str:
    """Why a worker process ended, from its exit status (pure)."""
    if code == MODEL_LOAD_FAILED:
        return "its model cannot be loaded"
    if code == EXIT_BATCH_TIMEOUT:
        return "a batch hung past [worker] batch_timeout_s; its jobs were requeued"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerProcess:
    """``dermbot worker`` as a child process, restarted (with backoff) when it dies."""

    def __init__(
        self,
        config_path: str | None,
        *,
        max_delay: float = 60.0,
        first_delay: float = 1.0,
        command: Sequence[str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.max_delay = max_delay
        self.first_delay = first_delay
        self.command = list(command) if command else None  # tests: another worker program
        self.process: subprocess.Popen | None = None
        self.exit_codes: list[int] = []  # every exit seen, oldest first
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)

    def _command(self) -> list[str]:
        if self.command:
            return self.command
        cmd = [sys.executable, "-m", "bot.cli"]
        if self.config_path:
            cmd += ["--config", str(Path(self.config_path).resolve())]
        return [*cmd, "worker"]

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        delay = self.first_delay
        while not self._stopping.is_set():
            self.process = subprocess.Popen(self._command(), env=child_environment())
            logger.info("worker started (pid %s)", self.process.pid)
            started = time.monotonic()
            code = self.process.wait()
            self.exit_codes.append(code)
            if self._stopping.is_set():
                return
            if time.monotonic() - started > 60:
                delay = self.first_delay  # it ran for a while: a fresh failure, not a crash loop
            logger.error("worker stopped (%s); restarting in %.0fs", exit_reason(code), delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: the worker finishes its batch (or releases it) and exits."""
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("worker did not stop in %.0fs; killing it (its lease will expire)", timeout)
                self.process.kill()
        self._thread.join(5)


def run_service(
    config: Config, config_path: str | None, *, with_worker: bool = True, with_scheduler: bool = True
) -> int:
    """Blocking: the bot until SIGINT/SIGTERM, with the worker and the scheduler beside it."""
    token = require_token()
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    upgrade(db)
    # The bot first: a configuration it refuses (a bad webhook secret, a missing extra) stops the
    # service before any child process starts.
    service = BotService(config, token, db, config_path=config_path, settles_heap=True)
    worker = WorkerProcess(config_path) if with_worker else None
    scheduler = None
    if with_scheduler:
        from training.scheduler import build_scheduler

        scheduler = build_scheduler(config, config_path)
    else:
        logger.warning("no scheduler: neither nightly training nor the retention purge runs (see the README)")
    try:
        if worker:
            worker.start()
        if scheduler is not None:
            scheduler.start()
        if config.telegram.mode == "webhook":
            service.run_webhook()
        else:
            service.run_polling()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if worker:
            worker.stop()
        db.dispose()
    return 0
