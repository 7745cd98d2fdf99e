"""Benchmark: our deltaBLEU against sacreBLEU's plain ``corpus_bleu`` on the same corpus.

    python bench/eval_speed.py [--segments 10000] [--refs 5] [--repeats 3]

Prints one JSON line: seconds of each (median of the repeats, tokenizer caches cleared before every
run so neither benefits from the other's work) and their ratio. Goal: ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from dermvqa.metrics.deltableu import corpus_delta_bleu

WORDS = (
    "skin rash eczema psoriasis cream steroid twice daily topical oral weeks itchy red dry patch mole "
    "doctor see treatment fungal infection acne use apply the a is of for and with on it this may be"
).split()


def synthetic(n: int, refs: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 60))]
        return " ".join(words).capitalize() + rng.choice([".", "!", "?", ", thanks."])

    hyps = [sentence() for _ in range(n)]
    return hyps, [[sentence() for _ in range(refs)] for _ in range(n)]


def timed(fn) -> float:
    Tokenizer13a.__call__.cache_clear()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    hyps, refs = synthetic(args.segments, args.refs)
    weighted = [[(r, 1.0 - 0.1 * (i % 4)) for i, r in enumerate(rs)] for rs in refs]
    streams = [list(col) for col in zip(*refs, strict=True)]

    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(timed(lambda: corpus_delta_bleu(hyps, weighted)))
        theirs.append(timed(lambda: sacrebleu.corpus_bleu(hyps, streams, lowercase=True)))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(
        json.dumps(
            {
                "bench": "eval_speed",
                "segments": args.segments,
                "refs_per_segment": args.refs,
                "weights": "mixed (1.0/0.9/0.8/0.7)",
                "deltableu_s": round(ours_s, 4),
                "sacrebleu_corpus_bleu_s": round(theirs_s, 4),
                "ratio": round(ours_s / theirs_s, 3),
                "goal_ratio_max": 1.5,
            }
        )
    )


if __name__ == "__main__":
    main()
