"""A patient's buttons work only in the patient's own private chat."""

from __future__ import annotations

import pytest
from telegram.ext import ApplicationHandlerStop

from bot.patient import refuse_buttons_outside_private


class Query:
    def __init__(self, data):
        self.data, self.answered = data, False

    async def answer(self, *args, **kwargs):
        self.answered = True


class Chat:
    def __init__(self, kind):
        self.type, self.id = kind, (5 if kind == "private" else -100)


class Pressed:
    def __init__(self, data, kind):
        self.callback_query, self.effective_chat = Query(data), Chat(kind)


@pytest.mark.parametrize("data", ["consent:yes", "delete:yes", "submit", "train:no", "privacy:yes", "cq:1:1:o:0"])
async def test_patient_buttons_pressed_outside_a_private_chat_go_no_further(data):
    update = Pressed(data, "supergroup")
    with pytest.raises(ApplicationHandlerStop):
        await refuse_buttons_outside_private(update, None)
    assert update.callback_query.answered
    await refuse_buttons_outside_private(Pressed(data, "private"), None)  # the patient's own chat: on


async def test_other_buttons_are_not_this_guards_business():
    await refuse_buttons_outside_private(Pressed("rv:approve:1:1", "supergroup"), None)
