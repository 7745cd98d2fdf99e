from __future__ import annotations

import pytest

from dermvqa.errors import DermError
from dermvqa.prompts import build_question, get_prompt, render_template

# The seed paper's Table 1, copied character for character.
TABLE_1 = {
    1: "USER: <IMAGE> This is additional information about the dermatology issue on the image: <QUERY> "
    "What dermatological disease is on the image and how can it be treated?",
    2: "USER <IMAGE> Patient wants to find out what dermatological disease he suffers from. Considering "
    "patient additional description: <QUERY> Answer two questions: 1. What dermatological disease is on the "
    "image? 2. How can it be treated?",
}


@pytest.mark.parametrize("prompt_id", [1, 2])
def test_templates_are_word_for_word(prompt_id):
    assert get_prompt(prompt_id).template == TABLE_1[prompt_id]


def test_question_one_matches_the_seed_code():
    # The seed's code: "This is additional information ... image: " + title + ";" + content + " What ..."
    q = build_question(1, "Rash;on my arm")
    assert q == (
        "This is additional information about the dermatology issue on the image: Rash;on my arm "
        "What dermatological disease is on the image and how can it be treated?"
    )
    assert render_template(2, "x").startswith("USER <IMAGE> Patient wants")


def test_unknown_prompt_is_refused():
    with pytest.raises(DermError, match="allowed: 1, 2, 3"):
        get_prompt(4)
