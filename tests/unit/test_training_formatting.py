"""Token ids, labels and batch order (training.formatting), on lists of ints."""

from __future__ import annotations

import pytest

from training.formatting import (
    IGNORE,
    answer_separator,
    build_row,
    continuation_ids,
    epoch_order,
    pad_rows,
    plan_epoch,
    shard,
    steps_per_epoch,
    total_steps,
)

EOS, PAD = 2, 3


def test_answer_ids_follow_the_prompt_ids_when_they_are_a_prefix():
    assert continuation_ids([1, 10, 11], [1, 10, 11, 20, 21]) == [20, 21]
    assert continuation_ids([1, 10, 11], [1, 10, 12, 20]) is None  # merged across the boundary
    assert continuation_ids([1, 10, 11], [1, 10]) is None
    assert answer_separator("USER: x\nASSISTANT:") == " "
    assert answer_separator("<|im_start|>assistant\n") == ""


def test_only_answer_tokens_and_eos_are_labelled():
    row = build_row([1, 9, 9, 9, 5], [20, 21, 22], EOS, max_len=64)
    assert row.input_ids == (1, 9, 9, 9, 5, 20, 21, 22, EOS)
    assert row.labels == (IGNORE,) * 5 + (20, 21, 22, EOS)
    assert row.answer_tokens == 4 and not row.truncated


def test_a_long_answer_is_cut_without_eos_and_a_long_prompt_is_refused():
    row = build_row([1, 9, 9, 5], [20, 21, 22, 23, 24], EOS, max_len=7)
    assert row.input_ids == (1, 9, 9, 5, 20, 21, 22) and row.truncated
    assert EOS not in row.labels and len(row.input_ids) == 7
    assert build_row([1] * 10, [20], EOS, max_len=11) is None  # room for 1 token: not enough
    assert build_row([1] * 3, [], EOS, max_len=11) is None


def test_padding_is_on_the_right_and_out_of_attention_and_loss():
    a = build_row([1, 5], [20, 21], EOS, 16)
    b = build_row([1, 5, 6, 7], [30], EOS, 16)
    padded = pad_rows([a, b], PAD)
    assert padded.input_ids_BT == [[1, 5, 20, 21, EOS, PAD], [1, 5, 6, 7, 30, EOS]]
    assert padded.attention_mask_BT == [[1, 1, 1, 1, 1, 0], [1] * 6]
    assert padded.labels_BT[0] == [IGNORE, IGNORE, 20, 21, EOS, IGNORE]


def test_epoch_order_is_a_seeded_permutation():
    order = epoch_order(50, seed=1, epoch=0)
    assert sorted(order) == list(range(50))
    assert order == epoch_order(50, seed=1, epoch=0)
    assert order != epoch_order(50, seed=1, epoch=1) and order != epoch_order(50, seed=2, epoch=0)


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (7, 3), (1, 4)])
def test_shards_are_equal_and_cover_everything(n, world):
    parts = [shard(list(range(n)), rank, world) for rank in range(world)]
    assert len({len(p) for p in parts}) == 1
    assert set().union(*parts) == set(range(n))


@pytest.mark.parametrize(("n", "batch", "accum", "world"), [(13, 4, 2, 1), (13, 2, 2, 2), (1, 4, 1, 1), (40, 3, 4, 3)])
def test_the_plan_matches_the_step_count(n, batch, accum, world):
    per_epoch = steps_per_epoch(n, batch_size=batch, accumulation=accum, world=world)
    for rank in range(world):
        plan = plan_epoch(n, batch_size=batch, accumulation=accum, seed=0, epoch=0, rank=rank, world=world)
        assert len(plan) == per_epoch
        assert all(1 <= len(window) <= accum for window in plan)
        assert all(1 <= len(b) <= batch for window in plan for b in window)
    if world == 1:
        seen = [i for window in plan for b in window for i in b]
        assert sorted(seen) == list(range(n))


def test_total_steps_for_fractional_epochs_and_a_cap():
    assert total_steps(4, 3.0) == 12
    assert total_steps(4, 2.5) == 10
    assert total_steps(4, 0.1) == 1
    assert total_steps(4, 3.0, max_steps=5) == 5
