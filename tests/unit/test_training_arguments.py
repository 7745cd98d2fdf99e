"""The fine-tuning argument groups take their defaults from the config dataclasses (one source)."""

import dataclasses

from dermvqa.config import Config, ModelConfig, StorageConfig, TrainingConfig
from dermvqa.states import ModelStatus, RunStatus
from training.arguments import DataArguments, ModelArguments, TrainArguments, arguments_from_config


def _defaults(group) -> dict:
    return {f.name: f.default for f in dataclasses.fields(group)}


def test_every_training_key_shared_by_an_argument_has_the_config_default():
    training = dataclasses.asdict(TrainingConfig())
    shared = 0
    for group in (DataArguments, TrainArguments):
        for name, default in _defaults(group).items():
            if name in training and name != "output_dir":
                assert default == training[name], name
                shared += 1
    assert shared >= 20  # every [training] knob of a run, not a handful


def test_model_and_storage_defaults_come_from_their_sections():
    m, s = ModelConfig(), StorageConfig()
    margs, dargs = ModelArguments(), DataArguments()
    assert (margs.model_name, margs.revision, margs.backend, margs.prompt_id) == (m.name, m.revision, m.backend, 1)
    assert (dargs.max_pixels, dargs.max_side_px) == (s.max_pixels, s.max_side_px)


def test_arguments_from_config_follow_a_changed_config(tmp_path):
    config = Config(
        model=ModelConfig(backend="moondream", name="vikhyatk/moondream2", revision="2025-06-21"),
        training=dataclasses.replace(TrainingConfig(), epochs=7.5, lora_rank=4, base_corpus="train.json"),
        storage=dataclasses.replace(StorageConfig(), max_pixels=1234),
    )
    margs, dargs, targs = arguments_from_config(config)
    assert (margs.backend, margs.revision) == ("moondream", "2025-06-21")
    assert (targs.epochs, targs.lora_rank, dargs.max_pixels) == (7.5, 4, 1234)
    assert dargs.corpus.endswith("train.json") and dargs.corpus_images  # images default to the config folder
    assert targs.output_dir.endswith("manual")


def test_statuses_keep_their_stored_strings():
    assert [s.value for s in RunStatus] == ["running", "skipped", "promoted", "rejected", "not judged", "failed"]
    assert [s.value for s in ModelStatus] == ["candidate", "active", "retired", "rejected", "failed"]
    assert RunStatus.PROMOTED == "promoted" and f"{ModelStatus.ACTIVE}" == "active"
