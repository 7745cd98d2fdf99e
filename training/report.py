"""A run's report folder: ``report.json``, a readable ``report.md`` and ``loss.png``.

A person opening the folder sees at a glance what the night did: the decision and its reasons, the
active model and the candidate side by side on every gate metric, the paired bootstrap behind the
deltaBLEU decision (the interval of the difference and the share of resamples the candidate won), the
data it trained on, and the loss curve. A run with too few independent references says it was not
judged. Only ids and numbers are written: no query, answer, caption or photo path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.chart import loss_chart
from training.steplog import LOG_FILE, read_log

METRIC_ROWS = (
    ("deltableu", "deltaBLEU (higher is better)", "{:.3f}"),
    ("largest_cluster_share", "largest near-identical cluster share", "{:.1%}"),
    ("copy_share", "near-copy-of-training share", "{:.1%}"),
    ("distinct_answers", "distinct answers", "{}"),
    ("failed", "cases without an answer", "{}"),
)
TRAINING_ROWS = (
    "method",
    "steps",
    "train_rows",
    "heldout_rows",
    "truncated_rows",
    "dropped_rows",
    "trainable_parameters",
    "heldout_loss_before",
    "heldout_loss_after",
    "seconds",
)
LIMITS = {"deltableu": "min_delta_bleu", "largest_cluster_share": "max_cluster_share", "copy_share": "max_copy_share"}


def _fmt(template: str, value: Any) -> str:
    return "n/a" if value is None else template.format(value)


def _metrics_table(report: dict[str, Any]) -> list[str]:
    active = (report.get("active") or {}).get("summary") or {}
    candidate = (report.get("candidate") or {}).get("summary") or {}
    gate = report.get("gate") or {}
    thresholds = gate.get("thresholds") or {}
    checks = {c["name"]: c for c in gate.get("checks", [])}
    check_of = {"deltableu": "deltableu", "largest_cluster_share": "cluster_share", "copy_share": "copy_share"}
    lines = ["| metric | active | candidate | limit | passes |", "| --- | ---: | ---: | ---: | :---: |"]
    for key, label, template in METRIC_ROWS:
        limit = thresholds.get(LIMITS.get(key, ""))
        if key == "deltableu" and limit is not None:
            confidence = thresholds.get("confidence")
            limit_text = f"active + {limit:g}" + (f" in {confidence:.0%} of resamples" if confidence else "")
        else:
            limit_text = _fmt(template, limit) if limit is not None else ""
        check = checks.get(check_of.get(key, ""))
        passes = "" if check is None else ("yes" if check["passed"] else "**no**")
        lines.append(
            f"| {label} | {_fmt(template, active.get(key))} | {_fmt(template, candidate.get(key))} "
            f"| {limit_text} | {passes} |"
        )
    return lines


def bootstrap_lines(gate: dict[str, Any]) -> list[str]:
    """The paired bootstrap in words: the interval of the difference and the candidate's win share."""
    boot = gate.get("bootstrap")
    if not boot:
        return []
    confidence = (gate.get("thresholds") or {}).get("confidence")
    needed = f" (promotion needs {confidence:.0%})" if confidence is not None else ""
    low_pct, high_pct = 100 * (1 - boot["level"]) / 2, 100 * (1 + boot["level"]) / 2
    return [
        f"Paired bootstrap over {boot['n']} held-out cases, {boot['samples']} resamples: candidate - active "
        f"deltaBLEU {boot['observed']:+.3f}, {low_pct:g}-{high_pct:g} percentile interval "
        f"[{boot['low']:+.3f}, {boot['high']:+.3f}]; the candidate beats the active model by at least "
        f"{boot['margin']:g} in {boot['win_share']:.1%} of resamples{needed}.",
    ]


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    status = report.get("status", "?")
    out = [f"# Training run {report.get('run_id')}: {status}", "", f"**{report.get('reason') or ''}**", ""]
    out += [f"- started {report.get('started_at')}, finished {report.get('finished_at')}"]
    out += [f"- trigger: {report.get('trigger')}"]
    active, candidate = report.get("active") or {}, report.get("candidate") or {}
    if active.get("model_id") is not None:
        out += [f"- active model: registry #{active['model_id']}"]
    if candidate.get("model_id") is not None:
        out += [f"- candidate: registry #{candidate['model_id']}"]
    if status == "not judged":
        out += ["", "Not judged: too few held-out cases with an independent reference answer (a clinician's edit"]
        out += ["or hand-written answer, a corpus or reference-set answer); nothing was trained or promoted."]
    if report.get("gate"):
        out += ["", "## Gate", "", *_metrics_table(report), "", *bootstrap_lines(report["gate"]), "", "Reasons:", ""]
        out += [f"- {'pass' if c['passed'] else 'FAIL'}: {c['reason']}" for c in report["gate"]["checks"]]
        if report.get("reference_copy_share") is not None:
            share = report["reference_copy_share"]
            out += ["", f"(The clinicians' own held-out answers are near-copies of training answers in {share:.1%}.)"]
    data = report.get("data") or {}
    if data:
        out += ["", "## Data", "", "| | count |", "| --- | ---: |"]
        out += [f"| {k.replace('_', ' ')} | {v} |" for k, v in data.items() if not isinstance(v, dict)]
        for k, v in data.items():
            if isinstance(v, dict):
                out += [f"| {k.replace('_', ' ')}: {name} | {n} |" for name, n in v.items()]
    training = report.get("training") or {}
    if training:
        out += ["", "## Training", "", "| | value |", "| --- | ---: |"]
        for key in TRAINING_ROWS:
            value = training.get(key)
            out.append(
                f"| {key.replace('_', ' ')} | {value:.4f} |"
                if isinstance(value, float)
                else f"| {key.replace('_', ' ')} | {value} |"
            )
        out += ["", "![loss curve](loss.png)"]
    per_case = (candidate.get("per_case") or [])[:200]
    if per_case:
        by_key = {r["key"]: r for r in active.get("per_case") or []}
        out += ["", "## Held-out cases (ids only)", ""]
        out += ["| case | active deltaBLEU | candidate deltaBLEU | candidate cluster size | nearest training case |"]
        out += ["| --- | ---: | ---: | ---: | --- |"]
        for row in per_case:
            a = by_key.get(row["key"], {})
            nearest = row.get("nearest_train", "")
            sim = row.get("nearest_train_similarity")
            nearest_text = f"{nearest} ({sim:.2f})" if sim is not None else str(nearest)
            out.append(
                f"| {row['key']} | {_fmt('{:.2f}', a.get('deltableu'))} | {row['deltableu']:.2f} "
                f"| {row['cluster_size']} | {nearest_text} |"
            )
    return "\n".join(out) + "\n"


def write_report(report_dir: str | Path, report: dict[str, Any]) -> dict[str, Path]:
    """Write report.json, report.md and (when the run logged steps) loss.png; returns their paths."""
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "report.json", "markdown": folder / "report.md"}
    paths["json"].write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    records = read_log(folder / LOG_FILE)
    steps = [r for r in records if "loss" in r]
    if steps:
        heldout = [(r["step"], r["heldout_loss"]) for r in records if r.get("heldout_loss") is not None]
        losses = [r["loss"] for r in steps]
        paths["png"] = loss_chart([r["step"] for r in steps], losses, folder / "loss.png", heldout=heldout)
    return paths
