"""Fine-tune moondream2 (2025 revisions) through its own model code: LoRA or full, loss on answer tokens.

moondream2 has no training ``forward``: its ``query`` runs under ``inference_mode`` with a KV cache.
This module trains it the way moondream's own ``moondream/finetune/finetune_text.py`` does, with the
functions the loaded remote code itself defines (found beside the model class, so a revision's own
code computes the pass):

* image: ``model.model._run_vision_encoder(image) -> (729, dim)`` (frozen; no gradient);
* input embeddings: ``text.text_encoder`` of ``[BOS]``, then the image tokens, then the ids of the
  prompt exactly as ``query`` builds them (``templates["query"]["prefix"] + question ids + suffix``,
  and 2025-06-21's ``query`` appends ``suffix`` once more when it does not reason), then the answer
  (``" " + answer``: moondream's answers start with a space, inferred) and ``eos_id``;
* hidden states: ``text._produce_hidden`` (BOS + image attend both ways, the rest causally, as
  ``query``'s prefill mask); logits: ``text._lm_head``, projected for answer positions only.

LoRA wraps ``model.text.blocks.N.attn.{qkv,proj}`` and ``.mlp.{fc1,fc2}`` (``training.targets``), which
the text model calls as modules from 2025-03-27 (2025-01-09 calls them functionally and would bypass
an adapter: refused). A full fine-tune trains the text model only, as moondream's script does
(``model.text``); the vision encoder and region model stay frozen. Revisions 2024-* (Phi code) are refused.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dermvqa.drafting.moondream import HUB_ID, check_revision
from dermvqa.errors import DermError
from training.arguments import ModelArguments, TrainArguments
from training.dataset import SupervisedDataset
from training.formatting import IGNORE, Row, build_row, pad_rows
from training.targets import MOONDREAM_2025, matching_modules

logger = logging.getLogger(__name__)

#: Hub revisions whose text layers are module calls a PEFT adapter can wrap.
FIRST_TRAINABLE_REVISION = "2025-03-27"
TEXT_PREFIX = "model.text."  # what a full fine-tune trains


def text_module(inner: nn.Module) -> ModuleType:
    """The remote code's ``text.py`` (a sibling of the module that defines ``MoondreamModel``)."""
    package = type(inner).__module__.rpartition(".")[0]
    return importlib.import_module(f"{package}.text" if package else "text")


def check_trainable(model: nn.Module) -> None:
    """Refuse a model that lacks the 2025 internals training uses (a 2024 checkpoint, another model)."""
    inner = getattr(model, "model", None)
    ok = inner is not None and all(hasattr(inner, a) for a in ("text", "vision", "_run_vision_encoder", "tokenizer"))
    if ok:
        try:
            text = text_module(inner)
        except ImportError:
            ok = False
        else:
            ok = all(hasattr(text, f) for f in ("text_encoder", "_produce_hidden", "_lm_head"))
    if not ok:
        raise DermError(
            f"this model ({type(model).__name__}) lacks moondream2's 2025 training internals "
            f"(model.text, _run_vision_encoder, text._produce_hidden); fine-tune a 2025 revision "
            f"from {FIRST_TRAINABLE_REVISION} on"
        )


# -- Inputs (the "processor" of the hf path) ------------------------------------------------------


@dataclass(frozen=True)
class MoondreamInputs:
    """Token ids as moondream's ``query`` builds them, from the loaded model's tokenizer and config."""

    tokenizer: Any  # tokenizers.Tokenizer (model.model.tokenizer)
    bos_id: int
    eos_id: int
    prefix: tuple[int, ...]  # templates["query"]["prefix"]
    suffix: tuple[int, ...]  # templates["query"]["suffix"]
    image_positions: int  # BOS + image tokens (config.text.prefix_attn: 730 in moondream2)
    max_context: int

    @classmethod
    def of(cls, model: nn.Module) -> MoondreamInputs:
        inner = model.model
        t, text = inner.config.tokenizer, inner.config.text
        query = t.templates["query"]
        return cls(
            inner.tokenizer, t.bos_id, t.eos_id, tuple(query["prefix"]), tuple(query["suffix"]),
            text.prefix_attn, text.max_context,
        )  # fmt: skip

    @property
    def pad_id(self) -> int:
        return self.eos_id

    def prompt_ids(self, question: str) -> list[int]:
        # 2025-06-21's query(): prefix + question + suffix, then suffix again when not reasoning.
        return [*self.prefix, *self.tokenizer.encode(question).ids, *self.suffix, *self.suffix]

    def answer_ids(self, answer: str) -> list[int]:
        return list(self.tokenizer.encode(" " + answer).ids)

    def save_pretrained(self, folder: Path) -> None:
        """Nothing to write: the model folder's remote code loads its own tokenizer."""


@dataclass(frozen=True)
class MoondreamEncoded:
    row: Row  # text ids only; the image positions are spliced in by the loss
    image: Any  # the (combined, augmented) PIL image


def collate(rows: Sequence[MoondreamEncoded], pad_id: int) -> dict[str, Any]:
    """Right-padded text ids and labels, and the rows' images in order (one per row)."""
    padded = pad_rows([r.row for r in rows], pad_id)
    return {
        "input_ids": torch.tensor(padded.input_ids_BT, dtype=torch.long),
        "attention_mask": torch.tensor(padded.attention_mask_BT, dtype=torch.long),
        "labels": torch.tensor(padded.labels_BT, dtype=torch.long),
        "images": [r.image for r in rows],
    }


class MoondreamDataset(SupervisedDataset):
    """The hf path's dataset (examples, photos, augmentation, combining) with moondream's encoding."""

    def encode_photos(self, photos: Sequence, question: str, answer: str) -> MoondreamEncoded | None:
        inputs: MoondreamInputs = self.processor
        [image] = photos  # moondream drafts from one image: combine() made the grid
        room = min(self.max_seq_len, inputs.max_context) - inputs.image_positions
        row = build_row(inputs.prompt_ids(question), inputs.answer_ids(answer), inputs.eos_id, room)
        return None if row is None else MoondreamEncoded(row, image)

    def collate(self, rows: Sequence[MoondreamEncoded], pad_id: int) -> dict[str, Any]:
        return collate(rows, pad_id)


# -- Model ----------------------------------------------------------------------------------------


def train_dtype(method: str, device: str) -> torch.dtype:
    """moondream2's weights are bfloat16; LoRA on CUDA keeps them so, a full fine-tune keeps float32 masters."""
    return torch.bfloat16 if method == "lora" and device.startswith("cuda") else torch.float32


def load_moondream(margs: ModelArguments, targs: TrainArguments, device: str) -> tuple[nn.Module, MoondreamInputs]:
    """(model with only its trainable parameters requiring grad, inputs), on the CPU."""
    from transformers import AutoModelForCausalLM

    if margs.model_name == HUB_ID:
        support = check_revision(margs.revision)
        if support.api != "2025" or margs.revision < FIRST_TRAINABLE_REVISION:
            raise DermError(
                f"{support.title} cannot be fine-tuned here: pin a 2025 revision from {FIRST_TRAINABLE_REVISION} on"
            )
    if targs.gradient_checkpointing:
        raise DermError("gradient_checkpointing is not available for moondream2 (its text model has no such hook)")
    if targs.train_projector:
        raise DermError("train_projector is not available for moondream2 (LoRA adapts its text model only)")
    dtype = train_dtype(targs.method, device)
    model = AutoModelForCausalLM.from_pretrained(margs.model_name, revision=margs.revision, trust_remote_code=True)
    model = model.to(dtype)
    check_trainable(model)
    inputs = MoondreamInputs.of(model)
    model.requires_grad_(False)
    if targs.method == "full":
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith(TEXT_PREFIX))
        return model, inputs
    from peft import LoraConfig, get_peft_model

    if not matching_modules([n for n, _ in model.named_modules()], MOONDREAM_2025):
        raise DermError("no LoRA target (model.text.blocks.N.attn.qkv, ...) found in this moondream model")
    lora = LoraConfig(
        r=targs.lora_rank,
        lora_alpha=targs.lora_alpha,
        lora_dropout=targs.lora_dropout,
        target_modules=MOONDREAM_2025,
        bias="none",
        revision=margs.revision,
    )
    return get_peft_model(model, lora), inputs


# -- Loss -----------------------------------------------------------------------------------------


class MoondreamAnswerLoss(nn.Module):
    """Summed next-token cross-entropy over answer tokens, and their count, through moondream's own code."""

    def __init__(self, vlm: nn.Module, inputs: MoondreamInputs) -> None:
        super().__init__()
        self.vlm = vlm
        self.bos_id = inputs.bos_id
        self.image_positions = inputs.image_positions

    def forward(self, input_ids, attention_mask, labels, images) -> tuple[torch.Tensor, torch.Tensor]:
        core = self.vlm.get_base_model() if hasattr(self.vlm, "get_base_model") else self.vlm
        inner = core.model
        text = text_module(inner)
        ids_BT, labels_BT = input_ids, labels
        B = ids_BT.shape[0]
        with torch.no_grad():  # the vision encoder is frozen: no activations kept for it
            image_BPC = torch.stack([inner._run_vision_encoder(image) for image in images])
        bos_B1C = text.text_encoder(torch.full((B, 1), self.bos_id, device=ids_BT.device), inner.text)
        tokens_BTC = text.text_encoder(ids_BT, inner.text)
        x_BSC = torch.cat([bos_B1C, image_BPC.to(tokens_BTC.dtype), tokens_BTC], dim=1)
        if x_BSC.shape[1] - ids_BT.shape[1] != self.image_positions:
            got, expected = image_BPC.shape[1], self.image_positions - 1
            raise DermError(f"moondream gave {got} image tokens, its config says {expected}")
        # _produce_hidden makes its mask and positions on the default device (moondream's script sets it).
        with torch.device(x_BSC.device):
            hidden_BSC = text._produce_hidden(x_BSC, inner.text, inner.config.text)
        hidden_BTC = hidden_BSC[:, self.image_positions :]  # the text positions; right padding is never attended
        targets_BT = labels_BT[:, 1:]  # position t predicts token t + 1 (the image never predicts an answer)
        answer_BT = targets_BT != IGNORE
        logits_NV = text._lm_head(hidden_BTC[:, :-1][answer_BT], inner.text)
        loss_sum = F.cross_entropy(logits_NV.float(), targets_BT[answer_BT], reduction="sum")
        return loss_sum, answer_BT.sum()
