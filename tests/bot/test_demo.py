"""`make demo`'s job, end to end: the real `dermbot run` in a child process on the tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_plays_one_full_case(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.demo", "--keep", str(tmp_path / "demo"), "--timeout", "240"],
        cwd=ROOT,
        env={**os.environ, "DERMBOT_TELEGRAM_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in (
        "Do you agree",
        "Photo 1 of",
        "Your case number is #1",
        "Draft (model",
        "Answer to your case #1",
        "approved by Dr Rivera",
        "its words are meaningless",
        "Demo complete",
    ):
        assert step in out, step
    log = (tmp_path / "demo" / "service.log").read_text()
    assert "424242:DEMO" not in log  # the token never reaches the log
    assert "Please see picture" not in log and "elbow" not in log  # nor does the patient's text


@pytest.mark.slow
def test_a_demo_whose_model_cannot_load_stops_at_once_and_shows_the_log(tmp_path):
    import time

    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot.demo", "--model", str(tmp_path / "no-model"), "--keep", str(tmp_path / "demo")],
        cwd=ROOT,
        env={**os.environ, "DERMBOT_TELEGRAM_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert time.monotonic() - started < 300  # not the 600 s draft timeout
    assert "demo failed: the worker cannot load the model" in result.stderr
    assert "lines of the service log:" in result.stderr and "cannot load model" in result.stderr
    assert f"the whole log: {tmp_path / 'demo' / 'service.log'}" in result.stderr
    assert "Traceback" not in result.stderr
