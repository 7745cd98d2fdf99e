"""The training loop: answer-only loss, gradient accumulation, checkpoints, resume, JSON step logs.

Written plainly (no ``transformers.Trainer``) so each step is visible: for every optimizer step the
micro-batches of its window are encoded, the loss summed over their answer tokens is divided by the
window's answer-token count (so an accumulated step equals one big batch, however the tokens fall),
gradients are clipped, and the optimizer and a warm-up + cosine schedule step once. ``accelerate``
places the model and, under ``accelerate launch``, wraps it for data parallelism; every process walks
its own shard of the same seeded order (``training.formatting.plan_epoch``).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from dermvqa.drafting.hf import ADAPTER_INFO_FILE
from dermvqa.storage.private_files import make_private_dir
from training import checkpoint
from training.arguments import TrainArguments
from training.dataset import SupervisedDataset, collate
from training.formatting import IGNORE, micro_batches, plan_epoch, shard, steps_per_epoch, total_steps
from training.steplog import LOG_FILE, StepLog, read_log
from training.targets import is_vision

if TYPE_CHECKING:
    from accelerate import Accelerator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneResult:
    output_path: str  # the adapter folder (LoRA) or the model folder (full)
    method: str
    steps: int
    train_rows: int
    heldout_rows: int
    truncated_rows: int  # answers cut to fit max_seq_len
    dropped_rows: int  # prompts longer than max_seq_len
    heldout_loss_before: float | None
    heldout_loss_after: float | None
    trainable_parameters: int
    seconds: float
    log_path: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AnswerLoss(nn.Module):
    """Summed next-token cross-entropy over answer tokens, and their count.

    For models with the usual ``model`` + ``lm_head`` split, only answer positions are projected onto
    the vocabulary: ~100 answer tokens instead of ~700 positions (576 of them image tokens) x 32k.
    """

    def __init__(self, vlm: nn.Module) -> None:
        super().__init__()
        self.vlm = vlm
        core = vlm.get_base_model() if hasattr(vlm, "get_base_model") else vlm
        self.split_head = hasattr(core, "model") and hasattr(core, "lm_head")
        vision = [p for n, p in vlm.named_parameters() if is_vision(n)]
        self.pixel_dtype = vision[0].dtype if vision else torch.float32

    def forward(self, input_ids, attention_mask, pixel_values, labels, **vision) -> tuple[torch.Tensor, torch.Tensor]:
        """``vision``: the family's other inputs (``image_grid_thw``, ``pixel_attention_mask``, ``token_type_ids``)."""
        input_ids_BT, mask_BT, labels_BT = input_ids, attention_mask, labels
        pixel_values = pixel_values.to(self.pixel_dtype)
        targets_BT = labels_BT[:, 1:]  # position t predicts token t + 1
        answer_BT = targets_BT != IGNORE
        if self.split_head:
            core = self.vlm.get_base_model() if hasattr(self.vlm, "get_base_model") else self.vlm
            out = core.model(
                input_ids=input_ids_BT, attention_mask=mask_BT, pixel_values=pixel_values, use_cache=False, **vision
            )
            logits_NV = core.lm_head(out.last_hidden_state[:, :-1][answer_BT])
        else:
            out = self.vlm(
                input_ids=input_ids_BT, attention_mask=mask_BT, pixel_values=pixel_values, use_cache=False, **vision
            )
            logits_NV = out.logits[:, :-1][answer_BT]
        loss_sum = F.cross_entropy(logits_NV.float(), targets_BT[answer_BT], reduction="sum")
        return loss_sum, answer_BT.sum()


def pad_id_of(processor) -> int:
    if hasattr(processor, "pad_id"):  # moondream's inputs (training.moondream_finetune)
        return processor.pad_id
    tok = processor.tokenizer
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def to_device(batch: dict[str, Any], device) -> dict[str, Any]:
    """Tensors moved to ``device``; anything else (moondream's PIL images) as it is."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def evaluate_loss(accelerator: Accelerator, objective: nn.Module, dataset: SupervisedDataset, indices, batch_size: int):
    """Mean answer-token loss over ``indices`` of ``dataset`` (sharded over processes); None when empty."""
    if not indices:
        return None
    objective.eval()
    pad = pad_id_of(dataset.processor)
    mine = shard(list(indices), accelerator.process_index, accelerator.num_processes)
    totals = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    for batch in micro_batches(mine, batch_size):
        rows = [r for r in (dataset.encode(i) for i in batch) if r is not None]
        inputs = to_device(dataset.collate(rows, pad), accelerator.device)
        loss_sum, n = objective(**inputs)
        totals += torch.stack([loss_sum.double(), n.double()])
    totals = accelerator.reduce(totals, reduction="sum")
    objective.train()
    return float(totals[0] / totals[1]) if totals[1] > 0 else None


def save_trained(model: nn.Module, processor, out_dir: Path, method: str, info: dict[str, Any]) -> Path:
    """LoRA: ``adapter/`` (PEFT files + base model id and revision); full: ``model/`` with its processor."""
    folder = out_dir / ("adapter" if method == "lora" else "model")
    model.save_pretrained(folder)
    if method != "lora":
        processor.save_pretrained(folder)
    (folder / ADAPTER_INFO_FILE).write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
    return folder


def make_optimizer(params, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW with the seed paper's settings (betas 0.9/0.95, eps 1e-6); the schedule is warm-up then cosine."""
    return torch.optim.AdamW(params, lr=learning_rate, betas=(0.9, 0.95), eps=1e-6, weight_decay=weight_decay)


def optimizer_step(
    accelerator: Accelerator, objective, optimizer, rows, pad: int, params, max_grad_norm: float, collate_fn=collate
) -> tuple[float, int, float | None]:
    """One optimizer step over a window of micro-batches: (summed loss, answer tokens, gradient norm).

    Each micro-batch's summed loss is divided by the whole window's answer-token count, so the
    accumulated gradient is that of the mean over every answer token of the step.
    """
    n_tokens = sum(r.row.answer_tokens for batch in rows for r in batch)
    loss_total = 0.0
    for k, batch in enumerate(rows):
        inputs = to_device(collate_fn(batch, pad), accelerator.device)
        last = k == len(rows) - 1
        # Data-parallel gradients are synchronised once per optimizer step, on its last micro-batch.
        with nullcontext() if last else accelerator.no_sync(objective):
            loss_sum, _ = objective(**inputs)
            accelerator.backward(loss_sum / max(n_tokens, 1))
        loss_total += float(loss_sum.detach())
    grad_norm = float(accelerator.clip_grad_norm_(params, max_grad_norm)) if max_grad_norm > 0 else None
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_total, n_tokens, grad_norm


def _window_rows(dataset: SupervisedDataset, window: Sequence[Sequence[int]], epoch: int):
    return [[r for r in (dataset.encode(i, epoch) for i in batch) if r is not None] for batch in window]


def run_training(
    accelerator: Accelerator,
    model: nn.Module,
    processor,
    train_set: SupervisedDataset,
    heldout_set: SupervisedDataset,
    targs: TrainArguments,
    info: dict[str, Any],
    objective: nn.Module | None = None,
) -> FinetuneResult:
    """Train ``model`` through ``objective`` (default :class:`AnswerLoss`; it keeps the model as ``.vlm``)."""
    started = time.perf_counter()
    out_dir = Path(targs.output_dir)
    main = accelerator.is_main_process
    if main:
        make_private_dir(out_dir)  # 700: weights trained on patients' photos, whatever the umask
    train_idx, truncated = train_set.usable()
    heldout_idx, _ = heldout_set.usable()
    dropped = len(train_set) - len(train_idx)
    if not train_idx:
        raise ValueError("every training example is longer than max_seq_len")
    world, rank = accelerator.num_processes, accelerator.process_index
    per_epoch = steps_per_epoch(
        len(train_idx), batch_size=targs.batch_size, accumulation=targs.gradient_accumulation_steps, world=world
    )
    n_steps = total_steps(per_epoch, targs.epochs, targs.max_steps)

    objective = objective if objective is not None else AnswerLoss(model)
    params = [p for p in objective.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    optimizer = make_optimizer(params, targs.learning_rate, targs.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(targs.warmup_ratio * n_steps), n_steps)
    objective, optimizer = accelerator.prepare(objective, optimizer)  # the scheduler is stepped by hand

    ckpt_root = out_dir / "checkpoints"
    start = 0
    if targs.resume and (latest := checkpoint.latest(ckpt_root)) is not None:
        start = checkpoint.load(latest, accelerator.unwrap_model(objective), optimizer, scheduler)
    log = StepLog(out_dir / LOG_FILE, main, start)
    pad = pad_id_of(processor)
    before = None
    if start == 0:
        before = evaluate_loss(accelerator, objective, heldout_set, heldout_idx, targs.batch_size)
        log.write({"step": 0, "heldout_loss": before})
    else:
        before = next((r["heldout_loss"] for r in read_log(log.path) if r.get("step") == 0), None)
    logger.info(
        "training %d rows (%d held out), %d trainable parameters, %d steps",
        len(train_idx),
        len(heldout_idx),
        n_trainable,
        n_steps,
    )

    objective.train()
    sizes = {"batch_size": targs.batch_size, "accumulation": targs.gradient_accumulation_steps}
    bar = tqdm(total=n_steps, initial=start, disable=not (main and targs.progress), desc="fine-tuning", unit="step")
    plans: dict[int, list] = {}
    for step in range(start, n_steps):
        epoch, w = divmod(step, per_epoch)
        if epoch not in plans:
            plans = {epoch: plan_epoch(len(train_idx), seed=targs.seed, epoch=epoch, rank=rank, world=world, **sizes)}
        window = [[train_idx[i] for i in batch] for batch in plans[epoch][w]]
        t0 = time.perf_counter()
        rows = _window_rows(train_set, window, epoch)
        loss_total, n_tokens, grad_norm = optimizer_step(
            accelerator, objective, optimizer, rows, pad, params, targs.max_grad_norm, train_set.collate
        )
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        totals = accelerator.reduce(
            torch.tensor([loss_total, n_tokens], device=accelerator.device, dtype=torch.float64)
        )
        loss = float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")
        record = {
            "step": step + 1,
            "epoch": round((step + 1) / per_epoch, 4),
            "loss": loss,
            "lr": scheduler.get_last_lr()[0],
            "answer_tokens": int(totals[1]),
            "grad_norm": grad_norm,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        log.write(record)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if main and targs.save_steps and (step + 1) % targs.save_steps == 0 and step + 1 < n_steps:
            checkpoint.save(ckpt_root, step + 1, accelerator.unwrap_model(objective), optimizer, scheduler)
        accelerator.wait_for_everyone()
    bar.close()

    after = evaluate_loss(accelerator, objective, heldout_set, heldout_idx, targs.batch_size)
    log.write({"step": n_steps, "heldout_loss": after})
    output = out_dir / ("adapter" if targs.method == "lora" else "model")
    if main:
        output = save_trained(
            accelerator.unwrap_model(objective).vlm,
            processor,
            out_dir,
            targs.method,
            {**info, "steps": n_steps, "train_rows": len(train_idx), "heldout_rows": len(heldout_idx)},
        )
        # A finished run needs no resume point (a full fine-tune's is several GB).
        shutil.rmtree(ckpt_root, ignore_errors=True)
    accelerator.wait_for_everyone()
    logger.info("held-out loss %s -> %s after %d steps", _fmt(before), _fmt(after), n_steps)
    return FinetuneResult(
        output_path=str(output),
        method=targs.method,
        steps=n_steps,
        train_rows=len(train_idx),
        heldout_rows=len(heldout_idx),
        truncated_rows=truncated,
        dropped_rows=dropped,
        heldout_loss_before=before,
        heldout_loss_after=after,
        trainable_parameters=n_trainable,
        seconds=round(time.perf_counter() - started, 3),
        log_path=str(out_dir / LOG_FILE),
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
