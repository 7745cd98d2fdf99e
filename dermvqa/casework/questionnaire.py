"""The structured intake: the closed questions asked after the description, as pure state changes.

After the description, the families the text already answers are pre-filled (``dermvqa.closedqa.
extractor``) and shown in one message the patient confirms with one tap ("Correct") or opens
("Change": those families are then asked like the others, their suggestion marked). The other
families follow one message at a time, the next only after the previous was answered or skipped;
a multi-answer family (site, size, lesion type) toggles options until "Done". After the last one a
summary offers "Change an answer" and Submit. Submit is possible at any point: whatever is not
answered is "Not mentioned" in the challenge's JSON.

No I/O here: a :class:`Questionnaire` (stored as JSON with its case) and a press give a new
questionnaire and the :data:`Step` values the bot renders. Every question or pre-fill message
carries a serial number, so a button of a message that was answered or replaced changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dermvqa.closedqa.questions import Family, load_families

# How each family got its answer (kept per case: the review card and evaluation can tell them apart).
PREFILLED = "prefilled"  # read from the description, not confirmed (yet)
CONFIRMED = "confirmed"  # read from the description, confirmed by the patient with one tap
CHOSEN = "chosen"  # the patient's own answer
SKIPPED = "skipped"  # the patient pressed Skip (or Done with nothing chosen)
SUGGESTED = "suggested"  # read from the description, the patient chose to answer it themselves (not yet)
SOURCES = (PREFILLED, CONFIRMED, CHOSEN, SKIPPED, SUGGESTED)
# Answers that count in the challenge's JSON (a suggestion the patient opened does not, until answered).
COUNTED = frozenset({PREFILLED, CONFIRMED, CHOSEN})
# The patient's own word on a family: a new description never overrides these.
OWN = frozenset({CONFIRMED, CHOSEN, SKIPPED})


@dataclass(frozen=True)
class Answer:
    source: str
    chosen: tuple[int, ...] = ()  # option indices, never "Not mentioned"


@dataclass(frozen=True)
class Questionnaire:
    answers: Mapping[str, Answer] = field(default_factory=dict)  # by family id
    asking: str | None = None  # the family whose question message awaits an answer
    selection: tuple[int, ...] = ()  # a multi family's options toggled so far (before Done)
    asking_serial: int = 0  # the serial of that question's message
    prefill_serial: int = 0  # the serial of the pre-fill message awaiting Correct/Change (0: none)
    serial: int = 0  # the last serial given to a message
    started: bool = False  # the first question (or pre-fill) was sent

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": {f: {"source": a.source, "chosen": list(a.chosen)} for f, a in self.answers.items()},
            "asking": self.asking,
            "selection": list(self.selection),
            "asking_serial": self.asking_serial,
            "prefill_serial": self.prefill_serial,
            "serial": self.serial,
            "started": self.started,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> Questionnaire:
        if not obj:
            return cls()
        answers = {
            f: Answer(str(a["source"]), tuple(int(i) for i in a.get("chosen", ())))
            for f, a in (obj.get("answers") or {}).items()
            if a.get("source") in SOURCES
        }
        return cls(
            answers=answers,
            asking=obj.get("asking"),
            selection=tuple(int(i) for i in obj.get("selection") or ()),
            asking_serial=int(obj.get("asking_serial", 0)),
            prefill_serial=int(obj.get("prefill_serial", 0)),
            serial=int(obj.get("serial", 0)),
            started=bool(obj.get("started", False)),
        )

    def chosen(self) -> dict[str, tuple[int, ...]]:
        """The answers that count, by family (for ``dermvqa.closedqa.answers.encounter_json``)."""
        return {f: a.chosen for f, a in self.answers.items() if a.source in COUNTED and a.chosen}


# -- what the bot shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One family's question; ``marked``: options shown with a check mark (a multi family's toggled
    options, or the current answer or suggestion of a single one)."""

    family: Family
    serial: int
    number: int  # 1-based position among the families
    total: int
    marked: tuple[int, ...] = ()
    suggested: tuple[int, ...] = ()  # what the description said, when the patient chose to answer it


@dataclass(frozen=True)
class Redraw:
    """A multi family's toggles changed: redraw that question's buttons (same message)."""

    ask: Ask


@dataclass(frozen=True)
class ShowPrefill:
    serial: int
    items: tuple[tuple[Family, tuple[int, ...]], ...]


@dataclass(frozen=True)
class ShowSummary:
    items: tuple[tuple[Family, Answer | None], ...]  # every family, in order (None: not answered)


@dataclass(frozen=True)
class PickFamily:
    """The families to choose from to change an answer."""

    items: tuple[tuple[Family, Answer | None], ...]


@dataclass(frozen=True)
class Notice:
    """Nothing changed, and why: ``old`` (a button of an answered or replaced message), ``too_many``
    (a multi family's limit, in ``limit``), ``unknown`` (malformed button data)."""

    code: str
    limit: int = 0


Step = Ask | Redraw | ShowPrefill | ShowSummary | PickFamily | Notice
Result = tuple[Questionnaire, tuple[Step, ...]]


# -- transitions -----------------------------------------------------------------------------------


def _families(families: Sequence[Family] | None) -> tuple[Family, ...]:
    return tuple(families) if families is not None else load_families()


def _by_id(families: Sequence[Family], family_id: str) -> Family | None:
    return next((f for f in families if f.id == family_id), None)


def _valid(family: Family, indices: Sequence[int]) -> tuple[int, ...]:
    """Distinct real options (never "Not mentioned"), in order, at most as many as the family holds."""
    kept: list[int] = []
    for i in indices:
        if 0 <= i < family.not_mentioned and i not in kept:
            kept.append(i)
    return tuple(kept[: len(family.qids)])


def _ask(q: Questionnaire, family: Family, families: Sequence[Family]) -> Result:
    """Send ``family``'s question: a new serial; a multi family starts from its answer or suggestion."""
    current = q.answers.get(family.id)
    start = current.chosen if current is not None and current.source != SKIPPED else ()
    serial = q.serial + 1
    q = replace(
        q, asking=family.id, asking_serial=serial, serial=serial, started=True, selection=start if family.multi else ()
    )
    suggested = current.chosen if current is not None and current.source == SUGGESTED else ()
    return q, (_ask_step(q, family, families, start, suggested),)


def _ask_step(q, family, families, marked, suggested=()) -> Ask:
    number = [f.id for f in families].index(family.id) + 1
    return Ask(family, q.asking_serial, number, len(families), tuple(marked), tuple(suggested))


def _summary_items(q: Questionnaire, families: Sequence[Family]) -> tuple[tuple[Family, Answer | None], ...]:
    return tuple((f, q.answers.get(f.id)) for f in families)


def next_steps(q: Questionnaire, families: Sequence[Family] | None = None) -> Result:
    """What follows when nothing is outstanding: the first unanswered family's question, else the
    summary. Nothing while a question or the pre-fill message awaits an answer."""
    families = _families(families)
    if q.asking is not None or q.prefill_serial:
        return q, ()
    for family in families:
        answer = q.answers.get(family.id)
        if answer is None or answer.source == SUGGESTED:
            return _ask(q, family, families)
    return replace(q, started=True), (ShowSummary(_summary_items(q, families)),)


def apply_description(
    q: Questionnaire, extracted: Mapping[str, Sequence[int]], families: Sequence[Family] | None = None
) -> Result:
    """The description changed: pre-fill what it answers, except families the patient answered
    themselves (confirmed, chosen or skipped). New or changed pre-fills are shown in one message;
    the first description with none starts the questions."""
    families = _families(families)
    found: dict[str, tuple[int, ...]] = {}
    for family_id, indices in extracted.items():
        family = _by_id(families, family_id)
        if family is not None and (chosen := _valid(family, indices)):
            found[family_id] = chosen
    answers = dict(q.answers)
    fresh = False
    for family_id, chosen in found.items():
        current = answers.get(family_id)
        if current is not None and current.source in OWN:
            continue
        if current is not None and current.source == SUGGESTED:  # the patient is answering it: update the mark
            answers[family_id] = Answer(SUGGESTED, chosen)
            continue
        if current is None or current.chosen != chosen:
            answers[family_id] = Answer(PREFILLED, chosen)
            fresh = True
    for family_id, answer in q.answers.items():  # the whole text no longer says it: an unconfirmed pre-fill goes
        if answer.source == PREFILLED and family_id not in found:
            del answers[family_id]
            fresh = True
    q = replace(q, answers=answers)
    pending = tuple((f, a.chosen) for f in families if (a := answers.get(f.id)) and a.source == PREFILLED)
    if fresh and pending:
        serial = q.serial + 1
        q = replace(q, prefill_serial=serial, serial=serial, started=True)
        return q, (ShowPrefill(serial, pending),)
    if fresh and q.prefill_serial:  # nothing left to confirm: the open pre-fill message is void
        return next_steps(replace(q, prefill_serial=0), families)
    if not q.started:
        return next_steps(q, families)
    return q, ()


def confirm_prefill(q: Questionnaire, serial: int, families: Sequence[Family] | None = None) -> Result:
    """The pre-fill's "Correct": every pre-filled answer is confirmed; the questions go on."""
    if not q.prefill_serial or serial != q.prefill_serial:
        return q, (Notice("old"),)
    answers = {f: Answer(CONFIRMED, a.chosen) if a.source == PREFILLED else a for f, a in q.answers.items()}
    q = replace(q, answers=answers, prefill_serial=0)
    if q.asking is not None and answers.get(q.asking, Answer(SUGGESTED)).source == CONFIRMED:
        q = replace(q, asking=None, selection=())  # the open question was just answered by the pre-fill
    return next_steps(q, families)


def change_prefill(q: Questionnaire, serial: int, families: Sequence[Family] | None = None) -> Result:
    """The pre-fill's "Change": the pre-filled families are asked in turn, their suggestion marked."""
    if not q.prefill_serial or serial != q.prefill_serial:
        return q, (Notice("old"),)
    answers = {f: Answer(SUGGESTED, a.chosen) if a.source == PREFILLED else a for f, a in q.answers.items()}
    return next_steps(replace(q, answers=answers, prefill_serial=0), families)


def _asked(q: Questionnaire, serial: int, families: Sequence[Family]) -> Family | None:
    if q.asking is None or serial != q.asking_serial:
        return None
    return _by_id(families, q.asking)


def _answered(q: Questionnaire, family: Family, answer: Answer, families: Sequence[Family]) -> Result:
    answers = {**q.answers, family.id: answer}
    return next_steps(replace(q, answers=answers, asking=None, selection=()), families)


def press_option(q: Questionnaire, serial: int, index: int, families: Sequence[Family] | None = None) -> Result:
    """An option of the open question: answers a single family, toggles one of a multi family."""
    families = _families(families)
    family = _asked(q, serial, families)
    if family is None:
        return q, (Notice("old"),)
    if not 0 <= index < family.not_mentioned:
        return q, (Notice("unknown"),)
    if not family.multi:
        return _answered(q, family, Answer(CHOSEN, (index,)), families)
    if index in q.selection:
        selection = tuple(i for i in q.selection if i != index)
    elif len(q.selection) >= len(family.qids):
        return q, (Notice("too_many", len(family.qids)),)
    else:
        selection = (*q.selection, index)
    q = replace(q, selection=selection)
    suggested = q.answers[family.id].chosen if q.answers.get(family.id, Answer(CHOSEN)).source == SUGGESTED else ()
    return q, (Redraw(_ask_step(q, family, families, selection, suggested)),)


def press_done(q: Questionnaire, serial: int, families: Sequence[Family] | None = None) -> Result:
    """A multi family's "Done": its toggled options are the answer (none toggled: skipped)."""
    families = _families(families)
    family = _asked(q, serial, families)
    if family is None:
        return q, (Notice("old"),)
    answer = Answer(CHOSEN, tuple(sorted(q.selection))) if q.selection else Answer(SKIPPED)
    return _answered(q, family, answer, families)


def press_skip(q: Questionnaire, serial: int, families: Sequence[Family] | None = None) -> Result:
    families = _families(families)
    family = _asked(q, serial, families)
    if family is None:
        return q, (Notice("old"),)
    return _answered(q, family, Answer(SKIPPED), families)


def ask_change(q: Questionnaire, families: Sequence[Family] | None = None) -> Result:
    """The summary's "Change an answer": the families to pick from, with their answers."""
    families = _families(families)
    return q, (PickFamily(_summary_items(q, families)),)


def reopen(q: Questionnaire, family_id: str, families: Sequence[Family] | None = None) -> Result:
    """Ask ``family_id`` again (its answer marked); any other open question is replaced."""
    families = _families(families)
    family = _by_id(families, family_id)
    if family is None:
        return q, (Notice("unknown"),)
    return _ask(q, family, families)


# -- words --------------------------------------------------------------------------------------


def option_text(family: Family, index: int) -> str:
    return family.options[index]


def answer_text(family: Family, chosen: Sequence[int]) -> str:
    """``"upper extremities, back"``."""
    return ", ".join(option_text(family, i) for i in chosen)


UNCONFIRMED = " (from the text, not confirmed)"


def answer_lines(
    chosen: Mapping[str, Sequence[int]],
    families: Sequence[Family] | None = None,
    *,
    state: Questionnaire | None = None,
) -> list[str]:
    """``["Onset: within weeks", "Site: upper extremities, back"]``, in the families' order, for
    the families answered (skipped and "Not mentioned" left out). With ``state``, a pre-fill the
    patient has not confirmed says so."""
    lines = []
    for family in _families(families):
        indices = [i for i in chosen.get(family.id, ()) if i != family.not_mentioned]
        if indices:
            answer = state.answers.get(family.id) if state is not None else None
            mark = UNCONFIRMED if answer is not None and answer.source == PREFILLED else ""
            lines.append(f"{family.name}: {answer_text(family, indices)}{mark}")
    return lines
