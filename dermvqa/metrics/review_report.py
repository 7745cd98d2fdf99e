"""The clinician console's figures in words (pure): lines for ``/stats`` and a Markdown report.

Only clinician ids, counts, shares and durations are written: never a patient's words, a draft or
an answer. Extra figure blocks (:class:`dermvqa.metrics.review_figures.FigureBlock`) follow the
standard figures in both forms.
"""

from __future__ import annotations

from collections.abc import Mapping

from dermvqa.metrics.period import Period
from dermvqa.metrics.review_figures import (
    DECISION_LABELS,
    DECISIONS,
    STUDY_DRAFT_USE,
    ClinicianFigures,
    ConsoleFigures,
    Timing,
)

STUDY_LINE = (
    f"For context: draft use ~{STUDY_DRAFT_USE:.0%} in published studies of AI-drafted patient replies "
    "(Stanford, Penn, a New York health system)."
)


def share_text(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def hours_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def distance_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def timing_text(timing: Timing) -> str:
    if not timing.n:
        return "n/a (none)"
    return f"p50 {hours_text(timing.p50)}, p90 {hours_text(timing.p90)} (n={timing.n})"


def who(figures: ClinicianFigures) -> str:
    return "All clinicians" if figures.clinician_id is None else f"Clinician {figures.clinician_id}"


def summary_lines(figures: ClinicianFigures) -> list[str]:
    """One clinician's (or everyone's) figures as a few short lines."""
    d, t = figures.decisions, figures.timings
    if d.total:
        shares = ", ".join(f"{DECISION_LABELS[a]} {share_text(d.shares[a])}" for a in DECISIONS)
        lines = [f"{who(figures)}: {d.total} decisions: {shares}; draft used {share_text(d.draft_use)}"]
        lines.append(
            f"  edit distance (0 = unedited, 1 = rewritten): {distance_text(d.edit_distance_mean)} over drafts sent, "
            f"{distance_text(d.edit_distance_edited_mean)} over edited ones"
        )
    else:
        lines = [f"{who(figures)}: no decisions"]
    lines.append(f"  to first review: {timing_text(t.first_review)}; urgent: {timing_text(t.urgent_first_review)}")
    lines.append(f"  to answer: {timing_text(t.answer)}; urgent: {timing_text(t.urgent_answer)}")
    return lines


def block_lines(figures: ConsoleFigures) -> list[str]:
    lines = []
    for block in figures.blocks:
        lines.append(f"{block.title}: " + "; ".join(f"{label} {value}" for label, value in block.rows))
    return lines


def _columns(figures: ConsoleFigures) -> list[ClinicianFigures]:
    return [figures.overall, *figures.clinicians]


def markdown(figures: ConsoleFigures, period: Period, charts: Mapping[str, str] | None = None) -> str:
    """The report page: decisions and timings per clinician and overall as tables, links to the charts
    (``charts``: title -> PNG file name beside the report)."""
    columns = _columns(figures)
    heads = ["all"] + [str(c.clinician_id) for c in figures.clinicians]
    header = "| | " + " | ".join(heads) + " |"
    rule = "| --- |" + " ---: |" * len(heads)
    out = [f"# Clinician console: {period.label()}", "", STUDY_LINE, "", "## Decisions on drafts", "", header, rule]
    out.append("| decisions | " + " | ".join(str(c.decisions.total) for c in columns) + " |")
    for action in DECISIONS:
        out.append(
            f"| {DECISION_LABELS[action]} | "
            + " | ".join(f"{c.decisions.counts[action]} ({share_text(c.decisions.shares[action])})" for c in columns)
            + " |"
        )
    measures = (
        ("**draft used** (unedited or edited)", lambda d: share_text(d.draft_use)),
        ("edit distance, drafts sent", lambda d: distance_text(d.edit_distance_mean)),
        ("edit distance, edited drafts", lambda d: distance_text(d.edit_distance_edited_mean)),
    )
    for label, shown in measures:
        out.append(f"| {label} | " + " | ".join(shown(c.decisions) for c in columns) + " |")
    out += [
        "",
        "Edit distance: character Levenshtein distance between the draft as shown (without the disclaimer) and "
        "the text sent (before the disclaimer), divided by the longer one's length; 0 for an unedited approval.",
        "",
        "## Times from submission",
        "",
        "A case counts for the clinician who made its first decision (first review) and the one who approved it "
        "(answer). Cases submitted in the period.",
        "",
        header,
        rule,
    ]
    rows = (
        ("first review", lambda c: c.timings.first_review),
        ("answer", lambda c: c.timings.answer),
        ("urgent: first review", lambda c: c.timings.urgent_first_review),
        ("urgent: answer", lambda c: c.timings.urgent_answer),
    )
    for label, pick in rows:
        out.append(f"| {label} | " + " | ".join(timing_text(pick(c)) for c in columns) + " |")
    for block in figures.blocks:
        out += ["", f"## {block.title}", "", "| | value |", "| --- | ---: |"]
        out += [f"| {label} | {value} |" for label, value in block.rows]
    if charts:
        out += ["", "## Charts", ""]
        out += [f"![{title}]({name})" for title, name in charts.items()]
    return "\n".join(out) + "\n"
