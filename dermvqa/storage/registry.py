"""The model registry: which model drafts now, and every candidate the learning loop made.

Exactly one entry is ``active`` at a time (or none: then ``[model]`` in the config drafts).
Promotion, rejection and rollback are recorded as events with a reason and who asked; the worker
reads the active entry between batches and switches without a restart.

Rollback undoes activations like a stack: replaying the events, a ``promote`` pushes its model and
a ``rollback`` pops one, so promote A, B, C then rollback, rollback gives B, then A. The learning
loop registers the configured model as the first active entry (the baseline), so the first
promotion always has something to roll back to.
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
PROMOTE, ROLLBACK, REJECT = "promote", "rollback", "reject"


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


def list_models(session: Session) -> list[ModelRecord]:
    """Every registry entry, oldest first."""
    return list(session.scalars(select(ModelRecord).order_by(ModelRecord.id)))


def events(session: Session) -> list[ModelEvent]:
    """Every promotion, rollback and rejection, oldest first."""
    return list(session.scalars(select(ModelEvent).order_by(ModelEvent.id)))


def ensure_baseline(session: Session, *, backend: str, name: str, revision: str = "main") -> ModelRecord:
    """The active entry; with none, register the configured model and make it active (the baseline)."""
    current = active_record(session)
    if current is not None:
        return current
    record = register(session, backend=backend, name=name, revision=revision, note="baseline: the configured model")
    return activate(session, record.id, action=PROMOTE, reason="baseline: the configured [model]", actor="system")


def promote(session: Session, model_id: int, *, reason: str, actor: str, now: dt.datetime | None = None) -> ModelRecord:
    """Make ``model_id`` the active model; the worker picks it up before its next batch."""
    return activate(session, model_id, action=PROMOTE, reason=reason, actor=actor, now=now)


def reject(session: Session, model_id: int, *, reason: str, actor: str, now: dt.datetime | None = None) -> ModelRecord:
    """Mark a candidate rejected (an active model cannot be: roll back instead)."""
    record = session.get(ModelRecord, model_id)
    if record is None:
        raise DermError(f"model {model_id}: no such registry entry")
    if record.status == ACTIVE:
        raise DermError(f"model {model_id} is active: roll back instead of rejecting it")
    record.status = REJECTED
    session.add(ModelEvent(model_id=model_id, action=REJECT, reason=reason, actor=actor, created_at=now or utcnow()))
    session.flush()
    return record


def activation_stack(history: list[tuple[str, int]]) -> list[int]:
    """The models activated in turn, newest last, from ``(action, model_id)`` events in order (pure)."""
    stack: list[int] = []
    for action, model_id in history:
        if action == PROMOTE:
            stack.append(model_id)
        elif action == ROLLBACK:
            if stack:
                stack.pop()
            # The rollback event names the model it re-activated: it is now on top.
            if not stack or stack[-1] != model_id:
                stack.append(model_id)
    return stack


def previous_model(history: list[tuple[str, int]], current_id: int) -> int | None:
    """The model a rollback from ``current_id`` re-activates, or None (pure)."""
    stack = activation_stack(history)
    while stack and stack[-1] == current_id:
        stack.pop()
    return stack[-1] if stack else None


def rollback(session: Session, *, reason: str, actor: str, now: dt.datetime | None = None) -> ModelRecord:
    """Retire the active model and re-activate the one active before it; returns the re-activated entry."""
    current = active_record(session)
    if current is None:
        raise DermError("no active model to roll back (the configured [model] drafts)")
    history = [(e.action, e.model_id) for e in events(session) if e.action in (PROMOTE, ROLLBACK)]
    target = previous_model(history, current.id)
    if target is None:
        raise DermError(f"model {current.id} is the first active model: there is nothing to roll back to")
    return activate(session, target, action=ROLLBACK, reason=reason, actor=actor, now=now)
