"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermvqa.data.locations import shared_dermavqa_dir


@pytest.fixture(scope="session")
def dermavqa_dir() -> Path:
    """The shared DermaVQA copy; tests that need it skip with a reason when it is absent."""
    folder = shared_dermavqa_dir()
    if folder is None:
        pytest.skip("../shared/data/dermavqa is absent (set DERMVQA_DATA to its folder to run this test)")
    return folder
