"""Answers to the closed questions that a patient's description states clearly (rules, no model).

``extract("Red itchy patches on my left forearm for three weeks")`` ->
``{"CQID011": (2,), "CQID015": (2,), "CQID025": (0,)}``: only the families the text answers, and
only when a rule is confident (a family it cannot settle is left out, never guessed). Negation is
handled for the yes/no families ("not itchy", "no itching or pain", "neither painful nor itchy").

Tuned on the MEDIQA-MAGIC 2025 train split only; the valid split measures it (see
the README: ``dermvqa predict-closed --split valid``). The gold answers also describe the
photos, which text cannot see, so families such as colour and lesion label are left out unless
the words are unambiguous.
"""

from __future__ import annotations

import re

# Onset option indices (CQID015).
HOURS, DAYS, WEEKS, MONTHS, OVER_A_YEAR, YEARS = 0, 1, 2, 3, 4, 5

_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "half": 0.5, "several": 3, "few": 3, "a few": 3, "couple": 2,
    "a couple of": 2, "some": 3, "many": 5, "dozens of": 20,
}  # fmt: skip
_NUMBER = r"(?:\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(k) for k in _NUMBERS), key=len, reverse=True)) + r")"
_UNIT = r"(hour|day|week|month|year)s?"
# "for three weeks", "3 months ago", "over a year", "half a year", "for more than ten years"; not ages
# ("a 50-year-old", "65 years old") and not treatment courses ("taken for two weeks").
_DURATION = re.compile(
    rf"\b(?P<number>{_NUMBER})(?:\s*(?:to|-|or)\s*{_NUMBER})?[\s-]+(?:and\s+a\s+half\s+)?{_UNIT}\b(?P<after>[\s-]*old)?",
    re.IGNORECASE,
)
_HALF = re.compile(r"\bhalf\s+an?\s+(month|year)\b", re.IGNORECASE)
_TREATMENT = re.compile(
    r"\b(?:tak(?:e|en|ing)|took|used?|using|appl(?:y|ied|ying)|treat(?:ed|ment)|medication|ointment|"
    r"injections?|hospitali[sz]ed|pregnan\w*|surgery|diabetes|history of (?!\w+ (?:rash|lesion)))\b[^.;]*$",
    re.IGNORECASE,
)
_LONG_AGO = re.compile(r"\b(?:since (?:childhood|birth|(?:he|she|I) was (?:young|a child|born))|from birth)\b", re.I)

# Itch (CQID025): 0 yes, 1 no.
_ITCH = r"(?:itch\w*|prurit\w*)"
_NO_ITCH = re.compile(
    rf"(?:\b(?:no|not|non|without|nor|neither|never|free of)|n't)\b[\w\s,/-]{{0,25}}?{_ITCH}"
    rf"|\bnon-{_ITCH}|\b{_ITCH}\s*(?::\s*)?(?:no|none|absent)\b",
    re.IGNORECASE,
)
_YES_ITCH = re.compile(rf"\b{_ITCH}", re.IGNORECASE)

# Site (CQID011) option indices and the words that name them. "back" is a site only when it is not
# "back of the hand/head/neck", "came back", "back then"...
_SITES: tuple[tuple[int, str], ...] = (
    (0, r"face|facial|scalp|forehead|cheeks?|nose|eyes?|eyelids?|eyebrows?|ears?|lips?|chin|head|mouth|temple"),
    (1, r"neck"),
    (2, r"arms?|forearms?|hands?|fingers?|fingertips?|palms?|wrists?|elbows?|upper (?:limbs?|extremit\w+)|"
        r"(?:four |both |all )?limbs"),
    (3, r"legs?|feet|foot|toes?|thighs?|knees?|ankles?|calf|calves|soles?|shins?|heels?|"
        r"lower (?:limbs?|extremit\w+)|(?:four |both |all )?limbs"),
    (4, r"chest|abdomen|abdominal|belly|breasts?|trunk|torso|umbilic\w+|navel"),
    (5, r"back|lumbar|waist"),
    (6, r"armpits?|axilla\w*|genitals?|genital area|scrotum|scrotal|penis|glans|foreskin|vulva|labia|vagina\w*|"
        r"buttocks?|groin|perineum|"
        r"perianal|anus|hips?"),
)  # fmt: skip
_SITE_PATTERNS = tuple((index, re.compile(rf"\b(?:{words})\b", re.IGNORECASE)) for index, words in _SITES)
# "back of the hand" names the hand: drop "back of the", keep the part.
_BACK_OF = re.compile(
    r"\bback of (?:the |his |her |my |their |both )?(?=(?:hands?|head|neck|ears?|feet|foot|fingers?|knees?|legs?)\b)",
    re.IGNORECASE,
)
_NOT_BACK = re.compile(
    r"\b(?:(?:came|come|comes|coming|went|go|goes|going|get|gets|got|grew|grow|write|wrote|report|call|bounce\w*)\s+"
    r"back|back then|back and forth|back home|looking back|back to)\b",
    re.IGNORECASE,
)

# Extent (CQID010): 2 widespread.
_WIDESPREAD = re.compile(
    r"\b(?:all over (?:the |his |her |my )?body|(?:the )?whole body|entire body|generali[sz]ed|widespread|"
    r"full body|all over)\b",
    re.IGNORECASE,
)

# Colour (CQID034): 2 red, only when no other colour is named (several colours are a "combination"
# the photo decides). Texture (CQID036): 1 rough.
_RED = re.compile(r"\b(?:red|redness|reddish|reddened|erythema\w*)\b", re.IGNORECASE)
_OTHER_COLOUR = re.compile(
    r"\b(?:white|whitish|brown\w*|black|dark|purple|purplish|pink\w*|blue|bluish|yellow\w*|grey|gray|pigment\w*)\b",
    re.IGNORECASE,
)
_ROUGH = re.compile(r"\b(?:rough|coarse)\b", re.IGNORECASE)


def _duration_option(number: float, unit: str) -> int:
    unit = unit.lower()
    if unit == "hour":
        return HOURS
    if unit == "day":
        return DAYS if number < 28 else WEEKS  # "20 days" is still days in the gold; 28+ reads as weeks
    if unit == "week":
        return WEEKS if number < 5 else MONTHS
    if unit == "month":
        return MONTHS if number < 12 else (OVER_A_YEAR if number < 24 else YEARS)
    return MONTHS if number < 1 else (OVER_A_YEAR if number < 2 else YEARS)


def _number(word: str) -> float:
    word = word.lower()
    return float(word) if word[0].isdigit() else float(_NUMBERS[word])


def onset(text: str) -> int | None:
    """The onset option of the longest illness duration the text states, or None."""
    found: list[int] = []
    for match in _DURATION.finditer(text):
        before = text[max(0, match.start() - 12) : match.start()].lower()
        if re.search(r"(?:half|times|once|twice|per|every)\s*$", before):
            continue  # "half a year" (counted below), "a few times a year" (a frequency)
        if match.group("after") or re.search(r"\bold\b|\baged?\b", text[match.end() : match.end() + 6]):
            continue  # an age, not a duration
        if _TREATMENT.search(text[max(0, match.start() - 60) : match.start()]):
            continue  # how long a treatment or another illness lasted
        found.append(_duration_option(_number(match.group("number")), match.group(2)))
    for match in _HALF.finditer(text):
        found.append(WEEKS if match.group(1).lower() == "month" else MONTHS)
    if _LONG_AGO.search(text):
        found.append(YEARS)
    return max(found) if found else None


def itch(text: str) -> int | None:
    """0 (itchy), 1 (not itchy) or None when the text says nothing about itching."""
    if _NO_ITCH.search(text):
        # "not itchy at first but now very itchy": a later positive mention outside the negation wins
        rest = _NO_ITCH.sub(" ", text)
        if not _YES_ITCH.search(rest):
            return 1
        return 0 if re.search(r"\b(?:very|severe\w*|intense\w*|unbearabl\w*|extremely)\b", rest, re.I) else None
    return 0 if _YES_ITCH.search(text) else None


def sites(text: str) -> tuple[int, ...]:
    """The site options the text names, in option order (empty when none)."""
    cleaned = _NOT_BACK.sub(" ", _BACK_OF.sub(" ", text))
    return tuple(index for index, pattern in _SITE_PATTERNS if pattern.search(cleaned))


def extent(text: str) -> int | None:
    """2 (widespread) when the text says so, else None."""
    return 2 if _WIDESPREAD.search(text) else None


def colour(text: str) -> int | None:
    """2 (red) when red is the only colour the text names, else None."""
    return 2 if _RED.search(text) and not _OTHER_COLOUR.search(text) else None


def texture(text: str) -> int | None:
    """1 (rough) when the text says the surface is rough, else None."""
    return 1 if _ROUGH.search(text) else None


def extract(text: str) -> dict[str, tuple[int, ...]]:
    """The families the text answers clearly: family id -> chosen option indices."""
    answers: dict[str, tuple[int, ...]] = {}
    if (value := extent(text)) is not None:
        answers["CQID010"] = (value,)
    if found := sites(text)[:6]:
        answers["CQID011"] = found
    if (value := onset(text)) is not None:
        answers["CQID015"] = (value,)
    if (value := itch(text)) is not None:
        answers["CQID025"] = (value,)
    if (value := colour(text)) is not None:
        answers["CQID034"] = (value,)
    if (value := texture(text)) is not None:
        answers["CQID036"] = (value,)
    return answers
