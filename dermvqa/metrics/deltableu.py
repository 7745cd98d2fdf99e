"""deltaBLEU exactly as the MEDIQA-M3G / MEDIQA-MAGIC 2024 scorer computed it (pure).

The challenge scored with a deltaBLEU (Galley et al., 2015) built into a modified sacreBLEU 1.x.
This module reproduces it, quirks included (see ``docs/metrics.md``):

* only the hypothesis is lowercased (the official script lowercased a copy of the references it
  never used); ``lowercase_references=True`` gives the corrected variant, clearly named;
* trailing whitespace is stripped, then sacreBLEU's own ``13a`` (English, Spanish) or ``zh``
  tokenizer runs; n-grams are whitespace-separated tokens, n = 1..4;
* per segment, an n-gram's reference count is its maximum count over the references and its
  weight the maximum weight among references containing it; ``max_w`` is the largest reference
  weight (it must be > 0); ``correct[n] += weight * min(c, refcount)``, ``total[n] += max_w * c``;
* an n-gram's weight is recorded the first time a reference contains it, whatever it is (zero and
  negative included), and only raised by a later, larger one: a zero-weight reference's n-grams
  match with weight 0, a negative one's lower ``correct``;
* corpus level: ``correct[n]`` summed over segments and a negative sum clamped to 0, then effective
  order, "exp" smoothing, brevity penalty on the closest reference length (the shorter one on a
  tie), reported on a 0-100 scale.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sacrebleu.metrics.helpers import extract_all_word_ngrams
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

from dermvqa.errors import MetricError

MAX_ORDER = 4
# The official scorer floors log(0) to this value instead of -inf.
LOG_ZERO = -9999999999.0

WeightedRefs = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class SegmentStats:
    """Sufficient statistics of one hypothesis against its weighted references."""

    correct: tuple[float, ...]
    total: tuple[float, ...]
    sys_len: int
    ref_len: int


@dataclass(frozen=True)
class DeltaBleuResult:
    score: float  # 0-100
    precisions: tuple[float, ...]
    brevity_penalty: float
    sys_len: int
    ref_len: int
    effective_order: int


@cache
def _tokenizer(lang: str):
    # sacreBLEU's own tokenizers; the official scorer used 13a except for Chinese.
    return TokenizerZh() if lang == "zh" else Tokenizer13a()


def tokenize(text: str, lang: str = "en") -> str:
    """Text as the scorer sees it: trailing whitespace stripped, then sacreBLEU-tokenized."""
    return _tokenizer(lang)(text.rstrip())


def segment_stats(
    hypothesis: str,
    references: WeightedRefs,
    *,
    lang: str = "en",
    lowercase: bool = True,
    lowercase_references: bool = False,
) -> SegmentStats:
    """The deltaBLEU statistics of one segment. ``references`` are (text, weight) pairs."""
    if not references:
        raise MetricError("deltaBLEU: a segment has no references")
    tok = _tokenizer(lang)
    if lowercase:
        hypothesis = hypothesis.lower()
    hyp_ngrams, hyp_len = extract_all_word_ngrams(tok(hypothesis.rstrip()), 1, MAX_ORDER)

    max_w = max(w for _, w in references)
    if max_w <= 0:
        raise MetricError(f"deltaBLEU: the largest reference weight must be > 0, got {max_w}")

    ref_counts: Counter = Counter()
    ngram_weight: dict[tuple[str, ...], float] = {}
    closest_len: int | None = None
    for text, weight in references:
        if lowercase and lowercase_references:
            text = text.lower()
        ngrams, length = extract_all_word_ngrams(tok(text.rstrip()), 1, MAX_ORDER)
        # Closest reference length; on a tie the shorter one.
        if closest_len is None or (abs(length - hyp_len), length) < (abs(closest_len - hyp_len), closest_len):
            closest_len = length
        for ngram, count in ngrams.items():
            if count > ref_counts[ngram]:
                ref_counts[ngram] = count
            # As the official scorer: the first weight seen is kept whatever it is (0 or negative
            # too), and only a larger later one replaces it.
            if ngram not in ngram_weight or weight > ngram_weight[ngram]:
                ngram_weight[ngram] = weight

    correct = [0.0] * MAX_ORDER
    total = [0.0] * MAX_ORDER
    for ngram, count in hyp_ngrams.items():
        n = len(ngram) - 1
        total[n] += max_w * count
        match = min(count, ref_counts.get(ngram, 0))
        if match > 0:
            correct[n] += ngram_weight[ngram] * match
    assert closest_len is not None
    return SegmentStats(tuple(correct), tuple(total), hyp_len, closest_len)


def _log(x: float) -> float:
    return LOG_ZERO if x == 0 else math.log(x)


def score_from_stats(stats: Sequence[SegmentStats]) -> DeltaBleuResult:
    """Corpus deltaBLEU from summed segment statistics (effective order, exp smoothing)."""
    # The official scorer clamps a negative corpus sum (possible only with negative weights) to 0;
    # segments are not clamped one by one.
    correct = [max(0.0, sum(s.correct[n] for s in stats)) for n in range(MAX_ORDER)]
    total = [sum(s.total[n] for s in stats) for n in range(MAX_ORDER)]
    sys_len = sum(s.sys_len for s in stats)
    ref_len = sum(s.ref_len for s in stats)

    precisions = [0.0] * MAX_ORDER
    smooth = 1.0
    effective_order = MAX_ORDER
    for n in range(1, MAX_ORDER + 1):
        if total[n - 1] == 0:
            break
        effective_order = n
        if correct[n - 1] == 0:
            smooth *= 2
            precisions[n - 1] = 100.0 / (smooth * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]

    brevity_penalty = 1.0
    if sys_len < ref_len:
        brevity_penalty = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    score = brevity_penalty * math.exp(sum(map(_log, precisions[:effective_order])) / effective_order)
    return DeltaBleuResult(score, tuple(precisions), brevity_penalty, sys_len, ref_len, effective_order)


def corpus_delta_bleu(
    hypotheses: Sequence[str],
    references: Sequence[WeightedRefs],
    *,
    lang: str = "en",
    lowercase: bool = True,
    lowercase_references: bool = False,
) -> DeltaBleuResult:
    """Corpus deltaBLEU of aligned hypotheses and (text, weight) reference lists."""
    if len(hypotheses) != len(references):
        raise MetricError(f"deltaBLEU: {len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise MetricError("deltaBLEU: nothing to score")
    stats = [
        segment_stats(h, r, lang=lang, lowercase=lowercase, lowercase_references=lowercase_references)
        for h, r in zip(hypotheses, references, strict=True)
    ]
    return score_from_stats(stats)
