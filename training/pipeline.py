"""One run of the learning loop: data, fine-tune, both models answer the held-out set, gate, registry.

:func:`run_pipeline` is what the nightly job (``python -m training.nightly``, started by the
scheduler in its own process) and ``dermbot train --now`` run:

1. take the run lock (one run at a time, across processes); mark runs a crash left ``running`` failed;
   retire the active model if it is tainted (trained on a case erased since; the newest untainted
   model active before, or the baseline, drafts again) and delete tainted models' files under the
   output folder;
2. make sure the registry has an active entry: the first run registers ``[model]`` as the baseline;
3. count approved cases since the last run that trained; too few: record a ``skipped`` run and stop;
4. build examples (approved cases reviewed before the run started, plus the base corpus), split off
   the held-out set by hash among the examples whose reference no compared model wrote (clinicians'
   edits and hand-written answers, corpus answers; ``training.heldout``) plus the optional fixed
   reference set, deduplicate; too few independent references: record a ``not judged`` run and stop
   (nothing is trained or promoted); record which cases the run trains on (a case erased meanwhile is
   left out; one erased later taints the run's model);
5. fine-tune a new adapter (or full model) from ``[model]`` on all training examples;
6. register the candidate; the active model and the candidate answer the held-out set through the
   worker's own drafter factory; the gate decides (a seeded paired bootstrap over the held-out
   cases); promote or reject, with the reasons (a candidate
   tainted during the run, by an erasure, is rejected and never promoted);
7. record the run (status, reason, sizes, metrics) and write its report folder.

Any error after the run is recorded ends it ``failed`` with the error's type and message; the
active model is never changed by a failed run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from dermvqa.config import Config
from dermvqa.drafting.base import Drafter
from dermvqa.drafting.factory import ModelSpec, create_drafter
from dermvqa.drafting.lora_serving import unload_adapter
from dermvqa.states import RunStatus
from dermvqa.storage import registry
from dermvqa.storage.database import Database, open_database, upgrade
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.model_taint import erased_cases_of_run, record_run_cases
from dermvqa.storage.models import Case, ModelRecord, TrainingRun, utcnow
from dermvqa.storage.private_files import make_private_dir
from training.examples import Example
from training.gate import GateThresholds, decide
from training.sources import count_new_approved, last_trained_at, load_examples, source_counts

logger = logging.getLogger(__name__)

ACTOR = "training"
INTERRUPTED = "interrupted: the process stopped before the run finished"
LOCK_FILE = ".training.lock"
DrafterFactory = Callable[[ModelSpec], Drafter]
Trainer = Callable[..., Any]  # finetune.train's signature; returns a FinetuneResult


@dataclass(frozen=True)
class RunOutcome:
    run_id: int | None
    status: RunStatus  # a str: skipped | promoted | rejected | failed | ...
    reason: str
    report_dir: str | None = None
    candidate_model_id: int | None = None


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock file; the OS releases it if the process dies."""
    make_private_dir(folder)  # [training] output_dir: 700 (models and reports of patients' cases)
    with (folder / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _finish(db: Database, run_id: int, **values: Any) -> None:
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(finished_at=utcnow(), **values))


def _record_skip(db: Database, reason: str, new_cases: int = 0) -> RunOutcome:
    now = utcnow()
    with db.write() as session:
        run = TrainingRun(started_at=now, finished_at=now, status=RunStatus.SKIPPED, reason=reason, new_cases=new_cases)
        session.add(run)
        session.flush()
        run_id = run.id
    logger.info("training run %d skipped: %s", run_id, reason)
    return RunOutcome(run_id, RunStatus.SKIPPED, reason)


def run_pipeline(
    config: Config,
    *,
    force: bool = False,
    trigger: str = "manual",
    drafter_factory: DrafterFactory | None = None,
    trainer: Trainer | None = None,
) -> RunOutcome:
    """Run the learning loop once (see the module docstring); ``force`` ignores ``min_new_cases``."""
    out_root = config.resolve_path(config.training.output_dir)
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        with run_lock(out_root) as locked:
            if not locked:
                return _record_skip(db, "another training run is in progress")
            return _locked_run(config, db, out_root, force, trigger, drafter_factory, trainer)
    finally:
        db.dispose()


def _locked_run(config: Config, db: Database, out_root: Path, force, trigger, factory, trainer) -> RunOutcome:
    t = config.training
    with db.write() as session:
        # We hold the lock, so a run still marked running belongs to a process that died.
        stale = session.execute(
            update(TrainingRun)
            .where(TrainingRun.status == RunStatus.RUNNING)
            .values(status=RunStatus.FAILED, reason=INTERRUPTED, finished_at=utcnow())
        ).rowcount
        before = registry.active_record(session)
        tainted_active = registry.spec_of(before) if before is not None and before.tainted_at is not None else None
        fallback = registry.retire_tainted(session, actor=ACTOR)
        m = config.model
        registry.ensure_baseline(session, backend=m.backend, name=m.name, revision=m.revision)
        last = last_trained_at(session)
        new_cases = count_new_approved(session, last)
        # A model that drafted was tainted since the last training: retrain now, without the erased cases.
        drafted = ModelRecord.activated_at.is_not(None)
        tainted_at = session.scalar(select(func.max(ModelRecord.tainted_at)).where(drafted))
        retrain = tainted_at is not None and (last is None or tainted_at > last)
    if stale:
        logger.warning("%d interrupted training run(s) marked failed", stale)
    if fallback is not None:
        logger.warning("the active model was tainted by an erasure: retired; model %d active again", fallback.id)
    unload_adapter(config.model, tainted_active)  # [model] serve_adapters: the server drops it too
    remove_tainted_files(db, out_root)
    if retrain and not force:
        force, trigger = True, f"{trigger}; retraining: a model that drafted was tainted by an erasure"
    if new_cases < t.min_new_cases and not force:
        reason = f"{new_cases} new approved case(s) since the last training; at least {t.min_new_cases} needed"
        return _record_skip(db, reason, new_cases)

    with db.write() as session:
        run = TrainingRun(status=RunStatus.RUNNING, new_cases=new_cases)
        session.add(run)
        session.flush()
        run_id, started_at = run.id, run.started_at
        report_dir = out_root / f"run-{run_id:04d}"
        run.report_dir = str(report_dir)
    logger.info("training run %d started (%s, %d new approved cases)", run_id, trigger, new_cases)
    report: dict[str, Any] = {"run_id": run_id, "trigger": trigger, "started_at": started_at.isoformat()}
    try:
        outcome = _train_and_gate(config, db, run_id, report_dir, started_at, report, factory, trainer)
    except Exception as exc:
        # Messages name files, ids and shapes, never patient text; the traceback goes to the log.
        reason = f"failed: {type(exc).__name__}: {exc}"[:2000]
        logger.exception("training run %d failed", run_id)
        _finish(db, run_id, status=RunStatus.FAILED, reason=reason, metrics=_compact(report))
        candidate_id = report.get("candidate", {}).get("model_id")
        if candidate_id is not None:
            with db.write() as session:
                if session.get(ModelRecord, candidate_id).status == registry.CANDIDATE:
                    registry.reject(session, candidate_id, reason=f"training run {run_id} failed", actor=ACTOR)
        outcome = RunOutcome(run_id, RunStatus.FAILED, reason, str(report_dir), candidate_id)
    report.update(status=outcome.status, reason=outcome.reason, finished_at=utcnow().isoformat())
    from training.report import write_report

    write_report(report_dir, report)
    return dataclasses.replace(outcome, report_dir=str(report_dir))


def remove_tainted_files(db: Database, out_root: Path) -> int:
    """Delete the trained files of tainted models that are not active, when they lie under ``out_root``
    (the learning loop's own output; a model registered by hand elsewhere is left alone)."""
    removed = 0
    with db.write() as session:
        records = session.scalars(
            select(ModelRecord).where(ModelRecord.tainted_at.is_not(None), ModelRecord.status != registry.ACTIVE)
        ).all()
        for record in records:
            folder = Path(record.adapter_path or record.name)
            if not folder.is_relative_to(out_root) or not folder.exists():
                continue
            shutil.rmtree(folder, ignore_errors=True)
            note = "tainted: its trained files were deleted"
            record.note = note if not record.note else f"{record.note}\n{note}"
            removed += 1
    if removed:
        logger.info("deleted the files of %d tainted model(s)", removed)
    return removed


def case_id_of(example: Example) -> int | None:
    """The case an example comes from (``case:<id>``); None for a base-corpus example."""
    source, _, ident = example.key.partition(":")
    return int(ident) if source == "case" and ident.isdigit() else None


def _present_only(examples: Sequence[Example], present: set[int]) -> tuple[Example, ...]:
    return tuple(e for e in examples if case_id_of(e) is None or case_id_of(e) in present)


def _compact(report: dict[str, Any]) -> dict[str, Any]:
    """What the run row keeps: the report without per-case rows."""
    out = {k: v for k, v in report.items() if k not in ("active", "candidate")}
    for side in ("active", "candidate"):
        if side in report:
            out[side] = {k: v for k, v in report[side].items() if k != "per_case"}
    return out


def _train_and_gate(config, db, run_id, report_dir, started_at, report, factory, trainer) -> RunOutcome:
    from training.arguments import arguments_from_config
    from training.finetune import train as finetune_train
    from training.heldout import gate_split, reference_copy_share, reference_examples, unjudged_count

    t = config.training
    examples = load_examples(config, db, started_at)
    reference = (
        reference_examples(
            config.resolve_path(t.gate_reference_set),
            config.resolve_path(t.gate_reference_images or "."),
            prompt_id=config.model.prompt_id,
        )
        if t.gate_reference_set
        else []
    )
    split = gate_split(examples, t.heldout_share, reference)
    with db.write() as session:
        # Fixes the training set: a case erased before this commits is left out; one erased after
        # finds these rows and taints the candidate (checked again when it is registered).
        present = record_run_cases(session, run_id, {c for e in split.train if (c := case_id_of(e)) is not None})
        present |= set(
            session.scalars(select(Case.id).where(Case.id.in_({case_id_of(e) for e in split.heldout} - {None})))
        )
    train, heldout = _present_only(split.train, present), _present_only(split.heldout, present)
    vanished = len(split.train) + len(split.heldout) - len(train) - len(heldout)
    if vanished:
        logger.info("%d case(s) erased while the run read its data: left out", vanished)
    report["data"] = {
        "train_examples": len(train),
        "heldout_examples": len(heldout),
        "duplicates_dropped": split.duplicates_dropped,
        "leaks_dropped": split.leaks_dropped,
        "erased_meanwhile": vanished,
        "edited_answers": sum(e.edited for e in train),
        "train_by_source": source_counts(train),
        "heldout_by_source": source_counts(heldout),
        # held out by hash, but a model's draft approved unchanged: trained on, never judged
        "unjudged_approvals": unjudged_count(examples, t.heldout_share),
    }
    with db.write() as session:
        sizes = {"train_size": len(train), "heldout_size": len(heldout)}
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**sizes))
    if not train:
        _finish(db, run_id, status=RunStatus.SKIPPED, reason="no training example", metrics=_compact(report))
        return RunOutcome(run_id, RunStatus.SKIPPED, "no training example")
    if len(heldout) < t.gate_min_heldout:  # judging on the active model's own drafts would favour it
        reason = (
            f"not judged: {len(heldout)} independent held-out reference(s) (clinicians' edited or hand-written "
            f"answers, corpus or reference-set answers), the gate needs {t.gate_min_heldout}; nothing trained "
            "or promoted"
        )
        _finish(db, run_id, status=RunStatus.NOT_JUDGED, reason=reason, metrics=_compact(report))
        return RunOutcome(run_id, RunStatus.NOT_JUDGED, reason)

    margs, dargs, targs = arguments_from_config(config)
    targs = dataclasses.replace(targs, output_dir=str(report_dir), progress=False)
    result = (trainer or finetune_train)(margs, dargs, targs, train, heldout)
    report["training"] = result.to_json()

    with db.write() as session:
        candidate = _register_candidate(session, config, result, run_id)
        candidate_spec, active = registry.spec_of(candidate), registry.active_record(session)
        active_spec = registry.spec_of(active)
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(candidate_model_id=candidate.id))
        if erased_cases_of_run(session, run_id):  # erased while it trained: tainted from birth
            candidate.tainted_at = utcnow()
    report["candidate"] = {"model_id": candidate_spec.registry_id}
    report["active"] = {"model_id": active_spec.registry_id}
    if (refused := _refuse_tainted(db, run_id, candidate_spec.registry_id, report)) is not None:
        return refused

    train_answers = [a for e in train for a in e.answers]
    train_keys = [e.key for e in train for _ in e.answers]
    references = [e.answers for e in heldout]
    factory = factory or (lambda spec: create_drafter(spec, config.model))
    scores = {}
    for side, spec in (("active", active_spec), ("candidate", candidate_spec)):
        scores[side] = _score_model(config, factory, spec, heldout, references, train_answers, train_keys)
        report[side].update(summary=scores[side].summary(), per_case=list(scores[side].per_case))
    report["reference_copy_share"] = reference_copy_share(references, train_answers)

    thresholds = GateThresholds.from_config(t)
    decision = decide(scores["candidate"].score, scores["active"].score, thresholds)
    report["gate"] = {
        "promote": decision.promote,
        "thresholds": dataclasses.asdict(thresholds),
        "checks": [dataclasses.asdict(c) for c in decision.checks],
        "bootstrap": dataclasses.asdict(decision.bootstrap) if decision.bootstrap else None,
    }
    status = "promoted" if decision.promote else "rejected"
    with db.write() as session:
        record = session.get(ModelRecord, candidate_spec.registry_id)
        record.metrics = {"run_id": run_id, **scores["candidate"].summary()}
        tainted = record.tainted_at is not None
    if tainted:  # an erasure while it was scored
        unload_adapter(config.model, candidate_spec)  # loaded into the server to be scored
        return _refuse_tainted(db, run_id, candidate_spec.registry_id, report)
    with db.write() as session:
        record = session.get(ModelRecord, candidate_spec.registry_id)
        if decision.promote:
            registry.promote(session, record.id, reason=f"run {run_id}: {decision.summary}", actor=ACTOR)
        else:
            registry.reject(session, record.id, reason=f"run {run_id}: {decision.summary}", actor=ACTOR)
    if not decision.promote:
        unload_adapter(config.model, candidate_spec)  # [model] serve_adapters: loaded into the server to be scored
    _finish(db, run_id, status=status, reason=decision.summary, metrics=_compact(report))
    logger.info("training run %d: %s (candidate #%d)", run_id, status, candidate_spec.registry_id)
    return RunOutcome(run_id, status, decision.summary, candidate_model_id=candidate_spec.registry_id)


def _refuse_tainted(db: Database, run_id: int, model_id: int, report: dict[str, Any]) -> RunOutcome | None:
    """Reject the candidate if it is tainted (a case it trained on was erased during the run)."""
    with db.write() as session:
        record = session.get(ModelRecord, model_id)
        if record.tainted_at is None:
            return None
        reason = "tainted: a case it trained on was erased during the run; not promoted (the next run retrains)"
        registry.reject(session, model_id, reason=f"run {run_id}: {reason}", actor=ACTOR)
    report["tainted"] = True
    _finish(db, run_id, status="rejected", reason=reason, metrics=_compact(report))
    logger.info("training run %d: candidate #%d is tainted by an erasure: rejected", run_id, model_id)
    return RunOutcome(run_id, "rejected", reason, candidate_model_id=model_id)


def _register_candidate(session, config: Config, result, run_id: int) -> ModelRecord:
    if result.method == "lora":
        name, revision, adapter = config.model.name, config.model.revision, result.output_path
    else:  # a full fine-tune is a complete model folder
        name, revision, adapter = result.output_path, "main", None
    return registry.register(
        session,
        backend=config.model.backend,  # hf or moondream: the backend that trained it drafts with it
        name=name,
        revision=revision,
        adapter_path=adapter,
        note=f"training run {run_id}",
    )


def _score_model(config: Config, factory, spec: ModelSpec, heldout: Sequence[Example], references, train_answers, keys):
    from training.heldout import answer, score

    drafter = factory(spec)
    try:
        answers, failed = answer(
            drafter,
            heldout,
            max_pixels=config.storage.max_pixels,
            max_side=config.storage.max_side_px,
            batch_size=config.worker.batch_size,
        )
    finally:
        drafter.close()
    return score([e.key for e in heldout], answers, references, train_answers, keys, failed=failed)
