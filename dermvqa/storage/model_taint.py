"""Which cases each training run trained on, and tainting the models trained on erased cases.

The learning loop records the cases of its training set (:func:`record_run_cases`, rows without a
foreign key: they outlive the cases). When cases are erased (the patient's /delete, or the retention
purge), :func:`taint_models_for_cases` marks every model a run trained on them as tainted, in the
erasure's own transaction, and retires the active model if it is one of them (the newest untainted
model active before is re-activated, or none: the configured [model] drafts). A tainted model is
never activated again (``dermvqa.storage.registry``).

Only ids are logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.storage import registry
from dermvqa.storage.models import Case, ModelRecord, TrainingRun, TrainingRunCase, utcnow

logger = logging.getLogger(__name__)

ACTOR = "erasure"


def record_run_cases(session: Session, run_id: int, case_ids: Iterable[int]) -> set[int]:
    """Record that run ``run_id`` trains on ``case_ids``; returns the ids of those still present.

    Call in the transaction that fixes the training set: a case erased before it commits is not
    recorded and must be left out (the returned set says which remain); one erased after finds the
    record and taints the run's model.
    """
    wanted = {int(c) for c in case_ids}
    present = set(session.scalars(select(Case.id).where(Case.id.in_(wanted)))) if wanted else set()
    session.add_all(TrainingRunCase(run_id=run_id, case_id=c) for c in sorted(present))
    session.flush()
    return present


def erased_cases_of_run(session: Session, run_id: int) -> set[int]:
    """The cases run ``run_id`` trained on that no longer exist."""
    recorded = set(session.scalars(select(TrainingRunCase.case_id).where(TrainingRunCase.run_id == run_id)))
    if not recorded:
        return set()
    present = set(session.scalars(select(Case.id).where(Case.id.in_(recorded))))
    return recorded - present


def taint_models_for_cases(
    session: Session, case_ids: Iterable[int], *, now: dt.datetime | None = None, actor: str = ACTOR
) -> list[int]:
    """Mark tainted every model a training run trained on any of ``case_ids``; returns their ids.

    Call in the transaction that erases the cases. An active tainted model is retired at once (see
    the module docstring). A run still training has no model yet: the learning loop checks its
    cases again when it registers the candidate (:func:`erased_cases_of_run`).
    """
    ids = sorted({int(c) for c in case_ids})
    if not ids:
        return []
    runs = select(TrainingRunCase.run_id).where(TrainingRunCase.case_id.in_(ids)).distinct()
    model_ids = sorted(
        set(
            session.scalars(
                select(TrainingRun.candidate_model_id).where(
                    TrainingRun.id.in_(runs), TrainingRun.candidate_model_id.is_not(None)
                )
            )
        )
    )
    if not model_ids:
        return []
    now = now or utcnow()
    for record in session.scalars(select(ModelRecord).where(ModelRecord.id.in_(model_ids))):
        if record.tainted_at is None:
            record.tainted_at = now
    session.flush()
    fallback = registry.retire_tainted(session, actor=actor, now=now)
    logger.info("models tainted by an erasure: %s%s", model_ids, f"; model {fallback.id} active" if fallback else "")
    return model_ids
