"""Asking a drafting VLM one closed-question family as a multiple-choice question (pure).

The prompt lists the family's options numbered from 1 ("Not mentioned" is left out: a family the
model cannot answer falls back to the caller's default). :func:`parse_choice` reads the reply: a
leading option number (or numbers, for a multi-answer family), else option names that occur in
the reply, else nothing. A reply it cannot read returns None, never a guess.
"""

from __future__ import annotations

import re

from dermvqa.closedqa.questions import Family

_LEADING_NUMBERS = re.compile(r"^\W*(?:options?|answers?)?\W*(\d{1,2}(?:\s*(?:,|and|&|/)\s*\d{1,2})*)\b", re.I)


def choice_options(family: Family) -> tuple[str, ...]:
    """The options offered to the model: every option but "Not mentioned", in index order."""
    return tuple(option for index, option in enumerate(family.options) if index != family.not_mentioned)


def choice_prompt(family: Family, query: str) -> str:
    """The whole instruction for one family (sent with ``prompts.RAW_PROMPT_ID``)."""
    numbered = "\n".join(f"{number}. {option}" for number, option in enumerate(choice_options(family), start=1))
    if family.multi:
        how = f"Answer with the numbers of every option that applies (at most {len(family.qids)}), separated by commas."
    else:
        how = "Answer with the number of the one option that fits best."
    description = f"The patient wrote: {query.strip()}\n" if query.strip() else ""
    return f"Look at the skin in the image. {description}Question: {family.question}\n{numbered}\n{how}"


def parse_choice(reply: str, family: Family) -> tuple[int, ...] | None:
    """The option indices a reply chooses (indices into ``family.options``), or None when unreadable."""
    offered = choice_options(family)
    limit = len(family.qids) if family.multi else 1
    leading = _LEADING_NUMBERS.match(reply)
    if leading:
        numbers = [int(n) for n in re.findall(r"\d+", leading.group(1))]
        chosen = list(dict.fromkeys(n - 1 for n in numbers if 1 <= n <= len(offered)))
        if chosen and len(chosen) <= limit:
            return tuple(family.options.index(offered[n]) for n in chosen)
        return None
    lowered = reply.lower()
    named = [index for index, option in enumerate(family.options) if option in offered and _names(lowered, option)]
    if named and len(named) <= limit:
        return tuple(named)
    return None


def _names(lowered_reply: str, option: str) -> bool:
    """Whether the reply names the option as a whole phrase ("red" is not "reddish", "back" not "backache")."""
    words = re.sub(r"\s*\(.*?\)", "", option).lower()  # "multiple (please specify)" -> "multiple"
    return re.search(rf"\b{re.escape(words)}\b", lowered_reply) is not None
