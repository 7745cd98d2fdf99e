"""Fine-tuning on the tiny random LLaVA (CPU): held-out loss goes down, the adapter round-trips through
the drafter's real loading code, a full fine-tune loads as a model, resume replays the same run, and the
entry point runs data-parallel under a distributed launcher."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.hf import ADAPTER_INFO_FILE, HFDrafter, format_prompt
from dermvqa.drafting.images import load_image
from dermvqa.prompts import build_question
from training import trainer
from training.dataset import ImageLimits, SupervisedDataset
from training.examples import Example
from training.finetune import DataArguments, ModelArguments, TrainArguments, build, train
from training.formatting import IGNORE
from training.steplog import read_log
from training.trainer import run_training

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = [
    "It is a case of eczema. Use a moisturising cream twice daily and a mild steroid for flares.",
    "It looks like psoriasis. A dermatologist can prescribe a vitamin D cream for the plaques.",
    "This is contact dermatitis. Avoid the irritant and use a mild steroid cream for a week.",
]


def make_examples(folder: Path, n: int = 16) -> list[Example]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"photo{i}.png"
        Image.new("RGB", (48 + i, 40), (15 * i % 256, 90, 60)).save(path)
        query = f"Red itchy patch number {i} on my arm for two weeks"
        out.append(Example(f"case:{i}", (str(path),), (f"h{i}",), query, 1 + i % 2, (ANSWERS[i % 3],)))
    return out


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return make_examples(tmp_path_factory.mktemp("photos"))


def args(model_dir, out, **train):
    settings = {
        "output_dir": str(out),
        "epochs": 4.0,
        "learning_rate": 5e-3,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "device": "cpu",
        "progress": False,
        **train,
    }
    return ModelArguments(model_name=str(model_dir)), DataArguments(max_seq_len=256), TrainArguments(**settings)


def test_a_short_run_lowers_heldout_loss_and_logs_every_step(tiny_model_dir, examples, tmp_path):
    margs, dargs, targs = args(tiny_model_dir, tmp_path / "run", gradient_accumulation_steps=2, epochs=8.0)
    result = train(margs, dargs, dataclasses.replace(targs, learning_rate=1e-2), examples[:12], examples[12:])
    assert result.steps == 16  # 12 rows / 4 per batch = 3 batches -> 2 steps of 2 accumulated batches, x 8 epochs
    # Random weights start near log(vocabulary) = 6.9; eight epochs on three answers take off more than 0.3.
    assert result.heldout_loss_after < result.heldout_loss_before - 0.3, result
    log = read_log(Path(result.log_path))
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 17))
    assert all(r["answer_tokens"] > 0 and r["lr"] >= 0 for r in steps)
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert [r["heldout_loss"] for r in log if "heldout_loss" in r] == [
        result.heldout_loss_before,
        result.heldout_loss_after,
    ]
    assert not (tmp_path / "run" / "checkpoints").exists()  # a finished run keeps no resume point


def logits(model, processor, image, question):
    text = format_prompt(processor, question, 1)
    inputs = processor(images=[image], text=[text], return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits


def test_the_adapter_round_trips_through_the_drafters_loading_code(tiny_model_dir, examples, tmp_path):
    margs, dargs, targs = args(tiny_model_dir, tmp_path / "run", train_projector=True, max_steps=6)
    setup = build(margs, dargs, targs, examples[:12], examples[12:])
    s = setup
    result = run_training(s.accelerator, s.model, s.processor, s.train_set, s.heldout_set, targs, s.info)
    adapter = Path(result.output_path)
    config = json.loads((adapter / "adapter_config.json").read_text())
    info = json.loads((adapter / ADAPTER_INFO_FILE).read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir) and config["revision"] == "main"
    assert info["base_model"] == str(tiny_model_dir) and info["training"]["lora_rank"] == 16
    saved = load_file(adapter / "adapter_model.safetensors")
    assert any("multi_modal_projector" in k for k in saved) and not any("vision_tower" in k for k in saved)

    image, question = Image.new("RGB", (60, 50), (200, 80, 70)), build_question(1, "itchy rash")
    trained = setup.model.eval()
    loaded = HFDrafter(str(tiny_model_dir), adapter_path=str(adapter), generation=GenerationSettings(max_new_tokens=6))
    base = HFDrafter(str(tiny_model_dir), generation=GenerationSettings(max_new_tokens=6))
    expected = logits(trained, loaded.processor, image, question)
    assert torch.allclose(logits(loaded.model, loaded.processor, image, question), expected, atol=1e-4)
    assert not torch.allclose(logits(base.model, base.processor, image, question), expected, atol=1e-2)
    outcome = loaded.draft_batch([DraftRequest("k", [image], "itchy rash")])[0]
    assert outcome.ok and str(adapter.resolve()) in loaded.model_version


def test_a_full_finetune_saves_a_model_that_loads_and_leaves_the_vision_encoder_alone(
    tiny_model_dir, examples, tmp_path
):
    result = train(*args(tiny_model_dir, tmp_path / "run", method="full", max_steps=3), examples[:12], examples[12:])
    folder = Path(result.output_path)
    assert folder.name == "model" and (folder / ADAPTER_INFO_FILE).is_file()
    tuned = HFDrafter(str(folder), generation=GenerationSettings(max_new_tokens=4))
    base = HFDrafter(str(tiny_model_dir), generation=GenerationSettings(max_new_tokens=4))
    tuned_w, base_w = tuned.model.state_dict(), base.model.state_dict()
    vision = [k for k in base_w if "vision_tower" in k]
    text = [k for k in base_w if "language_model.layers.0.mlp" in k]
    assert vision and all(torch.equal(tuned_w[k], base_w[k]) for k in vision)
    assert any(not torch.equal(tuned_w[k], base_w[k]) for k in text)
    assert result.trainable_parameters < sum(p.numel() for p in base.model.parameters())
    assert tuned.draft_batch([DraftRequest("k", [Image.new("RGB", (30, 30))], "rash")])[0].ok


def test_resume_after_a_crash_gives_the_same_adapter(tiny_model_dir, examples, tmp_path, monkeypatch):
    common = {"max_steps": 4, "save_steps": 2, "lora_dropout": 0.1}
    straight = train(*args(tiny_model_dir, tmp_path / "straight", **common), examples[:12], examples[12:])

    real_write = trainer.StepLog.write

    def crash_at_step_3(self, record):
        if record.get("step") == 3 and "loss" in record:
            raise KeyboardInterrupt("power cut")
        real_write(self, record)

    monkeypatch.setattr(trainer.StepLog, "write", crash_at_step_3)
    margs, dargs, targs = args(tiny_model_dir, tmp_path / "crashed", **common)
    with pytest.raises(KeyboardInterrupt):
        train(margs, dargs, targs, examples[:12], examples[12:])
    assert (tmp_path / "crashed" / "checkpoints" / "step-000002" / "state.pt").is_file()
    stepped: list[int] = []

    def count_steps(self, record):
        if "loss" in record:
            stepped.append(record["step"])
        real_write(self, record)

    monkeypatch.setattr(trainer.StepLog, "write", count_steps)
    resumed = train(margs, dargs, dataclasses.replace(targs, resume=True), examples[:12], examples[12:])
    assert resumed.steps == 4 and stepped == [3, 4]  # it went on from the checkpoint, not from the start
    assert [r["step"] for r in read_log(Path(resumed.log_path)) if "loss" in r] == [1, 2, 3, 4]
    a = load_file(Path(straight.output_path) / "adapter_model.safetensors")
    b = load_file(Path(resumed.output_path) / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_the_entry_point_runs_data_parallel_under_a_distributed_launcher(tiny_model_dir, tmp_path):
    """torchrun is what ``accelerate launch --multi_gpu`` runs; here two CPU processes (gloo) share the work."""
    corpus, images = tmp_path / "train.json", tmp_path / "images"
    images.mkdir()
    encounters = []
    for i in range(16):
        eid = f"ENC{i:05d}"
        Image.new("RGB", (50, 40), (12 * i, 100, 60)).save(images / f"IMG_{eid}_00001.jpg")
        encounters.append(
            {
                "encounter_id": eid,
                "image_ids": [f"IMG_{eid}_00001.jpg"],
                "query_title_en": f"Rash {i}",
                "query_content_en": "red and itchy",
                "responses": [{"content_en": ANSWERS[i % 3]}],
            }
        )
    corpus.write_text(json.dumps(encounters))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n[model]\nname = "{tiny_model_dir}"\n'
        "[training]\nepochs = 2.0\nbatch_size = 2\ngradient_accumulation_steps = 1\nheldout_share = 0.25\n"
    )
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "training.finetune"]
    command += ["--config", str(config), "--no_cases", "--corpus", str(corpus), "--corpus_images", str(images)]
    command += ["--output_dir", str(tmp_path / "out"), "--learning_rate", "0.005", "--no_progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # only the main process reports
    result = lines[0]
    n = result["train_rows"]
    assert result["steps"] == 2 * math.ceil(math.ceil(n / 2) / 2)  # 2 epochs x ceil(ceil(n / 2 processes) / batch 2)
    assert result["heldout_loss_after"] < result["heldout_loss_before"]
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


def test_training_rows_begin_with_exactly_what_the_drafter_serves(tiny_model_dir, tmp_path):
    """Same photos (two, combined into one grid), same prompt template, same processor: the row's prompt
    part equals the drafter's generate() input, and only the answer that follows it is labelled."""
    drafter = HFDrafter(str(tiny_model_dir), generation=GenerationSettings(max_new_tokens=4))
    paths = []
    for i, (size, colour) in enumerate([((60, 40), (200, 30, 30)), ((30, 50), (20, 30, 200))]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", size, colour).save(paths[-1])
    example = Example("case:1", tuple(map(str, paths)), ("a", "b"), "Itchy;red spots", 2, ("Use a cream.",))
    limits = ImageLimits(max_images=drafter.max_images)  # grid, as [model] multi_image's default
    encoded = SupervisedDataset([example], drafter.processor, max_seq_len=512, limits=limits).encode(0)
    photos = [load_image(p, max_pixels=10**8, max_side=2048) for p in paths]
    served = drafter._inputs([DraftRequest("k", photos, example.query, example.prompt_id)])
    prompt = served["input_ids"][0].tolist()
    assert list(encoded.row.input_ids[: len(prompt)]) == prompt
    assert torch.equal(encoded.pixel_values, served["pixel_values"]) and encoded.pixel_values.shape[0] == 1
    assert encoded.row.labels[: len(prompt)] == (IGNORE,) * len(prompt)
    answer = encoded.row.input_ids[len(prompt) :]
    assert answer[-1] == drafter.tokenizer.eos_token_id
    assert drafter.tokenizer.decode(answer, skip_special_tokens=True).strip() == "Use a cream."
