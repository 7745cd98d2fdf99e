"""The clinician console's messages (pure): ``/stats`` figures, the template list and the template
buttons offered under an Edit prompt.

Every text stays within one Telegram message (4096 UTF-16 units): clinicians that do not fit are
counted and left to ``dermbot report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.rendering import text_parts
from bot.telegram_limits import MESSAGE_LIMIT, callback_data_fits, fits, truncate
from dermvqa.casework.templates import Template
from dermvqa.metrics.period import Period
from dermvqa.metrics.review_figures import ConsoleFigures
from dermvqa.metrics.review_report import STUDY_LINE, block_lines, summary_lines

TEMPLATE_BUTTONS_PER_ROW = 2
TEMPLATE_PREVIEW = 100  # characters of each template shown by /templates


def console_text(head: str, figures: ConsoleFigures, period: Period, limit: int = MESSAGE_LIMIT) -> str:
    """``head`` (the all-time counts and what needs attention), then the period's figures: everyone,
    each clinician while they fit, any extra blocks, and the published-study context line."""
    tail = [*block_lines(figures), STUDY_LINE]
    lines = [head, "", f"Period {period.label()}:", *summary_lines(figures.overall)]
    for index, person in enumerate(figures.clinicians):
        more = summary_lines(person)
        left = len(figures.clinicians) - index
        if not fits("\n".join([*lines, *more, f"(and {left} more clinicians)", *tail]), limit):
            lines.append(f"(and {left} more clinicians: `dermbot report` lists everyone)")
            break
        lines += more
    return truncate("\n".join([*lines, *tail]), limit)


def template_list_text(items: Sequence[Template]) -> str:
    if not items:
        return (
            "You have no templates yet. Add one with /templates add NAME TEXT, e.g. "
            "/templates add followup Please send a new photo of case #{case} in two weeks."
        )
    lines = ["Your templates (offered when you press Edit):"]
    lines += [f"- {t.name}: {truncate(' '.join(t.text.split()), TEMPLATE_PREVIEW)}" for t in items]
    lines.append("Remove one with /templates remove NAME.")
    return truncate("\n".join(lines), MESSAGE_LIMIT)


def template_offer_parts(items: Sequence[Template], case_id: int) -> list[dict[str, Any]]:
    """A message with one button per template (``tp:<id>``), or nothing for a clinician without templates."""
    if not items:
        return []
    buttons = [[t.name, f"tp:{t.template_id}"] for t in items]
    assert all(callback_data_fits(data) for _, data in buttons)
    rows = [buttons[i : i + TEMPLATE_BUTTONS_PER_ROW] for i in range(0, len(buttons), TEMPLATE_BUTTONS_PER_ROW)]
    return text_parts(
        f"Or use one of your templates (filled in for case #{case_id}; you confirm before it is sent):", rows
    )
