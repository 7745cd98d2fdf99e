"""The closed-question families read from the shipped definitions (MEDIQA-MAGIC 2025)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dermvqa.closedqa.files import shared_magic_dir
from dermvqa.closedqa.questions import (
    NOT_MENTIONED,
    Family,
    families_from_definitions,
    family_by_id,
    family_of,
    load_families,
)
from dermvqa.errors import DataFormatError


def test_nine_families_cover_the_27_question_ids_in_the_definitions_order():
    families = load_families()
    assert [f.id for f in families] == [
        "CQID010", "CQID011", "CQID012", "CQID015", "CQID020", "CQID025", "CQID034", "CQID035", "CQID036",
    ]  # fmt: skip
    assert sum(len(f.qids) for f in families) == 27
    site = family_by_id("CQID011")
    assert site.qids == tuple(f"CQID011-00{n}" for n in range(1, 7))
    assert site.options[2] == "upper extremities" and site.name == "Site"
    assert family_by_id("CQID020").name == "Lesion type" and len(family_by_id("CQID020").qids) == 9


def test_multi_is_true_exactly_for_the_families_with_several_ids_and_not_mentioned_is_the_last_option():
    for family in load_families():
        assert family.options[family.not_mentioned] == NOT_MENTIONED
        assert family.not_mentioned == len(family.options) - 1
    assert {f.id for f in load_families() if f.multi} == {"CQID011", "CQID012", "CQID020"}


def test_questions_are_plain_patient_wording_without_the_numbering():
    for family in load_families():
        assert family.question.endswith("?") and not family.question[0].isdigit()
        assert family.name and len(family.name) <= 12  # fits a button
    assert family_by_id("CQID015").question == "When did you first notice the problem?"


def test_family_of_takes_the_part_before_the_dash():
    assert family_of("CQID011-003") == "CQID011"
    assert family_of("CQID025-001") == "CQID025"


def test_families_are_immutable_and_load_families_is_the_same_tuple():
    family = load_families()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        family.name = "x"  # type: ignore[misc]
    assert isinstance(load_families(), tuple) and load_families() is load_families()
    assert isinstance(family, Family)


def test_malformed_definitions_are_rejected_with_the_question_id():
    good = {"qid": "CQID099-001", "question_en": "1 Where?", "options_en": ["a", "Not mentioned"]}
    assert families_from_definitions([good])[0].question == "Where?"  # unknown family: its own wording
    with pytest.raises(DataFormatError, match="CQID099-001"):
        families_from_definitions([{**good, "options_en": ["a", "b"]}])
    with pytest.raises(DataFormatError, match="CQID099-002"):
        families_from_definitions([good, {**good, "qid": "CQID099-002", "options_en": ["b", "Not mentioned"]}])
    with pytest.raises(DataFormatError, match="entry 0"):
        families_from_definitions([{"qid": "CQID099-001"}])


def test_the_shipped_definitions_are_the_organisers_file_unchanged():
    folder = shared_magic_dir()
    if folder is None:
        pytest.skip("../shared/data/magic2025 is absent (set DERMVQA_DATA to run this test)")
    from importlib import resources

    shipped = json.loads(resources.files("dermvqa.closedqa").joinpath("definitions.json").read_text("utf-8"))
    original = json.loads((folder / "closedquestions_definitions_imageclef2025.json").read_text("utf-8"))
    assert shipped == original
    option_maps = json.loads((folder / "option_maps.json").read_text("utf-8"))
    for family in load_families():
        assert option_maps[family.id] == {option: index for index, option in enumerate(family.options)}
