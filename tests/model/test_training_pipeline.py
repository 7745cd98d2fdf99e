"""The learning loop end to end on the tiny model and a real SQLite file: approved cases -> LoRA
training -> both models answer the held-out set -> gate -> registry -> report -> worker.

To make answer quality controllable (a random model's text is noise), the gate tests load every model
through the real factory (so the candidate's adapter really is merged by the drafter's loading code and
really generates) and then replace the drafted text by a scripted answer per role. ``dermbot train --now``
runs once unscripted.

The gate judges only on references no compared model wrote: cases a clinician edited (or answered by
hand), and the optional fixed reference set; a draft approved unchanged is trained on, never judged on."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update
from support.cases import photo_bytes, submit

from dermvqa.config import load_config
from dermvqa.drafting.base import Drafter, DraftOutcome
from dermvqa.drafting.factory import create_drafter
from dermvqa.storage import registry
from dermvqa.storage.models import Case, Draft, Job, ModelEvent, ModelRecord, Review, TrainingRun, utcnow
from dermvqa.worker import Worker
from training.cli import add_commands
from training.pipeline import run_pipeline

pytestmark = pytest.mark.slow

ANSWERS = [
    "Atopic eczema on the inner elbows. Use a fragrance free emollient and hydrocortisone for flares.",
    "Ringworm of the trunk, a fungal infection. Apply clotrimazole cream twice daily for four weeks.",
    "Plaque psoriasis of the knees. A dermatologist can prescribe calcipotriol ointment.",
    "Contact dermatitis from a nickel buckle. Avoid the metal and apply a mild steroid.",
    "Seborrhoeic dermatitis of the scalp. Wash with ketoconazole shampoo every other day.",
    "Acne vulgaris on the cheeks. Benzoyl peroxide gel at night, review in eight weeks.",
    "Shingles along one rib. Antivirals work best within three days, see your doctor today.",
    "Urticaria after a new medicine. Take a non drowsy antihistamine and stop the medicine.",
    "Impetigo around the nose. It is contagious; fusidic acid cream and careful hand washing.",
    "Scabies between the fingers. Permethrin for the whole household, wash the bedding hot.",
    "A seborrhoeic keratosis, a harmless warty growth. Nothing is needed unless it itches.",
    "Pityriasis rosea with a herald patch. It settles by itself within two or three months.",
    "Rosacea of the central face. Avoid triggers like alcohol; metronidazole gel helps.",
    "Chilblains on the toes from cold. Keep the feet warm and dry, they heal in weeks.",
]
HELDOUT_SHARE = 0.35  # with case ids 1..14 the hash holds out cases 1, 3, 10 and 13 (training.examples)
UNEDITED = frozenset({1, 5, 9, 13})  # indices approved as drafted: case ids 2, 6, 10 and 14


def query(i: int) -> str:
    return f"Rash number {i}: red, itchy and spreading for two weeks"


REFERENCE = {query(i): ANSWERS[i] for i in range(len(ANSWERS))}


def write_config(tmp_path: Path, db_url: str, model_dir: Path, **training) -> Path:
    settings = {
        "output_dir": str(tmp_path / "models"),
        "min_new_cases": 5,
        "heldout_share": HELDOUT_SHARE,
        "gate_min_heldout": 3,
        "gate_min_delta_bleu": 0.5,
        "gate_max_cluster_share": 0.5,
        "gate_max_copy_share": 0.5,
        "epochs": 1.0,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "learning_rate": 0.005,
        "device": "cpu",
        **training,
    }
    lines = [
        f'[database]\nurl = "{db_url}"',
        f'[storage]\ndir = "{tmp_path / "images"}"',
        f'[model]\nname = "{model_dir}"\nmax_new_tokens = 6',
        "[worker]\nbatch_size = 4",
        "[training]",
        *(f"{k} = {json.dumps(v)}" for k, v in settings.items()),
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config(tmp_path, db, tiny_model_dir):
    return load_config(write_config(tmp_path, db.url, tiny_model_dir), environ={})


def approve(db, store, indices, unedited=UNEDITED) -> list[int]:
    """Cases submitted and approved by a clinician, as the bot stores them: those in ``unedited``
    approved as the model drafted them (the draft is the answer), the others edited."""
    ids = []
    for i in indices:
        case_id = submit(db, store, 100 + i, photos=[photo_bytes((20 * i % 256, 90, 60))], text=query(i))
        with db.write() as session:
            case = session.get(Case, case_id)
            case.state, case.final_text, case.reviewed_at = "approved", ANSWERS[i], utcnow()
            action, draft = ("approve", ANSWERS[i]) if i in unedited else ("edit", f"A model draft {i}.")
            session.add(
                Review(case_id=case_id, clinician_id=7, action=action, draft_text=draft, final_text=ANSWERS[i])
            )
            session.execute(update(Job).where(Job.case_id == case_id).values(state="done"))
        ids.append(case_id)
    return ids


class Scripted(Drafter):
    """A really loaded drafter whose text is replaced by ``answer(request)`` after it generated."""

    def __init__(self, inner: Drafter, answer) -> None:
        self.inner, self.answer = inner, answer
        self.model_version, self.max_images = inner.model_version, inner.max_images

    def draft_batch(self, requests):
        outcomes = self.inner.draft_batch(requests)
        assert all(o.ok for o in outcomes)
        return [
            DraftOutcome(o.key, result=dataclasses.replace(o.result, text=self.answer(r)))
            for o, r in zip(outcomes, requests, strict=True)
        ]

    def close(self):
        self.inner.close()


def scripted(config, active, candidate, loaded=None):
    def factory(spec):
        if loaded is not None:
            loaded.append(spec)
        return Scripted(create_drafter(spec, config.model), candidate if spec.adapter_path else active)

    return factory


def correct(request):
    return REFERENCE[request.query]


def run_row(db, run_id) -> TrainingRun:
    with db.read() as session:
        return session.get(TrainingRun, run_id)


def test_too_few_new_cases_skip_with_the_reason_recorded(config, db, store):
    approve(db, store, range(3))
    outcome = run_pipeline(config, drafter_factory=scripted(config, correct, correct))
    assert (outcome.status, outcome.report_dir) == ("skipped", None)
    row = run_row(db, outcome.run_id)
    assert row.status == "skipped" and row.new_cases == 3
    assert row.reason == "3 new approved case(s) since the last training; at least 5 needed"
    with db.read() as session:  # the configured model became the baseline, so a rollback has a target
        assert registry.active_spec(session).name == config.model.name


def test_a_better_candidate_is_promoted_the_worker_switches_and_rollback_restores(config, db, store):
    approve(db, store, range(14))
    loaded = []
    outcome = run_pipeline(config, drafter_factory=scripted(config, lambda r: "See a doctor.", correct, loaded))
    assert outcome.status == "promoted", outcome.reason
    assert [bool(s.adapter_path) for s in loaded] == [False, True]  # both models really loaded and drafted
    row = run_row(db, outcome.run_id)
    # case 10 was approved as drafted: the hash holds it out, but it is trained on, never judged on
    assert (row.train_size, row.heldout_size, row.new_cases) == (11, 3, 14)
    assert row.metrics["data"]["unjudged_approvals"] == 1
    assert row.candidate_model_id == outcome.candidate_model_id and row.finished_at is not None
    assert row.metrics["gate"]["promote"] is True and row.metrics["data"]["edited_answers"] > 0
    report = Path(outcome.report_dir)
    assert {p.name for p in report.iterdir()} >= {"report.json", "report.md", "loss.png", "log.jsonl", "adapter"}
    data = json.loads((report / "report.json").read_text())
    assert data["candidate"]["summary"]["deltableu"] > data["active"]["summary"]["deltableu"] + 0.5
    assert sorted(r["key"] for r in data["candidate"]["per_case"]) == ["case:1", "case:13", "case:3"]
    boot = data["gate"]["bootstrap"]
    assert boot["win_share"] == 1.0 and boot["samples"] == 1000 and 0.5 < boot["low"] <= boot["high"]
    text = (report / "report.md").read_text()
    assert "promoted" in text and "| deltaBLEU (higher is better) |" in text
    assert "2.5-97.5 percentile interval" in text and "in 100.0% of resamples (promotion needs 95%)" in text
    assert not any(answer in text or answer in (report / "report.json").read_text() for answer in ANSWERS)
    with db.read() as session:
        active = registry.active_record(session)
        assert active.id == outcome.candidate_model_id and active.adapter_path == str(report / "adapter")
        baseline_id = session.scalar(select(ModelRecord.id).where(ModelRecord.adapter_path.is_(None)))

    worker = Worker(config, db, lambda spec: create_drafter(spec, config.model), store=store, worker_id="w")
    worker.ensure_model()
    assert worker.spec.registry_id == outcome.candidate_model_id and worker.spec.adapter_path
    with db.write() as session:
        registry.rollback(session, reason="clinicians prefer the old drafts", actor="cli:test")
    case_id = submit(db, store, 999, text="a new patient")
    assert worker.run_once() == 1  # switches between batches, without a restart
    assert worker.spec.registry_id == baseline_id and worker.spec.adapter_path is None
    with db.read() as session:
        draft = session.scalar(select(Draft).where(Draft.case_id == case_id))
        assert draft.model_version.startswith(f"registry#{baseline_id}:")
    worker.close()

    again = run_pipeline(config, drafter_factory=scripted(config, correct, correct))
    assert again.status == "skipped" and again.reason.startswith("0 new approved case(s)")


def test_a_worse_candidate_is_refused_and_the_active_model_stays(config, db, store):
    approve(db, store, range(14))
    outcome = run_pipeline(config, drafter_factory=scripted(config, correct, lambda r: "See a doctor."))
    assert outcome.status == "rejected"
    assert "does not beat the active model by 0.5" in outcome.reason
    with db.read() as session:
        assert registry.active_record(session).adapter_path is None
        candidate = session.get(ModelRecord, outcome.candidate_model_id)
        assert candidate.status == "rejected" and candidate.metrics["deltableu"] < 1
        event = session.scalar(select(ModelEvent).where(ModelEvent.action == "reject"))
        assert event.model_id == candidate.id and "deltaBLEU" in event.reason and event.actor == "training"


def test_a_candidate_that_answers_as_the_active_model_does_is_never_promoted(config, db, store):
    approve(db, store, range(14))
    outcome = run_pipeline(config, drafter_factory=scripted(config, correct, correct))
    assert outcome.status == "rejected" and "in 0.0% of 1000 resamples" in outcome.reason
    data = json.loads((Path(outcome.report_dir) / "report.json").read_text())
    assert data["gate"]["bootstrap"]["win_share"] == 0.0
    with db.read() as session:
        assert registry.active_record(session).adapter_path is None


def test_without_enough_independent_references_the_run_is_not_judged(config, db, store):
    """Every case approved as drafted: the active model's own text. Nothing to judge on fairly."""
    approve(db, store, range(14), unedited=frozenset(range(14)))
    loaded = []
    outcome = run_pipeline(config, drafter_factory=scripted(config, correct, correct, loaded))
    assert outcome.status == "not judged" and outcome.candidate_model_id is None
    assert outcome.reason.startswith("not judged: 0 independent held-out reference(s)")
    assert loaded == []  # no model answered anything, nothing was trained
    row = run_row(db, outcome.run_id)
    assert row.status == "not judged" and row.candidate_model_id is None and row.heldout_size == 0
    assert row.metrics["data"]["unjudged_approvals"] == 4
    assert "Not judged" in (Path(outcome.report_dir) / "report.md").read_text()
    with db.read() as session:
        assert registry.active_record(session).adapter_path is None
        assert session.scalar(select(ModelRecord.id).where(ModelRecord.adapter_path.is_not(None))) is None


REFERENCE_ANSWERS = [
    "Molluscum contagiosum in a child: pearly bumps that clear alone within a year or so.",
    "A keloid scar after piercing; steroid injections flatten it, surgery alone often fails.",
    "Vitiligo on both hands. Sun protection, and a specialist can discuss light therapy.",
]


def write_reference_set(folder: Path, count: int) -> dict[str, str]:
    """A DermaVQA-format reference set on disk; returns each encounter's query -> its answer."""
    images = folder / "reference-images"
    images.mkdir()
    encounters, answers = [], {}
    for k in range(count):
        (images / f"IMG_REF{k}_00001.png").write_bytes(photo_bytes((200, 30 * k % 256, 10)))
        title, answer = f"Reference rash {k}", REFERENCE_ANSWERS[k]
        encounters.append({"encounter_id": f"REF{k}", "query_title_en": title, "responses": [{"content_en": answer}]})
        answers[title] = answer
    (folder / "reference.json").write_text(json.dumps(encounters), encoding="utf-8")
    return answers


def test_the_fixed_reference_set_is_judged_on_when_configured(tmp_path, db, store, tiny_model_dir):
    references = write_reference_set(tmp_path, 3)
    path = write_config(
        tmp_path,
        db.url,
        tiny_model_dir,
        gate_reference_set=str(tmp_path / "reference.json"),
        gate_reference_images=str(tmp_path / "reference-images"),
    )
    config = load_config(path, environ={})
    approve(db, store, range(14), unedited=frozenset(range(14)))  # no independent case answer at all

    def right(request):
        return references.get(request.query, "")

    outcome = run_pipeline(config, drafter_factory=scripted(config, lambda r: "See a doctor.", right))
    assert outcome.status == "promoted", outcome.reason
    data = json.loads((Path(outcome.report_dir) / "report.json").read_text())
    judged_on = sorted(r["key"] for r in data["candidate"]["per_case"])
    assert judged_on == ["reference:REF0", "reference:REF1", "reference:REF2"]
    assert data["data"]["heldout_by_source"] == {"reference": 3} and data["data"]["train_examples"] == 14


def test_a_collapsed_candidate_is_refused_although_its_score_is_higher(config, db, store):
    approve(db, store, range(14))
    memorised = ANSWERS[5]  # the answer of case 6, a training case: the seed paper's failure
    outcome = run_pipeline(config, drafter_factory=scripted(config, lambda r: "", lambda r: memorised))
    assert outcome.status == "rejected"
    data = json.loads((Path(outcome.report_dir) / "report.json").read_text())
    checks = {c["name"]: c["passed"] for c in data["gate"]["checks"]}
    assert checks == {"heldout": True, "deltableu": True, "cluster_share": False, "copy_share": False}
    assert data["candidate"]["summary"]["largest_cluster_share"] == 1.0
    assert data["candidate"]["summary"]["copy_share"] == 1.0
    assert {r["nearest_train"] for r in data["candidate"]["per_case"]} == {"case:6"}
    with db.read() as session:
        assert registry.active_record(session).adapter_path is None


def test_a_failing_run_is_recorded_and_changes_nothing(config, db, store):
    approve(db, store, range(14))
    with db.write() as session:  # a run a crash left behind
        session.add(TrainingRun(status="running"))

    def broken_trainer(*_args):
        raise RuntimeError("CUDA out of memory (simulated)")

    outcome = run_pipeline(config, trainer=broken_trainer, drafter_factory=scripted(config, correct, correct))
    assert outcome.status == "failed" and "RuntimeError: CUDA out of memory" in outcome.reason
    with db.read() as session:
        runs = session.scalars(select(TrainingRun).order_by(TrainingRun.id)).all()
        assert [r.status for r in runs] == ["failed", "failed"]
        assert runs[0].reason.startswith("interrupted")
        assert registry.active_record(session).adapter_path is None
    assert "failed" in (Path(outcome.report_dir) / "report.md").read_text()


def test_dermbot_train_now_runs_the_real_pipeline(config, db, store, capsys):
    approve(db, store, range(14))
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "--now"])
    assert args.func(config, args) == 0
    out = capsys.readouterr().out
    assert out.startswith("training run 1: ") and "report.md" in out
    with db.read() as session:
        run = session.get(TrainingRun, 1)
        assert run.status in ("promoted", "rejected"), run.reason
        assert run.metrics["training"]["steps"] == 3  # 11 training cases, batch 4, one epoch
    args = parser.parse_args(["train"])
    assert args.func(config, args) == 0
    assert "next run" in capsys.readouterr().out
