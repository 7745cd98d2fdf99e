"""``dermbot``: the service command line.

dermbot [--config PATH] config     print the effective configuration (secrets never shown)
dermbot [--config PATH] migrate    upgrade the database to the newest schema
dermbot [--config PATH] worker     run a drafting worker (loads the model once)

``--config`` and ``-v`` may also follow the command (``dermbot run --config FILE``).
Exit status: 0 done; 1 some work failed; 2 bad arguments, configuration or path; 3 the model
cannot be loaded; 4 the database or Telegram cannot be reached (``dermvqa.errors.EXIT_CODES``).
Each error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence

from bot.keys_cli import add_commands as add_keys_commands
from bot.logsetup import configure_logging
from bot.report_cli import add_commands as add_report_commands
from bot.retention_cli import add_commands as add_retention_commands
from bot.room_cli import add_commands as add_room_commands
from dermvqa.config import WEBHOOK_SECRET_ENV, Config, load_config, read_token
from dermvqa.errors import ConfigError, DermError, UnreachableError, explain
from dermvqa.storage.database import mask_password
from training.cli import add_commands as add_training_commands

logger = logging.getLogger(__name__)

CONFIG_HELP = "config file (default: $DERMBOT_CONFIG, else built-in defaults)"


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    data = dataclasses.asdict(config)
    data["base_dir"] = str(config.base_dir)
    data["telegram"]["token"] = "set (DERMBOT_TELEGRAM_TOKEN)" if read_token() else "not set"
    secret_set = bool(os.environ.get(WEBHOOK_SECRET_ENV, "").strip())
    data["telegram"]["webhook_secret"] = f"set ({WEBHOOK_SECRET_ENV})" if secret_set else "not set (drawn at start)"
    data["database"]["url"] = mask_password(config.database.url)
    print(json.dumps(data, indent=2, default=str))
    return 0


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from dermvqa.storage.database import current_revision, open_database, upgrade
    from dermvqa.storage.keys import load_data_key

    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        print(f"database at revision {current_revision(db)}")
    finally:
        db.dispose()
    return 0


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from bot.stopsignal import install_stop_handlers
    from dermvqa.cpu_priority import lower_priority
    from dermvqa.drafting.factory import create_drafter
    from dermvqa.errors import ModelLoadError
    from dermvqa.storage.database import open_database, upgrade
    from dermvqa.storage.keys import load_data_key
    from dermvqa.worker import Worker

    lower_priority(config.worker.nice, "worker")  # first, before the heartbeat and the model start threads
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
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


def _serve(config: Config, args: argparse.Namespace, **parts: bool) -> int:
    """Check Telegram first (one line naming the host if it cannot be reached), then run the service."""
    from telegram.error import InvalidToken, NetworkError

    from bot.preflight import check_telegram, telegram_host
    from bot.service import require_token, run_service

    check_telegram(config.telegram.base_url, require_token())
    try:
        return run_service(config, args.config, **parts)
    except InvalidToken:
        raise ConfigError(f"Telegram at {telegram_host(config.telegram.base_url)} refused the bot token") from None
    except NetworkError as exc:  # lost between the check and the bootstrap
        host = telegram_host(config.telegram.base_url)
        raise UnreachableError(f"Telegram could not be reached at {host} ({type(exc).__name__})") from None


def cmd_bot(config: Config, args: argparse.Namespace) -> int:
    return _serve(config, args, with_worker=False, with_scheduler=False)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    return _serve(config, args, with_scheduler=not args.no_scheduler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermbot", description="DermBot service command line")
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # The same options after the command; SUPPRESS keeps a value given before it when absent after.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    parents = [common]
    sub.add_parser("config", parents=parents, help="print the effective configuration").set_defaults(func=cmd_config)
    sub.add_parser("migrate", parents=parents, help="upgrade the database to the newest schema").set_defaults(
        func=cmd_migrate
    )
    w = sub.add_parser("worker", parents=parents, help="run a drafting worker")
    w.add_argument("--worker-id", help="default: HOST:PID")
    w.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty (batch runs)")
    w.set_defaults(func=cmd_worker)
    sub.add_parser("bot", parents=parents, help="run the Telegram bot alone").set_defaults(func=cmd_bot)
    r = sub.add_parser("run", parents=parents, help="run the bot, a drafting worker and the nightly training scheduler")
    r.add_argument(
        "--no-scheduler",
        action="store_true",
        help="schedule neither nightly training nor the retention purge (then run `dermbot retention purge` from cron)",
    )
    r.set_defaults(func=cmd_run)
    add_training_commands(sub, parents)  # train, models
    add_room_commands(sub, parents)  # room status|ack
    add_retention_commands(sub, parents)  # retention status|purge [--dry-run]
    add_keys_commands(sub, parents)  # keys new|rotate
    add_report_commands(sub, parents)  # report --since DATE --out DIR
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config)
        return args.func(config, args)
    except (DermError, OSError) as exc:  # a cause a person can fix: one line, no traceback
        logger.debug("details of the error below", exc_info=args.verbose)
        message, code = explain(exc)
        print(f"dermbot: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
