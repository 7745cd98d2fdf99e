"""The model registry (promote, reject, rollback by the event history), training runs, and the
``dermbot models`` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse

import pytest
from sqlalchemy import select

from dermvqa.config import load_config
from dermvqa.errors import DermError
from dermvqa.storage import registry
from dermvqa.storage.models import ModelEvent, ModelRecord, TrainingRun
from training.cli import add_commands


def add(session, name, adapter=None):
    return registry.register(session, backend="hf", name=name, adapter_path=adapter)


def active_name(db):
    with db.read() as session:
        spec = registry.active_spec(session)
        return None if spec is None else (spec.name, spec.adapter_path)


def test_activation_stack_replays_promotions_and_rollbacks():
    assert registry.activation_stack([("promote", 1), ("promote", 2), ("promote", 3)]) == [1, 2, 3]
    assert registry.activation_stack([("promote", 1), ("promote", 2), ("rollback", 1)]) == [1]
    assert registry.previous_model([("promote", 1), ("promote", 2), ("promote", 2)], 2) == 1
    assert registry.previous_model([("promote", 1)], 1) is None


def test_baseline_then_promotions_then_rollbacks_walk_back_in_order(any_db):
    db = any_db
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="hf", name="base-model", revision="main")
        assert registry.ensure_baseline(session, backend="hf", name="other", revision="main").id == base.id
        a = add(session, "base-model", "/runs/1/adapter")
        b = add(session, "base-model", "/runs/2/adapter")
        assert add(session, "base-model", "/runs/1/adapter").id == a.id  # same identity, same entry
    with db.write() as session:
        registry.promote(session, a.id, reason="run 1 passed the gate", actor="training")
    with db.write() as session:
        registry.promote(session, b.id, reason="run 2 passed the gate", actor="training")
    assert active_name(db) == ("base-model", "/runs/2/adapter")
    with db.write() as session:
        back = registry.rollback(session, reason="clinicians report odd answers", actor="cli:ana")
        assert back.id == a.id
    assert active_name(db) == ("base-model", "/runs/1/adapter")
    with db.write() as session:
        assert registry.rollback(session, reason="still odd", actor="cli:ana").id == base.id
    with db.write() as session, pytest.raises(DermError, match="nothing to roll back to"):
        registry.rollback(session, reason="again", actor="cli:ana")
    with db.read() as session:
        statuses = {r.id: r.status for r in registry.list_models(session)}
        assert statuses == {base.id: "active", a.id: "retired", b.id: "retired"}
        events = [(e.action, e.model_id, e.reason, e.actor) for e in registry.events(session)]
    assert events == [
        ("promote", base.id, "baseline: the configured [model]", "system"),
        ("promote", a.id, "run 1 passed the gate", "training"),
        ("promote", b.id, "run 2 passed the gate", "training"),
        ("rollback", a.id, "clinicians report odd answers", "cli:ana"),
        ("rollback", base.id, "still odd", "cli:ana"),
    ]


def test_reject_records_why_and_refuses_the_active_model(db):
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="hf", name="base", revision="main")
        c = add(session, "base", "/runs/3/adapter")
        registry.reject(session, c.id, reason="collapsed", actor="training")
        with pytest.raises(DermError, match="roll back instead"):
            registry.reject(session, base.id, reason="x", actor="y")
    with db.read() as session:
        assert session.get(ModelRecord, c.id).status == "rejected"
        assert session.scalar(select(ModelEvent.reason).where(ModelEvent.action == "reject")) == "collapsed"
    with db.write() as session, pytest.raises(DermError, match="no such registry entry"):
        registry.promote(session, 999, reason="x", actor="y")


def test_training_runs_keep_their_record_and_lose_a_deleted_candidate(any_db):
    with any_db.write() as session:
        model = add(session, "base", "/runs/4/adapter")
        run = TrainingRun(
            status="rejected",
            reason="collapsed",
            new_cases=25,
            train_size=40,
            heldout_size=10,
            candidate_model_id=model.id,
            metrics={"candidate": {"deltableu": 8.6}},
            report_dir="/r/4",
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with any_db.write() as session:
        session.delete(session.get(ModelRecord, model.id))
    with any_db.read() as session:
        run = session.get(TrainingRun, run_id)
        assert (run.status, run.train_size, run.candidate_model_id) == ("rejected", 40, None)
        assert run.metrics["candidate"]["deltableu"] == 8.6 and run.started_at.tzinfo is not None


def run_cli(config, *argv):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(config, args)


def test_models_commands_list_promote_and_roll_back(db, tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db.url}"\n')
    config = load_config(path, environ={})
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="hf", name="base", revision="main")
        cand = add(session, "base", "/runs/5/adapter")
        cand.metrics = {"deltableu": 4.25}
    assert run_cli(config, "models", "promote", str(cand.id), "--reason", "looks good", "--actor", "dr-x") == 0
    assert active_name(db) == ("base", "/runs/5/adapter")
    assert run_cli(config, "models", "list") == 0
    out = capsys.readouterr().out
    assert f"* {cand.id:>4} active" in out and "4.250" in out and "base@main + /runs/5/adapter" in out
    assert run_cli(config, "models", "rollback", "--reason", "bad drafts") == 0
    assert active_name(db) == ("base", None)
    with db.read() as session:
        last = registry.events(session)[-1]
        assert (last.action, last.model_id, last.reason) == ("rollback", base.id, "bad drafts")
        assert last.actor.startswith("cli:")
    with pytest.raises(DermError, match="nothing to roll back to"):
        run_cli(config, "models", "rollback", "--reason", "again")
    with pytest.raises(SystemExit):
        run_cli(config, "models", "rollback")  # a reason is required
