"""The 9 closed-question families of MEDIQA-MAGIC 2025, read from the shipped definitions.

``definitions.json`` is the organisers' ``closedquestions_definitions_imageclef2025.json``
(DermaVQA-DAS, CC BY 4.0: Yim et al., DermaVQA, MICCAI 2024; MEDIQA-MAGIC 2025 overview), copied
unchanged into the package so a deployed bot needs no ``../shared`` folder.

A family groups the question ids that share the part before the dash (``CQID011-001`` ..
``CQID011-006`` are one "Site" family); a family with several ids lets one encounter name several
answers (several sites, several lesion labels). Options are in index order and the last one is
always "Not mentioned".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dermvqa.errors import DataFormatError

NOT_MENTIONED = "Not mentioned"
DEFINITIONS_FILE = "definitions.json"

# Short button labels and plain patient-facing wording, by family. The organisers' question_type_en
# is not usable as a label (CQID010, the extent, is also typed "Site"); the questions are their
# question_en reworded for a patient and without the "1 " numbering of repeated ids.
_NAMES = {
    "CQID010": "Extent",
    "CQID011": "Site",
    "CQID012": "Size",
    "CQID015": "Onset",
    "CQID020": "Lesion type",
    "CQID025": "Itch",
    "CQID034": "Colour",
    "CQID035": "Count",
    "CQID036": "Texture",
}
_QUESTIONS = {
    "CQID010": "How much of your body is affected?",
    "CQID011": "Where is the affected area?",
    "CQID012": "How large is the affected area?",
    "CQID015": "When did you first notice the problem?",
    "CQID020": "What best describes the affected skin?",
    "CQID025": "Does it itch?",
    "CQID034": "Compared with the skin around it, what colour is it?",
    "CQID035": "How many spots or lesions are there?",
    "CQID036": "How does the surface feel?",
}


@dataclass(frozen=True)
class Family:
    """One question family: its ids, options (last is "Not mentioned") and patient-facing wording."""

    id: str
    name: str
    question: str
    options: tuple[str, ...]
    qids: tuple[str, ...]

    @property
    def multi(self) -> bool:
        """Whether one encounter may name several answers (the family has several ids)."""
        return len(self.qids) > 1

    @property
    def not_mentioned(self) -> int:
        """The index of the "Not mentioned" option (the last one)."""
        return self.options.index(NOT_MENTIONED)


def family_of(qid: str) -> str:
    """The family of a question id: the part before the dash (``CQID011-003`` -> ``CQID011``)."""
    return qid.split("-", 1)[0]


def _question_text(question_en: str) -> str:
    """question_en without the leading "1 " numbering of repeated ids."""
    head, _, rest = question_en.partition(" ")
    return rest if head.isdigit() else question_en


def families_from_definitions(definitions: list[dict]) -> tuple[Family, ...]:
    """Families from the organisers' definitions list, in its order (pure; validates the shape)."""
    order: list[str] = []
    qids: dict[str, list[str]] = {}
    options: dict[str, tuple[str, ...]] = {}
    wording: dict[str, str] = {}
    for index, entry in enumerate(definitions):
        try:
            qid, opts, question_en = entry["qid"], tuple(entry["options_en"]), entry["question_en"]
        except (KeyError, TypeError) as exc:
            raise DataFormatError(
                f"closed-question definitions: entry {index} lacks qid/options_en/question_en"
            ) from exc
        family = family_of(qid)
        if not opts or opts[-1] != NOT_MENTIONED:
            raise DataFormatError(f"closed-question definitions: {qid}'s last option is not {NOT_MENTIONED!r}")
        if family not in qids:
            order.append(family)
            qids[family] = []
            options[family] = opts
            wording[family] = _question_text(question_en)
        elif options[family] != opts:
            raise DataFormatError(f"closed-question definitions: {qid}'s options differ from its family's")
        qids[family].append(qid)
    return tuple(
        Family(
            id=family,
            name=_NAMES.get(family, family),
            question=_QUESTIONS.get(family, wording[family]),
            options=options[family],
            qids=tuple(qids[family]),
        )
        for family in order
    )


@lru_cache(maxsize=1)
def load_families() -> tuple[Family, ...]:
    """The 9 families of the shipped definitions, in the definitions' order (cached, immutable)."""
    text = resources.files("dermvqa.closedqa").joinpath(DEFINITIONS_FILE).read_text(encoding="utf-8")
    return families_from_definitions(json.loads(text))


def family_by_id(family_id: str) -> Family:
    """The family with this id (``CQID015``); KeyError for an unknown id."""
    for family in load_families():
        if family.id == family_id:
            return family
    raise KeyError(family_id)
