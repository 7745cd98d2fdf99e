"""A model answers the held-out set; its answers are scored for the gate.

:func:`answer` drafts with any :class:`~dermvqa.drafting.base.Drafter` (the candidate and the active
model are both loaded through the worker's own factory), photos decoded exactly as the worker does.
:func:`score` is pure: deltaBLEU (the challenge's official variant, so numbers compare with the seed
paper's 8.6) against the clinicians' answers, and the answer-collapse metrics against the training
answers. Per-case rows carry ids and numbers only, never text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dermvqa.drafting.base import Drafter, DraftRequest
from dermvqa.drafting.images import load_image
from dermvqa.errors import ImageError
from dermvqa.metrics.collapse import CollapseThresholds, collapse_metrics
from dermvqa.metrics.deltableu import score_from_stats, segment_stats
from training.examples import Example
from training.gate import ModelScore

logger = logging.getLogger(__name__)

DEFAULT_COLLAPSE = CollapseThresholds()  # near-identical 0.7, near-copy 0.8 (docs/metrics.md)


@dataclass(frozen=True)
class HeldoutScore:
    score: ModelScore
    failed: int  # cases the model produced no answer for (scored as an empty answer)
    distinct_answers: int
    clusters: int
    per_case: tuple[dict[str, Any], ...]

    def summary(self) -> dict[str, Any]:
        s = self.score
        return {
            "n": s.n,
            "deltableu": s.delta_bleu,
            "largest_cluster_share": s.largest_cluster_share,
            "copy_share": s.copy_share,
            "distinct_answers": self.distinct_answers,
            "clusters": self.clusters,
            "failed": self.failed,
        }


def score(
    keys: Sequence[str],
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    train_answers: Sequence[str],
    train_keys: Sequence[str] | None = None,
    *,
    failed: int = 0,
    thresholds: CollapseThresholds = DEFAULT_COLLAPSE,
) -> HeldoutScore:
    """Score answers to the held-out cases: deltaBLEU against their references, collapse vs training."""
    if not predictions:
        return HeldoutScore(ModelScore(0, 0.0, 0.0, None), failed, 0, 0, ())
    stats = [segment_stats(p, [(r, 1.0) for r in refs]) for p, refs in zip(predictions, references, strict=True)]
    bleu = score_from_stats(stats).score
    col = collapse_metrics(list(predictions), list(train_answers) if train_answers else None, thresholds)
    per_case = []
    for i, (key, case) in enumerate(zip(keys, col.per_case, strict=True)):
        row: dict[str, Any] = {
            "key": key,
            "deltableu": score_from_stats([stats[i]]).score,
            "cluster": case.cluster,
            "cluster_size": case.cluster_size,
        }
        if case.nearest_train is not None and case.nearest_train_similarity is not None:
            row["nearest_train"] = train_keys[case.nearest_train] if train_keys else case.nearest_train
            row["nearest_train_similarity"] = round(case.nearest_train_similarity, 4)
        per_case.append(row)
    model_score = ModelScore(len(predictions), bleu, col.largest_cluster_share, col.copy_share)
    return HeldoutScore(model_score, failed, col.distinct_answers, col.clusters, tuple(per_case))


def reference_copy_share(references: Sequence[Sequence[str]], train_answers: Sequence[str]) -> float | None:
    """How often the clinicians' own held-out answers are near-copies of training answers.

    Context for the copy-share cap: where clinicians reuse their wording, a good model will too.
    """
    if not references or not train_answers:
        return None
    return collapse_metrics([refs[0] for refs in references], list(train_answers)).copy_share


def answer(
    drafter: Drafter, examples: Sequence[Example], *, max_pixels: int, max_side: int, batch_size: int = 4
) -> tuple[list[str], int]:
    """The drafter's answer to each example (empty when it failed), and how many failed."""
    answers: list[str] = []
    failed = 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        requests, bad = [], set()
        for example in chunk:
            try:
                photos = [load_image(p, max_pixels=max_pixels, max_side=max_side) for p in example.image_paths]
            except ImageError:
                bad.add(example.key)
                continue
            requests.append(DraftRequest(example.key, photos, example.query, example.prompt_id))
        outcomes = {o.key: o for o in drafter.draft_batch(requests)}
        for example in chunk:
            outcome = outcomes.get(example.key)
            if outcome is None or outcome.result is None:
                failed += 1
                answers.append("")
            else:
                answers.append(outcome.result.text)
        if bad:
            logger.warning("%d held-out case(s) have unreadable photos", len(bad))
    return answers, failed
