"""Held-out split by hash, deduplication and leak removal (training.examples), on plain values."""

from __future__ import annotations

import hashlib

from training.examples import (
    Example,
    deduplicate,
    heldout_score,
    identity_keys,
    is_heldout,
    split_examples,
    training_pairs,
)


def ex(key: str, images=("a",), query="itchy rash", answers=("eczema, use a cream",), source="case") -> Example:
    return Example(key, tuple(f"/p/{h}" for h in images), tuple(images), query, 1, tuple(answers), source)


def test_heldout_score_is_the_documented_hash():
    digest = hashlib.sha256(b"dermbot-heldout:case:42").digest()
    assert heldout_score("case:42") == int.from_bytes(digest[:8], "big") / 2**64
    assert 0 <= heldout_score("case:42") < 1


def test_share_is_respected_and_raising_it_only_adds_cases():
    keys = [f"case:{i}" for i in range(4000)]
    at15 = {k for k in keys if is_heldout(k, 0.15)}
    at30 = {k for k in keys if is_heldout(k, 0.30)}
    assert 0.13 < len(at15) / len(keys) < 0.17
    assert at15 < at30  # nothing held out at 15% moves into training at 30%


def test_a_case_stays_on_its_side_whatever_else_arrives():
    first = split_examples([ex(f"case:{i}", images=(f"h{i}",), query=f"q{i}") for i in range(60)], 0.2)
    more = split_examples([ex(f"case:{i}", images=(f"h{i}",), query=f"q{i}") for i in range(300)], 0.2)
    held_before = {e.key for e in first.heldout}
    assert held_before and held_before <= {e.key for e in more.heldout}
    assert not held_before & {e.key for e in more.train}


def test_split_ignores_input_order():
    items = [ex(f"case:{i}", images=(f"h{i}",), query=f"q{i}") for i in range(50)]
    assert split_examples(items, 0.3) == split_examples(list(reversed(items)), 0.3)


def test_duplicates_are_the_same_photos_or_the_same_query_and_answer():
    a = ex("case:1", images=("x", "y"), query="Red  patch", answers=("Eczema.",))
    same_photos = ex("case:2", images=("y", "x"), query="something else", answers=("other",))
    same_text = ex("case:3", images=("z",), query="red patch", answers=("eczema.",))
    different = ex("case:4", images=("w",), query="red patch", answers=("psoriasis",))
    kept, dropped = deduplicate([a, same_photos, same_text, different])
    assert [e.key for e in kept] == ["case:1", "case:4"] and dropped == 2
    assert identity_keys(a)[0] == "images:x,y"


def test_a_training_duplicate_of_a_heldout_case_is_dropped_not_the_heldout_case():
    held = next(f"case:{i}" for i in range(1000) if is_heldout(f"case:{i}", 0.2))
    train = next(f"case:{i}" for i in range(1000) if not is_heldout(f"case:{i}", 0.2))
    split = split_examples([ex(held, images=("same",)), ex(train, images=("same",), query="other")], 0.2)
    assert [e.key for e in split.heldout] == [held]
    assert split.train == () and split.leaks_dropped == 1


def test_every_reference_answer_is_a_target():
    items = [ex("corpus:A", answers=("one", "two")), ex("case:1")]
    assert training_pairs(items) == [(0, 0), (0, 1), (1, 0)]
