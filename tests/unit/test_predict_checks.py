"""``dermvqa.predict``: images are checked before the first draft, and a photo that still fails to
decode while drafting fails only its own encounter (the other answers are kept)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from dermvqa.data.challenge import load_encounters
from dermvqa.data.locations import EXAMPLES_DIR
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftResult
from dermvqa.errors import DataFormatError, UsageError
from dermvqa.predict import PredictOptions, check_images, predict

ENCOUNTERS = load_encounters(EXAMPLES_DIR / "example_valid.json")  # EX101..EX104
OPTIONS = PredictOptions(batch_size=3, progress=False)


class EchoDrafter(Drafter):
    model_version = "echo"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def draft_batch(self, requests):
        self.seen += [r.key for r in requests]
        return [DraftOutcome(r.key, DraftResult(f"answer {r.key}", 2)) for r in requests]


def jpeg(noisy: bool = False) -> bytes:
    image = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3)) if noisy else Image.new("RGB", (64, 64))
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    return buf.getvalue()


def test_a_truncated_photo_fails_its_encounter_only(tmp_path):
    for enc in ENCOUNTERS:
        (tmp_path / f"IMG_{enc.encounter_id}_00001.jpg").write_bytes(jpeg())
    data = jpeg(noisy=True)
    (tmp_path / "IMG_EX102_00001.jpg").write_bytes(data[: len(data) // 2])  # header fine, pixels cut off
    check_images(ENCOUNTERS, tmp_path, OPTIONS)  # the header check lets it through
    drafter = EchoDrafter()
    report = predict(ENCOUNTERS, tmp_path, drafter, OPTIONS)
    assert [p.encounter_id for p in report.predictions] == ["EX101", "EX102", "EX103", "EX104"]
    assert [p.text for p in report.predictions] == ["answer EX101", "", "answer EX103", "answer EX104"]
    assert [key for key, _ in report.failed] == ["EX102"]
    assert "IMG_EX102_00001.jpg" in report.failed[0][1]
    assert str(tmp_path) not in report.failed[0][1]
    assert drafter.seen == ["EX101", "EX103", "EX104"]


def test_check_images_counts_every_missing_encounter(tmp_path):
    (tmp_path / "IMG_EX103_00001.jpg").write_bytes(jpeg())
    with pytest.raises(DataFormatError) as err:
        check_images(ENCOUNTERS, tmp_path, OPTIONS)
    assert "3 of 4 encounter(s) have no image" in str(err.value)
    assert "EX101, EX102, EX104" in str(err.value)
    check_images(ENCOUNTERS, tmp_path, PredictOptions(missing_images="blank"))  # blank: fine


def test_check_images_refuses_a_missing_folder(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        check_images(ENCOUNTERS, tmp_path / "nope", OPTIONS)
