"""The argument groups of a fine-tuning run (as TRL's ``ModelConfig`` / ``ScriptArguments`` / ``SFTConfig``).

One source of defaults: every field that has a key in ``config.toml`` takes its default from the
config dataclass of that section (``[model]``, ``[training]``, ``[storage]``), so a default changed
there changes here too. :func:`arguments_from_config` fills the groups from a loaded config; the
command line (``training.finetune``) overrides single fields. Kept apart from ``training.finetune``
so the training loop (``training.trainer``) can name :class:`TrainArguments` without importing it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dermvqa.config import Config, ModelConfig, StorageConfig, TrainingConfig

_MODEL, _TRAINING, _STORAGE = ModelConfig(), TrainingConfig(), StorageConfig()


@dataclass
class ModelArguments:
    model_name: str = field(default=_MODEL.name, metadata={"help": "hub id or local folder"})
    revision: str = _MODEL.revision
    backend: str = field(default=_MODEL.backend, metadata={"help": "hf | moondream (openai serves, cannot train)"})
    multi_image: str = field(default=_MODEL.multi_image, metadata={"help": "as [model] multi_image"})
    prompt_id: int = field(default=_MODEL.prompt_id, metadata={"help": "prompt template for base-corpus examples"})


@dataclass
class DataArguments:
    cases: bool = field(default=True, metadata={"help": "use the approved cases of the configured database"})
    corpus: str = field(default=_TRAINING.base_corpus, metadata={"help": "a DermaVQA JSON file mixed into training"})
    corpus_images: str = _TRAINING.base_corpus_images
    heldout_share: float = _TRAINING.heldout_share
    max_seq_len: int = _TRAINING.max_seq_len
    max_pixels: int = _STORAGE.max_pixels
    max_side_px: int = _STORAGE.max_side_px
    augment_rotation_deg: float = _TRAINING.augment_rotation_deg
    augment_hflip_p: float = _TRAINING.augment_hflip_p
    augment_jitter: float = _TRAINING.augment_jitter


@dataclass
class TrainArguments:
    output_dir: str = "var/models/manual"
    method: str = field(default=_TRAINING.method, metadata={"help": "lora | full"})
    epochs: float = _TRAINING.epochs
    max_steps: int = field(default=0, metadata={"help": "stop after this many optimizer steps (0 = epochs)"})
    learning_rate: float = _TRAINING.learning_rate
    batch_size: int = _TRAINING.batch_size
    gradient_accumulation_steps: int = _TRAINING.gradient_accumulation_steps
    lora_rank: int = _TRAINING.lora_rank
    lora_alpha: int = _TRAINING.lora_alpha
    lora_dropout: float = _TRAINING.lora_dropout
    train_projector: bool = _TRAINING.train_projector
    warmup_ratio: float = _TRAINING.warmup_ratio
    weight_decay: float = _TRAINING.weight_decay
    max_grad_norm: float = _TRAINING.max_grad_norm
    save_steps: int = _TRAINING.save_steps
    seed: int = _TRAINING.seed
    device: str = _TRAINING.device
    gradient_checkpointing: bool = _TRAINING.gradient_checkpointing
    resume: bool = field(default=False, metadata={"help": "continue from the newest checkpoint in output_dir"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar (on a terminal)"})


#: DataArguments fields read from [storage] rather than [training], under their config names.
_STORAGE_KEYS = {"max_pixels": "max_pixels", "max_side_px": "max_side_px"}
_MODEL_KEYS = {"model_name": "name", "revision": "revision", "backend": "backend", "multi_image": "multi_image",
               "prompt_id": "prompt_id"}  # fmt: skip


def arguments_from_config(config: Config) -> tuple[ModelArguments, DataArguments, TrainArguments]:
    """The three argument groups with every config-backed field taken from ``config``."""
    t, m, s = config.training, config.model, config.storage
    model = ModelArguments(**{arg: getattr(m, key) for arg, key in _MODEL_KEYS.items()})
    data_values = _shared(DataArguments, t)
    data_values.update({arg: getattr(s, key) for arg, key in _STORAGE_KEYS.items()})
    data_values["corpus"] = str(config.resolve_path(t.base_corpus)) if t.base_corpus else ""
    # An unset image folder is the config's own folder (relative names in the JSON resolve from there).
    data_values["corpus_images"] = str(config.resolve_path(t.base_corpus_images or ".")) if t.base_corpus else ""
    train_values = _shared(TrainArguments, t)
    train_values["output_dir"] = str(config.resolve_path(t.output_dir) / "manual")
    return model, DataArguments(**data_values), TrainArguments(**train_values)


def _shared(group: type, section: TrainingConfig) -> dict:
    """The fields of ``group`` that ``[training]`` has under the same name."""
    names = {f.name for f in dataclasses.fields(group)}
    return {k: v for k, v in dataclasses.asdict(section).items() if k in names}
