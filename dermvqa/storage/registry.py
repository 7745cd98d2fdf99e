"""The model registry: which model drafts now, and every candidate the learning loop made.

Exactly one entry is ``active`` at a time (or none: then ``[model]`` in the config drafts).
Promotion, rejection and rollback are recorded as events with a reason and who asked; the worker
reads the active entry between batches and switches without a restart.

Rollback undoes activations like a stack: replaying the events, a ``promote`` pushes its model and
a ``rollback`` pops one, so promote A, B, C then rollback, rollback gives B, then A. The learning
loop registers the configured model as the first active entry (the baseline), so the first
promotion always has something to roll back to.

A promoted model that a worker cannot load is marked ``failed`` (its note says why), the model
active before it is re-activated (an automatic rollback), and the clinicians are told: drafting
goes on with the previous model instead of every worker restarting in a loop. Promoting the model
again (after fixing it) makes the workers try it again.

A model trained on a case that was erased since is *tainted* (``tainted_at``, set by
``dermvqa.storage.model_taint`` in the erasure's transaction): it is never activated again (promote
and rollback refuse it or pass over it), and :func:`retire_tainted` retires it when it is active.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dermvqa.drafting.factory import ModelSpec
from dermvqa.errors import DermError
from dermvqa.states import ModelStatus
from dermvqa.storage.models import ModelEvent, ModelRecord, utcnow
from dermvqa.storage.outbox import CASE_FAILED, add_message

ACTIVE, CANDIDATE = ModelStatus.ACTIVE, ModelStatus.CANDIDATE
RETIRED, REJECTED = ModelStatus.RETIRED, ModelStatus.REJECTED
FAILED = ModelStatus.FAILED  # promoted, but no worker could load it (the note says why)
PROMOTE, ROLLBACK, REJECT = "promote", "rollback", "reject"
RETIRE = "retire"  # a tainted active model retired (retire_tainted)
LOAD_FAILED = "load_failed"  # a worker could not load the active model


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
    if record.tainted_at is not None:
        raise DermError(
            f"model {model_id} cannot be activated: it was trained on a case whose patient data was erased "
            f"(tainted {record.tainted_at:%Y-%m-%d %H:%M} UTC); train a new model without it"
        )
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
    target = _previous_untainted(session, history, current.id)
    if target is None:
        raise DermError(f"model {current.id} is the first active model: there is nothing to roll back to")
    return activate(session, target, action=ROLLBACK, reason=reason, actor=actor, now=now)


@dataclass(frozen=True)
class LoadFailure:
    """What :func:`record_load_failure` did."""

    recorded: bool  # False: the model was no longer active (another worker recorded it first)
    fallback_id: int | None = None  # the re-activated entry; None: the configured [model] drafts


def record_load_failure(
    session: Session, model_id: int, error: str, *, actor: str, now: dt.datetime | None = None
) -> LoadFailure:
    """The active model ``model_id`` cannot be loaded: mark it failed and roll back to the model before it.

    A compare-and-set on the entry's status, so when every worker fails on the same model only the
    first one records it and rolls back once. The clinicians get a notice (an outbox row for the
    review recipients, on the same path as a failed case). ``error`` names the error, never patient data.
    """
    now = now or utcnow()
    record = session.get(ModelRecord, model_id)
    if record is None:
        return LoadFailure(False)
    activated = record.activated_at
    note = f"load failed {now:%Y-%m-%d %H:%M} UTC: {error}"[:1000]
    result = session.execute(
        update(ModelRecord)
        .where(ModelRecord.id == model_id, ModelRecord.status == ACTIVE)
        .values(status=FAILED, note=note if not record.note else f"{record.note}\n{note}")
    )
    if result.rowcount != 1:
        return LoadFailure(False)
    session.add(ModelEvent(model_id=model_id, action=LOAD_FAILED, reason=error[:1000], actor=actor, created_at=now))
    session.flush()
    history = [(e.action, e.model_id) for e in events(session) if e.action in (PROMOTE, ROLLBACK)]
    target = _previous_untainted(session, history, model_id)
    fallback: ModelRecord | None = None
    if target is not None:
        fallback = activate(
            session,
            target,
            action=ROLLBACK,
            reason=f"automatic: model {model_id} cannot be loaded",
            actor=actor,
            now=now,
        )
    serving = f"model {fallback.id} ({fallback.name}@{fallback.revision})" if fallback else "the configured [model]"
    add_message(
        session,
        CASE_FAILED,
        payload={
            "reason": f"the newly promoted model {model_id} ({record.name}@{record.revision}) cannot be loaded "
            f"({error}). It is marked failed and drafting goes on with {serving}; "
            "no case was lost. Fix it and promote it again, or promote another model.",
            "model_id": model_id,
        },
        dedupe_key=f"{LOAD_FAILED}:{model_id}:{activated.isoformat() if activated else ''}",
    )
    return LoadFailure(True, fallback.id if fallback else None)


def _previous_untainted(session: Session, history: list[tuple[str, int]], current_id: int) -> int | None:
    """:func:`previous_model`, passing over tainted entries (they are never activated again)."""
    stack = activation_stack(history)
    while stack and (stack[-1] == current_id or session.get(ModelRecord, stack[-1]).tainted_at is not None):
        stack.pop()
    return stack[-1] if stack else None


def newest_untainted_previous(session: Session) -> int | None:
    """The newest model that was active once, is not tainted and did not fail to load; None: no such."""
    history = [(e.action, e.model_id) for e in events(session) if e.action in (PROMOTE, ROLLBACK)]
    for model_id in reversed(activation_stack(history)):
        record = session.get(ModelRecord, model_id)
        if record is not None and record.tainted_at is None and record.status not in (FAILED, REJECTED):
            return model_id
    return None


def retire_tainted(session: Session, *, actor: str, now: dt.datetime | None = None) -> ModelRecord | None:
    """The active model is tainted: retire it and re-activate the newest untainted model active before.

    Returns the re-activated entry; None when the active model is not tainted (nothing changes) or
    when no untainted model was ever active (then none is active and the configured [model] drafts).
    """
    current = active_record(session)
    if current is None or current.tainted_at is None:
        return None
    now = now or utcnow()
    current.status = RETIRED
    reason = "tainted: trained on a case whose patient data was erased"
    session.add(ModelEvent(model_id=current.id, action=RETIRE, reason=reason, actor=actor, created_at=now))
    session.flush()
    target = newest_untainted_previous(session)
    if target is None:
        return None
    why = f"automatic: model {current.id} {reason}"
    return activate(session, target, action=ROLLBACK, reason=why, actor=actor, now=now)
