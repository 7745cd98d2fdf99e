"""The one place where a draft or answer gets its disclaimer (stored texts stay clean)."""

from __future__ import annotations


def with_disclaimer(text: str, disclaimer: str) -> str:
    """The text as a person sees it: the answer, a blank line, then the configured disclaimer."""
    text = text.strip()
    return f"{text}\n\n{disclaimer.strip()}" if text else disclaimer.strip()
