"""Red flags: descriptions that need urgent in-person care (pure; the rules are data).

Each rule names a danger sign and the patterns that reveal it; a rule fires when every one of its
``all_of`` groups matches at least one pattern (case-insensitive, on word boundaries). A fired rule
makes the case urgent (first in the clinicians' queue) and the patient is told at once to seek
urgent in-person care. The rules err on the side of caution: a false alarm costs a clinician a
look, a missed one can cost far more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class RedFlag:
    id: str
    label: str  # shown to clinicians and patients
    all_of: tuple[tuple[str, ...], ...]  # every group must match; any pattern in a group matches it


RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag(
        "fever_spreading_rash",
        "fever with a spreading rash",
        (
            (r"fever\w*", r"feverish", r"high temperature", r"temperature of 3[89]", r"chills"),
            (r"spread\w*", r"getting bigger", r"growing fast", r"all over", r"whole body", r"rash\w*"),
        ),
    ),
    RedFlag(
        "changing_or_bleeding_mole",
        "a mole that is changing fast or bleeding",
        (
            (r"mole\w*", r"birthmark\w*", r"dark spot\w*", r"nevus", r"naevus"),
            (
                r"bleed\w*",
                r"blood\w*",
                r"chang\w* (?:fast|quickly|rapidly)",
                r"rapidly chang\w*",
                r"grow\w* fast",
                r"growing quickly",
                r"getting bigger",
                r"changed (?:colou?r|shape|size)",
                r"ooz\w*",
                r"ulcerat\w*",
            ),
        ),
    ),
    RedFlag(
        "angioedema",
        "swelling of the lips, face, tongue or throat",
        (
            (r"swell\w*", r"swollen", r"puff\w*"),
            (r"lips?", r"face", r"facial", r"tongue", r"throat", r"eyelids?", r"mouth"),
        ),
    ),
    RedFlag(
        "breathing",
        "trouble breathing or swallowing",
        (
            (
                r"(?:hard|difficult\w*|trouble|struggling) (?:to )?(?:breath\w*|swallow\w*)",
                r"can'?t breathe",
                r"short(?:ness)? of breath",
                r"wheez\w*",
            ),
        ),
    ),
    RedFlag(
        "widespread_blistering",
        "widespread blistering or peeling skin",
        (
            (r"blister\w*", r"peel\w*", r"skin (?:is )?coming off", r"sloughing"),
            (
                r"widespread",
                r"all over",
                r"whole body",
                r"large areas?",
                r"everywhere",
                r"spreading",
                r"mouth",
                r"many",
            ),
        ),
    ),
    RedFlag(
        "eye_involved",
        "the eye is involved",
        (
            (r"eyes?", r"eyeball", r"vision", r"see properly", r"blurr\w*"),
            (
                r"rash\w*",
                r"blister\w*",
                r"red\w*",
                r"swell\w*",
                r"swollen",
                r"pain\w*",
                r"sore",
                r"shingles",
                r"vision",
                r"blurr\w*",
                r"see properly",
            ),
        ),
    ),
    RedFlag(
        "spreading_infection",
        "a red, hot, spreading area (possible cellulitis)",
        ((r"red\w*",), (r"hot", r"warm"), (r"spread\w*", r"red streaks?", r"red lines?")),
    ),
)


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


_COMPILED = tuple((flag, tuple(_compile(group) for group in flag.all_of)) for flag in RED_FLAGS)


def red_flags(text: str) -> list[RedFlag]:
    """The red flags a description raises, in rule order (empty when none)."""
    return [flag for flag, groups in _COMPILED if all(g.search(text) for g in groups)]


def flag_label(flag_id: str) -> str:
    """The readable label of a stored red-flag id (the id itself if the rule was since removed)."""
    return next((f.label for f in RED_FLAGS if f.id == flag_id), flag_id)
