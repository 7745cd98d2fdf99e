"""The loss curve of a run as a PNG, drawn with Pillow (no plotting library needed at night).

Training loss per optimizer step as a line, held-out loss (before and after training) as dots, the
axes labelled with their ranges. :func:`scale` (data to pixels) is pure and tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 800, 450
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 40, 50
TRAIN_COLOUR, HELDOUT_COLOUR, AXIS_COLOUR = (31, 119, 180), (214, 39, 40), (60, 60, 60)
GRID_COLOUR = (225, 225, 225)


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:  # a flat line still needs a height
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    return lo, hi


def scale(
    xs: Sequence[float], ys: Sequence[float], box: tuple[int, int, int, int], x_range=None, y_range=None
) -> list[tuple[float, float]]:
    """Data points to pixel positions inside ``box`` = (left, top, right, bottom); y grows upwards."""
    left, top, right, bottom = box
    x0, x1 = x_range or _range(xs)
    y0, y1 = y_range or _range(ys)
    return [
        (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))
        for x, y in zip(xs, ys, strict=True)
    ]


def loss_chart(
    steps: Sequence[float],
    losses: Sequence[float],
    path: str | Path,
    *,
    heldout: Sequence[tuple[float, float]] = (),
    title: str = "training loss per optimizer step",
) -> Path:
    """Write the chart to ``path`` (PNG). Steps without a finite loss are left out."""
    points = [(s, v) for s, v in zip(steps, losses, strict=True) if math.isfinite(v)]
    marks = [(s, v) for s, v in heldout if v is not None and math.isfinite(v)]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    box = (MARGIN_LEFT, MARGIN_TOP, WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM)
    draw.text((MARGIN_LEFT, 12), title, fill=AXIS_COLOUR, font=font)
    draw.line([(box[0], box[1]), (box[0], box[3]), (box[2], box[3])], fill=AXIS_COLOUR, width=1)
    all_x = [s for s, _ in points + marks] or [0.0, 1.0]
    all_y = [v for _, v in points + marks] or [0.0, 1.0]
    x_range, y_range = _range(all_x), _range(all_y)
    for k in range(5):  # horizontal grid lines with their loss values
        value = y_range[0] + (y_range[1] - y_range[0]) * k / 4
        y = box[3] - (box[3] - box[1]) * k / 4
        if k:
            draw.line([(box[0] + 1, y), (box[2], y)], fill=GRID_COLOUR, width=1)
        draw.text((4, y - 6), f"{value:.3f}", fill=AXIS_COLOUR, font=font)
    if len(points) >= 2:
        xy = scale([s for s, _ in points], [v for _, v in points], box, x_range, y_range)
        draw.line(xy, fill=TRAIN_COLOUR, width=2)
    elif points:
        (px, py) = scale([points[0][0]], [points[0][1]], box, x_range, y_range)[0]
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=TRAIN_COLOUR)
    if marks:
        for px, py in scale([s for s, _ in marks], [v for _, v in marks], box, x_range, y_range):
            draw.ellipse([px - 5, py - 5, px + 5, py + 5], outline=HELDOUT_COLOUR, width=2)
    draw.text((box[0], box[3] + 6), f"step {x_range[0]:g}", fill=AXIS_COLOUR, font=font)
    draw.text((box[2] - 70, box[3] + 6), f"step {x_range[1]:g}", fill=AXIS_COLOUR, font=font)
    draw.text((box[0], HEIGHT - 20), "line: training loss   circles: held-out loss", fill=AXIS_COLOUR, font=font)
    path = Path(path)
    image.save(path, format="PNG")
    return path
