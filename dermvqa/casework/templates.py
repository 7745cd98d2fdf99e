"""Clinicians' canned replies in the database: add (or replace), list, remove, fill in for a case.

Templates belong to the clinician who added them; one clinician never sees or uses another's. They
hold no patient data (placeholders are filled in only when used), so erasing a patient leaves them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from dermvqa.casework.template_text import MAX_TEMPLATES, check_name, check_text, expand
from dermvqa.errors import UsageError
from dermvqa.storage.database import Database
from dermvqa.storage.models import ReplyTemplate, utcnow


@dataclass(frozen=True)
class Template:
    template_id: int
    name: str
    text: str


def _view(row: ReplyTemplate) -> Template:
    return Template(row.id, row.name, row.text)


def save_template(db: Database, clinician_id: int, name: str, text: str) -> tuple[Template, bool]:
    """Add the template, or replace the text of the clinician's template of that name.

    Returns it and whether it is new. A bad name or text, or one template too many, is a
    :class:`UsageError` whose message can be shown to the clinician as it is.
    """
    name, text = check_name(name), check_text(text)
    with db.write() as session:
        row = session.scalar(
            select(ReplyTemplate).where(ReplyTemplate.clinician_id == clinician_id, ReplyTemplate.name == name)
        )
        if row is not None:
            row.text, row.updated_at = text, utcnow()
            return _view(row), False
        count = session.scalar(
            select(func.count()).select_from(ReplyTemplate).where(ReplyTemplate.clinician_id == clinician_id)
        )
        if count >= MAX_TEMPLATES:
            raise UsageError(f"you have {count} templates, the most allowed; remove one first")
        row = ReplyTemplate(clinician_id=clinician_id, name=name, text=text)
        session.add(row)
        session.flush()
        return _view(row), True


def list_templates(db: Database, clinician_id: int) -> list[Template]:
    with db.read() as session:
        rows = session.scalars(
            select(ReplyTemplate).where(ReplyTemplate.clinician_id == clinician_id).order_by(ReplyTemplate.name)
        )
        return [_view(r) for r in rows]


def remove_template(db: Database, clinician_id: int, name: str) -> bool:
    """Remove the clinician's template of that name; False when they have none by that name."""
    with db.write() as session:
        row = session.scalar(
            select(ReplyTemplate).where(ReplyTemplate.clinician_id == clinician_id, ReplyTemplate.name == name)
        )
        if row is None:
            return False
        session.delete(row)
        return True


def filled_template(db: Database, clinician_id: int, template_id: int, case_id: int, today: dt.date) -> str | None:
    """The clinician's template ``template_id`` filled in for ``case_id``; None if it is not theirs or gone."""
    with db.read() as session:
        row = session.get(ReplyTemplate, template_id)
        if row is None or row.clinician_id != clinician_id:
            return None
        return expand(row.text, case_id, today)
