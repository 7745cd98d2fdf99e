"""The model registry: which model drafts now, and every candidate the learning loop made.

Exactly one entry is ``active`` at a time (or none: then ``[model]`` in the config drafts).
Promotion and rollback are recorded as events with a reason; the worker reads the active entry
between batches and switches without a restart.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dermvqa.drafting.factory import ModelSpec
from dermvqa.errors import DermError
from dermvqa.storage.models import ModelEvent, ModelRecord, utcnow

ACTIVE, CANDIDATE, RETIRED, REJECTED = "active", "candidate", "retired", "rejected"


def active_record(session: Session) -> ModelRecord | None:
    return session.scalar(select(ModelRecord).where(ModelRecord.status == ACTIVE).order_by(ModelRecord.id.desc()))


def spec_of(record: ModelRecord) -> ModelSpec:
    return ModelSpec(record.backend, record.name, record.revision, record.adapter_path, record.id)


def active_spec(session: Session) -> ModelSpec | None:
    record = active_record(session)
    return spec_of(record) if record else None


def register(
    session: Session,
    *,
    backend: str,
    name: str,
    revision: str = "main",
    adapter_path: str | None = None,
    status: str = CANDIDATE,
    metrics: dict[str, Any] | None = None,
    note: str | None = None,
) -> ModelRecord:
    """Add a model (or return the existing entry with the same name, revision and adapter)."""
    existing = session.scalar(
        select(ModelRecord).where(
            ModelRecord.name == name,
            ModelRecord.revision == revision,
            ModelRecord.adapter_path.is_(None) if adapter_path is None else ModelRecord.adapter_path == adapter_path,
        )
    )
    if existing is not None:
        return existing
    record = ModelRecord(
        backend=backend,
        name=name,
        revision=revision,
        adapter_path=adapter_path,
        status=status,
        metrics=metrics,
        note=note,
    )
    session.add(record)
    session.flush()
    return record


def activate(
    session: Session,
    model_id: int,
    *,
    action: str,
    reason: str | None,
    actor: str | None,
    now: dt.datetime | None = None,
) -> ModelRecord:
    """Make ``model_id`` the active model (the previous one is retired) and record why."""
    record = session.get(ModelRecord, model_id)
    if record is None:
        raise DermError(f"model {model_id}: no such registry entry")
    now = now or utcnow()
    session.execute(
        update(ModelRecord).where(ModelRecord.status == ACTIVE, ModelRecord.id != model_id).values(status=RETIRED)
    )
    record.status = ACTIVE
    record.activated_at = now
    session.add(ModelEvent(model_id=model_id, action=action, reason=reason, actor=actor, created_at=now))
    session.flush()
    return record
