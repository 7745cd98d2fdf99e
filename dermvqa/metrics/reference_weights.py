"""Per-reference weights of the iiyi split, as the MEDIQA-M3G scorer assigned them (pure).

A reference's 4-bit profile: (a) its author's ``validation_level`` starts with ``md``; (b) the
author's ``rank_level`` number is >= 4 (``unk`` counts as 0); (c) ``contains_freq_ans == 1``;
(d) ``completeness == 1``. With k = a + b + c, the weight is 1.0/0.9/0.8/0.7 for k = 3/2/1/0 when
(d) holds, else 0.9/0.8/0.7/0.6.

Which weights apply is a policy: ``auto`` follows the official scorer, ``userinfo`` always applies
them, ``none`` never does. The official script (``scoring_multilingresp.py``) took the ``content_*``
keys of the FIRST prediction's first response and of the FIRST reference's first response; when
``zh`` is in both, it applied the userinfo weights to every language it scored, English and Spanish
included; otherwise every weight was 1 (so an English-only submission was scored unweighted, on
iiyi too). A key counts even when its text is empty. Authors missing from ``df_userinfo.csv``
crashed the official script; here they count as neither md-validated nor senior.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dermvqa.data.challenge import Response
from dermvqa.errors import MetricError

WeightPolicy = Literal["auto", "userinfo", "none"]
WEIGHT_POLICIES: tuple[str, ...] = ("auto", "userinfo", "none")

_COMPLETE = {3: 1.0, 2: 0.9, 1: 0.8, 0: 0.7}
_INCOMPLETE = {3: 0.9, 2: 0.8, 1: 0.7, 0: 0.6}


@dataclass(frozen=True)
class AuthorInfo:
    validation_level: str
    rank_level: str


def rank_number(rank_level: str) -> int:
    """``level_4`` -> 4; ``unk``, empty or anything without a number -> 0."""
    match = re.search(r"(\d+)", rank_level or "")
    return int(match.group(1)) if match else 0


def response_weight(response: Response, author: AuthorInfo | None) -> float:
    """The official weight of one reference answer."""
    a = author is not None and author.validation_level.startswith("md")
    b = author is not None and rank_number(author.rank_level) >= 4
    c = response.contains_freq_ans == 1.0
    d = response.completeness == 1.0
    k = int(a) + int(b) + int(c)
    return (_COMPLETE if d else _INCOMPLETE)[k]


@dataclass(frozen=True)
class WeightDecision:
    """Whether the userinfo weights are used, and why (shown to the person reading the scores)."""

    use_userinfo: bool
    reason: str
    # False when ``auto`` would have weighted (official) but no userinfo CSV was given.
    official: bool = True


def official_weights_triggered(prediction_langs: Iterable[str], reference_langs: Iterable[str]) -> bool:
    """The official condition: ``zh`` among the languages both files carry (first entries' keys)."""
    return "zh" in set(prediction_langs) & set(reference_langs)


def decide_weights(
    policy: WeightPolicy,
    prediction_langs: Iterable[str],
    reference_langs: Iterable[str],
    have_userinfo: bool,
) -> WeightDecision:
    """Which weights a run uses. ``*_langs``: the ``content_<lang>`` keys of each file's first answer."""
    if policy not in WEIGHT_POLICIES:
        raise MetricError(f"weights: unknown policy {policy!r}; allowed: {', '.join(WEIGHT_POLICIES)}")
    if policy == "none":
        return WeightDecision(False, "--weights none: every reference weighs 1")
    if policy == "userinfo":
        if not have_userinfo:
            raise MetricError("weights=userinfo needs a userinfo CSV (--userinfo df_userinfo.csv)")
        return WeightDecision(True, "--weights userinfo: df_userinfo weights forced")
    if not official_weights_triggered(prediction_langs, reference_langs):
        return WeightDecision(
            False, "auto (official): the prediction file has no content_zh, so every reference weighs 1"
        )
    if not have_userinfo:
        return WeightDecision(
            False,
            "auto: the prediction file has content_zh, so the official scorer would weight every language, "
            "but no --userinfo was given: every reference weighs 1 (NOT the official score)",
            official=False,
        )
    return WeightDecision(
        True, "auto (official): the prediction file has content_zh, so every language gets df_userinfo weights"
    )


def reference_weights(
    responses: Sequence[Response], userinfo: Mapping[str, AuthorInfo] | None, use_userinfo: bool
) -> list[float]:
    """One weight per response: 1.0 each, or the userinfo profile weight."""
    if not use_userinfo or userinfo is None:
        return [1.0] * len(responses)
    return [response_weight(r, userinfo.get(r.author_id or "")) for r in responses]
