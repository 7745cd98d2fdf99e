"""Who the clinicians are, reloaded while the bot runs.

``[review] clinician_ids`` is read at start, again on SIGHUP, and whenever the configuration file
changes (its modification time and size are polled), so adding or removing a clinician takes effect
without a restart. The handlers' user filter is updated in place: every clinician handler and every
"is this a clinician?" check sees the new list at once. A file that no longer loads (a typo while
editing) keeps the old list and logs the problem; the next good save applies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from telegram.ext import filters

from bot.wake import wait_either
from dermvqa.config import Config, load_config
from dermvqa.errors import DermError

logger = logging.getLogger(__name__)


class ClinicianRoster:
    """The current clinician ids, the filter built on them, and the reload that changes both."""

    def __init__(self, config: Config, config_path: str | Path | None = None) -> None:
        self.config_path = Path(config_path) if config_path else None
        self.review_chat_id = config.review.chat_id
        self.filter = filters.User(user_id=list(config.review.clinician_ids))
        self._ids = frozenset(config.review.clinician_ids)
        self._listeners: list[Callable[[ClinicianRoster], None]] = []
        self._signature = self._file_signature()

    @property
    def ids(self) -> frozenset[int]:
        return self._ids

    def is_clinician(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._ids

    def recipients(self) -> list[int]:
        """Where review posts go: the review group, else each clinician privately."""
        return [self.review_chat_id] if self.review_chat_id else sorted(self._ids)

    def on_change(self, listener: Callable[[ClinicianRoster], None]) -> None:
        self._listeners.append(listener)

    def apply(self, clinician_ids: frozenset[int]) -> bool:
        """Use ``clinician_ids`` from now on; True when the list changed."""
        if clinician_ids == self._ids:
            return False
        added, removed = clinician_ids - self._ids, self._ids - clinician_ids
        self.filter.add_user_ids(list(added))
        self.filter.remove_user_ids(list(removed))
        self._ids = clinician_ids
        logger.info("clinician list reloaded: %d clinicians (+%d, -%d)", len(clinician_ids), len(added), len(removed))
        for listener in self._listeners:
            listener(self)
        return True

    def reload(self) -> bool:
        """Read the configuration file again (environment overrides included)."""
        self._signature = self._file_signature()
        try:
            config = load_config(self.config_path) if self.config_path else load_config()
        except DermError as exc:
            logger.error("configuration not reloaded, the clinician list is unchanged: %s", exc)
            return False
        return self.apply(frozenset(config.review.clinician_ids))

    def _file_signature(self) -> tuple[int, int] | None:
        if self.config_path is None:
            return None
        try:
            stat = os.stat(self.config_path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def file_changed(self) -> bool:
        return self.config_path is not None and self._file_signature() != self._signature

    async def watch(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        """Until ``stop``: reload on SIGHUP and when the configuration file changes."""
        loop = asyncio.get_running_loop()
        hup = asyncio.Event()
        try:
            loop.add_signal_handler(signal.SIGHUP, hup.set)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no SIGHUP here
            installed = False
        try:
            while not stop.is_set():
                await wait_either(stop, hup, poll_seconds)
                if stop.is_set():
                    break
                if hup.is_set() or self.file_changed():
                    hup.clear()
                    self.reload()
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGHUP)
