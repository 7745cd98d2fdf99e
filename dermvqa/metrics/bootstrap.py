"""Paired bootstrap of a corpus deltaBLEU difference (pure: per-case statistics in, interval out).

Two models answered the same held-out cases. Is the candidate really better, or did ten lucky cases
make it look so? Resample the cases with replacement ``samples`` times; in each resample score both
models on the *same* drawn cases (paired: case difficulty cancels out) and take the difference.

deltaBLEU is a corpus-level metric (n-gram matches and lengths are summed over cases before the
precisions, the smoothing and the brevity penalty are taken), so the mean of sentence scores is a
different number. Each resample therefore sums the drawn cases' n-gram statistics
(:class:`~dermvqa.metrics.deltableu.SegmentStats`, computed once per case) with their multiplicity and
recomputes the corpus score with :func:`~dermvqa.metrics.deltableu.score_from_stats`: the exact metric,
one matrix product and one short call per resample (1000 resamples of 100 cases take milliseconds).

* ``differences``: candidate - active, one per resample;
* ``interval``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the differences
  (2.5 and 97.5 for the default level 0.95);
* ``win_share``: the share of resamples where the candidate beats the active model by at least
  ``margin`` *and* by more than 0 (a tie is not a win, so an identical candidate wins in none).

The random draws are fixed by ``seed``: the same inputs give the same answer on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dermvqa.errors import MetricError
from dermvqa.metrics.deltableu import MAX_ORDER, SegmentStats, score_from_stats


@dataclass(frozen=True)
class BootstrapResult:
    n: int  # held-out cases
    samples: int
    observed: float  # candidate - active on all cases
    low: float  # the interval of the difference, percentiles (1 -/+ level) / 2
    high: float
    level: float
    margin: float
    win_share: float  # share of resamples with difference > 0 and >= margin


def stats_matrix(stats: Sequence[SegmentStats]) -> np.ndarray:
    """One row per case: correct[1..4], total[1..4], sys_len, ref_len (shape n x 10)."""
    return np.array([[*s.correct, *s.total, s.sys_len, s.ref_len] for s in stats], dtype=np.float64).reshape(
        len(stats), 2 * MAX_ORDER + 2
    )


def corpus_score(summed: np.ndarray) -> float:
    """deltaBLEU of one row of summed statistics (as :func:`stats_matrix` lays them out)."""
    row = SegmentStats(
        tuple(float(x) for x in summed[:MAX_ORDER]),
        tuple(float(x) for x in summed[MAX_ORDER : 2 * MAX_ORDER]),
        round(float(summed[2 * MAX_ORDER])),
        round(float(summed[2 * MAX_ORDER + 1])),
    )
    return score_from_stats([row]).score


def resample_counts(n: int, samples: int, seed: int) -> np.ndarray:
    """How often each case is drawn in each resample (samples x n; every row sums to n)."""
    rng = np.random.default_rng(seed)
    draws_SN = rng.integers(0, n, size=(samples, n))
    counts_SN = np.zeros((samples, n), dtype=np.float64)
    np.add.at(counts_SN, (np.arange(samples)[:, None], draws_SN), 1.0)
    return counts_SN


def paired_bootstrap(
    candidate: Sequence[SegmentStats],
    active: Sequence[SegmentStats],
    *,
    margin: float,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Resample the held-out cases; the candidate's corpus deltaBLEU minus the active model's."""
    n = len(candidate)
    if n != len(active):
        raise MetricError(f"paired bootstrap: {n} candidate cases but {len(active)} active ones")
    if n == 0 or samples < 1:
        raise MetricError("paired bootstrap: needs at least one case and one resample")
    cand_N10, act_N10 = stats_matrix(candidate), stats_matrix(active)
    observed = corpus_score(cand_N10.sum(axis=0)) - corpus_score(act_N10.sum(axis=0))
    counts_SN = resample_counts(n, samples, seed)
    cand_S10, act_S10 = counts_SN @ cand_N10, counts_SN @ act_N10
    diffs = np.array([corpus_score(c) - corpus_score(a) for c, a in zip(cand_S10, act_S10, strict=True)])
    wins = (diffs > 0) & (diffs >= margin)
    low, high = np.percentile(diffs, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return BootstrapResult(n, samples, observed, float(low), float(high), level, margin, float(wins.mean()))
