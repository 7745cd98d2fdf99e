"""Models trained on erased cases: tainted in the erasure's transaction, never activated again, the
active one retired at once (the newest untainted model active before drafts again); the CLI shows it."""

from __future__ import annotations

import argparse
import json

import pytest
from sqlalchemy import select
from support.cases import submit

from dermvqa.casework.intake import delete_everything
from dermvqa.config import load_config
from dermvqa.errors import DermError
from dermvqa.storage import registry
from dermvqa.storage.model_taint import erased_cases_of_run, record_run_cases, taint_models_for_cases
from dermvqa.storage.models import ModelEvent, ModelRecord, TrainingRun, TrainingRunCase
from training.cli import add_commands


def run_cli(config, *argv):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(config, args)


def trained_model(db, name: str, case_ids, *, promote: bool) -> int:
    """A training run on ``case_ids`` whose candidate is ``name`` (promoted or not)."""
    with db.write() as session:
        registry.ensure_baseline(session, backend="hf", name="base", revision="main")
        run = TrainingRun(status="promoted" if promote else "rejected")
        session.add(run)
        session.flush()
        assert record_run_cases(session, run.id, case_ids) == set(case_ids)
        model = registry.register(session, backend="hf", name="base", adapter_path=f"/runs/{name}/adapter")
        run.candidate_model_id = model.id
        if promote:
            registry.promote(session, model.id, reason="gate passed", actor="training")
        return model.id


def record(db, model_id) -> ModelRecord:
    with db.read() as session:
        return session.get(ModelRecord, model_id)


def test_erasing_a_trained_case_taints_its_models_and_retires_the_active_one(any_db, store):
    db = any_db
    mine = submit(db, store, 1)
    others = [submit(db, store, 2), submit(db, store, 3)]
    old = trained_model(db, "1", others, promote=True)  # untainted, active once
    rejected = trained_model(db, "2", [mine, *others], promote=False)
    active = trained_model(db, "3", [mine, *others], promote=True)

    result = delete_everything(db, store, 1, 1)

    assert set(result.models_tainted) == {rejected, active}
    assert record(db, old).tainted_at is None
    assert record(db, rejected).tainted_at is not None and record(db, active).tainted_at is not None
    assert record(db, active).status == "retired"
    with db.read() as session:
        assert registry.active_record(session).id == old  # the newest untainted model active before
        retire = session.scalar(select(ModelEvent).where(ModelEvent.action == "retire"))
        assert retire.model_id == active and "erased" in retire.reason
        # the runs' case lists are kept (numbers only): they are how the models were found
        assert mine in set(session.scalars(select(TrainingRunCase.case_id)))
    for model_id in (rejected, active):
        with db.write() as session, pytest.raises(DermError, match="trained on a case whose patient data was erased"):
            registry.promote(session, model_id, reason="try", actor="cli:x")
    assert record(db, active).status == "retired"  # the refused promotion changed nothing


def test_rollback_and_a_load_failure_pass_over_tainted_models(db, store):
    case = submit(db, store, 1)
    first = trained_model(db, "1", [case], promote=True)
    second = trained_model(db, "2", [submit(db, store, 2)], promote=True)
    with db.write() as session:
        taint_models_for_cases(session, [case])
        assert registry.active_record(session).id == second  # not tainted: stays
    with db.write() as session:
        back = registry.rollback(session, reason="odd drafts", actor="cli:x")
    with db.read() as session:
        base = session.scalar(select(ModelRecord.id).where(ModelRecord.adapter_path.is_(None)))
    assert back.id == base != first
    with db.write() as session:
        registry.promote(session, second, reason="again", actor="cli:x")
        failure = registry.record_load_failure(session, second, "OSError", actor="worker")
    assert failure.fallback_id == base


def test_no_untainted_model_left_means_the_configured_model_drafts(db, store):
    case = submit(db, store, 1)
    with db.write() as session:  # a registry without a baseline entry: only the tainted model was ever active
        run = TrainingRun(status="promoted")
        session.add(run)
        session.flush()
        record_run_cases(session, run.id, [case])
        model = registry.register(session, backend="hf", name="base", adapter_path="/runs/1/adapter")
        run.candidate_model_id = model.id
        registry.promote(session, model.id, reason="gate", actor="training")
    delete_everything(db, store, 1, 1)
    with db.read() as session:
        assert registry.active_record(session) is None


def test_a_case_erased_before_the_run_records_it_is_left_out_and_later_ones_are_found(db, store):
    kept, gone = submit(db, store, 1), submit(db, store, 2)
    delete_everything(db, store, 2, 2)
    with db.write() as session:
        run = TrainingRun(status="running")
        session.add(run)
        session.flush()
        assert record_run_cases(session, run.id, [kept, gone]) == {kept}
        run_id = run.id
    with db.read() as session:
        assert erased_cases_of_run(session, run_id) == set()
    delete_everything(db, store, 1, 1)  # while it trains: no model yet, the run finds out itself
    with db.read() as session:
        assert erased_cases_of_run(session, run_id) == {kept}


def test_models_list_shows_the_taint(db, store, tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db.url}"\n')
    config = load_config(path, environ={})
    case = submit(db, store, 1)
    model = trained_model(db, "7", [case], promote=False)
    delete_everything(db, store, 1, 1)
    assert run_cli(config, "models", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "TAINTED" in line] == [
        line for line in lines if f" {model:>4} " in line and "/runs/7/adapter" in line
    ]
    assert any("TAINTED" in line and "(trained on erased data)" in line for line in lines)
    assert run_cli(config, "models", "list", "--json") == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[model]["tainted_at"] and all(r["tainted_at"] is None for i, r in rows.items() if i != model)
    with pytest.raises(DermError, match=f"model {model} cannot be activated"):
        run_cli(config, "models", "promote", str(model), "--reason", "try")
