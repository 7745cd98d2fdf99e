"""Failure injection in the fake Telegram server: scripted and random errors, and lost answers.

Two kinds of fault: an error answer *instead of* the call (``fail_rate``, ``retry_after_rate`` and
:meth:`~FaultInjection.fail_next`; nothing is recorded, so a retrying client gets exactly-once
delivery), and "delivered, but the answer was lost" *after* the call took effect
(``lost_response_rate`` and :meth:`~FaultInjection.lose_response_next`). Random faults strike only
send*/edit* methods and answerCallbackQuery; scripted ones any method.
"""

from __future__ import annotations

import collections

from fake_telegram.errors import ApiError, ResponseLost, default_description

FAILABLE_METHODS_PREFIXES = ("send", "edit")
FAILABLE_METHODS = frozenset({"answerCallbackQuery"})


class FaultInjection:
    """Mixed into the fake bot state: the failure-injection API, and the checks ``BotApi.call`` runs.

    Uses ``_lock``, ``_rng``, ``fail_rate``, ``retry_after_rate``, ``lost_response_rate``, ``_fail_queue``,
    ``_lose_queue``, ``_failures_injected`` and ``_responses_lost``, which
    :class:`~fake_telegram.state.FakeBotState` sets up.
    """

    def fail_next(
        self,
        method: str,
        n: int = 1,
        status: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``n`` calls of ``method`` (any method, case-insensitive) fail with ``status``.

        A 429 gets ``parameters.retry_after`` (1 unless given). Nothing is recorded for a failed call.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if status == 429 and retry_after is None:
            retry_after = 1
        entry = (status, retry_after, description or default_description(status, retry_after))
        with self._lock:
            self._fail_queue.setdefault(method.lower(), collections.deque()).extend([entry] * n)

    def clear_failures(self, method: str | None = None) -> None:
        """Forget scripted failures and lost responses (of ``method``, or all); random ones stay as configured."""
        with self._lock:
            if method is None:
                self._fail_queue.clear()
                self._lose_queue.clear()
            else:
                self._fail_queue.pop(method.lower(), None)
                self._lose_queue.pop(method.lower(), None)

    def lose_response_next(self, method: str, n: int = 1) -> None:
        """The next ``n`` successful calls of ``method`` take effect (the message is sent and recorded), but
        the server then drops the connection without answering: the client cannot tell whether it worked."""
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._lose_queue[method.lower()] += n

    def _maybe_lose_response(self, method: str) -> None:
        """Raises :class:`ResponseLost` after a successful call when scripted or drawn (lost_response_rate)."""
        key = method.lower()
        if self._lose_queue[key] > 0:
            self._lose_queue[key] -= 1
        elif not (
            self.lost_response_rate > 0
            and (method.startswith(FAILABLE_METHODS_PREFIXES) or method in FAILABLE_METHODS)
            and self._rng.random() < self.lost_response_rate
        ):
            return
        self._responses_lost += 1
        raise ResponseLost(method)

    def _maybe_inject_failure(self, method: str) -> None:
        """Raises the scripted or random failure for this call, if any (before anything is recorded)."""
        queue = self._fail_queue.get(method.lower())
        if queue:
            status, retry_after, description = queue.popleft()
            self._failures_injected += 1
            raise ApiError(status, description, retry_after=retry_after)
        failable = method.startswith(FAILABLE_METHODS_PREFIXES) or method in FAILABLE_METHODS
        if not failable or (self.fail_rate <= 0 and self.retry_after_rate <= 0):
            return
        draw = self._rng.random()
        if draw < self.fail_rate:
            self._failures_injected += 1
            raise ApiError(500, default_description(500))
        if draw < self.fail_rate + self.retry_after_rate:
            self._failures_injected += 1
            raise ApiError(429, default_description(429, 1), retry_after=1)

    @property
    def responses_lost(self) -> int:
        """How many calls took effect but got no answer (lost_response_rate, lose_response_next)."""
        with self._lock:
            return self._responses_lost

    @property
    def failures_injected(self) -> int:
        """How many calls failed because of fail_rate, retry_after_rate or fail_next."""
        with self._lock:
            return self._failures_injected
