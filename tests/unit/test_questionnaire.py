"""The structured intake's pure logic: which family is asked next, pre-fills, toggles, stale buttons."""

from __future__ import annotations

from dermvqa.casework import questionnaire as qn
from dermvqa.casework.questionnaire import (
    CHOSEN,
    CONFIRMED,
    PREFILLED,
    SKIPPED,
    SUGGESTED,
    Answer,
    Ask,
    Notice,
    Questionnaire,
    Redraw,
    ShowPrefill,
    ShowSummary,
)
from dermvqa.closedqa.questions import load_families

FAMILIES = load_families()
ORDER = [f.id for f in FAMILIES]
EXTENT, SITE, SIZE, ONSET, LABEL, ITCH, COLOUR, COUNT, TEXTURE = ORDER


def only(steps, kind):
    assert len(steps) == 1 and isinstance(steps[0], kind), steps
    return steps[0]


def test_a_description_without_answers_starts_with_the_first_family():
    q, steps = qn.apply_description(Questionnaire(), {})
    ask = only(steps, Ask)
    assert (ask.family.id, ask.number, ask.total) == (EXTENT, 1, 9)
    assert q.asking == EXTENT and q.asking_serial == ask.serial and q.started


def test_prefill_is_shown_once_then_confirmed_with_one_tap():
    q, steps = qn.apply_description(Questionnaire(), {ONSET: (2,), ITCH: (0,)})
    shown = only(steps, ShowPrefill)
    assert [(f.id, chosen) for f, chosen in shown.items] == [(ONSET, (2,)), (ITCH, (0,))]
    assert q.asking is None  # no question before the pre-fill is answered
    assert q.chosen() == {ONSET: (2,), ITCH: (0,)}  # counted even before confirmation (the text says so)
    q, steps = qn.confirm_prefill(q, shown.serial)
    assert q.answers[ONSET] == Answer(CONFIRMED, (2,)) and q.answers[ITCH].source == CONFIRMED
    assert only(steps, Ask).family.id == EXTENT
    # The same Correct button again: old, nothing changes.
    again, steps = qn.confirm_prefill(q, shown.serial)
    assert again == q and only(steps, Notice).code == "old"


def test_change_asks_the_prefilled_families_in_turn_with_their_suggestion():
    q, steps = qn.apply_description(Questionnaire(), {SITE: (2, 5), ONSET: (2,)})
    q, steps = qn.change_prefill(q, only(steps, ShowPrefill).serial)
    assert q.chosen() == {}  # a suggestion the patient wants to answer does not count yet
    q, steps = qn.press_skip(q, only(steps, Ask).serial)  # extent
    site = only(steps, Ask)
    assert site.family.id == SITE and site.suggested == (2, 5) and site.marked == (2, 5)
    assert q.selection == (2, 5)  # a multi family starts from the suggestion
    q, steps = qn.press_option(q, site.serial, 5)  # untick "back"
    q, steps = qn.press_done(q, site.serial)
    assert q.answers[SITE] == Answer(CHOSEN, (2,))


def test_every_family_in_order_then_the_summary():
    q, steps = qn.apply_description(Questionnaire(), {})
    seen = []
    while isinstance(steps[0], Ask):
        ask = steps[0]
        seen.append(ask.family.id)
        q, steps = qn.press_skip(q, ask.serial)
    assert seen == ORDER
    summary = only(steps, ShowSummary)
    assert [a.source for _, a in summary.items] == [SKIPPED] * 9
    assert q.asking is None and q.chosen() == {}


def test_multi_toggles_with_a_limit_and_done_without_a_choice_skips():
    q = Questionnaire(started=True, answers={EXTENT: Answer(SKIPPED)})
    q, steps = qn.next_steps(q)
    site = only(steps, Ask)
    q, steps = qn.press_option(q, site.serial, 0)
    q, steps = qn.press_option(q, site.serial, 2)
    assert only(steps, Redraw).ask.marked == (0, 2) and q.selection == (0, 2)
    q, steps = qn.press_option(q, site.serial, 0)  # untick
    assert q.selection == (2,)
    for index in (0, 1, 3, 4, 5):
        q, _ = qn.press_option(q, site.serial, index)
    assert len(q.selection) == 6
    full, steps = qn.press_option(q, site.serial, 6)
    assert full == q and only(steps, Notice) == Notice("too_many", 6)
    q, steps = qn.press_option(q, site.serial, 7)  # "Not mentioned" is never a button
    assert only(steps, Notice).code == "unknown"
    q, steps = qn.press_done(q, site.serial)
    assert q.answers[SITE] == Answer(CHOSEN, (0, 1, 2, 3, 4, 5))
    size = only(steps, Ask)
    assert size.family.id == SIZE
    q, steps = qn.press_done(q, size.serial)
    assert q.answers[SIZE] == Answer(SKIPPED)


def test_a_single_family_answers_at_once_and_old_buttons_change_nothing():
    q, steps = qn.apply_description(Questionnaire(), {})
    extent = only(steps, Ask)
    q, steps = qn.press_option(q, extent.serial, 1)
    assert q.answers[EXTENT] == Answer(CHOSEN, (1,))
    assert only(steps, Ask).family.id == SITE
    old, steps = qn.press_option(q, extent.serial, 2)
    assert old == q and only(steps, Notice).code == "old"


def test_change_an_answer_from_the_summary():
    answers = {f: Answer(SKIPPED) for f in ORDER} | {ONSET: Answer(CONFIRMED, (2,))}
    q = Questionnaire(answers=answers, started=True)
    q, steps = qn.ask_change(q)
    picked = only(steps, qn.PickFamily)
    assert [f.id for f, _ in picked.items] == ORDER
    q, steps = qn.reopen(q, ONSET)
    ask = only(steps, Ask)
    assert ask.family.id == ONSET and ask.marked == (2,)  # the current answer is marked
    q, steps = qn.press_option(q, ask.serial, 3)
    assert q.answers[ONSET] == Answer(CHOSEN, (3,))
    summary = only(steps, ShowSummary)
    assert dict((f.id, a) for f, a in summary.items)[ONSET] == Answer(CHOSEN, (3,))


def test_a_new_description_prefills_only_what_the_patient_did_not_answer():
    answers = {ONSET: Answer(CHOSEN, (1,)), ITCH: Answer(SKIPPED), SITE: Answer(PREFILLED, (2,))}
    q = Questionnaire(answers=answers, started=True, asking=EXTENT, asking_serial=3, serial=3)
    q2, steps = qn.apply_description(q, {ONSET: (2,), ITCH: (0,), SITE: (2, 5), COUNT: (1,)})
    shown = only(steps, ShowPrefill)
    assert q2.answers[ONSET] == Answer(CHOSEN, (1,)) and q2.answers[ITCH] == Answer(SKIPPED)
    assert q2.answers[SITE] == Answer(PREFILLED, (2, 5)) and q2.answers[COUNT] == Answer(PREFILLED, (1,))
    assert {f.id for f, _ in shown.items} == {SITE, COUNT} and shown.serial == 4
    assert q2.asking == EXTENT  # the open question stays open
    # The same text again: nothing new to show.
    q3, steps = qn.apply_description(q2, {ONSET: (2,), SITE: (2, 5), COUNT: (1,)})
    assert steps == () and q3 == q2
    # A confirmation does not send a second copy of the open question.
    q4, steps = qn.confirm_prefill(q3, shown.serial)
    assert steps == () and q4.asking == EXTENT


def test_an_older_prefill_message_cannot_confirm_a_newer_list():
    q, steps = qn.apply_description(Questionnaire(), {ONSET: (2,)})
    first = only(steps, ShowPrefill)
    q, steps = qn.apply_description(q, {ONSET: (2,), ITCH: (0,)})
    second = only(steps, ShowPrefill)
    same, steps = qn.confirm_prefill(q, first.serial)
    assert same == q and only(steps, Notice).code == "old"
    q, _ = qn.confirm_prefill(q, second.serial)
    assert q.answers[ITCH].source == CONFIRMED


def test_a_prefill_the_whole_text_no_longer_says_is_withdrawn():
    q, steps = qn.apply_description(Questionnaire(), {ONSET: (2,), ITCH: (0,)})
    q, steps = qn.apply_description(q, {ONSET: (2,)})  # e.g. "... actually, it does not itch" left it unclear
    assert ITCH not in q.answers and [f.id for f, _ in only(steps, ShowPrefill).items] == [ONSET]
    q, steps = qn.apply_description(q, {})
    assert q.answers == {} and q.prefill_serial == 0
    assert only(steps, Ask).family.id == EXTENT  # nothing left to confirm: the questions begin


def test_a_suggestion_being_answered_is_updated_not_prefilled_again():
    q = Questionnaire(answers={ONSET: Answer(SUGGESTED, (2,))}, started=True, asking=ONSET, asking_serial=2, serial=2)
    q2, steps = qn.apply_description(q, {ONSET: (3,)})
    assert steps == () and q2.answers[ONSET] == Answer(SUGGESTED, (3,))


def test_state_round_trips_through_json():
    q, steps = qn.apply_description(Questionnaire(), {SITE: (2, 5)})
    q, steps = qn.change_prefill(q, steps[0].serial)
    q, steps = qn.press_option(q, steps[0].serial, 1)
    assert Questionnaire.from_json(q.to_json()) == q
    assert Questionnaire.from_json(None) == Questionnaire()


def test_answer_lines_leave_out_skipped_and_mark_unconfirmed_prefills():
    chosen = {ONSET: (2,), SITE: (2, 5), ITCH: (2,)}  # itch 2 is "Not mentioned"
    assert qn.answer_lines(chosen) == ["Site: upper extremities, back", "Onset: within weeks"]
    state = Questionnaire(answers={ONSET: Answer(PREFILLED, (2,))})
    assert qn.answer_lines(chosen, state=state)[1] == "Onset: within weeks" + qn.UNCONFIRMED
