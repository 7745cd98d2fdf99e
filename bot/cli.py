"""``dermbot``: the service command line.

dermbot [--config PATH] config     print the effective configuration (secrets never shown)
dermbot [--config PATH] migrate    upgrade the database to the newest schema
dermbot [--config PATH] worker     run a drafting worker (loads the model once)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from bot.logsetup import configure_logging
from dermvqa.config import Config, load_config, read_token
from dermvqa.errors import DermError
from training.cli import add_commands as add_training_commands

logger = logging.getLogger(__name__)


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    data = dataclasses.asdict(config)
    data["base_dir"] = str(config.base_dir)
    data["telegram"]["token"] = "set (DERMBOT_TELEGRAM_TOKEN)" if read_token() else "not set"
    print(json.dumps(data, indent=2, default=str))
    return 0


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from dermvqa.storage.database import current_revision, open_database, upgrade

    db = open_database(config.database_url, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        print(f"database at revision {current_revision(db)}")
    finally:
        db.dispose()
    return 0


def install_stop_handlers(stop: threading.Event) -> None:
    """First SIGTERM/SIGINT: finish the current batch and stop. Second: stop now (claims released)."""

    def handler(signum, _frame) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        logger.info("signal %s: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from dermvqa.drafting.factory import create_drafter
    from dermvqa.errors import ModelLoadError
    from dermvqa.storage.database import open_database, upgrade
    from dermvqa.worker import Worker

    db = open_database(config.database_url, busy_timeout_ms=config.database.busy_timeout_ms)
    upgrade(db)
    worker = Worker(config, db, lambda spec: create_drafter(spec, config.model), worker_id=args.worker_id)
    stop = threading.Event()
    install_stop_handlers(stop)
    try:
        worker.run(stop, exit_when_idle=args.exit_when_idle)
    except ModelLoadError as exc:
        print(f"dermbot worker: the model cannot be loaded, so no job was taken: {exc}", file=sys.stderr)
        return 3
    finally:
        worker.close()
        db.dispose()
    s = worker.stats
    logger.info("worker stopped: %d batches, %d drafted, %d failed", s.batches, s.drafted, s.failed)
    return 0


def cmd_bot(config: Config, args: argparse.Namespace) -> int:
    from bot.service import run_service

    return run_service(config, args.config, with_worker=False, with_scheduler=False)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from bot.service import run_service

    return run_service(config, args.config, with_scheduler=not args.no_scheduler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermbot", description="DermBot service command line")
    parser.add_argument("--config", help="config file (default: $DERMBOT_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("config", help="print the effective configuration").set_defaults(func=cmd_config)
    sub.add_parser("migrate", help="upgrade the database to the newest schema").set_defaults(func=cmd_migrate)
    w = sub.add_parser("worker", help="run a drafting worker")
    w.add_argument("--worker-id", help="default: HOST:PID")
    w.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty (batch runs)")
    w.set_defaults(func=cmd_worker)
    sub.add_parser("bot", help="run the Telegram bot alone").set_defaults(func=cmd_bot)
    r = sub.add_parser("run", help="run the bot, a drafting worker and the nightly training scheduler")
    r.add_argument("--no-scheduler", action="store_true", help="do not schedule nightly training")
    r.set_defaults(func=cmd_run)
    add_training_commands(sub)  # train, models
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config)
        return args.func(config, args)
    except DermError as exc:
        print(f"dermbot: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
