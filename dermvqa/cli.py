"""``dermvqa``: the research command line (evaluate, baseline, predict, make-tiny-model).

Examples::

    dermvqa evaluate ../shared/data/dermavqa/iiyi/valid_ht.json pred.json \\
        --userinfo ../shared/data/dermavqa/iiyi/df_userinfo.csv --weights userinfo --json
    dermvqa baseline
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from dermvqa.errors import AlignmentError, DermError
from dermvqa.metrics.collapse import CollapseThresholds

logger = logging.getLogger(__name__)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a prediction file against challenge references")
    p.add_argument("references", type=Path, help="encounter JSON with responses (e.g. iiyi/valid_ht.json)")
    p.add_argument("predictions", type=Path, help="prediction JSON: [{encounter_id, responses: [{content_<lang>}]}]")
    p.add_argument("--userinfo", type=Path, help="df_userinfo.csv, for iiyi reference weights")
    p.add_argument(
        "--weights",
        choices=("auto", "userinfo", "none"),
        default="auto",
        help="auto (official: userinfo weights only when Chinese is scored), userinfo (always), none",
    )
    p.add_argument("--metrics", default="deltableu,bertscore,collapse", help="comma-separated subset")
    p.add_argument("--train", type=Path, help="training encounter JSON, for the near-copy share")
    p.add_argument("--lang", choices=("en", "zh", "es"), default="en")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--per-case", type=Path, metavar="FILE.jsonl", help="write one row of scores per encounter")
    p.add_argument(
        "--lowercase-references",
        action="store_true",
        help="corrected variant: lowercase references too (NOT the official scorer)",
    )
    p.add_argument("--bertscore-model", help="a Hugging Face id or local path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument(
        "--bertscore-layer", type=int, help="layer to take embeddings from (default: last; 17 for roberta-large)"
    )
    p.add_argument(
        "--near-identical",
        type=float,
        default=CollapseThresholds().near_identical,
        help="collapse: similarity of near-identical answers",
    )
    p.add_argument(
        "--near-copy",
        type=float,
        default=CollapseThresholds().near_copy,
        help="collapse: similarity of a near-copy of a training answer",
    )
    p.add_argument("--device", default="cpu", help="device for BERTScore")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dermvqa.data.challenge import load_encounters, load_predictions
    from dermvqa.data.userinfo import load_userinfo
    from dermvqa.evaluation import EvaluationOptions, evaluate, train_answers_from
    from dermvqa.report import summary_table, write_jsonl

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    options = EvaluationOptions(
        lang=args.lang,
        metrics=metrics,
        weights=args.weights,
        lowercase_references=args.lowercase_references,
        collapse=CollapseThresholds(near_identical=args.near_identical, near_copy=args.near_copy),
    )
    references = load_encounters(args.references)
    predictions = load_predictions(args.predictions, args.lang)
    userinfo = load_userinfo(args.userinfo) if args.userinfo else None
    train = train_answers_from(load_encounters(args.train), args.lang) if args.train else None
    scorer = None
    if "bertscore" in metrics:
        from dermvqa.metrics.bertscore import BertScorer

        scorer = BertScorer(args.bertscore_model, args.bertscore_layer, device=args.device, progress=True)
    result = evaluate(references, predictions, options, userinfo=userinfo, train_answers=train, bert_scorer=scorer)
    if args.per_case:
        write_jsonl(args.per_case, result.per_case)
    if args.json:
        print(json.dumps(result.summary, ensure_ascii=False))
    else:
        print(summary_table(result.summary, f"{args.predictions.name} vs {args.references.name}"))
    return 0


def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline",
        help="answer a validation split with the retrieval baseline and print its scores",
    )
    p.add_argument(
        "--data", type=Path, help="DermaVQA folder (default: ../shared/data/dermavqa, else the shipped example)"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (faster)")
    p.set_defaults(func=cmd_baseline)


def cmd_baseline(args: argparse.Namespace) -> int:
    from dermvqa.baseline_demo import run_baseline

    return run_baseline(args.data, as_json=args.json, bertscore=not args.no_bertscore)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermvqa", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_baseline(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except AlignmentError as exc:
        print(f"dermvqa: error: predictions do not match references: {exc}", file=sys.stderr)
        return 2
    except DermError as exc:
        print(f"dermvqa: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
