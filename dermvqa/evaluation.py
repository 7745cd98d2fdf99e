"""Score predictions against challenge references: deltaBLEU, BERTScore and answer collapse.

Predictions are aligned to references by ``encounter_id``; a missing, extra or duplicated id is an
:class:`AlignmentError` that names the ids (the official script aligned by position and never
checked). The result has a summary (the numbers a paper reports) and one row per encounter, so a
person can see which answers drag a score down. The summary says which reference weights were used
and why (``weights``, ``weights_reason``), and lists in ``warnings`` every reason a number is not
the official one or not meaningful (e.g. an English BERTScore model on Chinese answers).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dermvqa.data.challenge import Encounter, Prediction
from dermvqa.errors import AlignmentError, MetricError
from dermvqa.metrics.bertscore import BertScorer
from dermvqa.metrics.collapse import CollapseThresholds, collapse_metrics
from dermvqa.metrics.deltableu import score_from_stats, segment_stats
from dermvqa.metrics.reference_weights import AuthorInfo, WeightPolicy, decide_weights, reference_weights

logger = logging.getLogger(__name__)

METRICS = ("deltableu", "bertscore", "collapse")


@dataclass(frozen=True)
class EvaluationOptions:
    lang: str = "en"
    metrics: tuple[str, ...] = METRICS
    weights: WeightPolicy = "auto"
    # The content_<lang> keys of the prediction file's first answer: the official scorer weighted
    # every language when "zh" is among them. None: only ``lang`` (what was loaded).
    prediction_langs: tuple[str, ...] | None = None
    # The corrected variant of the official scorer (references lowercased too); off = official.
    lowercase_references: bool = False
    collapse: CollapseThresholds = field(default_factory=CollapseThresholds)


@dataclass(frozen=True)
class TrainAnswer:
    encounter_id: str
    response_index: int
    text: str


@dataclass(frozen=True)
class EvaluationResult:
    summary: dict[str, Any]
    per_case: list[dict[str, Any]]


def _preview(ids: Iterable[str], limit: int = 10) -> str:
    ids = sorted(ids)
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def align(references: Sequence[Encounter], predictions: Sequence[Prediction]) -> list[tuple[Encounter, Prediction]]:
    """Pair every reference encounter with its prediction, in reference order."""
    ref_dup = [i for i, c in Counter(e.encounter_id for e in references).items() if c > 1]
    pred_dup = [i for i, c in Counter(p.encounter_id for p in predictions).items() if c > 1]
    ref_ids = {e.encounter_id for e in references}
    pred_ids = {p.encounter_id for p in predictions}
    missing, extra = ref_ids - pred_ids, pred_ids - ref_ids
    problems = []
    if missing:
        problems.append(f"{len(missing)} encounter id(s) have no prediction: {_preview(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction id(s) are not in the references: {_preview(extra)}")
    if pred_dup:
        problems.append(f"duplicated prediction id(s): {_preview(pred_dup)}")
    if ref_dup:
        problems.append(f"duplicated reference id(s): {_preview(ref_dup)}")
    if problems:
        raise AlignmentError("; ".join(problems), missing=missing, extra=extra, duplicated=pred_dup + ref_dup)
    by_id = {p.encounter_id: p for p in predictions}
    return [(e, by_id[e.encounter_id]) for e in references]


def train_answers_from(encounters: Iterable[Encounter], lang: str = "en") -> list[TrainAnswer]:
    """Every training response's text in ``lang``: what a collapsed model would copy."""
    return [
        TrainAnswer(e.encounter_id, i, text)
        for e in encounters
        for i, r in enumerate(e.responses)
        if (text := r.text(lang))
    ]


def evaluate(
    references: Sequence[Encounter],
    predictions: Sequence[Prediction],
    options: EvaluationOptions = EvaluationOptions(),
    *,
    userinfo: Mapping[str, AuthorInfo] | None = None,
    train_answers: Sequence[TrainAnswer] | None = None,
    bert_scorer: BertScorer | None = None,
) -> EvaluationResult:
    """Compute the chosen metrics; BERTScore needs ``bert_scorer``."""
    unknown = [m for m in options.metrics if m not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric {unknown[0]!r}; allowed: {', '.join(METRICS)}")
    lang = options.lang
    pairs = align(references, predictions)
    # The official condition looks at the first reference's first answer only (as the script did).
    first = references[0].responses[0].content if references and references[0].responses else {}
    prediction_langs = options.prediction_langs if options.prediction_langs is not None else (lang,)
    decision = decide_weights(options.weights, prediction_langs, tuple(first), userinfo is not None)
    use_weights = decision.use_userinfo
    hyps = [p.text for _, p in pairs]
    refs: list[list[tuple[str, float]]] = []
    for enc, _ in pairs:
        weights = reference_weights(enc.responses, userinfo, use_weights)
        # Empty reference texts stay: the official scorer counted them (closest length 0, max weight).
        weighted = [(t, w) for r, w in zip(enc.responses, weights, strict=True) if (t := r.text(lang)) is not None]
        if not weighted:
            raise MetricError(f"encounter {enc.encounter_id}: no reference answer has content_{lang}")
        refs.append(weighted)

    summary: dict[str, Any] = {"n": len(pairs), "lang": lang}
    warnings: list[str] = []
    per_case: list[dict[str, Any]] = [{"encounter_id": e.encounter_id, "prediction": p.text} for e, p in pairs]

    if "deltableu" in options.metrics:
        stats = [
            segment_stats(h, r, lang=lang, lowercase_references=options.lowercase_references)
            for h, r in zip(hyps, refs, strict=True)
        ]
        result = score_from_stats(stats)
        summary[f"deltableu_{lang}"] = result.score
        summary["deltableu_variant"] = (
            "corrected (references lowercased too)" if options.lowercase_references else "official"
        )
        summary["brevity_penalty"] = result.brevity_penalty
        summary["weights"] = "userinfo" if use_weights else "none (every reference weighs 1)"
        summary["weights_reason"] = decision.reason
        summary["weights_policy"] = options.weights
        if not decision.official:
            warnings.append(f"deltaBLEU weights: {decision.reason}")
        for row, stat in zip(per_case, stats, strict=True):
            row[f"deltableu_{lang}"] = score_from_stats([stat]).score

    if "bertscore" in options.metrics:
        if bert_scorer is None:
            raise MetricError("BERTScore requested without a scorer")
        f1s = bert_scorer.max_f1(hyps, [[t for t, _ in r] for r in refs])
        summary[f"bertscore_{lang}"] = sum(f1s) / len(f1s)
        spec = replace(bert_scorer.spec, lang=lang)
        summary["bertscore_model"] = spec.describe()
        summary["bertscore_official"] = spec.official
        summary["bertscore_meaningful"] = spec.meaningful
        if (note := spec.language_warning()) is not None:
            warnings.append(note)
        for row, f1 in zip(per_case, f1s, strict=True):
            row[f"bertscore_{lang}"] = f1

    if "collapse" in options.metrics:
        train_texts = [t.text for t in train_answers] if train_answers is not None else None
        col = collapse_metrics(hyps, train_texts, options.collapse)
        summary.update(
            largest_cluster_share=col.largest_cluster_share,
            largest_cluster_size=col.largest_cluster_size,
            clusters=col.clusters,
            distinct_answers=col.distinct_answers,
            copy_share=col.copy_share,
            near_identical_threshold=options.collapse.near_identical,
            near_copy_threshold=options.collapse.near_copy,
        )
        for row, case in zip(per_case, col.per_case, strict=True):
            row["cluster"] = case.cluster
            row["cluster_size"] = case.cluster_size
            if train_answers is not None and case.nearest_train is not None:
                nearest = train_answers[case.nearest_train]
                row["nearest_train"] = f"{nearest.encounter_id}#{nearest.response_index}"
                row["nearest_train_similarity"] = case.nearest_train_similarity
    summary["warnings"] = warnings
    return EvaluationResult(summary, per_case)
