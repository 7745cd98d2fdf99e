"""Render evaluation summaries for people (a plain-text table) and machines (JSON lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_LABELS = {
    "n": "encounters",
    "deltableu_en_weighted": "deltaBLEU (en, iiyi weights)",
    "deltableu_variant": "deltaBLEU variant",
    "weights": "reference weights",
    "brevity_penalty": "brevity penalty",
    "bertscore_model": "BERTScore model",
    "largest_cluster_share": "largest near-identical cluster (share)",
    "largest_cluster_size": "largest near-identical cluster (cases)",
    "clusters": "answer clusters",
    "distinct_answers": "distinct answers",
    "copy_share": "near-copies of a training answer (share)",
}
_HIDDEN = {"lang", "weights_policy", "bertscore_official", "near_identical_threshold", "near_copy_threshold"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    if key.startswith("deltableu_") and key != "deltableu_variant":
        return f"deltaBLEU ({key.split('_', 1)[1]})"
    if key.startswith("bertscore_") and key != "bertscore_model":
        return f"BERTScore F1 ({key.split('_', 1)[1]})"
    return key


def summary_table(summary: Mapping[str, Any], title: str | None = None) -> str:
    rows = [(_label(k), _fmt(v)) for k, v in summary.items() if k not in _HIDDEN]
    width = max(len(label) for label, _ in rows)
    lines = [title, "-" * len(title)] if title else []
    lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)


def comparison_table(columns: Sequence[tuple[str, Mapping[str, Any]]], keys: Iterable[str]) -> str:
    """Several runs side by side: one row per metric key, one column per run."""
    keys = list(keys)
    header = ["metric", *(name for name, _ in columns)]
    body = [[_label(k), *(_fmt(s.get(k)) for _, s in columns)] for k in keys]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    render = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in [header, *body]]
    render.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(render)


def write_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
