from __future__ import annotations

import pytest

from dermvqa.data.challenge import Response
from dermvqa.errors import MetricError
from dermvqa.metrics.reference_weights import (
    AuthorInfo,
    decide_weights,
    official_weights_triggered,
    rank_number,
    response_weight,
)


def resp(completeness, freq, author="A"):
    return Response(author, {"en": "x"}, completeness, freq)


@pytest.mark.parametrize(
    ("validation", "rank", "freq", "complete", "weight"),
    [
        ("md1_validated", "level_4", 1.0, 1.0, 1.0),
        ("md1_validated", "level_4", 1.0, 0.0, 0.9),
        ("md1_validated", "level_3", 1.0, 1.0, 0.9),
        ("", "level_5", 0.0, 1.0, 0.8),
        ("", "unk", 0.0, 1.0, 0.7),
        ("", "unk", 0.0, 0.5, 0.6),
        ("nonmd", "level_10", 1.0, 0.0, 0.8),
    ],
)
def test_profile_weights(validation, rank, freq, complete, weight):
    assert response_weight(resp(complete, freq), AuthorInfo(validation, rank)) == weight


def test_unknown_author_counts_as_neither_md_nor_senior():
    assert response_weight(resp(1.0, 1.0), None) == 0.8


def test_rank_numbers():
    assert rank_number("level_4") == 4
    assert rank_number("unk") == 0
    assert rank_number("") == 0


def test_official_trigger_is_content_zh_in_both_files_first_answers():
    assert official_weights_triggered(("en", "zh"), ("zh", "en", "es")) is True
    # English-only prediction file: unweighted, even on iiyi references.
    assert official_weights_triggered(("en",), ("zh", "en", "es")) is False
    # Reddit references carry no content_zh: never weighted.
    assert official_weights_triggered(("zh", "en"), ("en",)) is False


def test_auto_weights_every_language_when_the_prediction_file_carries_zh():
    both = decide_weights("auto", ("en", "zh"), ("zh", "en", "es"), True)
    assert both.use_userinfo is True and both.official is True
    assert "content_zh" in both.reason and "every language" in both.reason
    english_only = decide_weights("auto", ("en",), ("zh", "en", "es"), True)
    assert english_only.use_userinfo is False
    assert "no content_zh" in english_only.reason


def test_auto_without_userinfo_says_the_score_is_not_official():
    d = decide_weights("auto", ("zh",), ("zh",), False)
    assert d.use_userinfo is False
    assert d.official is False
    assert "NOT the official" in d.reason


def test_forced_policies():
    assert decide_weights("userinfo", ("en",), ("en",), True).use_userinfo is True
    assert decide_weights("none", ("zh",), ("zh",), True).use_userinfo is False
    with pytest.raises(MetricError, match="--userinfo"):
        decide_weights("userinfo", ("en",), ("en",), False)
    with pytest.raises(MetricError, match="unknown policy"):
        decide_weights("sometimes", ("en",), ("en",), True)  # type: ignore[arg-type]
