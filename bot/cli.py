"""``dermbot``: the service command line.

    dermbot config [--config PATH]     print the effective configuration (secrets never shown)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence

from dermvqa.config import Config, load_config, read_token
from dermvqa.errors import DermError

logger = logging.getLogger(__name__)


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    data = dataclasses.asdict(config)
    data["base_dir"] = str(config.base_dir)
    data["telegram"]["token"] = "set (DERMBOT_TELEGRAM_TOKEN)" if read_token() else "not set"
    print(json.dumps(data, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dermbot", description="DermBot service command line")
    parser.add_argument("--config", help="config file (default: $DERMBOT_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("config", help="print the effective configuration").set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(args.config)
        return args.func(config, args)
    except DermError as exc:
        print(f"dermbot: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
