"""Examples into model inputs: photos decoded, augmented and combined as the drafter does, prompt
formatted by the drafter's own function, answer tokens labelled (``training.formatting``).

Serving and training must see the same input, so this module reuses the drafter's pieces:
``dermvqa.drafting.images.load_image`` and ``combine`` (several photos become one grid for a
one-image model), ``dermvqa.prompts.build_question`` and ``dermvqa.drafting.hf.format_prompt``.
Augmentation (training rows only) is applied to each photo before they are combined.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from dermvqa.drafting.families import collate_vision, family_of_processor, process, vision_inputs
from dermvqa.drafting.hf import format_prompt
from dermvqa.drafting.images import combine, load_image
from dermvqa.errors import ImageError
from dermvqa.prompts import build_question
from training.augment import AugmentSettings, augment
from training.examples import Example, training_pairs
from training.formatting import Row, answer_separator, build_row, continuation_ids, pad_rows

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    row: Row
    pixel_values: torch.Tensor  # (n_images, C, H, W); the family's own layout for Qwen (patches) and SmolVLM
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # other model inputs (image_grid_thw, ...)


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = 200_000_000
    max_side: int = 2048
    multi_image: str = "grid"
    max_images: int = 1  # per request, as the drafter passes them (hf.max_images_for)


def answer_ids(tokenizer, prompt_text: str, answer: str) -> list[int]:
    """The answer's ids as they follow the prompt (see ``training.formatting``)."""
    full_text = prompt_text + answer_separator(prompt_text) + answer
    ids = continuation_ids(tokenizer(prompt_text)["input_ids"], tokenizer(full_text)["input_ids"])
    if ids is None:  # the tokenizer merged across the boundary: tokenise the answer on its own
        ids = tokenizer(answer_separator(prompt_text) + answer, add_special_tokens=False)["input_ids"]
    return list(ids)


def encode(processor, images: Sequence, question: str, answer: str, max_seq_len: int) -> Encoded | None:
    """One (photos, question, answer) as a labelled row; None when the prompt alone is too long."""
    prompt_text = format_prompt(processor, question, len(images))
    batch = process(processor, family_of_processor(processor), [prompt_text], [list(images)])
    prompt_ids = batch["input_ids"][0].tolist()  # image tokens expanded by the processor, as when serving
    tokenizer = processor.tokenizer
    row = build_row(prompt_ids, answer_ids(tokenizer, prompt_text, answer), tokenizer.eos_token_id, max_seq_len)
    if row is None:
        return None
    extra = {k: v for k, v in vision_inputs(batch).items() if k != "pixel_values"}
    if "token_type_ids" in extra:  # per token: the answer's tokens are text (type 0)
        n_answer = len(row.input_ids) - len(prompt_ids)
        extra["token_type_ids"] = torch.nn.functional.pad(extra["token_type_ids"], (0, n_answer))
    return Encoded(row, batch["pixel_values"], extra)


class SupervisedDataset:
    """Every (example, answer) pair of ``examples``, encoded on demand; augmented when ``augment`` is set."""

    def __init__(
        self,
        examples: Sequence[Example],
        processor,
        *,
        max_seq_len: int,
        limits: ImageLimits,
        augment: AugmentSettings | None = None,
        seed: int = 0,
    ) -> None:
        self.examples = list(examples)
        self.pairs = training_pairs(self.examples)
        self.processor = processor
        self.max_seq_len = max_seq_len
        self.limits = limits
        self.augment = augment
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def photos(self, example: Example, epoch: int) -> list:
        lim = self.limits
        pics = [load_image(p, max_pixels=lim.max_pixels, max_side=lim.max_side) for p in example.image_paths]
        if self.augment is not None:
            pics = [
                augment(p, self.augment, seed=self.seed, epoch=epoch, key=example.key, photo=i)
                for i, p in enumerate(pics)
            ]
        return combine(pics, lim.multi_image, lim.max_images)

    def encode(self, index: int, epoch: int = 0) -> Encoded | None:
        """The row, or None when its prompt is too long or its photos are gone (a case erased while
        the run trains: it is left out, and the run's model is tainted by the erasure)."""
        example_index, answer_index = self.pairs[index]
        example = self.examples[example_index]
        question = build_question(example.prompt_id, example.query)
        answer = example.answers[answer_index]
        try:
            photos = self.photos(example, epoch)
        except ImageError as exc:
            logger.warning("example %s left out: %s", example.key, exc)
            return None
        return self.encode_photos(photos, question, answer)

    def encode_photos(self, photos: Sequence, question: str, answer: str) -> Encoded | None:
        """One labelled row from prepared photos (a model family with its own inputs overrides this)."""
        return encode(self.processor, photos, question, answer, self.max_seq_len)

    def collate(self, rows: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
        """A batch of this dataset's rows (the module's :func:`collate`; overridden with ``encode_photos``)."""
        return collate(rows, pad_id)

    def usable(self) -> tuple[list[int], int]:
        """Indices whose prompt fits ``max_seq_len`` (checked once, un-augmented), and how many answers get cut.

        Checking up front keeps every data-parallel process on the same number of micro-batches.
        """
        keep, truncated = [], 0
        for i in range(len(self)):
            enc = self._plain(i)
            if enc is not None:
                keep.append(i)
                truncated += int(enc.row.truncated)
        return keep, truncated

    def _plain(self, index: int) -> Encoded | None:
        saved, self.augment = self.augment, None
        try:
            return self.encode(index)
        finally:
            self.augment = saved


def collate(rows: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """A right-padded batch; every row's photos are concatenated in row order (as LLaVA expects)."""
    padded = pad_rows([r.row for r in rows], pad_id)
    width = len(padded.input_ids_BT[0])
    token_pad = [width - len(r.row.input_ids) for r in rows]
    return {
        "input_ids": torch.tensor(padded.input_ids_BT, dtype=torch.long),
        "attention_mask": torch.tensor(padded.attention_mask_BT, dtype=torch.long),
        "labels": torch.tensor(padded.labels_BT, dtype=torch.long),
        **collate_vision([{"pixel_values": r.pixel_values, **r.extra} for r in rows], token_pad),
    }
