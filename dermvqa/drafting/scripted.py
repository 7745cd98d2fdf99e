"""A drafter without a model, for tests and benchmarks of everything around the model.

It answers every request with a fixed template (optionally after a delay that stands in for
generation time), so the queue, the worker, the bot and the outbox can be exercised quickly.
Never configured by ``[model] backend``: it is constructed in code only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest, DraftResult

DEFAULT_TEMPLATE = "This looks like a mild eczema (case key {key}). Use a fragrance-free emollient twice a day."


class ScriptedDrafter(Drafter):
    model_version = "scripted-drafter"
    max_images = 10

    def __init__(self, template: str = DEFAULT_TEMPLATE, seconds_per_batch: float = 0.0) -> None:
        self.template = template
        self.seconds_per_batch = seconds_per_batch
        self.batches: list[list[str]] = []

    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        if self.seconds_per_batch:
            time.sleep(self.seconds_per_batch)
        self.batches.append([r.key for r in requests])
        return [
            DraftOutcome(
                r.key, DraftResult(self.template.format(key=r.key), new_tokens=20, seconds=self.seconds_per_batch)
            )
            for r in requests
        ]
