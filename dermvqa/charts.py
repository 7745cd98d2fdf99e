"""Charts as PNG bytes, drawn with matplotlib's Agg renderer.

Every chart is a fresh :class:`matplotlib.figure.Figure` rendered by its own Agg canvas: pyplot's
global state (current figure, backend, open-figure list) is never touched, so charts drawn in the
bot's worker threads or one after another never leak into each other. Sizes are exact pixels
(``dpi`` 100, no tight bounding box). matplotlib is not thread-safe (its font and text caches are
shared), so the public chart functions draw one at a time (:data:`DRAWING`); callers run them off the
event loop and off the bot's database thread.

Charts of the clinician console (:mod:`dermvqa.metrics.review_figures`): decision shares per
clinician as stacked bars, and the time-to-answer distribution with p50/p90 markers, urgent cases
separately. The training report's loss curve lives in ``training/chart.py`` and uses :func:`png_bytes`.
"""

from __future__ import annotations

import io
import threading

import matplotlib

matplotlib.use("Agg")  # no display, ever (the service and the nightly run are headless)

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dermvqa.metrics.review_figures import DECISION_LABELS, DECISIONS, ConsoleFigures

DPI = 100
WIDTH, HEIGHT = 800, 450
DECISION_COLOURS = {"approve": "#2ca02c", "edit": "#1f77b4", "regenerate": "#ff7f0e", "reject": "#d62728"}
ALL_COLOUR, URGENT_COLOUR = "#1f77b4", "#d62728"
DRAWING = threading.Lock()  # one chart at a time in this process


def new_figure(width: int = WIDTH, height: int = HEIGHT) -> Figure:
    """A figure of ``width`` x ``height`` pixels with its own Agg canvas."""
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_decisions(ax: Axes, figures: ConsoleFigures) -> None:
    """Stacked bars: each clinician's (and everyone's) decisions as shares adding up to 100%."""
    groups = [("all", figures.overall.decisions)] + [(str(c.clinician_id), c.decisions) for c in figures.clinicians]
    groups = [(name, d) for name, d in groups if d.total]
    ax.set_title("Decisions on drafts")
    if not groups:
        _empty(ax, "no decisions in this period")
        return
    names = [f"{name}\n(n={d.total})" for name, d in groups]
    bottom = [0.0] * len(groups)
    for action in DECISIONS:
        heights = [100 * (d.shares[action] or 0.0) for _, d in groups]
        ax.bar(names, heights, bottom=bottom, color=DECISION_COLOURS[action], label=DECISION_LABELS[action])
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_ylim(0, 125)  # room above the bars for the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("% of decisions")
    ax.set_xlabel("clinician")
    ax.legend(loc="upper center", ncol=2, fontsize="small", framealpha=0.9)


def draw_answer_times(ax: Axes, figures: ConsoleFigures) -> None:
    """Hours from submission to answer: every case as a dot, p50 and p90 marked; urgent cases on their own row."""
    timings = figures.overall.timings
    rows = [("all cases", timings.answer, ALL_COLOUR), ("urgent", timings.urgent_answer, URGENT_COLOUR)]
    ax.set_title("Time from submission to answer")
    if not timings.answer.n:
        _empty(ax, "no answered cases in this period")
        return
    for y, (_, timing, colour) in enumerate(rows):
        hours = [s / 3600 for s in timing.samples]
        # a fixed spread (no randomness) so dots with equal times stay visible and charts reproducible
        ys = [y + ((i % 7) - 3) * 0.04 for i in range(len(hours))]
        ax.scatter(hours, ys, s=12, color=colour, alpha=0.5)
        for value, marker, label, above in ((timing.p50, "|", "p50", 0.3), (timing.p90, "x", "p90", -0.35)):
            if value is not None:  # p50 labelled above the row, p90 below: equal values stay readable
                ax.scatter([value / 3600], [y], s=220, marker=marker, color="black", linewidths=2, zorder=3)
                ax.annotate(f"{label} {value / 3600:.1f} h", (value / 3600, y + above), ha="center", fontsize="small")
    ax.set_yticks(range(len(rows)), [f"{name}\n(n={t.n})" for name, t, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("hours")
    ax.set_xlim(left=0)


def decisions_chart(figures: ConsoleFigures, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    with DRAWING:
        figure = new_figure(width, height)
        draw_decisions(figure.add_subplot(), figures)
        figure.subplots_adjust(bottom=0.18)
        return png_bytes(figure)


def answer_times_chart(figures: ConsoleFigures, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    with DRAWING:
        figure = new_figure(width, height)
        draw_answer_times(figure.add_subplot(), figures)
        figure.subplots_adjust(left=0.15)
        return png_bytes(figure)


def console_chart(figures: ConsoleFigures, width: int = 1200, height: int = 500) -> bytes:
    """Both console charts side by side (one image for ``/stats``)."""
    with DRAWING:
        figure = new_figure(width, height)
        left, right = figure.subplots(1, 2)
        draw_decisions(left, figures)
        draw_answer_times(right, figures)
        figure.subplots_adjust(left=0.06, right=0.98, bottom=0.18, wspace=0.3)
        return png_bytes(figure)
