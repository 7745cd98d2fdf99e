"""``dermbot train`` and ``dermbot models``: the learning loop and the model registry by hand.

dermbot [--config PATH] train                 when the nightly job runs next, and the last runs
dermbot [--config PATH] train --now [--force] run the learning loop now, in this process
dermbot [--config PATH] models list [--json]  every registry entry (* = active; TAINTED: trained on erased data)
dermbot [--config PATH] models promote ID --reason TEXT [--actor NAME]
dermbot [--config PATH] models rollback --reason TEXT [--actor NAME]

``bot/cli.py`` calls :func:`add_commands` with its subparsers; each command is ``func(config, args)``
returning the exit status. A running worker switches to the newly active model before its next batch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import select

from dermvqa.config import Config
from dermvqa.storage import registry
from dermvqa.storage.database import Database, open_database, upgrade
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import TrainingRun


@contextmanager
def _database(config: Config) -> Iterator[Database]:
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"cli:{getpass.getuser()}"


def cmd_train(config: Config, args: argparse.Namespace) -> int:
    if not args.now:
        return _show_schedule(config)
    from training.pipeline import run_pipeline

    outcome = run_pipeline(config, force=args.force, trigger="manual")
    print(f"training run {outcome.run_id}: {outcome.status}: {outcome.reason}")
    if outcome.report_dir:
        print(f"report: {outcome.report_dir}/report.md")
    return 1 if outcome.status == "failed" else 0


def _show_schedule(config: Config) -> int:
    from training.scheduler import trigger_for

    t = config.training
    now = dt.datetime.now(dt.UTC)
    next_fire = trigger_for(config).get_next_fire_time(None, now)
    print(
        f"nightly training: '{t.schedule}' in {t.timezone}; next run {next_fire.isoformat() if next_fire else 'never'}"
    )
    print("run it now with: dermbot train --now")
    with _database(config) as db, db.read() as session:
        runs = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(5)).all()
        for run in runs:
            print(f"  run {run.id} {run.started_at:%Y-%m-%d %H:%M} {run.status}: {run.reason or ''}")
    return 0


def _row(record, active_id: int | None) -> dict:
    metrics = record.metrics or {}
    return {
        "id": record.id,
        "active": record.id == active_id,
        "status": record.status,
        "backend": record.backend,
        "name": record.name,
        "revision": record.revision,
        "adapter_path": record.adapter_path,
        "deltableu": metrics.get("deltableu"),
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "activated_at": record.activated_at.isoformat() if record.activated_at else None,
        # trained on a case whose patient data was erased since: never activated again
        "tainted_at": record.tainted_at.isoformat() if record.tainted_at else None,
        "note": record.note,
    }


def cmd_models_list(config: Config, args: argparse.Namespace) -> int:
    with _database(config) as db, db.read() as session:
        active = registry.active_record(session)
        rows = [_row(r, active.id if active else None) for r in registry.list_models(session)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("the registry is empty: [model] in the config drafts")
        return 0
    print(f"{'':1} {'id':>4} {'status':<9} {'deltaBLEU':>9}  model")
    for r in rows:
        bleu = f"{r['deltableu']:.3f}" if r["deltableu"] is not None else "-"
        model = f"{r['name']}@{r['revision']}" + (f" + {r['adapter_path']}" if r["adapter_path"] else "")
        taint = f"  TAINTED {r['tainted_at'][:16]} (trained on erased data)" if r["tainted_at"] else ""
        print(f"{'*' if r['active'] else '':1} {r['id']:>4} {r['status']:<9} {bleu:>9}  {model}{taint}")
    return 0


def cmd_models_promote(config: Config, args: argparse.Namespace) -> int:
    """Raises DermError (an unknown id), which ``dermbot`` prints and exits 2 on.

    With ``[model] serve_adapters`` the adapter is registered with the server at once (after the
    commit), so a refusal shows here; the workers register it again at their switch anyway.
    """
    from dermvqa.drafting.lora_serving import register_active

    with _database(config) as db, db.write() as session:
        record = registry.promote(session, args.model_id, reason=args.reason, actor=_actor(args))
        spec = registry.spec_of(record)
        print(f"model {record.id} is now active ({record.name}@{record.revision})")
    if not register_active(config.model, spec):
        print(
            f"warning: the server at {config.model.api_base} did not register the adapter (see the log); "
            "the workers try again before their next batch and mark the model failed if the server refuses it"
        )
    return 0


def cmd_models_rollback(config: Config, args: argparse.Namespace) -> int:
    """Raises DermError (nothing to roll back to), which ``dermbot`` prints and exits 2 on.

    With ``[model] serve_adapters`` the retired adapter is unloaded from the server (after the commit).
    """
    from dermvqa.drafting.lora_serving import unload_adapter

    with _database(config) as db, db.write() as session:
        retired = registry.active_spec(session)
        record = registry.rollback(session, reason=args.reason, actor=_actor(args))
        print(f"rolled back: model {record.id} is active again ({record.name}@{record.revision})")
    if not unload_adapter(config.model, retired):
        print(f"warning: the server at {config.model.api_base} did not unload the retired adapter (see the log)")
    return 0


def add_commands(subparsers, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add ``train`` and ``models`` to a ``dermbot`` parser's subparsers (``parents``: options such as
    ``--config`` that every command accepts after its name too)."""
    parents = list(parents)
    train = subparsers.add_parser("train", parents=parents, help="the learning loop: show its schedule, or run it now")
    train.add_argument("--now", action="store_true", help="run the learning loop now, in this process")
    train.add_argument("--force", action="store_true", help="train even with fewer than min_new_cases new cases")
    train.set_defaults(func=cmd_train)

    models = subparsers.add_parser("models", parents=parents, help="the model registry: list, promote, roll back")
    sub = models.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", parents=parents, help="every registry entry (* marks the active one)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_models_list)
    promote = sub.add_parser("promote", parents=parents, help="make a registry entry the active model")
    promote.add_argument("model_id", type=int, metavar="ID")
    promote.add_argument("--reason", required=True, help="recorded with the promotion")
    promote.add_argument("--actor", help="who asks (default: cli:<user>)")
    promote.set_defaults(func=cmd_models_promote)
    rollback = sub.add_parser(
        "rollback", parents=parents, help="re-activate the model that was active before the current one"
    )
    rollback.add_argument("--reason", required=True, help="recorded with the rollback")
    rollback.add_argument("--actor", help="who asks (default: cli:<user>)")
    rollback.set_defaults(func=cmd_models_rollback)
