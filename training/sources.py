"""Where training examples come from: cases clinicians approved, and an optional base corpus.

* An approved case (state ``approved`` or ``answered``) of a patient who agreed to training use
  (``Patient.training_consent`` is True: a question apart from the service consent) gives its photos
  (in order, from the image store), the patient's description as the query, the prompt template it
  was drafted with, and the clinician's final text as the answer (the edited text when they edited:
  the better target). A case without a final text falls back to the text of its last approve/edit
  review. Cases of patients who said no, or were never asked, are never read.
  ``Example.edited`` says whether that answer is the clinician's own words
  (:func:`written_by_clinician`): only those are independent of the models the gate compares.
* A base corpus is a DermaVQA / MEDIQA-MAGIC JSON file plus its image folder; every English
  reference answer of an encounter is a target. Encounters without an image file or an answer are
  left out and counted.

Only ids and counts are logged, never a query, an answer or a path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dermvqa.casework.questionnaire import answer_lines
from dermvqa.config import Config
from dermvqa.data.challenge import load_encounters
from dermvqa.data.image_files import resolve_images
from dermvqa.prompts import query_with_answers
from dermvqa.states import RunStatus
from dermvqa.storage.case_answers import chosen_answers
from dermvqa.storage.database import Database
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.models import Case, CaseImage, Patient, Review, TrainingRun
from training.arguments import DataArguments, arguments_from_config
from training.examples import Example, normalise_text

logger = logging.getLogger(__name__)

APPROVED_STATES = ("approved", "answered")
NOT_ANSWERS = ("reject", "regenerate")  # review actions that give no answer; every other one does


def written_by_clinician(action: str, draft_text: str | None, final_text: str | None) -> bool:
    """Is the answer the clinician's own words, rather than a model's draft passed on?

    * a draft approved as it was (text equal to the draft, whitespace and case aside) is the model's:
      the active model would largely reproduce it, so the gate must never judge on it;
    * an answer that differs from the draft it replaced is the clinician's (an edit);
    * an answer with no draft text behind it was written by hand, unless the action is a plain
      ``approve`` (every approval copies its draft: a row without one cannot be told apart).
    """
    final = normalise_text(final_text or "")
    if not final:
        return False
    if draft_text is None:
        return action != "approve"
    return final != normalise_text(draft_text)


TRAINED_STATUSES = (RunStatus.PROMOTED, RunStatus.REJECTED)  # runs that trained on the data they saw


@dataclass(frozen=True)
class CorpusStats:
    encounters: int
    used: int
    without_images: int
    without_answers: int


def _approved(until: dt.datetime | None):
    """Approved cases of patients who said yes to training use (``Patient.training_consent``): a
    "no", or no answer yet, keeps a case out of training and out of the gate's held-out set."""
    query = (
        select(Case)
        .join(Patient, Patient.id == Case.patient_id)
        .where(Case.state.in_(APPROVED_STATES), Patient.training_consent.is_(True))
    )
    if until is not None:
        query = query.where((Case.reviewed_at.is_(None)) | (Case.reviewed_at <= until))
    return query


def approved_cases(session: Session, store: ImageStore, *, until: dt.datetime | None = None) -> list[Example]:
    """Every approved case with a photo and an answer, as an example (reviewed up to ``until``)."""
    cases = session.scalars(_approved(until).order_by(Case.id)).all()
    ids = [c.id for c in cases]
    images: dict[int, list[str]] = {}
    for case_id, sha in session.execute(
        select(CaseImage.case_id, CaseImage.sha256).where(CaseImage.case_id.in_(ids)).order_by(CaseImage.position)
    ):
        images.setdefault(case_id, []).append(sha)
    reviews: dict[int, list[Review]] = {}
    for review in session.scalars(
        select(Review).where(Review.case_id.in_(ids), Review.action.not_in(NOT_ANSWERS)).order_by(Review.id)
    ):
        reviews.setdefault(review.case_id, []).append(review)
    examples, skipped = [], 0
    for case in cases:
        case_reviews = reviews.get(case.id, [])
        answer = (case.final_text or "").strip() or next(
            (r.final_text.strip() for r in reversed(case_reviews) if (r.final_text or "").strip()), ""
        )
        hashes = images.get(case.id, [])
        if not answer or not hashes or not (case.description or "").strip():
            skipped += 1
            continue
        examples.append(
            Example(
                key=f"case:{case.id}",
                image_paths=tuple(store.photo(h) for h in hashes),  # read and decrypted on demand
                image_hashes=tuple(hashes),
                # As the worker drafts it: a template that uses the intake answers (3) gets them in the query.
                query=query_with_answers(
                    case.prompt_id, case.description or "", answer_lines(chosen_answers(case.closed_qa))
                ),
                prompt_id=case.prompt_id,
                answers=(answer,),
                source="case",
                edited=bool(case_reviews)
                and written_by_clinician(case_reviews[-1].action, case_reviews[-1].draft_text, answer),
            )
        )
    if skipped:
        logger.info("%d approved case(s) left out: no photo, no description or no final text", skipped)
    return examples


def last_trained_at(session: Session) -> dt.datetime | None:
    """When the last run that trained (promoted or rejected) took its data."""
    return session.scalar(select(func.max(TrainingRun.started_at)).where(TrainingRun.status.in_(TRAINED_STATUSES)))


def count_new_approved(session: Session, since: dt.datetime | None) -> int:
    """Approved cases of consenting patients reviewed after ``since`` (all of them when None)."""
    query = (
        select(func.count())
        .select_from(Case)
        .join(Patient, Patient.id == Case.patient_id)
        .where(Case.state.in_(APPROVED_STATES), Patient.training_consent.is_(True))
    )
    if since is not None:
        query = query.where(Case.reviewed_at > since)
    return int(session.scalar(query) or 0)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def corpus_examples(
    json_path: str | Path, images_dir: str | Path, *, prompt_id: int
) -> tuple[list[Example], CorpusStats]:
    """Examples from a challenge-format JSON file and its image folder (English answers)."""
    encounters = load_encounters(json_path)
    examples: list[Example] = []
    no_images = no_answers = 0
    for enc in encounters:
        paths = resolve_images(enc, images_dir)
        answers = tuple(t.strip() for t in enc.reference_texts("en") if t.strip())
        if not paths:
            no_images += 1
            continue
        if not answers:
            no_answers += 1
            continue
        examples.append(
            Example(
                key=f"corpus:{enc.encounter_id}",
                image_paths=tuple(str(p) for p in paths),
                image_hashes=tuple(_file_sha256(p) for p in paths),
                query=enc.query_text("en"),
                prompt_id=prompt_id,
                answers=answers,
                source="corpus",
            )
        )
    stats = CorpusStats(len(encounters), len(examples), no_images, no_answers)
    logger.info(
        "base corpus: %d of %d encounters used (%d without images, %d without an English answer)",
        stats.used,
        stats.encounters,
        stats.without_images,
        stats.without_answers,
    )
    return examples, stats


def load_examples(
    config: Config,
    db: Database | None,
    until: dt.datetime | None = None,
    *,
    data: DataArguments | None = None,
    prompt_id: int | None = None,
) -> list[Example]:
    """Every example a run may learn from: approved cases reviewed by ``until`` (when ``data.cases``;
    read from ``db``) and the base corpus (when ``data.corpus`` is set). ``data`` defaults to the
    config's own (``training.arguments.arguments_from_config``), ``prompt_id`` to ``[model] prompt_id``."""
    data = data if data is not None else arguments_from_config(config)[1]
    examples: list[Example] = []
    if data.cases:
        if db is None:
            raise ValueError("reading approved cases needs a database")
        with db.read() as session:
            examples += approved_cases(session, ImageStore(config.storage_dir, load_data_key(config)), until=until)
    if data.corpus:
        pid = config.model.prompt_id if prompt_id is None else prompt_id
        corpus, _ = corpus_examples(data.corpus, data.corpus_images, prompt_id=pid)
        examples += corpus
    return examples


def source_counts(examples: Sequence[Example]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.source] = counts.get(e.source, 0) + 1
    return counts
