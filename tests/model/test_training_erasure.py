"""/delete and the learning loop, on the tiny model and a real SQLite file: the run records the cases it
trains on; erasing one taints the run's adapter (listed as tainted, never promoted, retired at once and
at the next nightly run at the latest); the next run retrains without it and deletes the tainted files;
an erasure while a run reads its data or trains does not fail the run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import select, update
from test_training_pipeline import approve, correct, scripted

from dermvqa.casework.intake import delete_everything
from dermvqa.errors import DermError
from dermvqa.storage import registry
from dermvqa.storage.models import ModelRecord, TrainingRun, TrainingRunCase, utcnow
from training import pipeline
from training.cli import add_commands
from training.finetune import train as finetune_train
from training.pipeline import run_pipeline

pytestmark = pytest.mark.slow

TRAIN_IDS = {2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14}  # held out: 1, 3, 13 (10 is an unedited approval: trained on)
ERASED = 2  # a training case; its patient is user 101 (approve() submits case i+1 as user 100+i)


def bad(request):
    return "See a doctor."


def run_cli(config, *argv):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(config, args)


def run_cases(db, run_id) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(TrainingRunCase.case_id).where(TrainingRunCase.run_id == run_id)))


def model(db, model_id) -> ModelRecord:
    with db.read() as session:
        return session.get(ModelRecord, model_id)


def active_id(db) -> int | None:
    with db.read() as session:
        record = registry.active_record(session)
        return record.id if record else None


@pytest.fixture
def config(tmp_path, db, tiny_model_dir):
    from test_training_pipeline import write_config

    from dermvqa.config import load_config

    return load_config(write_config(tmp_path, db.url, tiny_model_dir), environ={})


def test_erasing_a_trained_case_taints_the_adapter_and_the_next_run_replaces_it(config, db, store, capsys):
    approve(db, store, range(14))
    first = run_pipeline(config, drafter_factory=scripted(config, bad, correct))
    assert first.status == "promoted", first.reason
    assert run_cases(db, first.run_id) == TRAIN_IDS  # trained on; the held-out cases are not recorded
    adapter = Path(model(db, first.candidate_model_id).adapter_path)
    assert adapter.is_dir()

    result = delete_everything(db, store, 100 + ERASED - 1, 100 + ERASED - 1)
    assert result.models_tainted == (first.candidate_model_id,)
    tainted = model(db, first.candidate_model_id)
    assert tainted.tainted_at is not None and tainted.status == "retired"
    with db.read() as session:
        baseline = session.scalar(select(ModelRecord.id).where(ModelRecord.adapter_path.is_(None)))
    assert active_id(db) == baseline  # switched at once: the base model drafts again

    assert run_cli(config, "models", "list") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if str(adapter) in x)
    assert "TAINTED" in line and "retired" in line
    with pytest.raises(DermError, match="trained on a case whose patient data was erased"):
        run_cli(config, "models", "promote", str(first.candidate_model_id), "--reason", "it was good")

    # The next nightly run: no new cases, but the model that drafted was tainted: it retrains without
    # the erased case, and the tainted adapter's files are deleted.
    second = run_pipeline(config, drafter_factory=scripted(config, bad, correct))
    assert second.status == "promoted", second.reason
    assert run_cases(db, second.run_id) == TRAIN_IDS - {ERASED}
    assert not adapter.exists() and "files were deleted" in model(db, first.candidate_model_id).note
    assert active_id(db) == second.candidate_model_id and model(db, second.candidate_model_id).tainted_at is None
    third = run_pipeline(config, drafter_factory=scripted(config, bad, correct))
    assert third.status == "skipped"  # retrained once; back to the usual rule


def test_the_nightly_run_retires_a_tainted_active_model_first(config, db):
    with db.write() as session:  # tainted by some path that did not retire it (an older version, by hand)
        base = registry.ensure_baseline(session, backend="hf", name=config.model.name, revision="main")
        other = registry.register(session, backend="hf", name=config.model.name, adapter_path="/elsewhere/adapter")
        registry.promote(session, other.id, reason="by hand", actor="cli:x")
        session.execute(update(ModelRecord).where(ModelRecord.id == other.id).values(tainted_at=utcnow()))
    outcome = run_pipeline(config, drafter_factory=scripted(config, correct, correct))
    assert outcome.status == "skipped" and outcome.reason == "no training example"  # it tried to retrain
    assert active_id(db) == base.id and model(db, other.id).status == "retired"


def test_an_erasure_between_listing_and_reading_leaves_the_case_out(config, db, store, monkeypatch):
    approve(db, store, range(14))
    listed = pipeline.load_examples

    def erase_after_listing(*args):
        examples = listed(*args)
        assert any(e.key == f"case:{ERASED}" for e in examples)
        delete_everything(db, store, 100 + ERASED - 1, 100 + ERASED - 1)  # the patient's /delete, meanwhile
        return examples

    monkeypatch.setattr(pipeline, "load_examples", erase_after_listing)
    outcome = run_pipeline(config, drafter_factory=scripted(config, bad, correct))
    assert outcome.status == "promoted", outcome.reason
    assert run_cases(db, outcome.run_id) == TRAIN_IDS - {ERASED}
    with db.read() as session:
        run = session.get(TrainingRun, outcome.run_id)
    assert run.train_size == len(TRAIN_IDS) - 1 and run.metrics["data"]["erased_meanwhile"] == 1
    assert model(db, outcome.candidate_model_id).tainted_at is None


def test_an_erasure_while_training_rejects_the_tainted_candidate_without_failing(config, db, store):
    approve(db, store, range(14))

    def erase_then_train(*args):
        delete_everything(db, store, 100 + ERASED - 1, 100 + ERASED - 1)  # its photo file goes too
        return finetune_train(*args)

    outcome = run_pipeline(config, trainer=erase_then_train, drafter_factory=scripted(config, bad, correct))
    assert outcome.status == "rejected" and outcome.reason.startswith("tainted"), outcome.reason
    candidate = model(db, outcome.candidate_model_id)
    assert candidate.tainted_at is not None and candidate.status == "rejected"
    with db.read() as session:
        assert registry.active_record(session).adapter_path is None
        assert session.get(TrainingRun, outcome.run_id).status == "rejected"
