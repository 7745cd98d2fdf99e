from __future__ import annotations

import pytest

from dermvqa.data.challenge import Response
from dermvqa.errors import MetricError
from dermvqa.metrics.reference_weights import AuthorInfo, rank_number, response_weight, weights_apply


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


def test_official_auto_policy_weights_only_chinese():
    assert weights_apply("auto", "zh", True) is True
    assert weights_apply("auto", "en", True) is False
    assert weights_apply("userinfo", "en", True) is True
    assert weights_apply("none", "zh", True) is False
    with pytest.raises(MetricError, match="--userinfo"):
        weights_apply("userinfo", "en", False)
