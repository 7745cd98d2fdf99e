"""The paired bootstrap of a corpus deltaBLEU difference (dermvqa.metrics.bootstrap), on plain values."""

from __future__ import annotations

import pytest

from dermvqa.errors import MetricError
from dermvqa.metrics.bootstrap import corpus_score, paired_bootstrap, resample_counts, stats_matrix
from dermvqa.metrics.deltableu import score_from_stats, segment_stats

REFS = [
    "Atopic eczema. Use an emollient and a mild steroid for flares.",
    "Tinea corporis, a fungal infection. Clotrimazole cream for four weeks.",
    "Plaque psoriasis. A dermatologist can prescribe calcipotriol.",
    "Contact dermatitis from nickel. Avoid the metal, use a mild steroid.",
    "Acne vulgaris. Benzoyl peroxide gel at night.",
    "Shingles. Antivirals within three days, see your doctor today.",
]
GOOD = REFS
VAGUE = ["It is a rash, use a cream.", "See a doctor.", "A skin problem.", "Use a steroid.", "Acne.", "Shingles."]


def stats(answers):
    return [segment_stats(a, [(r, 1.0)]) for a, r in zip(answers, REFS, strict=True)]


def test_each_resample_is_the_exact_corpus_score_of_the_drawn_cases():
    """Summing per-case statistics with multiplicity is the corpus deltaBLEU of the resampled corpus."""
    per_case = stats(VAGUE)
    counts = resample_counts(len(per_case), 5, seed=3)
    assert counts.shape == (5, 6) and (counts.sum(axis=1) == 6).all()
    matrix = stats_matrix(per_case)
    for row in counts:
        drawn = [s for s, c in zip(per_case, row, strict=True) for _ in range(int(c))]
        assert corpus_score(row @ matrix) == pytest.approx(score_from_stats(drawn).score, rel=1e-12)


def test_identical_answers_never_win_and_have_a_zero_interval():
    result = paired_bootstrap(stats(VAGUE), stats(VAGUE), margin=0.0, samples=500, seed=0)
    assert (result.win_share, result.low, result.high, result.observed) == (0.0, 0.0, 0.0, 0.0)


def test_a_clearly_better_candidate_wins_every_resample():
    result = paired_bootstrap(stats(GOOD), stats(VAGUE), margin=0.1, samples=500, seed=0)
    assert result.win_share == 1.0 and 0.1 < result.low <= result.observed <= result.high
    assert (result.n, result.samples, result.level, result.margin) == (6, 500, 0.95, 0.1)
    reverse = paired_bootstrap(stats(VAGUE), stats(GOOD), margin=0.1, samples=500, seed=0)
    assert reverse.win_share == 0.0 and reverse.high < 0
    assert reverse.low == pytest.approx(-result.high) and reverse.high == pytest.approx(-result.low)


def test_a_margin_larger_than_the_whole_gain_is_never_won():
    gain = paired_bootstrap(stats(GOOD), stats(VAGUE), margin=0.0, samples=200, seed=0).high
    assert paired_bootstrap(stats(GOOD), stats(VAGUE), margin=gain + 1, samples=200, seed=0).win_share == 0.0


def test_the_same_seed_gives_the_same_result_and_bad_input_is_refused():
    a = paired_bootstrap(stats(GOOD[:3] + VAGUE[3:]), stats(VAGUE), margin=0.5, samples=300, seed=9)
    assert a == paired_bootstrap(stats(GOOD[:3] + VAGUE[3:]), stats(VAGUE), margin=0.5, samples=300, seed=9)
    with pytest.raises(MetricError):
        paired_bootstrap(stats(GOOD), stats(VAGUE)[:5], margin=0.1)
    with pytest.raises(MetricError):
        paired_bootstrap([], [], margin=0.1)
