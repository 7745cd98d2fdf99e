"""Where training examples come from (training.sources): approved cases in a real database, and a
challenge-format base corpus on disk."""

from __future__ import annotations

import datetime as dt
import json

from PIL import Image
from support.cases import photo_bytes, submit

from dermvqa.config import Config, StorageConfig
from dermvqa.storage.models import Case, Review, TrainingRun, utcnow
from training.examples import split_examples
from training.pipeline import load_examples
from training.sources import approved_cases, corpus_examples, count_new_approved, last_trained_at

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def case(db, store, user, *, state="approved", final="Eczema: use an emollient.", reviewed=T0, photos=1, training=True):
    pictures = [photo_bytes((user * 40 % 256, i * 60, 50)) for i in range(photos)]
    case_id = submit(db, store, user, photos=pictures, text=f"itchy patch {user}", training_consent=training)
    with db.write() as session:
        row = session.get(Case, case_id)
        row.state, row.final_text, row.reviewed_at = state, final, reviewed
    return case_id


def test_approved_and_answered_cases_become_examples_with_their_final_text(db, store):
    a = case(db, store, 1, photos=3)
    b = case(db, store, 2, state="answered", final="Psoriasis.")
    case(db, store, 3, state="awaiting_review")
    c = case(db, store, 4, final=None)  # final text only on the review (fallback)
    case(db, store, 5, final=None)  # no text anywhere: left out
    with db.write() as session:
        session.add(Review(case_id=c, clinician_id=1, action="approve", final_text="first"))
        session.add(Review(case_id=c, clinician_id=1, action="edit", final_text="Contact dermatitis, edited."))
        session.add(Review(case_id=a, clinician_id=1, action="edit", final_text="Eczema: use an emollient."))
    with db.read() as session:
        examples = {e.key: e for e in approved_cases(session, store)}
        photos = session.get(Case, a).images
    assert set(examples) == {f"case:{a}", f"case:{b}", f"case:{c}"}
    first = examples[f"case:{a}"]
    assert first.image_hashes == tuple(p.sha256 for p in sorted(photos, key=lambda p: p.position))
    assert first.image_paths == tuple(store.photo(h) for h in first.image_hashes)
    assert [p.read_bytes() for p in first.image_paths] == [store.read(h) for h in first.image_hashes]
    assert (first.query, first.prompt_id, first.edited) == ("itchy patch 1", 1, True)
    assert first.answers == ("Eczema: use an emollient.",)
    assert examples[f"case:{c}"].answers == ("Contact dermatitis, edited.",)
    assert examples[f"case:{b}"].edited is False


def test_only_patients_who_agreed_to_training_contribute_examples_and_held_out_cases(db, store):
    yes = case(db, store, 1)
    no = case(db, store, 2, training=False)
    never_asked = case(db, store, 3, training=None)
    config = Config(storage=StorageConfig(dir=str(store.root)))
    with db.read() as session:
        assert [e.key for e in approved_cases(session, store)] == [f"case:{yes}"]
        assert count_new_approved(session, None) == 1  # the nightly trigger counts only usable cases
    examples = load_examples(config, db, utcnow())  # what the nightly run splits into train and held-out
    assert [e.key for e in examples] == [f"case:{yes}"]
    everything_held_out = split_examples(examples, 1.0)
    assert [e.key for e in everything_held_out.heldout] == [f"case:{yes}"]
    # A patient who changes their mind: out of the next run (training reads the answer when it runs).
    with db.write() as session:
        session.get(Case, yes).patient.training_consent = False
        session.get(Case, no).patient.training_consent = True
    with db.read() as session:
        assert [e.key for e in approved_cases(session, store)] == [f"case:{no}"]
    assert f"case:{never_asked}" not in {e.key for e in load_examples(config, db, utcnow())}


def test_new_cases_count_from_the_last_run_that_trained(db, store):
    case(db, store, 1, reviewed=T0)
    case(db, store, 2, reviewed=T0 + dt.timedelta(hours=2))
    with db.read() as session:
        assert last_trained_at(session) is None and count_new_approved(session, None) == 2
    with db.write() as session:
        session.add(TrainingRun(status="skipped", started_at=T0 + dt.timedelta(hours=3)))
        session.add(TrainingRun(status="rejected", started_at=T0 + dt.timedelta(hours=1)))
        session.add(TrainingRun(status="failed", started_at=T0 + dt.timedelta(hours=5)))
    with db.read() as session:
        since = last_trained_at(session)
        assert since == T0 + dt.timedelta(hours=1)  # skipped and failed runs did not use the data
        assert count_new_approved(session, since) == 1
        assert len(approved_cases(session, store, until=T0 + dt.timedelta(hours=1))) == 1
        assert len(approved_cases(session, store, until=utcnow())) == 2


def test_a_base_corpus_gives_every_english_answer_and_counts_what_it_leaves_out(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(images / "IMG_ENC1_00001.jpg")
    Image.new("RGB", (20, 20), (4, 5, 6)).save(images / "IMG_ENC1_00002.jpg")
    Image.new("RGB", (20, 20), (7, 8, 9)).save(images / "IMG_ENC3_00001.jpg")
    two_answers = [{"content_en": "Eczema."}, {"content_en": "Dermatitis."}]
    encounters = [
        {"encounter_id": "ENC1", "query_title_en": "Rash", "query_content_en": "itchy", "responses": two_answers},
        {"encounter_id": "ENC2", "query_title_en": "No photo", "responses": [{"content_en": "x"}]},
        {"encounter_id": "ENC3", "query_title_en": "No answer", "responses": [{"content_zh": "湿疹"}]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(encounters), encoding="utf-8")
    examples, stats = corpus_examples(tmp_path / "train.json", images, prompt_id=2)
    assert (stats.encounters, stats.used, stats.without_images, stats.without_answers) == (3, 1, 1, 1)
    [enc1] = examples
    assert enc1.key == "corpus:ENC1" and enc1.source == "corpus" and enc1.prompt_id == 2
    assert enc1.query == "Rash;itchy" and enc1.answers == ("Eczema.", "Dermatitis.")
    assert [p.rsplit("/", 1)[1] for p in enc1.image_paths] == ["IMG_ENC1_00001.jpg", "IMG_ENC1_00002.jpg"]
    assert len(set(enc1.image_hashes)) == 2 and all(len(h) == 64 for h in enc1.image_hashes)
