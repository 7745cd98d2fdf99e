"""Closed-question accuracy exactly as the MEDIQA-MAGIC 2025 scorer computes it.

See ``docs/closed-qa.md`` (shared docs): question ids are grouped by family (the part before the
dash; only keys of exactly 11 characters other than ``encounter_id`` count); for each encounter and
family the gold and system values become SETS; the pair scores |gold ∩ system| / max(|gold|,
|system|); a family's accuracy is the mean over the gold encounters and ``accuracy_all`` the mean
over every (encounter, family) pair. Unlike the official script, which fails on a missing
encounter, :func:`score` names the missing and extra encounter ids.

Anchors on ``valid_cvqa.json``: the train majority answer per question id scores 0.5203, "Not
mentioned" everywhere 0.2650 (tests reproduce both).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from dermvqa.closedqa.questions import family_of
from dermvqa.errors import AlignmentError, DataFormatError

ENCOUNTER_KEY = "encounter_id"
QID_LENGTH = 11  # "CQID011-003"


def _encounter_of(obj: Mapping, where: str, index: int) -> str:
    if not isinstance(obj, Mapping) or not isinstance(obj.get(ENCOUNTER_KEY), str):
        raise DataFormatError(f"{where}: entry {index} is not an object with a string {ENCOUNTER_KEY!r}")
    return obj[ENCOUNTER_KEY].split("-")[0]


def family_sets(obj: Mapping) -> dict[str, set]:
    """The set of values of each family in one encounter's object (the counted keys only)."""
    sets: dict[str, set] = {}
    for key, value in obj.items():
        if key == ENCOUNTER_KEY or len(key) != QID_LENGTH:
            continue
        sets.setdefault(family_of(key), set()).add(value)
    return sets


def pair_score(gold: set, system: set) -> float:
    """|gold ∩ system| / max(|gold|, |system|); 0 when both are empty (never the case in gold files)."""
    largest = max(len(gold), len(system))
    return len(gold & system) / largest if largest else 0.0


def _by_encounter(entries: Sequence[Mapping], where: str) -> dict[str, Mapping]:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise DataFormatError(f"{where}: expected a list of encounter objects")
    found: dict[str, Mapping] = {}
    duplicated = []
    for index, obj in enumerate(entries):
        encounter = _encounter_of(obj, where, index)
        if encounter in found:
            duplicated.append(encounter)
        found[encounter] = obj
    if duplicated:
        names = ", ".join(sorted(set(duplicated)))
        raise AlignmentError(f"{where}: encounter ids given more than once: {names}", duplicated=duplicated)
    return found


def score(references: Sequence[Mapping], predictions: Sequence[Mapping]) -> dict[str, float]:
    """``accuracy_all`` and ``accuracy_<family>`` of ``predictions`` against ``references``.

    Both are lists of the challenge's encounter objects. Raises :class:`AlignmentError` naming the
    missing and extra encounter ids, :class:`DataFormatError` for an entry without an encounter id.
    """
    gold = _by_encounter(references, "references")
    system = _by_encounter(predictions, "predictions")
    missing = sorted(set(gold) - set(system))
    extra = sorted(set(system) - set(gold))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the predictions: {', '.join(missing)}")
        if extra:
            parts.append(f"not in the references: {', '.join(extra)}")
        raise AlignmentError("; ".join(parts), missing=missing, extra=extra)
    if not gold:
        raise DataFormatError("references: no encounters to score")
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for encounter, gold_obj in gold.items():
        system_sets = family_sets(system[encounter])
        for family, gold_set in family_sets(gold_obj).items():
            totals[family] += pair_score(gold_set, system_sets.get(family, set()))
            counts[family] += 1
    pairs = sum(counts.values())
    if not pairs:
        raise DataFormatError("references: no question ids to score")
    result = {"accuracy_all": sum(totals.values()) / pairs}
    for family in sorted(counts):
        result[f"accuracy_{family}"] = totals[family] / counts[family]
    return result


def majority_answers(references: Sequence[Mapping]) -> dict[str, int]:
    """The most frequent value of every question id (ties: the smallest value), e.g. from train gold."""
    counters: dict[str, Counter] = {}
    for obj in references:
        for key, value in obj.items():
            if key != ENCOUNTER_KEY:
                counters.setdefault(key, Counter())[value] += 1
    return {key: min(counter.items(), key=lambda item: (-item[1], item[0]))[0] for key, counter in counters.items()}


def score_table(result: Mapping[str, float], names: Mapping[str, str] | None = None) -> str:
    """A plain-text table of a :func:`score` result: one row per family, then the overall accuracy."""
    names = names or {}
    rows = [(key.removeprefix("accuracy_"), value) for key, value in result.items() if key != "accuracy_all"]
    lines = [f"{'family':<9} {'name':<12} {'accuracy':>8}"]
    lines += [f"{family:<9} {names.get(family, ''):<12} {value:>8.4f}" for family, value in rows]
    lines.append(f"{'all':<9} {'':<12} {result['accuracy_all']:>8.4f}")
    return "\n".join(lines)
