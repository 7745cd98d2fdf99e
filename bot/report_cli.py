"""``dermbot report``: the clinician console's figures and charts for a period, as files.

    dermbot report --since 2026-11-01 [--until 2026-11-30] [--clinician ID] --out DIR

writes ``DIR/report.md`` (tables per clinician and overall, the published-study context line, links
to the charts) and ``DIR/decisions.png``, ``DIR/answer_times.png``. Both days are included; times are
UTC. Only ids, counts, shares and durations are written or printed: no patient text. A bad date
exits 2 with one line naming the expected form.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dermvqa.config import Config
from dermvqa.errors import UsageError
from dermvqa.metrics.period import Period, between
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.keys import load_data_key

CHARTS = {"Decisions on drafts": "decisions.png", "Time from submission to answer": "answer_times.png"}


def write_report(folder: Path, figures, period: Period) -> dict[str, Path]:
    """report.md and the charts in ``folder`` (created); returns their paths by name."""
    from dermvqa.charts import answer_times_chart, decisions_chart
    from dermvqa.metrics.review_report import markdown

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "report.md"}
    for name, draw in (("decisions.png", decisions_chart), ("answer_times.png", answer_times_chart)):
        paths[name] = folder / name
        paths[name].write_bytes(draw(figures))
    paths["markdown"].write_text(markdown(figures, period, CHARTS), encoding="utf-8")
    return paths


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from dermvqa.casework.console import load_figures

    period = between(args.since, args.until)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        figures = load_figures(db, period.since, period.until, clinician_id=args.clinician)
    finally:
        db.dispose()
    paths = write_report(out, figures, period)
    d = figures.overall.decisions
    print(f"report for {period.label()}: {d.total} decisions, {figures.overall.timings.answer.n} answered cases")
    print(f"wrote {paths['markdown']} and {len(paths) - 1} charts")
    return 0


def add_commands(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report", parents=parents, help="the clinician console's figures and charts for a period (report.md + PNGs)"
    )
    report.add_argument("--since", required=True, help="first day, YYYY-MM-DD (UTC)")
    report.add_argument("--until", help="last day, YYYY-MM-DD, included (default: up to now)")
    report.add_argument("--clinician", type=int, help="only this clinician's decisions and cases (Telegram user id)")
    report.add_argument("--out", required=True, help="folder for report.md and the charts (created)")
    report.set_defaults(func=cmd_report)
