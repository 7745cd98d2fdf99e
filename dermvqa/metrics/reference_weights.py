"""Per-reference weights of the iiyi split, as the MEDIQA-M3G scorer assigned them (pure).

A reference's 4-bit profile: (a) its author's ``validation_level`` starts with ``md``; (b) the
author's ``rank_level`` number is >= 4 (``unk`` counts as 0); (c) ``contains_freq_ans == 1``;
(d) ``completeness == 1``. With k = a + b + c, the weight is 1.0/0.9/0.8/0.7 for k = 3/2/1/0 when
(d) holds, else 0.9/0.8/0.7/0.6.

Which weights apply is a policy: ``auto`` follows the official scorer (weights only when Chinese
answers are scored; English submissions were scored with every weight 1, on iiyi too),
``userinfo`` always applies them, ``none`` never does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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


def weights_apply(policy: WeightPolicy, lang: str, have_userinfo: bool) -> bool:
    """Whether userinfo weights are used for this run (the official ``auto``: only for Chinese)."""
    if policy not in WEIGHT_POLICIES:
        raise MetricError(f"weights: unknown policy {policy!r}; allowed: {', '.join(WEIGHT_POLICIES)}")
    if policy == "none":
        return False
    if policy == "userinfo":
        if not have_userinfo:
            raise MetricError("weights=userinfo needs a userinfo CSV (--userinfo df_userinfo.csv)")
        return True
    return lang == "zh" and have_userinfo


def reference_weights(
    responses: Sequence[Response], userinfo: Mapping[str, AuthorInfo] | None, use_userinfo: bool
) -> list[float]:
    """One weight per response: 1.0 each, or the userinfo profile weight."""
    if not use_userinfo or userinfo is None:
        return [1.0] * len(responses)
    return [response_weight(r, userinfo.get(r.author_id or "")) for r in responses]
