from __future__ import annotations

import pytest

from dermvqa.metrics.collapse import CollapseThresholds, collapse_metrics, normalise, shingles

MEMORISED = (
    "It is a case of eczema due to dry skin (xerosis). Use topical steroid cream twice daily for 2-4 weeks "
    "and oral antihistamines if needed."
)


def test_the_seed_papers_collapse_is_one_cluster():
    # Table 3 of the seed: identical, a dropped first letter, and a one-word change.
    preds = [
        MEMORISED,
        MEMORISED,
        "t is a case of eczema due to dry skin (xerosis). Use topical steroid cream twice daily for 2-4 weeks "
        "and oral antihistamines if needed.",
        MEMORISED.replace("eczema", "dermatitis"),
        "Psoriasis; calcipotriol ointment.",
        "Tinea corporis, use terbinafine cream for two weeks.",
    ]
    r = collapse_metrics(preds)
    assert r.largest_cluster_size == 4
    assert r.largest_cluster_share == pytest.approx(4 / 6)
    assert r.clusters == 3
    assert r.distinct_answers == 5
    assert [c.cluster for c in r.per_case[:4]] == [0, 0, 0, 0]
    assert r.copy_share is None


def test_distinct_answers_are_not_clustered():
    preds = ["eczema, use emollients", "psoriasis, use calcipotriol", "acne, use adapalene gel at night"]
    r = collapse_metrics(preds)
    assert r.largest_cluster_share == pytest.approx(1 / 3)
    assert r.clusters == 3


def test_near_copy_of_training_answers():
    train = ["Something unrelated about moles.", MEMORISED]
    preds = [MEMORISED + " See a doctor.", "Psoriasis; calcipotriol ointment."]
    r = collapse_metrics(preds, train)
    assert r.copy_share == pytest.approx(0.5)
    assert r.per_case[0].nearest_train == 1
    assert r.per_case[0].nearest_train_similarity > 0.8
    assert r.per_case[1].nearest_train_similarity == 0.0


def test_thresholds_are_configurable():
    preds = ["a b c d e f", "a b c d e g"]  # 3 of 5 shingles shared: Jaccard 3/5
    assert collapse_metrics(preds).clusters == 2
    assert collapse_metrics(preds, thresholds=CollapseThresholds(near_identical=0.5)).clusters == 1


def test_short_and_empty_answers():
    assert shingles("Eczema!") == frozenset({("eczema",)})
    assert normalise("It's ECZEMA.") == ("it", "s", "eczema")
    r = collapse_metrics(["", "", "eczema"])
    assert r.largest_cluster_size == 2
