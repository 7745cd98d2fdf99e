"""Training examples and the held-out split (pure: no I/O, plain values in and out).

An :class:`Example` is one case as the model sees it: its photos, the patient's query, the prompt
template it was served with, and the answers to learn (a clinician's final text for our cases, every
reference answer for a base-corpus encounter).

* **Held-out split**: by a hash of the example's ``group`` (``case:<id>`` or ``corpus:<encounter>``),
  so a case is held out on every night or on none: it never moves into training while
  ``heldout_share`` stays the same. Raising the share only moves cases from training to held-out.
* **Deduplication**: two examples are the same case when they show the same set of photos, or ask
  the same query (normalised) with the same first answer: a patient who sent a case twice, or an
  encounter that is both in the corpus and in our database. Held-out examples are kept; a training
  example that duplicates a held-out one is dropped, so nothing of the held-out set leaks into training.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    key: str  # "case:12" or "corpus:ENC00852"
    # file paths (base corpus) or stored photos (``ImageStore.photo``: decrypted in memory when read)
    image_paths: tuple[Any, ...]
    # the photos' names, in order: keyed hashes for stored photos, sha256 for corpus files
    image_hashes: tuple[str, ...]
    query: str
    prompt_id: int
    answers: tuple[str, ...]  # the targets; the first one is the preferred
    source: str = "case"  # case | corpus
    # The answer is the clinician's own words (an edit that changed the draft, or written without one):
    # the better target, and the only kind of case answer the gate judges on (training.heldout).
    edited: bool = False

    @property
    def group(self) -> str:
        return self.key


@dataclass(frozen=True)
class Split:
    train: tuple[Example, ...]
    heldout: tuple[Example, ...]
    duplicates_dropped: int  # duplicates within a side
    leaks_dropped: int  # training examples that duplicated a held-out one


def heldout_score(group: str) -> float:
    """A number in [0, 1) fixed by ``group`` alone (sha256), the same on every machine and night."""
    digest = hashlib.sha256(f"dermbot-heldout:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(group: str, share: float) -> bool:
    return heldout_score(group) < share


def normalise_text(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


def identity_keys(example: Example) -> tuple[str, ...]:
    """Keys two duplicate examples share: their photo set, and their (query, first answer)."""
    keys = []
    if example.image_hashes:
        keys.append("images:" + ",".join(sorted(example.image_hashes)))
    first = example.answers[0] if example.answers else ""
    keys.append("text:" + normalise_text(example.query) + "\x00" + normalise_text(first))
    return tuple(keys)


def deduplicate(examples: Iterable[Example], seen: set[str] | None = None) -> tuple[list[Example], int]:
    """Keep the first example of each duplicate group (and none that matches ``seen``); count the rest."""
    seen = set() if seen is None else seen
    kept: list[Example] = []
    dropped = 0
    for example in examples:
        keys = identity_keys(example)
        if any(k in seen for k in keys):
            dropped += 1
            continue
        seen.update(keys)
        kept.append(example)
    return kept, dropped


def split_examples(
    examples: Sequence[Example],
    heldout_share: float,
    *,
    judged: Callable[[Example], bool] | None = None,
    fixed: Sequence[Example] = (),
) -> Split:
    """Held-out by hash, deduplicated, with no held-out case repeated in training.

    Order is made canonical (by key) first, so the result does not depend on the order rows came in.
    ``judged``: only examples it accepts may be held out; one held out by hash that it refuses is
    trained on instead (it is never judged, so it can never leak). ``fixed``: always held out, first.
    """
    ordered = sorted(examples, key=lambda e: e.key)
    held = [is_heldout(e.group, heldout_share) and (judged is None or judged(e)) for e in ordered]
    heldout_raw = [*sorted(fixed, key=lambda e: e.key), *(e for e, h in zip(ordered, held, strict=True) if h)]
    train_raw = [e for e, h in zip(ordered, held, strict=True) if not h]
    heldout, dup_heldout = deduplicate(heldout_raw)
    heldout_keys = {k for e in heldout for k in identity_keys(e)}
    train_no_leaks = [e for e in train_raw if not any(k in heldout_keys for k in identity_keys(e))]
    leaks = len(train_raw) - len(train_no_leaks)
    train, dup_train = deduplicate(train_no_leaks)
    return Split(tuple(train), tuple(heldout), dup_heldout + dup_train, leaks)


def training_pairs(examples: Sequence[Example]) -> list[tuple[int, int]]:
    """(example index, answer index) for every answer to learn: each reference answer is one target."""
    return [(i, j) for i, e in enumerate(examples) for j in range(len(e.answers))]
