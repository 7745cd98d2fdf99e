from __future__ import annotations

from dermvqa.casework.review_room import strangers, too_many_members


def test_strangers_are_everyone_but_clinicians_and_the_bot():
    assert strangers([900, 901, 42, 7, 7], clinician_ids=[900, 901], bot_id=42) == [7]
    assert strangers([900], clinician_ids=[900], bot_id=None) == []
    assert strangers([42], clinician_ids=[], bot_id=None) == [42]


def test_the_group_may_hold_the_clinicians_and_the_bot_only():
    assert not too_many_members(3, [900, 901])
    assert too_many_members(4, [900, 901])
    assert not too_many_members(2, [900, 901, 902])  # not every clinician has to be in it
    assert too_many_members(2, [])  # no clinicians configured: anyone besides the bot is too many
