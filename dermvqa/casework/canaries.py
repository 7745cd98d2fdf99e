"""Safety checks against automation bias: planted faulty drafts ("canaries"), as pure rules.

With ``[review] canary_rate`` above 0, a review post now and then shows a faulty draft from the
curated, versioned list in ``canaries.json`` instead of the model's draft (``dermvqa.casework.
safety_checks`` does the database side). Approving it unedited is a miss: nothing reaches the
patient, the clinician is told, and the real draft is posted again. Editing or rejecting it is a
catch. Urgent cases are never planted on.

Everything here is a function of plain values: the decision to plant takes the rate and a random
draw in [0, 1) from the caller, so tests are deterministic.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from dermvqa.errors import DataFormatError

WRONG_SIDE, CONTRAINDICATED, MISSED_URGENT = "wrong_side", "contraindicated_treatment", "missed_urgent_sign"
KINDS = (WRONG_SIDE, CONTRAINDICATED, MISSED_URGENT)

# Outcomes of one planted draft.
PENDING = "pending"  # shown, no decision yet
CAUGHT_EDIT = "caught_edit"  # the clinician pressed Edit on it
CAUGHT_REJECT = "caught_reject"  # the clinician pressed Reject on it
MISSED_APPROVED = "missed_approved"  # approved unedited (nothing was sent)
SUPERSEDED = "superseded"  # a new draft was requested, or the case was decided or closed otherwise
OUTCOMES = (PENDING, CAUGHT_EDIT, CAUGHT_REJECT, MISSED_APPROVED, SUPERSEDED)
CAUGHT = frozenset({CAUGHT_EDIT, CAUGHT_REJECT})

# What a press on a planted post does to a pending check (the review actions' names).
_BY_ACTION = {"approve": MISSED_APPROVED, "edit": CAUGHT_EDIT, "reject": CAUGHT_REJECT, "regenerate": SUPERSEDED}

_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_PLACEHOLDER = re.compile(r"{(\w*)}")
_FIELDS = {"id", "kind", "text", "explanation"}


@dataclass(frozen=True)
class Canary:
    id: str
    kind: str
    text: str  # the faulty draft; wrong_side items hold {side}
    explanation: str  # what was wrong, shown to clinicians afterwards; may hold {side} and {patient_side}


@dataclass(frozen=True)
class CanaryList:
    version: str
    items: tuple[Canary, ...]

    def get(self, canary_id: str) -> Canary | None:
        return next((c for c in self.items if c.id == canary_id), None)


@dataclass(frozen=True)
class Planted:
    """One planted draft, ready to store: which item, of which list, and its texts for this case."""

    canary_id: str
    kind: str
    version: str
    text: str
    explanation: str


def parse_canaries(data: Any, source: str = "canaries.json") -> CanaryList:
    """Validate the list (``DataFormatError`` naming the item and field), in file order."""

    def bad(where: str, what: str) -> DataFormatError:
        return DataFormatError(f"{source}: {where}: {what}")

    if not isinstance(data, dict):
        raise bad("top level", "must be an object with 'version' and 'items'")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise bad("version", "must be a non-empty string")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise bad("items", "must be a non-empty list")
    seen: set[str] = set()
    out = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise bad(where, "must be an object")
        if set(item) != _FIELDS:
            raise bad(where, f"must have exactly the fields {sorted(_FIELDS)}, has {sorted(item)}")
        if not all(isinstance(item[k], str) and item[k].strip() for k in _FIELDS):
            raise bad(where, "every field must be a non-empty string")
        canary = Canary(item["id"], item["kind"], item["text"].strip(), item["explanation"].strip())
        where = f"item {canary.id!r}"
        if not _ID.fullmatch(canary.id):
            raise bad(where, "id must be lowercase letters, digits and dashes (2-63 characters)")
        if canary.id in seen:
            raise bad(where, "id is used twice")
        seen.add(canary.id)
        if canary.kind not in KINDS:
            raise bad(where, f"kind must be one of {', '.join(KINDS)}")
        in_text = set(_PLACEHOLDER.findall(canary.text))
        in_explanation = set(_PLACEHOLDER.findall(canary.explanation))
        if canary.kind == WRONG_SIDE and in_text != {"side"}:
            raise bad(where, "a wrong_side text must use {side} (and no other placeholder)")
        if canary.kind != WRONG_SIDE and (in_text or in_explanation):
            raise bad(where, "only wrong_side items may use placeholders")
        if not in_explanation <= {"side", "patient_side"}:
            raise bad(where, "the explanation may use only {side} and {patient_side}")
        out.append(canary)
    return CanaryList(version.strip(), tuple(out))


@functools.cache
def load_canaries() -> CanaryList:
    """The list shipped with the package (read and validated once)."""
    text = resources.files("dermvqa.casework").joinpath("canaries.json").read_text(encoding="utf-8")
    return parse_canaries(json.loads(text))


def should_plant(rate: float, draw: float) -> bool:
    """Plant when the draw (uniform in [0, 1)) falls under the rate: rate 0 never, rate 1 always."""
    return draw < rate


_BODY = (
    r"side|arm|forearm|elbow|hand|wrist|finger|thumb|palm|leg|thigh|knee|shin|calf|ankle|foot|feet|toe|heel|"
    r"sole|shoulder|hip|cheek|ear|eye|eyelid|eyebrow|temple|nostril|breast|chest|flank|buttock|groin|armpit|"
    r"jaw|neck|back|nipple|lip|shoulder blade"
)
_SIDE = re.compile(
    r"\b(left|right)(?:\s+(?:upper|lower|inner|outer|big|little|index|middle|ring))?\s+(?:" + _BODY + r")s?\b"
    r"|\bon (?:the|my|his|her|their) (left|right)\b",
    re.IGNORECASE,
)


def patient_side(description: str) -> str | None:
    """The one side of the body the description names ("left" / "right"), else None (none, or both).

    Only "left"/"right" before a body part or after "on the/my" count: "all right" or "right away"
    name no side.
    """
    sides = {(a or b).lower() for a, b in _SIDE.findall(description or "")}
    return sides.pop() if len(sides) == 1 else None


def opposite(side: str) -> str:
    return "right" if side == "left" else "left"


def eligible(items: Sequence[Canary], side: str | None) -> list[Canary]:
    """The items that fit a case: wrong_side ones only when the description names exactly one side."""
    return [c for c in items if c.kind != WRONG_SIDE or side is not None]


def choose(items: Sequence[Canary], draw: float) -> Canary:
    """The item a draw in [0, 1) picks (each equally likely)."""
    if not items:
        raise ValueError("no canary fits this case")
    return items[min(int(draw * len(items)), len(items) - 1)]


def plant(canaries: CanaryList, description: str, draw: float) -> Planted:
    """The planted draft for a case with this description (``draw`` in [0, 1) picks the item)."""
    side = patient_side(description)
    canary = choose(eligible(canaries.items, side), draw)
    values = {"side": opposite(side), "patient_side": side} if side else {}
    return Planted(
        canary.id,
        canary.kind,
        canaries.version,
        canary.text.format(**values) if values else canary.text,
        canary.explanation.format(**values) if values else canary.explanation,
    )


def outcome_after(current: str, action: str) -> str | None:
    """The outcome a press of ``action`` (approve, edit, reject, regenerate) on a planted post gives;
    None when the check is already over (it never changes twice)."""
    if current != PENDING:
        return None
    return _BY_ACTION[action]


@dataclass(frozen=True)
class CatchRate:
    planted: int  # every planted draft, decided or not
    caught: int  # edited or rejected
    missed: int  # approved unedited
    pending: int  # shown, not decided yet
    superseded: int  # regenerated or decided otherwise: counts neither way

    @property
    def rate(self) -> float | None:
        """Caught among those decided on the planted draft itself; None before the first."""
        decided = self.caught + self.missed
        return self.caught / decided if decided else None


def count_outcomes(outcomes: Iterable[str]) -> CatchRate:
    values = list(outcomes)
    return CatchRate(
        planted=len(values),
        caught=sum(v in CAUGHT for v in values),
        missed=values.count(MISSED_APPROVED),
        pending=values.count(PENDING),
        superseded=values.count(SUPERSEDED),
    )
