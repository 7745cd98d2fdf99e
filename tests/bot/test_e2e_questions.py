"""The structured intake over real HTTP: pre-fill and one-tap confirmation, one question at a time,
skip, several sites, changing an answer before Submit, stale buttons, a restart mid-way, and the
challenge's JSON stored with the case."""

from __future__ import annotations

import pytest
from harness import CLINICIAN, Harness, jpeg
from sqlalchemy import select

from dermvqa.casework.questionnaire import CHOSEN, CONFIRMED, SKIPPED, SUGGESTED
from dermvqa.closedqa.answers import encounter_json
from dermvqa.storage.models import Case

EXTENT, SITE, SIZE, ONSET, LABEL, ITCH, COLOUR, COUNT, TEXTURE = (
    "CQID010 CQID011 CQID012 CQID015 CQID020 CQID025 CQID034 CQID035 CQID036".split()
)


def buttons(message: dict) -> list[dict]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def labelled(message: dict, label: str) -> str:
    """The callback data of the button shown as ``label`` (a check mark in front ignored)."""
    for b in buttons(message):
        if b["text"].removeprefix("✓ ").lower() == label.lower():
            return b["callback_data"]
    raise AssertionError(f"no button {label!r}: {[b['text'] for b in buttons(message)]}")


def checked(h: Harness, chat_id: int, message: dict) -> list[str]:
    """The labels shown with a check mark on the message as it is now (after edits)."""
    current = h.server.current_message(chat_id, message["message_id"])
    return [b["text"][2:] for b in buttons(current) if b["text"].startswith("✓ ")]


class Patient:
    """One patient's side of the chat; each wait looks only at messages after the last action."""

    def __init__(self, h: Harness, user: int) -> None:
        self.h, self.user, self.mark = h, user, 0

    def _act(self) -> None:
        self.mark = len(self.h.server.sent)

    def send(self, text: str) -> None:
        self._act()
        self.h.server.send_text(self.user, text)

    def press(self, message: dict, label: str) -> None:
        data = labelled(message, label)
        self._act()
        self.h.server.press_button(self.user, message, data)

    async def sees(self, needle: str, timeout: float = 10) -> dict:
        return await self.h.server.async_wait_for(
            lambda r: (
                r["chat_id"] == self.user
                and not r["method"].startswith("edit")
                and needle in (r.get("plain_text") or "")
            ),
            timeout,
            since=self.mark,
        )

    async def toggle(self, message: dict, label: str, expected: list[str]) -> None:
        """Press a multi family's option and wait for its buttons to be redrawn with ``expected`` checked."""
        self.press(message, label)
        await self.h.server.async_wait_until(
            lambda: checked(self.h, self.user, message) == expected, 10, what=f"checked {expected}"
        )

    async def start_case(self, text: str) -> dict:
        await self.h.consent(self.user)
        self._act()
        self.h.server.send_photo(self.user, jpeg())
        await self.sees("Photo 1 of")
        self.send(text)
        return await self.sees("Description saved")


def stored(h: Harness, case_id: int) -> tuple[dict, dict]:
    with h.db.read() as session:
        case = session.get(Case, case_id)
        return case.closed_qa, {f: a["source"] for f, a in case.questionnaire["answers"].items()}


def case_of(h: Harness, user: int) -> int:
    with h.db.read() as session:
        return session.scalars(select(Case.id).order_by(Case.id.desc())).first()


@pytest.fixture
async def tapping(tmp_path, server):
    """The bot as configured by default (flood guard on: taps cost a quarter, bot/ratelimit.py), though
    these tests tap faster than any patient."""
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    h.start_worker()
    yield h
    await h.close()


async def test_confirm_the_prefill_skip_choose_several_sites_change_one_and_submit(tapping):
    harness = tapping
    p = Patient(harness, 5101)
    await p.start_case("Itchy red patches for three weeks.")
    prefill = await p.sees("From your description:")
    text = prefill["plain_text"]
    assert "Onset: within weeks" in text and "Itch: yes" in text and "Colour: red" in text
    assert "Question" not in text
    p.press(prefill, "Correct")
    q1 = await p.sees("Question 1 of 9")
    assert "How much of your body" in q1["plain_text"]
    p.press(q1, "Skip")
    q2 = await p.sees("Question 2 of 9: Where is the affected area?")
    assert "Choose all that apply" in q2["plain_text"]
    await p.toggle(q2, "Head", ["Head"])
    await p.toggle(q2, "Back", ["Head", "Back"])
    await p.toggle(q2, "Head", ["Back"])
    await p.toggle(q2, "Neck", ["Neck", "Back"])
    p.press(q2, "Done")
    q3 = await p.sees("Question 3 of 9")
    # Onset, itch and colour were confirmed from the description: not asked again.
    for number in (3, 5, 8):
        question = q3 if number == 3 else await p.sees(f"Question {number} of 9")
        p.press(question, "Skip")
    q9 = await p.sees("Question 9 of 9")
    p.press(q9, "Rough")
    summary = await p.sees("Your answers:")
    assert "Site: neck, back" in summary["plain_text"] and "Extent: skipped" in summary["plain_text"]
    assert "Texture: rough" in summary["plain_text"]

    p.press(summary, "Change an answer")
    picker = await p.sees("Which answer do you want to change?")
    p.press(picker, "Site")
    again = await p.sees("Question 2 of 9")
    assert checked(harness, 5101, again) == ["Neck", "Back"]  # starts from the current answer
    await p.toggle(again, "Upper extremities", ["Neck", "Upper extremities", "Back"])
    p.press(again, "Done")
    summary = await p.sees("Your answers:")
    assert "Site: neck, upper extremities, back" in summary["plain_text"]

    p.press(summary, "Submit")
    ack = await p.sees("Your case number is #")
    case_id = int(ack["plain_text"].split("#")[1].split(".")[0])
    closed_qa, sources = stored(harness, case_id)
    assert closed_qa == encounter_json(
        f"CASE{case_id:05d}", {SITE: (1, 2, 5), ONSET: (2,), ITCH: (0,), COLOUR: (2,), TEXTURE: (1,)}
    )
    assert closed_qa["CQID011-004"] == 7 and closed_qa["CQID010-001"] == 3  # unanswered: "Not mentioned"
    assert sources[ONSET] == CONFIRMED and sources[SITE] == CHOSEN and sources[EXTENT] == SKIPPED

    post = await harness.review_post(CLINICIAN, case_id)
    assert (
        "Intake answers: Site: neck, upper extremities, back · Onset: within weeks · Itch: yes · Colour: red · "
        "Texture: rough" in post["plain_text"]
    )


async def test_change_the_prefill_then_submit_midway_and_old_buttons_change_nothing(tapping):
    harness = tapping
    p = Patient(harness, 5102)
    saved = await p.start_case("Red itchy rash on my arm for three weeks")
    prefill = await p.sees("From your description:")
    p.press(prefill, "Change")
    q1 = await p.sees("Question 1 of 9")
    p.press(q1, "Single spot")
    q2 = await p.sees("Question 2 of 9")
    assert "From your description: upper extremities." in q2["plain_text"]
    assert checked(harness, 5102, q2) == ["Upper extremities"]  # the suggestion, ready to confirm
    p.press(q2, "Done")
    q3 = await p.sees("Question 3 of 9")
    # The old Correct/Change message lost its buttons; the open question's are still there.
    assert not buttons(harness.server.current_message(5102, prefill["message_id"]))

    p.press(saved, "Submit")  # "Press Submit when ready": possible at any point
    ack = await p.sees("Your case number is #")
    case_id = int(ack["plain_text"].split("#")[1].split(".")[0])
    before = stored(harness, case_id)
    p.press(q3, "Size of palm")  # a question of the case just submitted
    await p.sees("already submitted")
    assert stored(harness, case_id) == before
    closed_qa, sources = before
    # Onset, itch and colour were suggested but not answered yet: "Not mentioned", as the patient left them.
    assert closed_qa == encounter_json(f"CASE{case_id:05d}", {EXTENT: (0,), SITE: (2,)})
    assert sources[ONSET] == SUGGESTED and sources[SITE] == CHOSEN
    # The stale message's buttons are removed, so it cannot be pressed again.
    await harness.server.async_wait_until(
        lambda: not buttons(harness.server.current_message(5102, q3["message_id"])), 10, what="buttons removed"
    )


async def test_the_questions_resume_after_a_restart_and_new_text_prefills_only_what_is_unanswered(tmp_path, server):
    h = Harness.create(tmp_path, server)
    await h.start_bot()
    try:
        p = Patient(h, 5103)
        await p.start_case("A strange patch appeared.")
        q1 = await p.sees("Question 1 of 9")  # nothing to pre-fill: the first question at once
        p.press(q1, "Widespread")
        q2 = await p.sees("Question 2 of 9")
        await p.toggle(q2, "Head", ["Head"])

        await h.stop_bot()  # the conversation in memory is gone; the database has the questions' state
        await h.start_bot()

        await p.toggle(q2, "Neck", ["Head", "Neck"])
        p.press(q2, "Done")
        q3 = await p.sees("Question 3 of 9")
        assert not buttons(h.server.current_message(5103, q1["message_id"]))

        p.send("It itches and started two weeks ago, on my back too.")
        await p.sees("Description saved")
        prefill = await p.sees("From your description:")
        assert "Onset: within weeks" in prefill["plain_text"] and "Itch: yes" in prefill["plain_text"]
        assert "Site" not in prefill["plain_text"]  # answered by the patient: never overridden
        p.press(prefill, "Correct")
        p.press(q3, "Skip")  # the open question is still the one to answer
        q5 = await p.sees("Question 5 of 9")  # onset (4) was confirmed from the text
        assert "What best describes" in q5["plain_text"]
        closed_qa, sources = stored(h, case_of(h, 5103))
        assert sources == {EXTENT: CHOSEN, SITE: CHOSEN, SIZE: SKIPPED, ONSET: CONFIRMED, ITCH: CONFIRMED}
        assert closed_qa["CQID011-001"] == 0 and closed_qa["CQID011-002"] == 1 and closed_qa["CQID025-001"] == 0
    finally:
        await h.close()


async def test_a_photo_caption_is_a_description_too(harness):
    p = Patient(harness, 5104)
    await harness.consent(5104)
    p._act()
    harness.server.send_photo(5104, jpeg(), caption="Itchy rash for three weeks")
    await p.sees("Photo 1 of")
    prefill = await p.sees("From your description:")
    assert "Onset: within weeks" in prefill["plain_text"]


async def test_a_failed_redraw_asks_the_question_again_with_the_stored_choice(tapping):
    """editMessageReplyMarkup fails after a toggle: the stored choice is not on screen, so the
    question comes again (through the outbox) with it checked, and Done there keeps it."""
    harness = tapping
    p = Patient(harness, 5105)
    await p.start_case("A spot.")
    q = await p.sees("Question 1 of")
    while "Where is the affected area?" not in q["plain_text"]:
        p.press(q, "Skip")
        q = await p.sees("Question")
    harness.server.fail_next("editMessageReplyMarkup", status=500)
    p.press(q, "Head")
    again = await p.sees("Where is the affected area?")
    assert again["message_id"] != q["message_id"] and checked(harness, 5105, again) == ["Head"]
    p.press(again, "Done")
    await p.sees("Question")
    _, sources = stored(harness, case_of(harness, 5105))
    assert sources[SITE] == CHOSEN


async def test_a_button_on_an_old_question_message_still_works(tapping):
    """Days later Telegram sends the pressed message as an InaccessibleMessage (chat and id only): the
    answer counts, the next question comes, and the old message loses its buttons (PTB keeps it a Message)."""
    harness = tapping
    p = Patient(harness, 5106)
    await p.start_case("A spot.")
    q = await p.sees("Question 1 of")
    p._act()
    harness.server.press_button(5106, q, labelled(q, "Skip"), inaccessible=True)
    await p.sees("Question 2 of")
    await harness.server.async_wait_until(
        lambda: not buttons(harness.server.current_message(5106, q["message_id"])), 10, what="old buttons removed"
    )
