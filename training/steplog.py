"""``log.jsonl``: one JSON object per optimizer step (and per held-out evaluation) of a run.

Step records: ``{"step", "epoch", "loss", "lr", "answer_tokens", "grad_norm", "seconds"}``; held-out
records: ``{"step", "heldout_loss"}`` (step 0 = before training). Numbers only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOG_FILE = "log.jsonl"


class StepLog:
    """``log.jsonl``: one JSON object per optimizer step (and per held-out evaluation)."""

    def __init__(self, path: Path, enabled: bool, resume_step: int) -> None:
        self.path, self.enabled = path, enabled
        if enabled:
            kept = [r for r in read_log(path) if r.get("step", 0) <= resume_step] if resume_step else []
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
