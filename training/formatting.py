"""Examples into token ids and labels, and the order batches are visited in (pure: lists of ints).

One training row is ``prompt + answer + eos``: the prompt exactly as the drafter serves it (its image
tokens already expanded by the processor), then the answer. Labels are ``IGNORE`` on every prompt
position and on padding, so the loss is taken on answer tokens only: the model learns to answer,
not to reproduce patients' queries.

The answer's token ids come from tokenising ``prompt + separator + answer`` and keeping what follows
the prompt's own ids: the tokens the model would itself produce after the prompt (tokenising the
answer alone can merge or split the first word differently).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

IGNORE = -100  # torch.nn.functional.cross_entropy's default ignore_index


@dataclass(frozen=True)
class Row:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    truncated: bool = False  # the answer was cut to fit max_len

    @property
    def answer_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def answer_separator(prompt_text: str) -> str:
    """A space after ``ASSISTANT:``; nothing after a chat template that already ends a line."""
    return "" if not prompt_text or prompt_text[-1].isspace() else " "


def continuation_ids(prompt_ids: Sequence[int], full_ids: Sequence[int]) -> list[int] | None:
    """The ids ``full_ids`` adds after ``prompt_ids``; None when the prompt's ids are not a prefix."""
    n = len(prompt_ids)
    if len(full_ids) < n or list(full_ids[:n]) != list(prompt_ids):
        return None
    return list(full_ids[n:])


def build_row(prompt_ids: Sequence[int], answer_ids: Sequence[int], eos_id: int, max_len: int) -> Row | None:
    """``prompt + answer + eos`` with labels on the answer and eos; None when the prompt leaves no room.

    The prompt is never cut (cutting inside the image tokens would break the model's input); a long
    answer loses its end, and then gets no eos, so the model is not taught to stop mid-sentence.
    """
    room = max_len - len(prompt_ids)
    if room < 2 or not answer_ids:
        return None
    truncated = len(answer_ids) + 1 > room
    answer = list(answer_ids[:room]) if truncated else [*answer_ids, eos_id]
    input_ids = (*prompt_ids, *answer)
    labels = (IGNORE,) * len(prompt_ids) + tuple(answer)
    return Row(input_ids, labels, truncated)


@dataclass(frozen=True)
class Padded:
    input_ids_BT: list[list[int]]
    attention_mask_BT: list[list[int]]
    labels_BT: list[list[int]]


def pad_rows(rows: Sequence[Row], pad_id: int) -> Padded:
    """Right-pad to the longest row; padding is masked out of attention and of the loss."""
    T = max(len(r.input_ids) for r in rows)
    ids, mask, labels = [], [], []
    for r in rows:
        n_pad = T - len(r.input_ids)
        ids.append([*r.input_ids, *([pad_id] * n_pad)])
        mask.append([1] * len(r.input_ids) + [0] * n_pad)
        labels.append([*r.labels, *([IGNORE] * n_pad)])
    return Padded(ids, mask, labels)


# -- the order of batches ----------------------------------------------------------------------


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A permutation of ``range(n)`` fixed by (seed, epoch): resuming replays the same order."""
    order = list(range(n))
    random.Random(f"order:{seed}:{epoch}").shuffle(order)
    return order


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's share; the list is first padded by wrapping so every process gets as many.

    Every process must run the same number of steps (data-parallel gradients are averaged at each one).
    """
    if world <= 1 or not indices:
        return list(indices)
    total = math.ceil(len(indices) / world) * world
    padded = [indices[i % len(indices)] for i in range(total)]
    return padded[rank::world]


def micro_batches(indices: Sequence[int], batch_size: int) -> list[list[int]]:
    return [list(indices[i : i + batch_size]) for i in range(0, len(indices), batch_size)]


def windows(batches: Sequence[list[int]], accumulation: int) -> list[list[list[int]]]:
    """Micro-batches grouped per optimizer step (the last group may be shorter)."""
    return [list(batches[i : i + accumulation]) for i in range(0, len(batches), accumulation)]


def plan_epoch(
    n: int, *, batch_size: int, accumulation: int, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[list[int]]]:
    """For one epoch: optimizer steps -> micro-batches -> example indices, for one process."""
    return windows(micro_batches(shard(epoch_order(n, seed, epoch), rank, world), batch_size), accumulation)


def steps_per_epoch(n: int, *, batch_size: int, accumulation: int, world: int = 1) -> int:
    per_process = math.ceil(n / max(world, 1))
    return math.ceil(math.ceil(per_process / batch_size) / accumulation)


def total_steps(per_epoch: int, epochs: float, max_steps: int = 0) -> int:
    """Optimizer steps for ``epochs`` (a fraction runs part of the last epoch); ``max_steps`` caps it."""
    steps = max(1, math.ceil(per_epoch * epochs))
    return min(steps, max_steps) if max_steps > 0 else steps
