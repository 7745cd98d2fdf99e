"""The background processes lower their CPU priority first thing (dermvqa/cpu_priority.py), here as
real processes on a real SQLite file: `dermbot worker` to ``[worker] nice`` (it then stops at the
model it cannot load), the nightly training to ``[training] nice`` (it then skips: no new cases)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX nice values")


def _run_niced(tmp_path: Path, section: str, extra: str, command: list[str], increment: int):
    """``command`` (after ``python -m``) as a process of its own on a fresh SQLite file, with
    ``[section] nice`` set through the environment (which overrides the file, as for any key) to
    ``increment`` above this test process's own value; returns (the finished process, that value)."""
    wanted = os.nice(0) + increment  # this test process may itself run niced
    if wanted > 19:
        pytest.skip("this test process runs too nice to see the change")
    config = tmp_path / "dermbot.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n[storage]\ndir = "{tmp_path / "files"}"\n{extra}'
    )
    env = {
        **os.environ,
        "DERMBOT_DATA_KEY": "ab" * 32,
        f"DERMBOT_{section.upper()}_NICE": str(wanted),
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", *command[:1], "--config", str(config), *command[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, wanted


def test_the_worker_process_runs_at_the_configured_nice_value(tmp_path):
    extra = f'[model]\nname = "{tmp_path / "no-model-here"}"\n'
    done, wanted = _run_niced(tmp_path, "worker", extra, ["bot.cli", "worker", "--exit-when-idle"], 6)
    assert done.returncode == 3, done.stderr[-2000:]  # no model: no job taken
    assert f"worker at CPU priority nice {wanted} ([worker] nice = {wanted})" in done.stderr


def test_the_nightly_training_process_runs_at_the_configured_nice_value(tmp_path):
    extra = f'[training]\noutput_dir = "{tmp_path / "models"}"\n'
    done, wanted = _run_niced(tmp_path, "training", extra, ["training.nightly"], 4)
    assert done.returncode == 0, done.stderr[-2000:]  # skipped: no approved case yet
    assert f"training at CPU priority nice {wanted} ([training] nice = {wanted})" in done.stderr
    assert ": skipped" in done.stderr
