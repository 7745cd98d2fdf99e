"""The structured intake's messages and buttons: Telegram's limits, button data, the review card line."""

from __future__ import annotations

from support.cases import case_detail

from bot import question_views as views
from bot.rendering import review_post
from bot.telegram_limits import MESSAGE_LIMIT, callback_data_fits, fits
from bot.texts import Texts
from dermvqa.casework import questionnaire as qn
from dermvqa.casework.questionnaire import Answer, Questionnaire
from dermvqa.casework.review import CaseDetail
from dermvqa.closedqa.questions import load_families
from dermvqa.config import BotConfig, IntakeConfig

TEXTS = Texts.from_config(BotConfig(), IntakeConfig())
BIG_CASE = 10**12  # case numbers grow: the data must still fit in 64 bytes


def test_every_question_fits_telegram_and_its_buttons_parse_back():
    for number, family in enumerate(load_families(), start=1):
        ask = qn.Ask(family, serial=10**6, number=number, total=9, marked=(0,), suggested=(0,))
        text, rows = views.question(ask, BIG_CASE, TEXTS)
        assert fits(text, MESSAGE_LIMIT) and text.startswith(f"Question {number} of 9: {family.question}")
        flat = [b for row in rows for b in row]
        assert all(len(row) <= 2 for row in rows)
        assert [label for label, _ in flat][-2 if family.multi else -1] == "Skip"
        assert ("Done" in [label for label, _ in flat]) == family.multi
        assert flat[0][0] == "✓ " + family.options[0][:1].upper() + family.options[0][1:]
        for label, data in flat:
            assert callback_data_fits(data) and len(label) <= 40
            press = views.parse(data)
            assert press is not None and (press.case_id, press.serial) == (BIG_CASE, 10**6)
        assert {views.parse(d).arg for _, d in flat if views.parse(d).verb == "o"} == {
            str(i) for i in range(family.not_mentioned)
        }  # every option but "Not mentioned"


def test_malformed_button_data_is_refused():
    for data in ("cq:", "cq:1:2", "cq:x:1:o:1", "cq:1:1:zz", "cq:1:1:o:x", "submit", "cq:1:1:o:1:2"):
        assert views.parse(data) is None, data


def test_summary_shows_skipped_and_unanswered_and_offers_change_and_submit():
    families = load_families()
    q = Questionnaire(answers={families[0].id: Answer(qn.SKIPPED), families[3].id: Answer(qn.CHOSEN, (2,))})
    text, rows = views.summary(qn.ShowSummary(tuple((f, q.answers.get(f.id)) for f in families)), 5, TEXTS)
    assert "Extent: skipped" in text and "Onset: within weeks" in text and "Site: not answered" in text
    assert rows == [[["Change an answer", "cq:5:0:e"], ["Submit", "submit"]]]


def test_the_review_card_shows_the_answers_on_one_line():
    detail = case_detail(prompt_id=3, answers=("Site: upper extremities, back", "Itch: yes"))
    text = review_post(detail, TEXTS)[-1]["text"]
    assert "Itchy.\nIntake answers: Site: upper extremities, back · Itch: yes\n\nDraft" in text
    without = review_post(CaseDetail(**{**detail.__dict__, "answers": ()}), TEXTS)[-1]["text"]
    assert "Intake answers" not in without
