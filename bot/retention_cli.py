"""``dermbot retention status|purge``: the operator's view of the retention purge (dermvqa/casework/purge.py).

    dermbot retention status              the ages configured, and the last purge's counts
    dermbot retention purge [--dry-run]   purge now (``--dry-run``: count what would go, delete nothing)

``dermbot run`` purges every night at ``[retention] purge_schedule``; ``purge`` is for a service run
without the scheduler (``dermbot bot``, ``dermbot run --no-scheduler``: from cron) or to check a
configuration change first with ``--dry-run``. Output holds counts only, never ids or words.
"""

from __future__ import annotations

import argparse

from dermvqa.casework.purge import last_report, opened, purge
from dermvqa.config import Config, RetentionConfig
from dermvqa.retention import PurgeReport
from dermvqa.storage.database import upgrade

KEPT = (
    ("answered cases", "answered_days"),
    ("rejected cases", "rejected_days"),
    ("withdrawn cases", "withdrawn_days"),
    ("failed cases", "failed_days"),
    ("delivered messages (outbox)", "outbox_days"),
    ("message log", "message_log_days"),
    ("audit of clinicians' decisions", "audit_days"),
)


def _ages(retention: RetentionConfig) -> list[str]:
    lines = []
    for label, key in KEPT:
        days = getattr(retention, key)
        lines.append(f"  {label}: {'forever' if days == 0 else f'{days} days'}")
    return lines


def _counts(report: PurgeReport) -> list[str]:
    tainted = "not checked in a dry run" if report.dry_run else str(report.models_tainted)
    return [
        f"  cases: {report.cases} (answered {report.cases_answered}, rejected {report.cases_rejected}, "
        f"withdrawn {report.cases_withdrawn}, failed {report.cases_failed})",
        f"  cases kept while a message about them is owed: {report.cases_kept_owed}",
        f"  photos: {report.photos} (files: {report.photo_files})",
        f"  review posts withdrawn: {report.review_posts}",
        f"  outbox rows: {report.outbox}",
        f"  message log rows: {report.message_log}",
        f"  audit rows: {report.audit}",
        f"  models tainted (trained on a purged case): {tainted}",
    ]


def cmd_retention(config: Config, args: argparse.Namespace) -> int:
    with opened(config) as (db, store):
        upgrade(db)
        if args.action == "purge":
            report = purge(db, store, config.retention, dry_run=args.dry_run)
            head = "dry run: would purge" if args.dry_run else f"purged in {report.seconds:.1f}s"
            print(head)
            print("\n".join(_counts(report)))
            if args.dry_run:
                print("nothing was deleted")
            return 0
        zone = config.retention.timezone or config.training.timezone
        print(f"retention (purged at '{config.retention.purge_schedule}' {zone} by `dermbot run`):")
        print("\n".join(_ages(config.retention)))
        found = last_report(db)
        if found is None:
            print("last purge: none yet")
            return 0
        report, saved = found
        print(f"last purge: {saved:%Y-%m-%d %H:%M} UTC, {report.seconds:.1f}s")
        print("\n".join(_counts(report)))
        return 0


def add_commands(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("retention", parents=parents, help="data retention: status, or purge now")
    r.add_argument("action", choices=["status", "purge"])
    r.add_argument("--dry-run", action="store_true", help="purge: count what would be deleted, delete nothing")
    r.set_defaults(func=cmd_retention)
