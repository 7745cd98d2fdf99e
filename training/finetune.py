"""Fine-tune a vision-language model on clinician-approved answers: LoRA (PEFT) or a full fine-tune.

    # LoRA on the configured [model], on the approved cases of the configured database:
    python -m training.finetune --config config.toml --output_dir var/models/manual

    # the same on several GPUs (data parallel; every process reads the same cases):
    accelerate launch --num_processes 2 -m training.finetune --config config.toml --output_dir var/models/manual

    # a research run on a DermaVQA split only, a full fine-tune for 10 epochs as in the seed paper:
    python -m training.finetune --config config.toml --no_cases --corpus TRAIN.json --corpus_images IMAGES/ \
        --method full --epochs 10 --output_dir var/models/dermavqa

    # moondream2 (the seed paper's best model), through its own model code (training.moondream_finetune):
    python -m training.finetune --config config.toml --backend moondream --model_name vikhyatk/moondream2 \
        --revision 2025-06-21 --output_dir var/models/moondream

Every ``[training]`` key of the config is the default of the flag of the same name; ``--resume``
continues from the newest checkpoint in ``--output_dir``. Writes ``adapter/`` (LoRA, with the base
model id, revision and training config) or ``model/`` (full), ``log.jsonl`` (loss per optimizer
step) and ``checkpoints/``; prints one JSON line. The nightly pipeline calls :func:`train` directly.

Sections: Arguments (``training.arguments``: dataclasses, defaults from the config), Model (load
through the drafter's own loader, freeze, wrap with LoRA; moondream2 in ``training.moondream_finetune``),
Dataset (examples -> labelled rows, ``training.dataset``), Training (the loop in ``training.trainer``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import HfArgumentParser

from dermvqa.config import Config, load_config
from dermvqa.drafting.devices import resolve_device
from dermvqa.drafting.hf import load_pretrained, max_images_for
from dermvqa.errors import DermError, explain
from dermvqa.logsafety import configure_logging
from training import sources
from training.arguments import DataArguments, ModelArguments, TrainArguments, arguments_from_config
from training.augment import AugmentSettings
from training.dataset import ImageLimits, SupervisedDataset
from training.examples import Example, split_examples
from training.targets import full_finetune_trainable, lora_target_regex, matching_modules, model_family
from training.trainer import FinetuneResult, run_training

logger = logging.getLogger(__name__)


# -- Model ---------------------------------------------------------------------------------------


def train_dtype(method: str, device: str) -> torch.dtype:
    """LoRA on CUDA keeps the frozen base in bfloat16 (adapters stay float32, PEFT's default); a full
    fine-tune keeps float32 master weights and computes in bfloat16 under autocast. CPU: float32."""
    return torch.bfloat16 if method == "lora" and device.startswith("cuda") else torch.float32


def prepare_trainable(model, targs: TrainArguments, *, revision: str):
    """Freeze what must not change: LoRA wraps the language model (PEFT freezes the rest); a full
    fine-tune unfreezes the language model (and the projector if asked). The vision encoder stays frozen."""
    names = [name for name, _ in model.named_modules()]
    family = model_family(names)
    if targs.gradient_checkpointing:
        # Non-reentrant checkpointing needs no input that requires grad, so frozen embeddings are fine.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if targs.method == "full":
        for name, param in model.named_parameters():
            param.requires_grad_(full_finetune_trainable(name, targs.train_projector))
        return model
    from peft import LoraConfig, get_peft_model

    regex = lora_target_regex(family, targs.train_projector)
    if not matching_modules(names, regex):
        raise DermError(f"no LoRA target found in this {family} model")
    lora = LoraConfig(
        r=targs.lora_rank,
        lora_alpha=targs.lora_alpha,
        lora_dropout=targs.lora_dropout,
        target_modules=regex,
        bias="none",
        revision=revision,
    )
    return get_peft_model(model, lora)


def load_model(margs: ModelArguments, targs: TrainArguments, device: str):
    """(model with only its trainable parameters requiring grad, processor, is_llava), on the CPU.

    moondream2 has no training forward of its own: ``training.moondream_finetune`` loads it, and its
    "processor" builds ids the way moondream's ``query`` does."""
    if margs.backend == "moondream":
        from training.moondream_finetune import load_moondream

        model, inputs = load_moondream(margs, targs, device)
        return model, inputs, False
    if margs.backend != "hf":
        raise DermError(
            f"fine-tuning supports the hf and moondream backends, not {margs.backend!r} "
            "(an openai server serves a model: fine-tune that model with backend hf and register the adapter)"
        )
    model, processor, is_llava = load_pretrained(margs.model_name, margs.revision, train_dtype(targs.method, device))
    return prepare_trainable(model, targs, revision=margs.revision), processor, is_llava


# -- Dataset -------------------------------------------------------------------------------------


def load_examples(config: Config, dargs: DataArguments, margs: ModelArguments) -> list[Example]:
    """Approved cases (when ``dargs.cases``, from the configured database) and the base corpus (when set)."""
    if not dargs.cases:
        return sources.load_examples(config, None, data=dargs, prompt_id=margs.prompt_id)
    from dermvqa.storage.database import open_database, upgrade
    from dermvqa.storage.keys import load_data_key

    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)  # as every dermbot command does: a fresh database gets its tables (and no cases)
        return sources.load_examples(config, db, data=dargs, prompt_id=margs.prompt_id)
    finally:
        db.dispose()


# -- Training ------------------------------------------------------------------------------------


@dataclass
class Setup:
    """Everything a training run needs, built from the three argument groups."""

    accelerator: Any
    model: Any
    processor: Any
    train_set: SupervisedDataset
    heldout_set: SupervisedDataset
    info: dict
    objective: Any = None  # the loss module; None: the training loop's AnswerLoss


def build(
    margs: ModelArguments,
    dargs: DataArguments,
    targs: TrainArguments,
    train_examples: Sequence[Example],
    heldout_examples: Sequence[Example],
) -> Setup:
    """Accelerator, model (frozen and wrapped), processor and the two datasets."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if not train_examples:
        raise DermError("no training example: nothing to fine-tune on")
    device = resolve_device(targs.device)
    on_cuda = device.startswith("cuda")
    if on_cuda and ":" in device and "LOCAL_RANK" not in os.environ:
        torch.cuda.set_device(int(device.split(":")[1]))  # one process on a chosen GPU (a launcher picks its own)
    accelerator = Accelerator(cpu=not on_cuda, mixed_precision="bf16" if on_cuda else "no")
    set_seed(targs.seed)  # LoRA's initial weights and dropout masks: the same run twice gives the same adapter
    model, processor, is_llava = load_model(margs, targs, accelerator.device.type)
    moondream = margs.backend == "moondream"
    max_images = 1 if moondream else max_images_for(is_llava, margs.multi_image)  # moondream drafts from one image
    limits = ImageLimits(dargs.max_pixels, dargs.max_side_px, margs.multi_image, max_images)
    augment = AugmentSettings(dargs.augment_rotation_deg, dargs.augment_hflip_p, dargs.augment_jitter)
    length = dargs.max_seq_len
    objective = None
    dataset_class = SupervisedDataset
    if moondream:
        from training.moondream_finetune import MoondreamAnswerLoss, MoondreamDataset

        dataset_class, objective = MoondreamDataset, MoondreamAnswerLoss(model, processor)
    train_set = dataset_class(
        train_examples, processor, max_seq_len=length, limits=limits, augment=augment, seed=targs.seed
    )
    heldout_set = dataset_class(heldout_examples, processor, max_seq_len=length, limits=limits)
    return Setup(accelerator, model, processor, train_set, heldout_set, model_info(margs, targs), objective)


def train(
    margs: ModelArguments,
    dargs: DataArguments,
    targs: TrainArguments,
    train_examples: Sequence[Example],
    heldout_examples: Sequence[Example],
) -> FinetuneResult:
    """Fine-tune on ``train_examples``, measure held-out loss before and after, save the result."""
    s = build(margs, dargs, targs, train_examples, heldout_examples)
    return run_training(s.accelerator, s.model, s.processor, s.train_set, s.heldout_set, targs, s.info, s.objective)


def model_info(margs: ModelArguments, targs: TrainArguments) -> dict:
    """Saved beside the adapter or model: what it was trained from and how (no patient data)."""
    return {
        "base_model": margs.model_name,
        "revision": margs.revision,
        "backend": margs.backend,
        "multi_image": margs.multi_image,
        "method": targs.method,
        "training": dataclasses.asdict(targs),
    }


def build_parser(config: Config) -> HfArgumentParser:
    parser = HfArgumentParser([ModelArguments, DataArguments, TrainArguments])
    parser.add_argument("--config", help="config file (default: $DERMBOT_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true")
    defaults: dict = {}
    for group in arguments_from_config(config):
        defaults.update(dataclasses.asdict(group))
    parser.set_defaults(**defaults)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("-v", "--verbose", action="store_true")
    known, _ = pre.parse_known_args(argv)
    # Under accelerate launch / torchrun every process runs this; only the first one talks.
    main_process = int(os.environ.get("RANK", "0")) == 0
    configure_logging(logging.WARNING if not main_process else logging.DEBUG if known.verbose else logging.INFO)
    try:
        config = load_config(known.config)
        margs, dargs, targs, _rest = build_parser(config).parse_args_into_dataclasses(args=argv)
        examples = load_examples(config, dargs, margs)
        split = split_examples(examples, dargs.heldout_share)
        logger.info(
            "%d examples: %d train, %d held out (%d duplicates and %d leaks dropped)",
            len(examples),
            len(split.train),
            len(split.heldout),
            split.duplicates_dropped,
            split.leaks_dropped,
        )
        result = train(margs, dargs, targs, split.train, split.heldout)
    except (DermError, OSError) as exc:  # a cause a person can fix: one line, no traceback
        logger.debug("details of the error below", exc_info=True)
        message, code = explain(exc)
        print(f"training.finetune: error: {message}", file=sys.stderr)
        return code
    if main_process:
        print(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
