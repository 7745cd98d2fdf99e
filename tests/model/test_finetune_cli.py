"""``python -m training.finetune`` as a new user runs it: a fresh database is migrated first (as every
``dermbot`` command does), and the error that remains is one readable line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_finetune_on_a_fresh_database_migrates_it_and_says_there_is_nothing_to_learn(tmp_path):
    db = tmp_path / "fresh" / "dermbot.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "training.finetune", "--config", str(config), "--output_dir", str(tmp_path / "out")],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "no such table" not in result.stderr
    assert "training.finetune: error: no training example" in result.stderr
    assert db.exists()
