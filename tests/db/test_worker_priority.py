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


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX nice values")
def test_the_worker_process_runs_at_the_configured_nice_value(tmp_path):
    config = tmp_path / "dermbot.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        f'[storage]\ndir = "{tmp_path / "files"}"\n'
        f'[model]\nname = "{tmp_path / "no-model-here"}"\n'
    )
    wanted = os.nice(0) + 6  # relative to this test process, which may itself run niced
    if wanted > 19:
        pytest.skip("this test process runs too nice to see the change")
    env = {
        **os.environ,
        "DERMBOT_DATA_KEY": "ab" * 32,
        "DERMBOT_WORKER_NICE": str(wanted),  # the environment overrides the file, as for any key
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "worker", "--exit-when-idle"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]  # no model: no job taken
    assert f"worker at CPU priority nice {wanted} ([worker] nice = {wanted})" in done.stderr


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX nice values")
def test_the_nightly_training_process_runs_at_the_configured_nice_value(tmp_path):
    config = tmp_path / "dermbot.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        f'[storage]\ndir = "{tmp_path / "files"}"\n'
        f'[training]\noutput_dir = "{tmp_path / "models"}"\n'
    )
    wanted = os.nice(0) + 4
    if wanted > 19:
        pytest.skip("this test process runs too nice to see the change")
    env = {**os.environ, "DERMBOT_DATA_KEY": "ab" * 32, "DERMBOT_TRAINING_NICE": str(wanted), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "training.nightly", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # skipped: no approved case yet
    assert f"training at CPU priority nice {wanted} ([training] nice = {wanted})" in done.stderr
    assert ": skipped" in done.stderr
