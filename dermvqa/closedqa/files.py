"""Reading and writing closed-question files (the challenge's list of encounter objects), and the shipped data.

``majority.json`` is the most frequent option of every question id in the organisers'
``train_cvqa.json`` (MEDIQA-MAGIC 2025, DermaVQA-DAS, CC BY 4.0), shipped so that a deployed
machine can fill unanswered questions without ``../shared``; a test checks it against the train
file whenever that file is present.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from dermvqa.data.challenge import read_json_list
from dermvqa.data.locations import shared_dermavqa_dir
from dermvqa.errors import DataFormatError, UsageError

MAJORITY_FILE = "majority.json"


def load_closed_file(path: str | Path) -> list[dict]:
    """A closed-question file: a JSON list of objects, each with a string ``encounter_id`` and int values.

    Raises :class:`DataFormatError` naming the file and the entry for anything else.
    """
    path = Path(path)
    data = read_json_list(path)
    for index, obj in enumerate(data):
        if not isinstance(obj, dict) or not isinstance(obj.get("encounter_id"), str):
            raise DataFormatError(f"{path}: entry {index} is not an object with a string 'encounter_id'")
        for key, value in obj.items():
            if key != "encounter_id" and (isinstance(value, bool) or not isinstance(value, int)):
                raise DataFormatError(
                    f"{path}: entry {index} ({obj['encounter_id']}): {key} is {value!r}, not an option index"
                )
    return data


def write_closed_file(path: str | Path, objects: list[dict]) -> None:
    """Write the objects as the challenge's JSON list (indented like the organisers' files)."""
    Path(path).write_text(json.dumps(objects, indent=4) + "\n", encoding="utf-8")


def shipped_majority() -> dict[str, int]:
    """The train split's most frequent option per question id (shipped with the package)."""
    text = resources.files("dermvqa.closedqa").joinpath(MAJORITY_FILE).read_text(encoding="utf-8")
    return json.loads(text)


SPLITS = {"train": ("train.json", "train_cvqa.json"), "valid": ("valid_ht.json", "valid_cvqa.json")}


def shared_magic_dir() -> Path | None:
    """``../shared/data/magic2025`` (beside the DermaVQA copy), or None when it is absent."""
    dermavqa = shared_dermavqa_dir()
    folder = dermavqa.parent / "magic2025" if dermavqa is not None else None
    return folder if folder is not None and folder.is_dir() else None


def split_files(split: str) -> tuple[Path, Path]:
    """(DermaVQA queries file, closed-question gold file) of a MEDIQA-MAGIC 2025 split in ``../shared``."""
    if split not in SPLITS:
        raise UsageError(f"split {split!r}: unknown; allowed: {', '.join(SPLITS)}")
    dermavqa, magic = shared_dermavqa_dir(), shared_magic_dir()
    if dermavqa is None or magic is None:
        raise UsageError(
            f"--split {split} needs ../shared/data/dermavqa and ../shared/data/magic2025 (or DERMVQA_DATA); "
            "give a queries file with --input instead"
        )
    queries, gold = SPLITS[split]
    return dermavqa / "iiyi" / queries, magic / gold
