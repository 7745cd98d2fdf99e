"""The console's charts (dermvqa.charts): PNG bytes Pillow decodes, at the asked size, drawn without pyplot."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from dermvqa.charts import DECISION_COLOURS, answer_times_chart, console_chart, decisions_chart
from dermvqa.metrics.review_figures import CaseRow, ReviewRow, console_figures

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {c[:3] for _, c in image.convert("RGBA").getcolors(maxcolors=image.width * image.height)}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


FIGURES = console_figures(
    [ReviewRow(1, 11, "approve", T0, "a", "a"), ReviewRow(2, 12, "reject", T0, "b")],
    [
        CaseRow(1, False, T0, T0 + dt.timedelta(hours=1), 11, T0 + dt.timedelta(hours=2), 11),
        CaseRow(2, True, T0, T0 + dt.timedelta(minutes=20), 12, T0 + dt.timedelta(minutes=40), 12),
    ],
)


def test_charts_decode_at_their_size_with_the_data_drawn():
    decisions = decode(decisions_chart(FIGURES, 640, 360))
    assert decisions.size == (640, 360)
    assert {rgb(DECISION_COLOURS["approve"]), rgb(DECISION_COLOURS["reject"])} <= colours(decisions)
    times = decode(answer_times_chart(FIGURES))
    assert times.size == (800, 450)
    both = decode(console_chart(FIGURES))
    assert both.size == (1200, 500)


def test_drawing_never_imports_pyplot():
    """No global figure state: checked in a fresh interpreter (other libraries in this test process
    may import pyplot themselves)."""
    script = (
        "import sys; from tests.unit import test_console_charts as t; "
        "t.console_chart(t.FIGURES); t.decisions_chart(t.FIGURES, 640, 360); "
        "sys.exit(int('matplotlib.pyplot' in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")])}
    assert subprocess.run([sys.executable, "-c", script], cwd=root, env=env, timeout=120).returncode == 0


def test_empty_figures_still_give_a_chart():
    empty = console_figures([], [])
    image = decode(console_chart(empty))
    assert image.size == (1200, 500)
    assert not {rgb(c) for c in DECISION_COLOURS.values()} & colours(image)  # no bars, no legend
