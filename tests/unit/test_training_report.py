"""A run's report folder (training.report, training.chart): JSON, a readable Markdown table, a loss PNG (matplotlib)."""

from __future__ import annotations

import json

from PIL import Image

from training.chart import HEIGHT, HELDOUT_COLOUR, TRAIN_COLOUR, WIDTH, loss_chart
from training.report import markdown, write_report


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def test_loss_chart_draws_the_curve_and_the_heldout_marks(tmp_path):
    path = loss_chart([1, 2, 3, 4], [3.0, 2.5, float("nan"), 1.0], tmp_path / "loss.png", heldout=[(0, 3.2), (4, 1.2)])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
        colours = {c[:3] for _, c in image.convert("RGBA").getcolors(maxcolors=WIDTH * HEIGHT)}
    assert _rgb(TRAIN_COLOUR) in colours and _rgb(HELDOUT_COLOUR) in colours


def test_loss_chart_without_finite_points_still_writes_a_png(tmp_path):
    path = loss_chart([1, 2], [float("nan"), float("inf")], tmp_path / "loss.png")
    with Image.open(path) as image:
        assert image.size == (WIDTH, HEIGHT)
        colours = {c[:3] for _, c in image.convert("RGBA").getcolors(maxcolors=WIDTH * HEIGHT)}
    assert _rgb(TRAIN_COLOUR) not in colours


REPORT = {
    "run_id": 7,
    "status": "rejected",
    "reason": "rejected: largest near-identical answer cluster 100.0% of cases > cap 10.0%",
    "trigger": "schedule",
    "started_at": "2026-11-28T02:00:00+00:00",
    "finished_at": "2026-11-28T02:10:00+00:00",
    "data": {"train_examples": 40, "heldout_examples": 10, "train_by_source": {"case": 30, "corpus": 10}},
    "training": {"method": "lora", "steps": 30, "heldout_loss_before": 3.5, "heldout_loss_after": 2.25},
    "active": {
        "model_id": 1,
        "summary": {
            "deltableu": 1.5,
            "largest_cluster_share": 0.1,
            "copy_share": 0.0,
            "distinct_answers": 10,
            "failed": 0,
        },
        "per_case": [{"key": "case:3", "deltableu": 1.0, "cluster": 0, "cluster_size": 1}],
    },
    "candidate": {
        "model_id": 2,
        "summary": {
            "deltableu": 8.6,
            "largest_cluster_share": 1.0,
            "copy_share": 1.0,
            "distinct_answers": 1,
            "failed": 0,
        },
        "per_case": [
            {
                "key": "case:3",
                "deltableu": 9.0,
                "cluster": 0,
                "cluster_size": 10,
                "nearest_train": "case:11",
                "nearest_train_similarity": 0.97,
            }
        ],
    },
    "gate": {
        "promote": False,
        "thresholds": {"min_delta_bleu": 0.1, "max_cluster_share": 0.1, "max_copy_share": 0.1, "min_heldout": 10},
        "checks": [
            {"name": "deltableu", "passed": True, "value": 7.1, "limit": 0.1, "reason": "deltaBLEU 8.600 vs 1.500"},
            {"name": "cluster_share", "passed": False, "value": 1.0, "limit": 0.1, "reason": "cluster 100.0%"},
            {"name": "copy_share", "passed": False, "value": 1.0, "limit": 0.1, "reason": "copies 100.0%"},
        ],
    },
}


def test_markdown_puts_both_models_side_by_side_with_the_reasons():
    text = markdown(REPORT)
    assert text.startswith("# Training run 7: rejected")
    assert "| deltaBLEU (higher is better) | 1.500 | 8.600 | active + 0.1 | yes |" in text
    assert "| largest near-identical cluster share | 10.0% | 100.0% | 10.0% | **no** |" in text
    assert "- FAIL: cluster 100.0%" in text and "- pass: deltaBLEU 8.600 vs 1.500" in text
    assert "| case:3 | 1.00 | 9.00 | 10 | case:11 (0.97) |" in text
    assert "| train by source: corpus | 10 |" in text and "| heldout loss after | 2.2500 |" in text


def test_write_report_leaves_json_markdown_and_the_loss_png(tmp_path):
    log = [{"step": 0, "heldout_loss": 3.5}] + [{"step": s, "loss": 4.0 - s / 10} for s in range(1, 31)]
    log.append({"step": 30, "heldout_loss": 2.25})
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    paths = write_report(tmp_path, REPORT)
    assert json.loads(paths["json"].read_text())["gate"]["promote"] is False
    assert "![loss curve](loss.png)" in paths["markdown"].read_text()
    assert paths["png"].is_file()


def test_markdown_shows_the_bootstrap_interval_and_win_share():
    boot = {"n": 12, "samples": 1000, "observed": 1.25, "low": -0.4, "high": 2.9, "level": 0.95, "margin": 0.1}
    gate = {**REPORT["gate"], "bootstrap": {**boot, "win_share": 0.712}}
    gate["thresholds"] = {**gate["thresholds"], "confidence": 0.95, "bootstrap_samples": 1000, "seed": 0}
    text = markdown({**REPORT, "gate": gate})
    assert "| deltaBLEU (higher is better) | 1.500 | 8.600 | active + 0.1 in 95% of resamples | yes |" in text
    assert (
        "Paired bootstrap over 12 held-out cases, 1000 resamples: candidate - active deltaBLEU +1.250, "
        "2.5-97.5 percentile interval [-0.400, +2.900]; the candidate beats the active model by at least 0.1 "
        "in 71.2% of resamples (promotion needs 95%)."
    ) in text


def test_a_run_that_was_not_judged_says_so():
    report = {k: v for k, v in REPORT.items() if k not in ("gate", "active", "candidate", "training")}
    text = markdown({**report, "status": "not judged", "reason": "not judged: 2 independent held-out reference(s)"})
    assert text.startswith("# Training run 7: not judged") and "**not judged: 2 independent" in text
    assert "Not judged: too few held-out cases with an independent reference answer" in text
    assert "## Gate" not in text
