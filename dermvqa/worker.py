"""The drafting worker: claim a batch, draft it in one ``generate``, store each outcome.

* The model is loaded once, before anything is claimed: a model that cannot be loaded stops the
  worker with a clear message and leaves every job queued.
* Up to ``[worker] batch_size`` jobs are claimed under a lease; a heartbeat thread extends the
  lease while the batch drafts, so a slow batch is not taken over, and a dead worker's lease
  expires and another worker takes its jobs.
* A photo that cannot be decoded fails its own job (permanently, with the reason) and never the
  batch; a failing batch falls back to drafting one case at a time (in the drafter).
* Between batches the worker checks the model registry and switches to a newly active model
  without a restart.
* ``stop`` (SIGTERM) lets the current batch finish; jobs claimed but not drafted are released.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dermvqa.config import Config
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest
from dermvqa.drafting.factory import ModelSpec
from dermvqa.drafting.images import load_image
from dermvqa.errors import ImageError
from dermvqa.queue import jobs as queue
from dermvqa.queue.retry import RetryPolicy
from dermvqa.states import CaseState
from dermvqa.storage.cases import DraftInput, load_draft_inputs
from dermvqa.storage.database import Database
from dermvqa.storage.drafts import save_draft, save_failure
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import utcnow
from dermvqa.storage.registry import active_spec

logger = logging.getLogger(__name__)

DrafterFactory = Callable[[ModelSpec], Drafter]


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
        self.job_ids: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                held = queue.heartbeat(self.db, self.worker_id, list(self.job_ids), self.lease, self.clock())
                if held < len(self.job_ids):
                    logger.warning("lost %d lease(s): another worker took them", len(self.job_ids) - held)
            except Exception:
                logger.exception("heartbeat failed")

    def stop(self) -> None:
        self._stop_event.set()


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
    ) -> None:
        self.config = config
        self.db = db
        self.factory = drafter_factory
        self.store = store or ImageStore(config.storage_dir)
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.policy = RetryPolicy(
            config.worker.max_attempts, config.worker.backoff_base_seconds, config.worker.backoff_max_seconds
        )
        self.stats = WorkerStats()
        self.drafter: Drafter | None = None
        self.spec: ModelSpec | None = None
        self._in_hand: list[queue.ClaimedJob] = []

    # -- model ---------------------------------------------------------------------------------

    def wanted_spec(self) -> ModelSpec:
        with self.db.read() as session:
            return active_spec(session) or ModelSpec.from_config(self.config.model)

    def ensure_model(self) -> Drafter:
        """Load the wanted model if it is not the one in memory (raises ModelLoadError)."""
        spec = self.wanted_spec()
        if self.drafter is None or spec != self.spec:
            if self.drafter is not None:
                logger.info("switching model: registry entry %s is now active", spec.registry_id)
            new = self.factory(spec)  # load first: a failed switch keeps the old model serving
            if self.drafter is not None:
                self.drafter.close()
            self.drafter, self.spec = new, spec
            logger.info("drafting with %s", new.model_version)
        assert self.drafter is not None
        return self.drafter

    # -- one batch -----------------------------------------------------------------------------

    def _request(self, job: queue.ClaimedJob, case: DraftInput) -> DraftRequest:
        max_pixels, max_side = self.config.storage.max_pixels, self.config.storage.max_side_px
        images = []
        for position, sha in enumerate(case.image_hashes, start=1):
            try:
                images.append(load_image(self.store.path_for(sha), max_pixels=max_pixels, max_side=max_side))
            except ImageError as exc:
                raise ImageError(f"photo {position} of {len(case.image_hashes)}: {exc}") from None
        if not images:
            raise ImageError("the case has no photo")
        return DraftRequest(key=str(job.id), images=images, query=case.description, prompt_id=case.prompt_id)

    def run_once(self) -> int:
        """Claim and draft one batch; returns how many jobs it handled (0 when the queue is empty)."""
        drafter = self.ensure_model()
        wc = self.config.worker
        t0 = time.perf_counter()
        jobs = queue.claim(self.db, self.worker_id, wc.batch_size, wc.lease_seconds, self.clock())
        if not jobs:
            self.stats.db_seconds += time.perf_counter() - t0
            return 0
        self._in_hand = list(jobs)
        with self.db.read() as session:
            cases = load_draft_inputs(session, [j.case_id for j in jobs])
        self.stats.db_seconds += time.perf_counter() - t0

        beat = _Heartbeat(self.db, self.worker_id, wc.lease_seconds, wc.heartbeat_seconds, self.clock)
        beat.job_ids = [j.id for j in jobs]
        beat.start()
        try:
            requests, by_key = self._prepare(jobs, cases)
            t1 = time.perf_counter()
            outcomes = drafter.draft_batch(requests) if requests else []
            self.stats.generate_seconds += time.perf_counter() - t1
            self._store(outcomes, by_key, cases)
        finally:
            beat.stop()
        self.stats.batches += 1
        self.stats.batch_sizes.append(len(jobs))
        self._in_hand = []
        return len(jobs)

    def _prepare(self, jobs: Sequence[queue.ClaimedJob], cases: dict[int, DraftInput]):
        t = time.perf_counter()
        requests: list[DraftRequest] = []
        by_key: dict[str, queue.ClaimedJob] = {}
        for job in jobs:
            case = cases.get(job.case_id)
            if case is None or case.state != CaseState.DRAFTING:
                with self.db.write() as session:
                    queue.mark_cancelled(session, job, self.worker_id, self.clock(), "case withdrawn or deleted")
                continue
            try:
                requests.append(self._request(job, case))
                by_key[str(job.id)] = job
            except ImageError as exc:
                self._fail(job, exc)
        self.stats.image_seconds += time.perf_counter() - t
        return requests, by_key

    def _store(self, outcomes: Sequence[DraftOutcome], by_key: dict[str, queue.ClaimedJob], cases) -> None:
        assert self.drafter is not None
        t = time.perf_counter()
        for outcome in outcomes:
            job = by_key[outcome.key]
            if outcome.result is None:
                self._fail(job, outcome.error or RuntimeError("drafter returned no result"))
                continue
            case = cases[job.case_id]
            queued = (job.claimed_at - case.submitted_at).total_seconds() if case.submitted_at else 0.0
            saved = save_draft(
                self.db,
                job,
                self.worker_id,
                outcome.result,
                model_version=self.drafter.model_version,
                prompt_id=case.prompt_id,
                queue_seconds=queued,
                now=self.clock(),
            )
            if saved.saved:
                self.stats.drafted += 1
                logger.info("job %s: case %s drafted (%d new tokens)", job.id, job.case_id, outcome.result.new_tokens)
            else:
                logger.warning("job %s: draft not stored: %s", job.id, saved.reason)
        self.stats.db_seconds += time.perf_counter() - t

    def _fail(self, job: queue.ClaimedJob, error: BaseException) -> None:
        gave_up = save_failure(self.db, job, self.worker_id, error, self.policy, self.clock())
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
        finally:
            self.release_in_hand()

    def release_in_hand(self) -> None:
        """Give back jobs claimed but not finished (a stop during a batch)."""
        if self._in_hand:
            n = queue.release(self.db, self.worker_id, self._in_hand)
            logger.info("released %d claimed job(s)", n)
            self._in_hand = []

    def close(self) -> None:
        if self.drafter is not None:
            self.drafter.close()
            self.drafter = None
