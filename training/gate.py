"""The evaluation gate (pure): promote a candidate only if it is better AND has not collapsed.

The seed paper's best run raised deltaBLEU to 8.6 while giving one memorised training paragraph to
10 of 78 test cases: a better score alone is not enough. On the same held-out set (whose reference
answers no compared model wrote: see ``training.heldout``), the candidate is promoted only if every
check passes:

* ``heldout``: the set has at least ``min_heldout`` cases (collapse shares on 3 cases are noise);
* ``deltableu``: in a paired bootstrap over the held-out cases (``dermvqa.metrics.bootstrap``:
  ``bootstrap_samples`` resamples, seeded), the candidate's corpus deltaBLEU beats the active model's
  by at least ``min_delta_bleu`` (and by more than 0: a tie is not an improvement) in at least
  ``confidence`` of the resamples. Ten cases and a 0.1 margin alone would promote on noise; an
  identical candidate ties every resample and is never promoted;
* ``cluster_share``: the largest group of near-identical candidate answers <= ``max_cluster_share``
  of the cases;
* ``copy_share``: the share of candidate answers that are near-copies of a training answer <=
  ``max_copy_share``.

Every check has a reason in words, for the run record and the report, whether it passed or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermvqa.config import TrainingConfig
from dermvqa.metrics.bootstrap import BootstrapResult, paired_bootstrap
from dermvqa.metrics.deltableu import SegmentStats


@dataclass(frozen=True)
class GateThresholds:
    min_delta_bleu: float = 0.1
    max_cluster_share: float = 0.1
    max_copy_share: float = 0.1
    min_heldout: int = 10
    confidence: float = 0.95  # share of bootstrap resamples the candidate must win
    bootstrap_samples: int = 1000
    seed: int = 0  # fixes the resamples: the same run data gives the same decision

    @classmethod
    def from_config(cls, training: TrainingConfig) -> GateThresholds:
        return cls(
            training.gate_min_delta_bleu,
            training.gate_max_cluster_share,
            training.gate_max_copy_share,
            training.gate_min_heldout,
            training.gate_confidence,
            training.gate_bootstrap_samples,
            training.seed,
        )


@dataclass(frozen=True)
class ModelScore:
    """One model's answers to the held-out set, measured."""

    n: int
    delta_bleu: float
    largest_cluster_share: float
    copy_share: float | None  # None when there were no training answers to compare with
    # deltaBLEU statistics of each held-out case, in the held-out order (for the paired bootstrap)
    segments: tuple[SegmentStats, ...] = ()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    reason: str


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    checks: tuple[Check, ...]
    bootstrap: BootstrapResult | None = None

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks]

    @property
    def summary(self) -> str:
        """One line: every failed check's reason, or every passed one's when promoted."""
        if self.promote:
            return "promoted: " + "; ".join(self.reasons)
        return "rejected: " + "; ".join(c.reason for c in self.checks if not c.passed)


def _heldout_check(candidate: ModelScore, t: GateThresholds) -> Check:
    ok = candidate.n >= t.min_heldout
    verb = "meets" if ok else "is below"
    return Check("heldout", ok, candidate.n, t.min_heldout, f"held-out set of {candidate.n} {verb} {t.min_heldout}")


def bootstrap_of(candidate: ModelScore, active: ModelScore, t: GateThresholds) -> BootstrapResult | None:
    """The paired bootstrap of the two models' answers to the same cases (None without per-case scores)."""
    if not candidate.segments or len(candidate.segments) != len(active.segments):
        return None
    return paired_bootstrap(
        candidate.segments, active.segments, margin=t.min_delta_bleu, samples=t.bootstrap_samples, seed=t.seed
    )


def _bleu_check(candidate: ModelScore, active: ModelScore, boot: BootstrapResult | None, t: GateThresholds) -> Check:
    gain = candidate.delta_bleu - active.delta_bleu
    head = f"deltaBLEU {candidate.delta_bleu:.3f} vs active {active.delta_bleu:.3f} ({gain:+.3f}"
    if boot is None:
        return Check("deltableu", False, None, t.confidence, f"{head}) has no per-case scores to resample: not judged")
    head += f", {boot.level:.0%} interval {boot.low:+.3f} to {boot.high:+.3f})"
    ok = boot.win_share >= t.confidence
    wins = f"in {boot.win_share:.1%} of {boot.samples} resamples, {t.confidence:.0%} needed"
    verb = "beats" if ok else "does not beat"
    reason = f"{head} {verb} the active model by {t.min_delta_bleu:g} {wins}"
    return Check("deltableu", ok, boot.win_share, t.confidence, reason)


def _cluster_check(candidate: ModelScore, t: GateThresholds) -> Check:
    share = candidate.largest_cluster_share
    ok = share <= t.max_cluster_share
    cmp = "<=" if ok else ">"
    reason = f"largest near-identical answer cluster {share:.1%} of cases {cmp} cap {t.max_cluster_share:.1%}"
    return Check("cluster_share", ok, share, t.max_cluster_share, reason)


def _copy_check(candidate: ModelScore, t: GateThresholds) -> Check:
    share = candidate.copy_share
    if share is None:
        return Check("copy_share", True, None, t.max_copy_share, "no training answers to compare (copy share n/a)")
    ok = share <= t.max_copy_share
    cmp = "<=" if ok else ">"
    reason = f"near-copies of training answers {share:.1%} of cases {cmp} cap {t.max_copy_share:.1%}"
    return Check("copy_share", ok, share, t.max_copy_share, reason)


def decide(candidate: ModelScore, active: ModelScore, thresholds: GateThresholds) -> GateDecision:
    """Promote only when every check passes; all checks are always evaluated and reported."""
    boot = bootstrap_of(candidate, active, thresholds)
    checks = (
        _heldout_check(candidate, thresholds),
        _bleu_check(candidate, active, boot, thresholds),
        _cluster_check(candidate, thresholds),
        _copy_check(candidate, thresholds),
    )
    return GateDecision(all(c.passed for c in checks), checks, boot)
