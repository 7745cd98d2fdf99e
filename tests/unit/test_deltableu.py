from __future__ import annotations

import math
import random

import pytest
from sacrebleu.metrics import BLEU

from dermvqa.errors import MetricError
from dermvqa.metrics.deltableu import LOG_ZERO, corpus_delta_bleu, segment_stats, tokenize


def test_identical_answer_scores_100():
    r = corpus_delta_bleu(["the rash is eczema ."], [[("the rash is eczema .", 1.0)]])
    assert r.score == pytest.approx(100.0)
    assert r.brevity_penalty == 1.0


def test_only_the_hypothesis_is_lowercased_by_default():
    refs = [[("Eczema Is Likely Here Today", 1.0)]]
    official = corpus_delta_bleu(["Eczema is likely here today"], refs)
    corrected = corpus_delta_bleu(["Eczema is likely here today"], refs, lowercase_references=True)
    assert corrected.score == pytest.approx(100.0)
    # Official: the lowercased hypothesis matches only the lowercase reference tokens ("is", "here"...).
    assert official.score < 50


def test_weights_scale_correct_by_the_best_reference_containing_the_ngram():
    # Unigram "psoriasis" appears only in the low-weight reference.
    stats = segment_stats("psoriasis", [("psoriasis", 0.6), ("eczema", 1.0)])
    assert stats.correct[0] == pytest.approx(0.6)
    assert stats.total[0] == pytest.approx(1.0)  # max_w * count
    both = segment_stats("psoriasis", [("psoriasis", 0.6), ("psoriasis here", 0.9)])
    assert both.correct[0] == pytest.approx(0.9)


def test_reference_count_is_the_maximum_over_references_and_clips_matches():
    stats = segment_stats("a a a", [("a b", 1.0), ("a a c", 1.0)])
    assert stats.correct[0] == 2.0  # min(3, max(1, 2))
    assert stats.total[0] == 3.0


def test_closest_reference_length_prefers_the_shorter_on_a_tie():
    stats = segment_stats("one two three", [("x y y y", 1.0), ("x y", 1.0)])
    assert stats.ref_len == 2
    assert stats.sys_len == 3


def test_effective_order_and_exp_smoothing():
    # Two tokens: unigrams and bigrams exist, no 3- or 4-grams -> effective order 2.
    r = corpus_delta_bleu(["alpha beta"], [[("alpha gamma", 1.0)]])
    assert r.effective_order == 2
    # unigram 1/2 correct; bigram 0/1 correct -> smoothed 100 / (2 * 1).
    assert r.precisions[:2] == (50.0, 50.0)
    assert r.score == pytest.approx(50.0)


def test_empty_hypothesis_scores_zero_via_the_log_floor():
    r = corpus_delta_bleu([""], [[("some answer", 1.0)]])
    assert r.score == 0.0
    assert LOG_ZERO < -1e9


def test_brevity_penalty():
    r = corpus_delta_bleu(["a b"], [[("a b c d", 1.0)]])
    assert r.brevity_penalty == pytest.approx(math.exp(1 - 4 / 2))


def test_zero_weight_reference_matches_with_weight_zero():
    """The official scorer records a zero weight like any other (no KeyError, no skip)."""
    stats = segment_stats("psoriasis", [("psoriasis", 0.0), ("eczema", 1.0)])
    assert stats.correct[0] == 0.0
    assert stats.total[0] == 1.0  # max_w * count
    r = corpus_delta_bleu(["psoriasis"], [[("psoriasis", 0.0), ("eczema", 1.0)]])
    assert r.precisions[0] == 50.0  # correct 0 -> exp smoothing: 100 / (2 * 1)


def test_first_weight_seen_is_kept_unless_a_later_one_is_larger():
    assert segment_stats("x", [("x", 0.0), ("x y", 0.7)]).correct[0] == pytest.approx(0.7)
    assert segment_stats("x", [("x y", 0.7), ("x", 0.0)]).correct[0] == pytest.approx(0.7)
    assert segment_stats("x", [("x", -0.5), ("y", 1.0)]).correct[0] == pytest.approx(-0.5)
    assert segment_stats("x", [("x", -0.5), ("x", 0.3), ("y", 1.0)]).correct[0] == pytest.approx(0.3)


def test_negative_corpus_correct_is_clamped_to_zero_but_segments_are_not():
    bad = [("x", -0.5), ("y", 1.0)]
    alone = corpus_delta_bleu(["x"], [bad])
    assert alone.precisions[0] == 50.0  # clamped to 0, then exp smoothing: 100 / (2 * 1)
    # A negative segment lowers the corpus sum before the clamp: (-0.5 + 1.0) / 2 unigrams.
    mixed = corpus_delta_bleu(["x", "z"], [bad, [("z", 1.0)]])
    assert mixed.precisions[0] == pytest.approx(25.0)


def test_nonpositive_largest_weight_and_missing_references_are_errors():
    with pytest.raises(MetricError, match="> 0"):
        segment_stats("x", [("x", 0.0)])
    with pytest.raises(MetricError, match="> 0"):
        segment_stats("x", [("x", -1.0), ("y", 0.0)])
    with pytest.raises(MetricError, match="no references"):
        segment_stats("x", [])
    with pytest.raises(MetricError, match="2 hypotheses but 1"):
        corpus_delta_bleu(["a", "b"], [[("a", 1.0)]])


def test_uses_sacrebleu_tokenizers():
    assert tokenize("It's 2-4 weeks, twice daily.  ") == "It's 2 - 4 weeks , twice daily ."
    assert tokenize("银屑病，似与胸腔积液", "zh").split()[0] == "银"


def test_equals_sacrebleu_bleu_when_weights_are_one_and_text_lowercase():
    """With weights 1 and lowercase references, deltaBLEU is plain multi-reference BLEU."""
    rng = random.Random(7)
    vocab = "skin rash eczema cream steroid twice daily the a is of for weeks , .".split()

    def sentence():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 25)))

    hyps = [sentence() for _ in range(200)]
    refs = [[sentence() for _ in range(3)] for _ in hyps]
    ours = corpus_delta_bleu(hyps, [[(r, 1.0) for r in rs] for rs in refs]).score
    streams = [list(col) for col in zip(*refs, strict=True)]
    theirs = BLEU(lowercase=True, effective_order=True).corpus_score(hyps, streams).score
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_zero_and_negative_weights_match_the_official_scorer_value():
    """Value from running the official ``corpus_bleu_t`` (MEDIQA-M3G ``sacrebleu_deltableu.py``) on these inputs."""
    hyps = ["a b c", "x y", "a"]
    refs = [[("a b c", 0.0), ("a d", 1.0)], [("x y z", -0.5), ("y", 0.7)], [("a", -2.0), ("b", 0.5)]]
    assert corpus_delta_bleu(hyps, refs).score == pytest.approx(10.570285735030959, abs=1e-9)
