"""The structured intake's messages and buttons (pure: steps in, text and keyboards out).

Callback data: ``cq:<case>:<serial>:<verb>[:<arg>]`` (at most 64 bytes): ``o`` an option (its
index), ``s`` skip, ``d`` done, ``ok``/``ch`` the pre-fill's Correct/Change, ``e`` "Change an
answer", ``p`` pick the family to answer again (its id). The case number makes a button of an
older case harmless; the serial one of an answered or replaced message.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.telegram_limits import callback_data_fits
from bot.texts import Texts
from dermvqa.casework import questionnaire as qn
from dermvqa.casework.questionnaire import CHOSEN, CONFIRMED, PREFILLED, SKIPPED, Answer
from dermvqa.closedqa.questions import Family

PREFIX = "cq:"
OPTIONS_PER_ROW = 2
FAMILIES_PER_ROW = 3
VERBS = frozenset({"o", "s", "d", "ok", "ch", "e", "p"})


@dataclass(frozen=True)
class Press:
    case_id: int
    serial: int
    verb: str
    arg: str = ""


def data(case_id: int, serial: int, verb: str, arg: str | int = "") -> str:
    text = f"{PREFIX}{case_id}:{serial}:{verb}" + (f":{arg}" if arg != "" else "")
    if not callback_data_fits(text):
        raise ValueError(f"callback data too long: {text!r}")
    return text


def parse(text: str) -> Press | None:
    """A ``cq:`` button's data, or None when it is malformed."""
    if not text.startswith(PREFIX):
        return None
    fields = text[len(PREFIX) :].split(":")
    if len(fields) not in (3, 4) or not fields[0].isdigit() or not fields[1].isdigit() or fields[2] not in VERBS:
        return None
    arg = fields[3] if len(fields) == 4 else ""
    if fields[2] == "o" and not arg.isdigit():
        return None
    return Press(int(fields[0]), int(fields[1]), fields[2], arg)


def _label(texts: Texts, family: Family, index: int, marked: bool) -> str:
    option = qn.option_text(family, index)
    return (texts.checked_mark if marked else "") + option[:1].upper() + option[1:]


def _rows(buttons: list[list[str]], per_row: int) -> list[list[list[str]]]:
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def question_buttons(ask: qn.Ask, case_id: int, texts: Texts) -> list:
    family = ask.family
    options = [
        [_label(texts, family, i, i in ask.marked), data(case_id, ask.serial, "o", i)]
        for i in range(family.not_mentioned)
    ]
    last = [[texts.skip_button, data(case_id, ask.serial, "s")]]
    if family.multi:
        last.append([texts.done_button, data(case_id, ask.serial, "d")])
    return [*_rows(options, OPTIONS_PER_ROW), last]


def question(ask: qn.Ask, case_id: int, texts: Texts) -> tuple[str, list]:
    family = ask.family
    suggested = qn.answer_text(family, ask.suggested) if ask.suggested else ""
    text = texts.question(ask.number, ask.total, family.question, family.multi, suggested)
    return text, question_buttons(ask, case_id, texts)


def prefill(step: qn.ShowPrefill, case_id: int, texts: Texts) -> tuple[str, list]:
    lines = [f"{family.name}: {qn.answer_text(family, chosen)}" for family, chosen in step.items]
    buttons = [
        [
            [texts.prefill_correct_button, data(case_id, step.serial, "ok")],
            [texts.prefill_change_button, data(case_id, step.serial, "ch")],
        ]
    ]
    return texts.prefill_found(lines), buttons


def answer_words(family: Family, answer: Answer | None, texts: Texts) -> str:
    if answer is None or answer.source not in (PREFILLED, CONFIRMED, CHOSEN) or not answer.chosen:
        return texts.skipped_answer if answer is not None and answer.source == SKIPPED else texts.unanswered
    return qn.answer_text(family, answer.chosen)


def summary(step: qn.ShowSummary, case_id: int, texts: Texts) -> tuple[str, list]:
    lines = [f"{family.name}: {answer_words(family, answer, texts)}" for family, answer in step.items]
    buttons = [[[texts.change_answer_button, data(case_id, 0, "e")], [texts.submit_button, "submit"]]]
    return texts.answers_summary(lines), buttons


def pick(step: qn.PickFamily, case_id: int, texts: Texts) -> tuple[str, list]:
    buttons = [[family.name, data(case_id, 0, "p", family.id)] for family, _ in step.items]
    return texts.pick_answer(), _rows(buttons, FAMILIES_PER_ROW)


def message(step: qn.Step, case_id: int, texts: Texts) -> tuple[str, list] | None:
    """The message a step sends (None for a redraw or a notice, which the handler deals with)."""
    if isinstance(step, qn.Ask):
        return question(step, case_id, texts)
    if isinstance(step, qn.ShowPrefill):
        return prefill(step, case_id, texts)
    if isinstance(step, qn.ShowSummary):
        return summary(step, case_id, texts)
    if isinstance(step, qn.PickFamily):
        return pick(step, case_id, texts)
    return None


def answers_line(lines: list[str], separator: str = " · ") -> str:
    """The review card's one line: ``"Onset: within weeks · Site: upper extremities, back"``."""
    return separator.join(lines)
