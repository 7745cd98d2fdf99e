"""Prompt template 3: template 1's question with the structured intake's answers in the query."""

from __future__ import annotations

import pytest

from dermvqa.config import load_config
from dermvqa.errors import ConfigError
from dermvqa.prompts import ANSWERS_HEADING, RAW_PROMPT_ID, build_question, get_prompt, query_with_answers


def test_template_3_lists_the_answers_after_the_query():
    query = query_with_answers(3, "Red patches on my elbows. ", ["Onset: within weeks", "Itch: yes"])
    assert query == f"Red patches on my elbows.\n{ANSWERS_HEADING}\n- Onset: within weeks\n- Itch: yes"
    question = build_question(3, query)
    assert question.startswith("This is additional information about the dermatology issue on the image, with")
    assert "- Itch: yes What dermatological disease is on the image" in question


def test_templates_1_and_2_and_no_answers_leave_the_query_alone():
    for prompt_id in (1, 2):
        assert not get_prompt(prompt_id).uses_answers
        assert query_with_answers(prompt_id, "text", ["Onset: within weeks"]) == "text"
    assert query_with_answers(3, "text", []) == "text"  # evaluation CLIs: no answers, just the text


def test_the_raw_prompt_is_the_query_itself():
    assert build_question(RAW_PROMPT_ID, "  Which site? Answer with a number. ") == "Which site? Answer with a number."
    assert query_with_answers(RAW_PROMPT_ID, "text", ["Onset: within weeks"]) == "text"


def test_config_accepts_prompt_3_and_refuses_4(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[model]\nprompt_id = 3\n", encoding="utf-8")
    assert load_config(path, environ={}).model.prompt_id == 3
    path.write_text("[model]\nprompt_id = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="prompt_id"):
        load_config(path, environ={})
