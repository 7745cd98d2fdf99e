"""Canned replies' text (pure): which names and placeholders are allowed, and filling them in.

A template is the clinician's own answer text with placeholders in braces: ``{case}`` (the case
number, e.g. ``12``) and ``{date}`` (today, ISO ``2026-12-01``). ``{{`` and ``}}`` write literal
braces. Anything else in braces is refused when the template is added, so a template never fails
(or shows a raw ``{...}`` to a patient) when it is used.
"""

from __future__ import annotations

import datetime as dt
import re
import string

from dermvqa.errors import UsageError

PLACEHOLDERS = ("case", "date")
MAX_NAME = 32
MAX_TEXT = 3000  # leaves room for the disclaimer in one 4096-unit message
MAX_TEMPLATES = 20  # per clinician (one button each under the Edit prompt)
_NAME = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_NAME}}}$")


def check_name(name: str) -> str:
    """The name if it is 1-32 letters, digits, ``_`` or ``-``; a :class:`UsageError` otherwise."""
    if not _NAME.match(name):
        raise UsageError(f"a template name is 1-{MAX_NAME} letters, digits, _ or - (got {name[:40]!r})")
    return name


def check_text(text: str) -> str:
    """The stripped text if it is non-empty, short enough and uses only known placeholders."""
    text = text.strip()
    if not text:
        raise UsageError("the template text is empty")
    if len(text) > MAX_TEXT:
        raise UsageError(f"the template text is {len(text)} characters long; at most {MAX_TEXT} are allowed")
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        raise UsageError(f"unbalanced braces; placeholders are {known} (write {{{{ or }}}} for a brace)") from None
    for _, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise UsageError(f"unknown placeholder {shown}; the placeholders are {known}")
    return text


def expand(text: str, case_id: int, today: dt.date) -> str:
    """The template filled in for one case (the text was checked by :func:`check_text` when added)."""
    return text.format(case=case_id, date=today.isoformat())
