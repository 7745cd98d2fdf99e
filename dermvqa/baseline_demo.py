"""Score the retrieval baseline (and a constant answer) on a validation split, for ``make demo``.

With the shared DermaVQA copy present it answers the iiyi human-translated validation split
(56 encounters) from the iiyi training split (842); otherwise it uses the small example set shipped
in the package. Both runs are scored with deltaBLEU (official, and with iiyi weights), BERTScore
and the collapse metrics, and printed side by side.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dermvqa.baseline import NearestQueryBaseline, constant_predictions
from dermvqa.data.challenge import load_encounters
from dermvqa.data.locations import EXAMPLES_DIR, shared_dermavqa_dir
from dermvqa.data.userinfo import load_userinfo
from dermvqa.evaluation import EvaluationOptions, evaluate, train_answers_from
from dermvqa.report import comparison_table

logger = logging.getLogger(__name__)


def _splits(data: Path | None) -> tuple[str, Path, Path, Path | None]:
    folder = data or shared_dermavqa_dir()
    if folder is not None:
        iiyi = Path(folder) / "iiyi"
        return (
            "DermaVQA iiyi valid_ht (real data)",
            iiyi / "train.json",
            iiyi / "valid_ht.json",
            iiyi / "df_userinfo.csv",
        )
    return (
        "shipped example set (../shared is absent)",
        EXAMPLES_DIR / "example_train.json",
        EXAMPLES_DIR / "example_valid.json",
        None,
    )


def run_baseline(data: Path | None = None, *, as_json: bool = False, bertscore: bool = True) -> int:
    name, train_path, valid_path, userinfo_path = _splits(data)
    train, valid = load_encounters(train_path), load_encounters(valid_path)
    userinfo = load_userinfo(userinfo_path) if userinfo_path and userinfo_path.exists() else None
    train_answers = train_answers_from(train)

    scorer = None
    if bertscore:
        from dermvqa.metrics.bertscore import BertScorer

        scorer = BertScorer(progress=not as_json)
    metrics = ("deltableu", "bertscore", "collapse") if bertscore else ("deltableu", "collapse")
    runs = {
        "retrieval": NearestQueryBaseline(train).predict(valid),
        "constant": constant_predictions(valid),
    }
    columns = []
    for run_name, predictions in runs.items():
        summary = dict(
            evaluate(
                valid, predictions, EvaluationOptions(metrics=metrics), train_answers=train_answers, bert_scorer=scorer
            ).summary
        )
        if userinfo is not None:
            weighted = evaluate(
                valid, predictions, EvaluationOptions(metrics=("deltableu",), weights="userinfo"), userinfo=userinfo
            )
            summary["deltableu_en_weighted"] = weighted.summary["deltableu_en"]
        columns.append((run_name, summary))

    if as_json:
        print(json.dumps({"data": name, "runs": dict(columns)}, ensure_ascii=False))
        return 0
    keys = [
        "n",
        "deltableu_en",
        "deltableu_en_weighted",
        "bertscore_en",
        "largest_cluster_share",
        "distinct_answers",
        "copy_share",
    ]
    keys = [k for k in keys if any(k in s for _, s in columns)]
    print(f"Baselines on {name}: {valid_path}")
    print("retrieval = first answer of the most similar training query (TF-IDF); constant = one answer for all")
    print()
    print(comparison_table(columns, keys))
    if scorer is not None:
        print(f"\nBERTScore model: {scorer.spec.describe()}")
    print(
        "deltaBLEU: official MEDIQA scorer behaviour (hypothesis lowercased, 13a tokenizer); "
        "'weighted' uses the iiyi author weights from df_userinfo.csv."
    )
    return 0
