"""The gate's held-out set; a model answers it; its answers are scored for the gate.

**Independent references only.** A clinician who approves a draft unchanged stores the active model's
own text as the case's answer; re-drafting that case with the same model, prompt and greedy decoding
largely reproduces it (a random tiny active model scored deltaBLEU 7.79 on such references, a trained
candidate 1.62). So :func:`judged` lets into the held-out set only answers no compared model wrote:

* our cases whose answer is the clinician's own words (``Example.edited``: an edit that changed the
  draft, or an answer written without a draft; ``training.sources.written_by_clinician``);
* base-corpus encounters (DermaVQA answers, written by doctors);
* the optional fixed reference set (``[training] gate_reference_set``), always held out
  (:func:`reference_examples`).

A case approved unchanged that the hash would hold out is trained on instead: never judged, so it
cannot leak. With fewer than ``gate_min_heldout`` independent references the run is not judged.

:func:`answer` drafts with any :class:`~dermvqa.drafting.base.Drafter` (the candidate and the active
model are both loaded through the worker's own factory), photos decoded exactly as the worker does.
:func:`score` is pure: deltaBLEU (the challenge's official variant, so numbers compare with the seed
paper's 8.6) against the clinicians' answers, and the answer-collapse metrics against the training
answers. Per-case rows carry ids and numbers only, never text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dermvqa.drafting.base import Drafter, DraftRequest
from dermvqa.drafting.images import load_image
from dermvqa.errors import ImageError
from dermvqa.metrics.collapse import CollapseThresholds, collapse_metrics
from dermvqa.metrics.deltableu import score_from_stats, segment_stats
from training.examples import Example, Split, is_heldout, split_examples
from training.gate import ModelScore
from training.sources import corpus_examples

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


def judged(example: Example) -> bool:
    """May the gate judge on this example? Only when no model we compare wrote its reference answer."""
    return example.source != "case" or example.edited


def reference_examples(json_path: str | Path, images_dir: str | Path, *, prompt_id: int) -> list[Example]:
    """The fixed reference set (DermaVQA format), keyed ``reference:<encounter>``: held out on every run."""
    examples, _ = corpus_examples(json_path, images_dir, prompt_id=prompt_id)
    return [replace(e, key="reference:" + e.key.partition(":")[2], source="reference") for e in examples]


def gate_split(examples: Sequence[Example], heldout_share: float, reference: Sequence[Example] = ()) -> Split:
    """Training and held-out examples: held out by hash among :func:`judged` ones, plus ``reference``.

    Training examples that duplicate a held-out one (the reference set's included) are dropped.
    """
    return split_examples(examples, heldout_share, judged=judged, fixed=reference)


def unjudged_count(examples: Sequence[Example], heldout_share: float) -> int:
    """Cases the hash holds out whose answer is a model's draft approved unchanged (trained on instead)."""
    return sum(1 for e in examples if is_heldout(e.group, heldout_share) and not judged(e))


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
    model_score = ModelScore(len(predictions), bleu, col.largest_cluster_share, col.copy_share, tuple(stats))
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
