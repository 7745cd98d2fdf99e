"""The nightly job's process: ``python -m training.nightly --config PATH [--force]``.

The scheduler (``training.scheduler``) starts this module in a process of its own, at a lower CPU
priority (``[training] nice``), so the bot stays responsive while a model trains; ``dermbot train
--now`` runs the same pipeline in-process.
Exit status: 0 when the run was skipped, promoted or rejected; 1 when it failed; 2 for a bad config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from dermvqa.config import load_config
from dermvqa.cpu_priority import lower_priority
from dermvqa.errors import DermError, explain
from dermvqa.logsafety import configure_logging

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.nightly", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="config file (default: $DERMBOT_CONFIG, else built-in defaults)")
    parser.add_argument("--force", action="store_true", help="train even with fewer than min_new_cases new cases")
    parser.add_argument("--trigger", default="schedule", help="recorded with the run (schedule, manual, ...)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config = load_config(args.config)
        lower_priority(config.training.nice, "training")  # first, before the training libraries start threads
        from training.pipeline import run_pipeline

        outcome = run_pipeline(config, force=args.force, trigger=args.trigger)
    except (DermError, OSError) as exc:  # a cause a person can fix (no key, no database): one line
        message, code = explain(exc)
        print(f"training.nightly: error: {message}", file=sys.stderr)
        return code
    logger.info("training run %s: %s", outcome.run_id, outcome.status)
    return 1 if outcome.status == "failed" else 0


if __name__ == "__main__":
    raise SystemExit(main())
