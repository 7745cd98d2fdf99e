"""The drafting worker: claim a batch, draft it in one ``generate``, store each outcome.

* The model is loaded once, before anything is claimed: a model that cannot be loaded stops the
  worker with a clear message and leaves every job queued.
* Up to ``[worker] batch_size`` jobs are claimed under a lease; a heartbeat thread extends the
  lease while the batch drafts, so a slow batch is not taken over, and a dead worker's lease
  expires and another worker takes its jobs.
* A photo that cannot be decoded fails its own job (permanently, with the reason) and never the
  batch; a failing batch falls back to drafting one case at a time (in the drafter, and here when
  the drafter raises instead of returning per-request errors). An empty draft is a failed attempt.
* Every failure counts an attempt (the retry policy decides: retry after a backoff, or fail the
  case and tell the clinicians), so a job that crashes the drafter cannot loop forever.
* A watchdog thread ends a batch still running after ``[worker] batch_timeout_s`` (a hung model):
  it counts the attempt, requeues the jobs and exits the process with :data:`EXIT_BATCH_TIMEOUT`,
  since a hung C call cannot be interrupted otherwise; the supervisor starts a fresh worker.
* Between batches the worker checks the model registry and switches to a newly active model
  without a restart. A model that cannot be loaded is marked failed in the registry (rolled back
  to the one before it, clinicians told) and the model in memory keeps drafting.
* With ``[model] serve_adapters`` an adapter drafts on the OpenAI-compatible server by name: the
  switch registers it there (and unloads the adapter switched away from), and it is registered again
  when the server forgot it (a restart). A server that cannot be reached never marks a model failed.
* A locked database (another process holds the write lock past the busy timeout) is waited out
  with a growing delay, never a reason to exit.
* ``stop`` (SIGTERM) lets the current batch finish; jobs claimed but not drafted are released.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from dermvqa.casework.questionnaire import answer_lines
from dermvqa.casework.safety_checks import Planter
from dermvqa.config import Config
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest
from dermvqa.drafting.factory import ModelSpec
from dermvqa.drafting.images import load_image
from dermvqa.drafting.lora_serving import unload_adapter
from dermvqa.errors import DraftingError, ImageError, ModelLoadError, ServingUnavailableError
from dermvqa.prompts import query_with_answers
from dermvqa.queue import jobs as queue
from dermvqa.queue.retry import RetryPolicy, db_retry_delay, describe
from dermvqa.states import CaseState
from dermvqa.storage.case_answers import chosen_answers
from dermvqa.storage.cases import DraftInput, load_draft_inputs
from dermvqa.storage.database import Database
from dermvqa.storage.drafts import DraftToSave, save_each_draft, save_failure
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import utcnow
from dermvqa.storage.registry import active_record, record_load_failure, spec_of
from dermvqa.storage.shared_writes import Failed

logger = logging.getLogger(__name__)

DrafterFactory = Callable[[ModelSpec], Drafter]
T = TypeVar("T")

#: The worker's exit status when a batch hung past ``[worker] batch_timeout_s`` (restart it).
EXIT_BATCH_TIMEOUT = 5  # distinct from 4 (the database or a server cannot be reached: dermvqa.errors)
#: How many registry entries in a row may fail to load before the worker gives up (a safety net).
MAX_MODEL_FALLBACKS = 5


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerStats:
    """Where the time went, for the overhead benchmark and the logs."""

    batches: int = 0
    drafted: int = 0
    failed: int = 0
    db_seconds: float = 0.0  # claim, load inputs, store outcomes, heartbeats
    image_seconds: float = 0.0  # decoding photos
    generate_seconds: float = 0.0  # the drafter
    batch_sizes: list[int] = field(default_factory=list)


class _Heartbeat(threading.Thread):
    """Extends the leases of the jobs in hand every ``interval`` seconds until stopped."""

    def __init__(self, db: Database, worker_id: str, lease: float, interval: float, clock) -> None:
        super().__init__(name="lease-heartbeat", daemon=True)
        self.db, self.worker_id, self.lease, self.interval, self.clock = db, worker_id, lease, interval, clock
        self.jobs: Callable[[], list[queue.ClaimedJob]] = list  # the jobs still in hand
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                jobs = self.jobs()
                held = queue.heartbeat(self.db, self.worker_id, jobs, self.lease, self.clock())
                if self._stop_event.is_set():
                    return
                if held < len(jobs):
                    logger.warning("lost %d lease(s): another worker took them", len(jobs) - held)
            except Exception:
                logger.exception("heartbeat failed")

    def stop(self) -> None:
        self._stop_event.set()


class _Watchdog(threading.Thread):
    """Calls ``on_timeout`` if the batch is not done within ``timeout`` seconds."""

    def __init__(self, timeout: float, on_timeout: Callable[[], None]) -> None:
        super().__init__(name="batch-watchdog", daemon=True)
        self.timeout, self.on_timeout = timeout, on_timeout
        self._done = threading.Event()

    def run(self) -> None:
        if not self._done.wait(self.timeout):
            self.on_timeout()

    def stop(self) -> None:
        self._done.set()


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # exiting anyway
            handler.flush()


class Worker:
    def __init__(
        self,
        config: Config,
        db: Database,
        drafter_factory: DrafterFactory,
        *,
        store: ImageStore | None = None,
        worker_id: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        exit_process: Callable[[int], None] = os._exit,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.db = db
        self.factory = drafter_factory
        self.store = store or ImageStore(config.storage_dir, load_data_key(config))
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.policy = RetryPolicy(
            config.worker.max_attempts, config.worker.backoff_base_seconds, config.worker.backoff_max_seconds
        )
        self.stats = WorkerStats()
        self.planter = Planter(config.review.canary_rate)  # safety checks: planted drafts (README)
        self.drafter: Drafter | None = None
        self.spec: ModelSpec | None = None
        self.exit_process = exit_process
        self.sleep = sleep
        self._in_hand: dict[int, queue.ClaimedJob] = {}
        # (spec, activation time) of models that failed to load: not retried until promoted again.
        self._failed_loads: set[tuple[ModelSpec, str]] = set()

    # -- the database ----------------------------------------------------------------------------

    def _db(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run one database transaction, waiting out a lock held by another process."""
        tries = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                tries += 1
                delay = db_retry_delay(str(exc.orig if exc.orig is not None else exc), tries)
                if delay is None:
                    raise
                logger.warning("database busy while %s (try %d); trying again in %.1fs", what, tries, delay)
                self.sleep(delay)

    # -- model ---------------------------------------------------------------------------------

    def _wanted(self) -> tuple[ModelSpec, str]:
        """The model that should draft, and when it was activated (its identity for a failed load)."""

        def read() -> tuple[ModelSpec, str]:
            with self.db.read() as session:
                record = active_record(session)
                if record is None:
                    return ModelSpec.from_config(self.config.model), ""
                return spec_of(record), record.activated_at.isoformat() if record.activated_at else ""

        return self._db("reading the model registry", read)

    def ensure_model(self) -> Drafter:
        """Load the wanted model if it is not the one in memory.

        A registry model that cannot be loaded is recorded as failed (the registry rolls back to the
        model before it) and the model in memory keeps drafting. Raises ModelLoadError only when
        no model can be loaded at all (the configured ``[model]`` fails with nothing in memory).
        """
        for _ in range(MAX_MODEL_FALLBACKS):
            spec, activated = self._wanted()
            if self.drafter is not None and spec == self.spec:
                try:
                    self.drafter.refresh()  # a served adapter the server forgot is registered again
                except ServingUnavailableError as exc:
                    logger.warning("model server unavailable (%s); trying again before the next batch", exc)
                except Exception as exc:  # the server refuses the model now: as a failed load
                    self._load_failed(spec, activated, exc)
                    continue
                return self.drafter
            if (spec, activated) in self._failed_loads:
                if self.drafter is not None:
                    return self.drafter  # known broken: keep serving, do not try it every batch
                # Nothing in memory and the failure could not be recorded: start on the configured model.
                spec, activated = ModelSpec.from_config(self.config.model), ""
            if self.drafter is not None:
                logger.info("switching model: registry entry %s is now active", spec.registry_id)
            try:
                new = self.factory(spec)  # load first: a failed switch keeps the old model serving
            except Exception as exc:
                if spec.registry_id is None and self.drafter is None:
                    raise  # the configured model: nothing to fall back to
                if isinstance(exc, ServingUnavailableError):
                    # The server is down, not the model broken: never mark it failed. Keep drafting
                    # with what we have and switch before the next batch; with nothing, exit (restart).
                    if self.drafter is None:
                        raise
                    logger.warning("cannot switch models now (%s); trying again before the next batch", exc)
                    return self.drafter
                self._load_failed(spec, activated, exc)
                continue
            if self.drafter is not None:
                self.drafter.close()
            retired, self.drafter, self.spec = self.spec, new, spec
            # A served adapter no longer active leaves the server (a worker still drafting with it
            # registers it again for its batch and unloads it at its own switch).
            unload_adapter(self.config.model, retired)
            logger.info("drafting with %s", new.model_version)
            return new
        if self.drafter is not None:
            return self.drafter
        raise ModelLoadError(f"{MAX_MODEL_FALLBACKS} models in a row could not be loaded; see the log")

    def _load_failed(self, spec: ModelSpec, activated: str, error: BaseException) -> None:
        self._failed_loads.add((spec, activated))
        serving = self.drafter.model_version if self.drafter is not None else "nothing yet"
        logger.error(
            "model %s (registry entry %s) cannot be loaded: %s; still drafting with %s",
            spec.name,
            spec.registry_id,
            describe(error),
            serving,
        )
        if spec.registry_id is None:
            return

        def record() -> None:
            with self.db.write() as session:
                outcome = record_load_failure(
                    session, spec.registry_id, describe(error), actor=f"worker {self.worker_id}", now=self.clock()
                )
            if outcome.recorded:
                logger.warning(
                    "registry entry %s marked failed; %s is active again",
                    spec.registry_id,
                    f"entry {outcome.fallback_id}" if outcome.fallback_id else "the configured [model]",
                )

        try:
            self._db("recording a failed model load", record)
        except Exception:
            logger.exception("could not record the failed load of registry entry %s", spec.registry_id)

    # -- one batch -----------------------------------------------------------------------------

    def _request(self, job: queue.ClaimedJob, case: DraftInput) -> DraftRequest:
        max_pixels, max_side = self.config.storage.max_pixels, self.config.storage.max_side_px
        images = []
        for position, sha in enumerate(case.image_hashes, start=1):
            try:
                images.append(load_image(self.store.photo(sha), max_pixels=max_pixels, max_side=max_side))
            except ImageError as exc:
                raise ImageError(f"photo {position} of {len(case.image_hashes)}: {exc}") from None
        if not images:
            raise ImageError("the case has no photo")
        # A template that uses the structured intake (prompt 3) gets the answers listed after the text.
        answers = answer_lines(chosen_answers(case.closed_qa))
        query = query_with_answers(case.prompt_id, case.description, answers)
        return DraftRequest(key=str(job.id), images=images, query=query, prompt_id=case.prompt_id)

    def run_once(self) -> int:
        """Claim and draft one batch; returns how many jobs it handled (0 when the queue is empty)."""
        drafter = self.ensure_model()
        wc = self.config.worker
        t0 = time.perf_counter()
        jobs = self._db(
            "claiming jobs", queue.claim, self.db, self.worker_id, wc.batch_size, wc.lease_seconds, self.clock()
        )
        if not jobs:
            self.stats.db_seconds += time.perf_counter() - t0
            return 0
        self._in_hand = {j.id: j for j in jobs}
        beat = _Heartbeat(self.db, self.worker_id, wc.lease_seconds, wc.heartbeat_seconds, self.clock)
        beat.jobs = lambda: list(self._in_hand.values())
        watchdog = _Watchdog(wc.batch_timeout_s, lambda: self._batch_timed_out(beat))
        watchdog.start()
        beat.start()
        try:
            cases = self._db("loading cases", self._load_inputs, [j.case_id for j in jobs])
            self.stats.db_seconds += time.perf_counter() - t0
            requests, by_key = self._prepare(jobs, cases)
            t1 = time.perf_counter()
            outcomes = self._draft(drafter, requests)
            self.stats.generate_seconds += time.perf_counter() - t1
            self._store(outcomes, by_key, cases)
        finally:
            watchdog.stop()
            beat.stop()
        self.stats.batches += 1
        self.stats.batch_sizes.append(len(jobs))
        self._in_hand = {}
        return len(jobs)

    def _load_inputs(self, case_ids: list[int]) -> dict[int, DraftInput]:
        with self.db.read() as session:
            return load_draft_inputs(session, case_ids)

    def _draft(self, drafter: Drafter, requests: list[DraftRequest]) -> list[DraftOutcome]:
        """The drafter's outcomes; when it raises, each request alone, so one bad case fails alone."""
        if not requests:
            return []
        try:
            return drafter.draft_batch(requests)
        except Exception as exc:
            logger.error("drafter raised %s on a batch of %d", type(exc).__name__, len(requests))
            if len(requests) == 1:
                return [DraftOutcome(requests[0].key, error=exc)]
        outcomes = []
        for request in requests:
            try:
                outcomes.extend(drafter.draft_batch([request]))
            except Exception as exc:
                outcomes.append(DraftOutcome(request.key, error=exc))
        return outcomes

    def _batch_timed_out(self, beat: _Heartbeat) -> None:
        """The watchdog: the batch hangs. Stop the leases, count the attempt, requeue, exit."""
        timeout = self.config.worker.batch_timeout_s
        beat.stop()
        jobs = list(self._in_hand.values())
        logger.error(
            "batch of %d job(s) still drafting after %.0fs ([worker] batch_timeout_s): the model hangs; "
            "requeueing the jobs (attempt counted) and exiting with status %d for a restart",
            len(jobs),
            timeout,
            EXIT_BATCH_TIMEOUT,
        )
        error = DraftingError(f"drafting took longer than [worker] batch_timeout_s ({timeout:g}s)")
        for job in jobs:
            try:
                self._finish_failed(job, error)
            except Exception:  # the lease will expire and count the attempt instead
                logger.exception("job %s: could not record the timeout", job.id)
        _flush_logs()
        self.exit_process(EXIT_BATCH_TIMEOUT)

    def _prepare(self, jobs: Sequence[queue.ClaimedJob], cases: dict[int, DraftInput]):
        t = time.perf_counter()
        requests: list[DraftRequest] = []
        by_key: dict[str, queue.ClaimedJob] = {}
        for job in jobs:
            case = cases.get(job.case_id)
            if case is None or case.state != CaseState.DRAFTING:
                self._db("cancelling a job", self._cancel, job)
                continue
            try:
                requests.append(self._request(job, case))
                by_key[str(job.id)] = job
            except ImageError as exc:
                self._fail(job, exc)
        self.stats.image_seconds += time.perf_counter() - t
        return requests, by_key

    def _cancel(self, job: queue.ClaimedJob) -> None:
        with self.db.write() as session:
            queue.mark_cancelled(session, job, self.worker_id, self.clock(), "case withdrawn or deleted")
        self._in_hand.pop(job.id, None)

    def _store(self, outcomes: Sequence[DraftOutcome], by_key: dict[str, queue.ClaimedJob], cases) -> None:
        """Record the failed attempts, then save the batch's drafts in one transaction."""
        assert self.drafter is not None
        t = time.perf_counter()
        drafts: list[DraftToSave] = []
        for outcome in outcomes:
            job = by_key[outcome.key]
            if outcome.result is None:
                self._fail(job, outcome.error or RuntimeError("drafter returned no result"))
                continue
            if not outcome.result.text.strip():
                self._fail(job, DraftingError("the model returned an empty draft"))
                continue
            case = cases[job.case_id]
            queued = (job.claimed_at - case.submitted_at).total_seconds() if case.submitted_at else 0.0
            drafts.append(DraftToSave(job, outcome.result, case.prompt_id, queued))
        saved = self._db(
            "storing drafts",
            save_each_draft,
            self.db,
            drafts,
            self.worker_id,
            model_version=self.drafter.model_version,
            now=self.clock(),
            plant=self.planter,
        )
        for draft, outcome in zip(drafts, saved, strict=True):
            job = draft.job
            if isinstance(outcome, Failed):  # this draft alone could not be stored: its attempt counts
                self._fail(job, outcome.error)
                continue
            self._in_hand.pop(job.id, None)
            if outcome.saved:
                self.stats.drafted += 1
                logger.info("job %s: case %s drafted (%d new tokens)", job.id, job.case_id, draft.result.new_tokens)
            else:
                logger.warning("job %s: draft not stored: %s", job.id, outcome.reason)
        self.stats.db_seconds += time.perf_counter() - t

    def _finish_failed(self, job: queue.ClaimedJob, error: BaseException) -> bool:
        """Count the failed attempt (retry later, or give up: case failed, clinicians told)."""
        gave_up = save_failure(self.db, job, self.worker_id, error, self.policy, self.clock())
        self._in_hand.pop(job.id, None)
        return gave_up

    def _fail(self, job: queue.ClaimedJob, error: BaseException) -> None:
        gave_up = self._db("recording a failure", self._finish_failed, job, error)
        self.stats.failed += int(gave_up)
        logger.warning(
            "job %s (case %s) attempt %d failed: %s%s",
            job.id,
            job.case_id,
            job.attempts,
            type(error).__name__,
            "; gave up" if gave_up else "; will retry",
        )

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, max_batches: int | None = None, exit_when_idle: bool = False) -> None:
        """Draft until ``stop`` is set (checked between batches)."""
        self.ensure_model()
        logger.info("worker %s ready (batch size %d)", self.worker_id, self.config.worker.batch_size)
        try:
            while not stop.is_set():
                handled = self.run_once()
                if max_batches is not None and self.stats.batches >= max_batches:
                    break
                if handled == 0:
                    if exit_when_idle:
                        break
                    stop.wait(self.config.worker.poll_seconds)
        except Exception as exc:
            self.fail_in_hand(exc)
            raise
        finally:
            self.release_in_hand()

    def fail_in_hand(self, error: BaseException) -> None:
        """A batch ended in an unexpected error: count the attempt of every job still in hand.

        The process then exits (and is restarted); counting the attempt is what stops a job that
        crashes the worker from being claimed forever.
        """
        for job in list(self._in_hand.values()):
            logger.error("job %s: the batch ended in %s; counting the attempt", job.id, type(error).__name__)
            try:
                self._fail(job, error)
            except Exception:  # the lease will expire and count the attempt instead
                logger.exception("job %s: could not record the failure", job.id)
        self._in_hand = {}

    def release_in_hand(self) -> None:
        """Give back jobs claimed but not finished (a stop during a batch)."""
        if self._in_hand:
            n = queue.release(self.db, self.worker_id, list(self._in_hand.values()))
            logger.info("released %d claimed job(s)", n)
            self._in_hand = {}

    def close(self) -> None:
        if self.drafter is not None:
            self.drafter.close()
            self.drafter = None
