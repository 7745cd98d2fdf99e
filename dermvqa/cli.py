"""``dermvqa``: the research command line (evaluate, baseline, predict, make-tiny-model, closed questions).

Examples::

    dermvqa evaluate ../shared/data/dermavqa/iiyi/valid_ht.json pred.json \\
        --userinfo ../shared/data/dermavqa/iiyi/df_userinfo.csv --weights userinfo --json
    dermvqa baseline
    dermvqa predict-closed --split valid --out closed.json
    dermvqa evaluate-closed ../shared/data/magic2025/valid_cvqa.json closed.json

Exit status: 0 done; 1 some drafts failed (``predict``); 2 bad arguments, data file or path; 3 the
model cannot be loaded (``dermvqa.errors.EXIT_CODES``). Each error is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermvqa.errors import AlignmentError, DermError, UsageError, explain
from dermvqa.logsafety import configure_logging
from dermvqa.metrics.collapse import CollapseThresholds

logger = logging.getLogger(__name__)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a batch size of 0 would never end)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def writable_file(path: Path, option: str) -> None:
    """Refuse, before any work, an output file whose folder does not exist (or that is a folder)."""
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist; create it first")
    if path.is_dir():
        raise UsageError(f"{option} {path}: that is a folder; give a file name")


def metric_list(text: str) -> tuple[str, ...]:
    from dermvqa.evaluation import METRICS

    metrics = tuple(m.strip() for m in text.split(",") if m.strip())
    if not metrics:
        raise UsageError(f"--metrics is empty; give a comma-separated subset of {','.join(METRICS)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UsageError(f"--metrics: unknown metric {unknown[0]!r}; allowed: {', '.join(METRICS)}")
    return metrics


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a prediction file against challenge references")
    p.add_argument("references", type=Path, help="encounter JSON with responses (e.g. iiyi/valid_ht.json)")
    p.add_argument("predictions", type=Path, help="prediction JSON: [{encounter_id, responses: [{content_<lang>}]}]")
    p.add_argument("--userinfo", type=Path, help="df_userinfo.csv, for iiyi reference weights")
    p.add_argument(
        "--weights",
        choices=("auto", "userinfo", "none"),
        default="auto",
        help="auto (official: userinfo weights for every language when the prediction file carries "
        "content_zh), userinfo (always), none",
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
    p.add_argument(
        "--bertscore-model",
        help="a Hugging Face id or local path (default: packaged all-MiniLM-L6-v2, English only; official: "
        "roberta-large for en/es, bert-base-multilingual-cased for zh)",
    )
    p.add_argument(
        "--bertscore-layer",
        type=int,
        help="layer to take embeddings from (default: last; 17 for roberta-large, 9 for bert-base-multilingual-cased)",
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


def answer_languages(path: Path) -> tuple[str, ...]:
    """The ``content_<lang>`` keys of a prediction file's first answer (the official weights trigger).

    Call after ``load_predictions`` has validated the file.
    """
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    if not entries:
        return ()
    first = entries[0]["responses"][0]
    return tuple(key.removeprefix("content_") for key in first if key.startswith("content_"))


def evaluation_display(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as the text table shows it: the weights with their reason, warnings left out."""
    shown = {k: v for k, v in summary.items() if k not in ("weights_reason", "bertscore_meaningful", "warnings")}
    if "weights" in shown and summary.get("weights_reason"):
        shown["weights"] = f"{summary['weights']}: {summary['weights_reason']}"
    return shown


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dermvqa.data.challenge import load_encounters, load_predictions
    from dermvqa.data.userinfo import load_userinfo
    from dermvqa.evaluation import EvaluationOptions, evaluate, train_answers_from
    from dermvqa.report import summary_table, write_jsonl

    metrics = metric_list(args.metrics)
    if args.per_case:
        writable_file(args.per_case, "--per-case")
    references = load_encounters(args.references)
    predictions = load_predictions(args.predictions, args.lang)
    options = EvaluationOptions(
        lang=args.lang,
        metrics=metrics,
        weights=args.weights,
        prediction_langs=answer_languages(args.predictions),
        lowercase_references=args.lowercase_references,
        collapse=CollapseThresholds(near_identical=args.near_identical, near_copy=args.near_copy),
    )
    userinfo = load_userinfo(args.userinfo) if args.userinfo else None
    train = train_answers_from(load_encounters(args.train), args.lang) if args.train else None
    scorer = None
    if "bertscore" in metrics:
        from dermvqa.metrics.bertscore import BertScorer

        scorer = BertScorer(
            args.bertscore_model, args.bertscore_layer, device=args.device, progress=True, lang=args.lang
        )
    result = evaluate(references, predictions, options, userinfo=userinfo, train_answers=train, bert_scorer=scorer)
    if args.per_case:
        write_jsonl(args.per_case, result.per_case)
    if args.json:
        print(json.dumps(result.summary, ensure_ascii=False))
    else:
        print(summary_table(evaluation_display(result.summary), f"{args.predictions.name} vs {args.references.name}"))
        for warning in result.summary.get("warnings", []):
            print(f"WARNING: {warning}")
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


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="answer an encounter file with a model; write the challenge format")
    p.add_argument("--model", required=True, help="a Hugging Face id or a local path (or the served model name)")
    p.add_argument("--backend", choices=("hf", "moondream", "openai"), default="hf")
    p.add_argument("--revision", default=None, help="model revision (default: main; moondream2: 2025-06-21)")
    p.add_argument("--adapter", help="a LoRA adapter folder to apply (hf backend)")
    p.add_argument("--input", required=True, type=Path, help="encounter JSON (e.g. iiyi/valid_ht.json)")
    p.add_argument("--images", type=Path, help="folder with IMG_<ENCOUNTER>_<N>.* files")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--prompt", type=int, choices=(1, 2, 3), default=1)
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--lang", choices=("en", "zh", "es"), default="en")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    p.add_argument("--max-new-tokens", type=positive_int, default=200)
    p.add_argument("--api-base", help="openai backend: the server's /v1 URL")
    p.add_argument(
        "--missing-images",
        choices=("error", "blank"),
        default="error",
        help="an encounter without images: stop (default) or answer with a blank image",
    )
    p.set_defaults(func=cmd_predict)


def _model_config(args: argparse.Namespace, **extra: object) -> tuple[str, object]:
    """The revision and the model settings a predicting command's arguments ask for."""
    import dataclasses

    from dermvqa.config import ModelConfig

    revision = args.revision or ("2025-06-21" if args.backend == "moondream" else "main")
    model = dataclasses.replace(
        ModelConfig(),
        backend=args.backend,
        name=args.model,
        revision=revision,
        device=args.device,
        max_new_tokens=args.max_new_tokens,
        **({"api_base": args.api_base} if args.api_base else {}),
        **extra,
    )
    return revision, model


def cmd_predict(args: argparse.Namespace) -> int:

    from dermvqa.data.challenge import load_encounters, write_predictions
    from dermvqa.drafting.factory import ModelSpec, create_drafter
    from dermvqa.predict import PredictOptions, check_images, predict

    writable_file(args.output, "--output")
    revision, model = _model_config(args, dtype=args.dtype, prompt_id=args.prompt)
    encounters = load_encounters(args.input)
    options = PredictOptions(
        prompt_id=args.prompt, batch_size=args.batch_size, lang=args.lang, missing_images=args.missing_images
    )
    check_images(encounters, args.images, options)  # every encounter, before the model loads
    drafter = create_drafter(ModelSpec(args.backend, args.model, revision, args.adapter), model)
    report = predict(encounters, args.images, drafter, options)
    write_predictions(args.output, report.predictions, args.lang)
    print(
        f"wrote {len(report.predictions)} predictions to {args.output} (model {drafter.model_version})", file=sys.stderr
    )
    for encounter_id, error in report.failed:
        print(f"  failed: {encounter_id}: {error}", file=sys.stderr)
    return 1 if report.failed else 0


def _add_make_tiny_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-tiny-model", help="build a random VLM (real tokenizer/processor) for offline tests")
    p.add_argument("outdir", type=Path)
    p.add_argument("--geometry", choices=("tiny", "bench", "tinyllava"), default="tiny", help="llava only: size")
    p.add_argument(
        "--family",
        choices=("llava", "gemma3", "qwen2_5_vl", "qwen3_vl", "idefics3", "smolvlm"),
        default="llava",
        help="architecture: llava (TinyLLaVA), gemma3 (MedGemma), qwen2_5_vl, qwen3_vl, idefics3/smolvlm (SmolVLM)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_tiny_model)


def cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from dermvqa.drafting.tiny_model import MARKER_FILE, make_tiny_model

    out: Path = args.outdir
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is an existing file; give a folder (new, or one make-tiny-model built)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise UsageError(f"{out} is a folder with other files in it; give a new or empty folder")
    if args.family != "llava" and args.geometry != "tiny":
        raise UsageError(f"--geometry {args.geometry} is for the llava family; {args.family} comes in tiny only")
    path = make_tiny_model(args.outdir, args.geometry, args.seed, family=args.family)
    what = "LLaVA" if args.family == "llava" else args.family
    print(f"saved a random {args.geometry} {what} to {path} (its answers are meaningless)")
    return 0


def _add_evaluate_closed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-closed", help="score closed-question answers (MEDIQA-MAGIC 2025) against gold")
    p.add_argument("references", type=Path, help="gold file, e.g. magic2025/valid_cvqa.json")
    p.add_argument("predictions", type=Path, help="a file of the same shape (one object per encounter)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=cmd_evaluate_closed)


def cmd_evaluate_closed(args: argparse.Namespace) -> int:
    from dermvqa.closedqa.files import load_closed_file
    from dermvqa.closedqa.questions import load_families
    from dermvqa.closedqa.scorer import score, score_table

    result = score(load_closed_file(args.references), load_closed_file(args.predictions))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(score_table(result, {family.id: family.name for family in load_families()}))
    return 0


def _add_predict_closed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict-closed", help="answer the closed questions from the text (and photos, with --model)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--split", choices=("valid", "train"), help="a MEDIQA-MAGIC 2025 split from ../shared")
    source.add_argument("--input", type=Path, help="a DermaVQA queries file (e.g. iiyi/valid_ht.json)")
    p.add_argument("--images", type=Path, help="folder with IMG_<ENCOUNTER>_<N>.* files (needs --model)")
    p.add_argument("--model", help="drafting VLM asked the families the text leaves open (needs --images)")
    p.add_argument("--backend", choices=("hf", "moondream", "openai"), default="hf")
    p.add_argument("--revision", default=None, help="model revision (default: main; moondream2: 2025-06-21)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--api-base", help="openai backend: the server's /v1 URL")
    p.add_argument("--max-new-tokens", type=positive_int, default=16)
    p.add_argument(
        "--fallback",
        choices=("majority", "not-mentioned"),
        default="majority",
        help="families nothing answered: the train split's most frequent option (default, scores best) or none",
    )
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_predict_closed)


def cmd_predict_closed(args: argparse.Namespace) -> int:

    from dermvqa.closedqa.files import shipped_majority, write_closed_file
    from dermvqa.closedqa.prediction import ClosedPredictOptions, predict_closed, split_encounters
    from dermvqa.data.challenge import load_encounters

    if (args.images is None) != (args.model is None):
        raise UsageError("--images and --model go together (the model is asked about the photos)")
    if args.images is not None and not args.images.is_dir():
        raise UsageError(f"--images {args.images}: no such folder")
    writable_file(args.out, "--out")
    encounters = split_encounters(args.split) if args.split else load_encounters(args.input)
    drafter = None
    if args.model:
        from dermvqa.drafting.factory import ModelSpec, create_drafter

        revision, model = _model_config(args)
        drafter = create_drafter(ModelSpec(args.backend, args.model, revision), model)
    try:
        report = predict_closed(
            encounters, shipped_majority(), ClosedPredictOptions(fallback=args.fallback), args.images, drafter
        )
    finally:
        if drafter is not None:
            drafter.close()
    write_closed_file(args.out, report.objects)
    print(
        f"wrote {len(report.objects)} encounters to {args.out}: {report.from_text} families from the text, "
        f"{report.from_model} from the model ({report.unparsed} unreadable replies, {report.failed} failed), "
        f"{report.defaulted} by --fallback {args.fallback}",
        file=sys.stderr,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermvqa", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_evaluate(sub)
    _add_baseline(sub)
    _add_predict(sub)
    _add_make_tiny_model(sub)
    _add_evaluate_closed(sub)
    _add_predict_closed(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except AlignmentError as exc:
        print(f"dermvqa: error: predictions do not match references: {exc}", file=sys.stderr)
        return 2
    except (DermError, OSError) as exc:  # a cause a person can fix: one line, no traceback
        logger.debug("details of the error below", exc_info=True)
        message, code = explain(exc)
        print(f"dermvqa: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
