"""Answer-collapse metrics (pure): the seed paper's failure mode, measured.

The seed's best run (deltaBLEU 8.6) gave one memorised training paragraph to 10 of 78 test cases.
A high deltaBLEU can hide that, so these numbers sit beside it.

Definitions (also in docs/metrics.md):

* **normalised answer**: lowercased, words = runs of letters/digits (``\\w+``), punctuation dropped.
* **similarity** of two answers: Jaccard similarity of their sets of word ``shingle``-grams
  (default bigrams; an answer shorter than that uses its whole word sequence as one shingle).
* **near-identical**: similarity >= ``near_identical`` (default 0.7). Clusters are the connected
  components of the near-identical relation (single linkage).
* ``largest_cluster_share``: size of the largest cluster / number of predictions.
* ``distinct_answers``: number of distinct normalised answers; ``clusters``: number of clusters.
* ``copy_share`` (needs training answers): share of predictions whose most similar training
  answer has similarity >= ``near_copy`` (default 0.8).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class CollapseThresholds:
    near_identical: float = 0.7
    near_copy: float = 0.8
    shingle: int = 2


@dataclass(frozen=True)
class CaseCollapse:
    cluster: int  # cluster id (0 = the largest cluster)
    cluster_size: int
    nearest_train: int | None  # index of the most similar training answer
    nearest_train_similarity: float | None


@dataclass(frozen=True)
class CollapseResult:
    n: int
    largest_cluster_share: float
    largest_cluster_size: int
    clusters: int
    distinct_answers: int
    copy_share: float | None
    per_case: tuple[CaseCollapse, ...]


def normalise(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def shingles(text: str, size: int = 3) -> frozenset[tuple[str, ...]]:
    words = normalise(text)
    if len(words) < size:
        return frozenset([words]) if words else frozenset()
    return frozenset(words[i : i + size] for i in range(len(words) - size + 1))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _inverted_index(corpus: Sequence[frozenset]) -> dict[tuple[str, ...], list[int]]:
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for j, s in enumerate(corpus):
        for sh in s:
            index[sh].append(j)
    return index


def _similar(query: frozenset, corpus: Sequence[frozenset], index: dict) -> dict[int, float]:
    """Jaccard similarity of ``query`` to every corpus set sharing a shingle with it."""
    overlaps: Counter = Counter()
    for sh in query:
        overlaps.update(index.get(sh, ()))
    return {j: inter / (len(query) + len(corpus[j]) - inter) for j, inter in overlaps.items()}


def _best_matches(queries: Sequence[frozenset], corpus: Sequence[frozenset]) -> list[tuple[int | None, float]]:
    """For each query set, the most similar corpus set (lowest index on a tie) and the similarity."""
    index = _inverted_index(corpus)
    first_empty = next((j for j, s in enumerate(corpus) if not s), None)
    out: list[tuple[int | None, float]] = []
    for q in queries:
        if not q:
            out.append((first_empty, 1.0) if first_empty is not None else (None, 0.0))
            continue
        sims = _similar(q, corpus, index)
        best = min(sims.items(), key=lambda item: (-item[1], item[0]), default=(None, 0.0))
        out.append(best)
    return out


def collapse_metrics(
    predictions: Sequence[str],
    train_answers: Sequence[str] | None = None,
    thresholds: CollapseThresholds = CollapseThresholds(),
) -> CollapseResult:
    """Cluster near-identical predictions and, given training answers, measure near-copies."""
    n = len(predictions)
    sets = [shingles(p, thresholds.shingle) for p in predictions]
    uf = _UnionFind(n)
    # Only answers that share a shingle can be near-identical: look pairs up in an inverted index.
    index = _inverted_index(sets)
    empties = [i for i, s in enumerate(sets) if not s]
    for i in empties[1:]:
        uf.union(empties[0], i)
    for i, s in enumerate(sets):
        for j, sim in _similar(s, sets, index).items():
            if j > i and sim >= thresholds.near_identical:
                uf.union(i, j)
    roots = [uf.find(i) for i in range(n)]
    sizes = Counter(roots)
    # Cluster ids ordered by size (largest first), ties by first appearance.
    order = sorted(sizes, key=lambda r: (-sizes[r], r))
    cluster_id = {root: k for k, root in enumerate(order)}

    nearest: list[tuple[int | None, float | None]] = [(None, None)] * n
    copy_share = None
    if train_answers is not None:
        train_sets = [shingles(t, thresholds.shingle) for t in train_answers]
        matches = _best_matches(sets, train_sets)
        nearest = [(j, sim) for j, sim in matches]
        copy_share = sum(1 for _, sim in matches if sim >= thresholds.near_copy) / n if n else 0.0

    largest = sizes[order[0]] if n else 0
    return CollapseResult(
        n=n,
        largest_cluster_share=largest / n if n else 0.0,
        largest_cluster_size=largest,
        clusters=len(sizes),
        distinct_answers=len({normalise(p) for p in predictions}),
        copy_share=copy_share,
        per_case=tuple(
            CaseCollapse(cluster_id[roots[i]], sizes[roots[i]], nearest[i][0], nearest[i][1]) for i in range(n)
        ),
    )
