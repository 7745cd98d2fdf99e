"""The loss curve of a run as a PNG, drawn with matplotlib (see :mod:`dermvqa.charts`: Agg, no pyplot).

Training loss per optimizer step as a line, held-out loss (before and after training) as circles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from dermvqa.charts import DRAWING, HEIGHT, WIDTH, new_figure, png_bytes

TRAIN_COLOUR, HELDOUT_COLOUR = "#1f77b4", "#d62728"


def loss_chart(
    steps: Sequence[float],
    losses: Sequence[float],
    path: str | Path,
    *,
    heldout: Sequence[tuple[float, float]] = (),
    title: str = "training loss per optimizer step",
) -> Path:
    """Write the chart to ``path`` (PNG, ``WIDTH`` x ``HEIGHT``). Steps without a finite loss are left out."""
    points = [(s, v) for s, v in zip(steps, losses, strict=True) if math.isfinite(v)]
    marks = [(s, v) for s, v in heldout if v is not None and math.isfinite(v)]
    with DRAWING:
        png = _draw(points, marks, title)
    path = Path(path)
    path.write_bytes(png)
    return path


def _draw(points: list[tuple[float, float]], marks: list[tuple[float, float]], title: str) -> bytes:
    figure = new_figure(WIDTH, HEIGHT)
    ax = figure.add_subplot()
    ax.set_title(title)
    if points:
        ax.plot(
            [s for s, _ in points],
            [v for _, v in points],
            color=TRAIN_COLOUR,
            marker="." if len(points) == 1 else None,
            linewidth=2,
            label="training loss",
        )
    if marks:
        ax.scatter(
            [s for s, _ in marks],
            [v for _, v in marks],
            s=60,
            facecolors="none",
            edgecolors=HELDOUT_COLOUR,
            linewidths=2,
            label="held-out loss",
            zorder=3,
        )
    if points or marks:
        ax.legend(loc="upper right")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, color="#e1e1e1")
    return png_bytes(figure)
