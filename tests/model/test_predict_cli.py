"""``dermvqa make-tiny-model`` + ``dermvqa predict`` + ``dermvqa evaluate``, end to end."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from dermvqa.cli import main
from dermvqa.data.locations import EXAMPLES_DIR

pytestmark = pytest.mark.slow


def test_make_tiny_model_predict_and_evaluate(tmp_path, capsys):
    model = tmp_path / "tiny"
    assert main(["make-tiny-model", str(model)]) == 0
    images = tmp_path / "images"
    images.mkdir()
    valid = json.loads((EXAMPLES_DIR / "example_valid.json").read_text())
    for i, enc in enumerate(valid):
        Image.new("RGB", (80, 60), (40 * i, 90, 90)).save(images / f"IMG_{enc['encounter_id']}_00001.jpg")
    pred = tmp_path / "pred.json"
    code = main(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(EXAMPLES_DIR / "example_valid.json"),
            "--images",
            str(images),
            "--output",
            str(pred),
            "--batch-size",
            "3",
            "--max-new-tokens",
            "10",
        ]
    )
    assert code == 0
    rows = json.loads(pred.read_text())
    assert [r["encounter_id"] for r in rows] == [e["encounter_id"] for e in valid]
    assert all(isinstance(r["responses"][0]["content_en"], str) for r in rows)
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(EXAMPLES_DIR / "example_valid.json"),
                str(pred),
                "--metrics",
                "deltableu,collapse",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["n"] == len(valid)


def test_missing_images_are_an_error_unless_blank_is_asked(tmp_path, capsys, tiny_model_dir):
    args = [
        "predict",
        "--model",
        str(tiny_model_dir),
        "--input",
        str(EXAMPLES_DIR / "example_valid.json"),
        "--images",
        str(tmp_path),
        "--output",
        str(tmp_path / "p.json"),
        "--max-new-tokens",
        "4",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "4 of 4 encounter(s) have no image" in err and "EX101, EX102, EX103, EX104" in err
    assert main([*args, "--missing-images", "blank"]) == 0
