"""Fine-tuning moondream2 through its own model code, on a tiny model of its 2025 architecture.

``write_trainable_standin`` (tests/model/moondream_standin.py) writes a randomly initialised
``HfMoondream`` remote-code folder with moondream's module names and functions (``model.text.blocks.N``,
``text._produce_hidden``, ``_run_vision_encoder``, the ``query`` template, greedy decoding until EOS).
Every example is taught one answer, so a model that learned it *generates* it through moondream's own
``query``: proof that training saw the same prompt, image positions and stop token as drafting does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sqlalchemy import select, update
from support.cases import photo_bytes, submit

from dermvqa.config import load_config
from dermvqa.drafting.base import DraftRequest, GenerationSettings
from dermvqa.drafting.factory import create_drafter
from dermvqa.drafting.moondream import MoondreamDrafter
from dermvqa.errors import DermError
from dermvqa.states import ModelStatus, RunStatus
from dermvqa.storage import registry
from dermvqa.storage.models import Case, Draft, Job, ModelRecord, Review, TrainingRun, utcnow
from dermvqa.worker import Worker
from training.arguments import DataArguments, ModelArguments, TrainArguments
from training.examples import Example
from training.finetune import train
from training.moondream_finetune import MoondreamInputs, load_moondream
from training.pipeline import run_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from moondream_standin import write_standin, write_trainable_standin

pytestmark = pytest.mark.slow

ANSWER = "apply a mild steroid cream twice daily and see a doctor if it spreads"
SETTINGS = GenerationSettings(max_new_tokens=20)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return write_trainable_standin(tmp_path_factory.mktemp("md-train") / "md2-trainable", extra_text=ANSWER)


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> list[Example]:
    folder = tmp_path_factory.mktemp("md-photos")
    out = []
    for i in range(6):
        path = folder / f"{i}.png"
        Image.new("RGB", (40 + 4 * i, 30), (40 * i, 90, 60)).save(path)
        query = f"rash number {i} on the arm"
        out.append(Example(f"corpus:{i}", (str(path),), (f"h{i}",), query, 1, (ANSWER,), "corpus"))
    return out


def arguments(base_dir: Path, out: Path, **train):
    settings = {"epochs": 15, "batch_size": 2, "gradient_accumulation_steps": 1, "learning_rate": 0.01}
    settings.update(device="cpu", progress=False, lora_rank=8, lora_alpha=16, seed=0, **train)
    margs = ModelArguments(model_name=str(base_dir), backend="moondream")
    return margs, DataArguments(max_seq_len=256), TrainArguments(output_dir=str(out), **settings)


def drafts(drafter: MoondreamDrafter, examples) -> list[str]:
    requests = [DraftRequest(e.key, [Image.open(e.image_paths[0]).convert("RGB")], e.query) for e in examples]
    outcomes = drafter.draft_batch(requests)
    drafter.close()
    return [o.result.text for o in outcomes]


def test_the_prompt_is_built_as_query_builds_it(base_dir):
    margs, _, targs = arguments(base_dir, base_dir / "unused")
    model, inputs = load_moondream(margs, targs, "cpu")
    tok = model.get_base_model().model.config.tokenizer
    ids = inputs.prompt_ids("rash on the arm")
    query = tok.templates["query"]
    assert ids[: len(query["prefix"])] == query["prefix"] and ids[-2:] == query["suffix"] * 2
    assert inputs.answer_ids("apply a mild steroid") and tok.eos_id not in inputs.answer_ids("apply a mild steroid")
    assert inputs.image_positions == 17  # BOS + 16 image tokens (730 in moondream2)


def test_lora_trains_the_text_model_only_and_the_adapter_drafts_what_it_learned(base_dir, examples, tmp_path):
    margs, dargs, targs = arguments(base_dir, tmp_path / "run")
    model, _ = load_moondream(margs, targs, "cpu")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".model.text.blocks." in n and "lora_" in n for n in trainable)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in trainable} == {"qkv", "proj", "fc1", "fc2"}

    result = train(margs, dargs, targs, examples[:4], examples[4:])
    assert result.heldout_loss_after < result.heldout_loss_before / 3
    adapter = Path(result.output_path)
    info = json.loads((adapter / "dermbot_adapter.json").read_text())
    assert info["backend"] == "moondream" and info["base_model"] == str(base_dir)

    before = drafts(MoondreamDrafter(str(base_dir), "main", generation=SETTINGS), examples)
    after = drafts(MoondreamDrafter(str(base_dir), "main", generation=SETTINGS, adapter_path=str(adapter)), examples)
    assert ANSWER not in before
    assert after == [ANSWER] * len(examples)  # held-out photos and queries too (examples 4, 5)


def test_a_full_finetune_changes_the_text_model_and_saves_a_loadable_folder(base_dir, examples, tmp_path):
    margs, dargs, targs = arguments(base_dir, tmp_path / "run", method="full", learning_rate=0.003)
    result = train(margs, dargs, targs, examples[:4], examples[4:])
    folder = Path(result.output_path)
    assert (folder / "hf_moondream.py").exists()  # remote code travels with the weights
    old, new = load_file(base_dir / "model.safetensors"), load_file(folder / "model.safetensors")
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("model.text.") for k in changed)  # vision and region stay frozen
    assert drafts(MoondreamDrafter(str(folder), "main", generation=SETTINGS), examples) == [ANSWER] * len(examples)


def test_what_cannot_be_fine_tuned_is_refused(base_dir, tmp_path_factory):
    targs = TrainArguments(device="cpu")
    for revision in ("2024-04-02", "2025-01-09"):
        with pytest.raises(DermError, match=r"revision|transformers"):
            load_moondream(ModelArguments("vikhyatk/moondream2", revision, "moondream"), targs, "cpu")
    api_only = write_standin(tmp_path_factory.mktemp("md-api") / "md2-api-only", "2025")
    with pytest.raises(DermError, match="2025 training internals"):
        load_moondream(ModelArguments(str(api_only), "main", "moondream"), targs, "cpu")
    with pytest.raises(DermError, match="gradient_checkpointing"):
        checkpointing = TrainArguments(gradient_checkpointing=True)
        load_moondream(ModelArguments(str(base_dir), "main", "moondream"), checkpointing, "cpu")
    with pytest.raises(DermError, match="hf and moondream"):
        train(ModelArguments(backend="openai"), DataArguments(), targs, [object()], [])


# -- the nightly run end to end ---------------------------------------------------------------------


def write_config(tmp_path: Path, db_url: str, model_dir: Path) -> Path:
    training = {
        "output_dir": str(tmp_path / "models"),
        "min_new_cases": 5,
        "heldout_share": 0.35,
        "gate_min_heldout": 3,
        "gate_min_delta_bleu": 0.5,
        "gate_max_cluster_share": 1.0,  # every answer is the same sentence here, by design
        "gate_max_copy_share": 1.0,
        "epochs": 6.0,
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "learning_rate": 0.01,
        "lora_rank": 8,
        "lora_alpha": 16,
        "device": "cpu",
    }
    lines = [
        f'[database]\nurl = "{db_url}"',
        f'[storage]\ndir = "{tmp_path / "images"}"',
        f'[model]\nbackend = "moondream"\nname = "{model_dir}"\nmax_new_tokens = 20',
        "[worker]\nbatch_size = 4",
        "[training]",
        *(f"{k} = {json.dumps(v)}" for k, v in training.items()),
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def approve_edited(db, store, n: int) -> None:
    """``n`` cases a clinician answered in their own words (edits: references the gate may judge on)."""
    for i in range(n):
        case_id = submit(db, store, 100 + i, photos=[photo_bytes((20 * i % 256, 90, 60))], text=f"rash number {i}")
        with db.write() as session:
            case = session.get(Case, case_id)
            case.state, case.final_text, case.reviewed_at = "approved", ANSWER, utcnow()
            session.add(Review(case_id=case_id, clinician_id=7, action="edit", draft_text="x", final_text=ANSWER))
            session.execute(update(Job).where(Job.case_id == case_id).values(state="done"))


def test_a_nightly_moondream_run_promotes_its_adapter_and_the_worker_drafts_with_it(tmp_path, db, store, base_dir):
    config = load_config(write_config(tmp_path, db.url, base_dir), environ={})
    approve_edited(db, store, 14)

    outcome = run_pipeline(config, force=True)
    assert outcome.status == RunStatus.PROMOTED, outcome.reason
    with db.read() as session:
        active = registry.active_record(session)
        assert (active.id, active.backend, active.status) == (outcome.candidate_model_id, "moondream", "active")
        assert active.adapter_path and Path(active.adapter_path, "adapter_config.json").exists()
        assert session.get(TrainingRun, outcome.run_id).status == "promoted"
        baseline = session.scalar(select(ModelRecord).where(ModelRecord.adapter_path.is_(None)))
        assert baseline.status == ModelStatus.RETIRED

    worker = Worker(config, db, lambda spec: create_drafter(spec, config.model), store=store, worker_id="w")
    worker.ensure_model()
    assert worker.spec.backend == "moondream" and worker.spec.adapter_path == active.adapter_path
    case_id = submit(db, store, 999, photos=[photo_bytes((200, 90, 60))], text="rash number 99")
    assert worker.run_once() == 1
    with db.read() as session:
        draft = session.scalar(select(Draft).where(Draft.case_id == case_id))
        assert draft.model_version.startswith(f"registry#{active.id}:") and "+adapter:" in draft.model_version
        assert draft.text.strip() == ANSWER  # drafted by the promoted adapter, merged into moondream
    worker.close()


def test_moondream_inputs_come_from_the_loaded_config(base_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, trust_remote_code=True)
    inputs = MoondreamInputs.of(model)
    assert (inputs.bos_id, inputs.eos_id, inputs.pad_id) == (0, 0, 0)
    assert inputs.max_context == model.model.config.text.max_context
