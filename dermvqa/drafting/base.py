"""The one drafting interface every backend implements, and its value types.

A drafter turns a batch of :class:`DraftRequest` (the case's images and the patient's query) into
one :class:`DraftOutcome` per request, in order. A request that fails carries its error instead of
a result, so one bad case cannot sink a batch. Drafts are clean text: the disclaimer is added only
when a draft is shown (``dermvqa.disclaimer``), so metrics and training see what the model wrote.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from dermvqa.config import ModelConfig


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings from ``[model]`` (greedy by default, as the seed paper)."""

    max_new_tokens: int = 200
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 0
    seed: int = 0

    @classmethod
    def from_config(cls, model: ModelConfig) -> GenerationSettings:
        return cls(
            max_new_tokens=model.max_new_tokens,
            do_sample=model.do_sample,
            temperature=model.temperature,
            top_p=model.top_p,
            repetition_penalty=model.repetition_penalty,
            no_repeat_ngram_size=model.no_repeat_ngram_size,
            seed=model.seed,
        )


@dataclass(frozen=True)
class DraftRequest:
    """What a drafter needs for one case: its photos (RGB, already size-checked) and the query."""

    key: str  # the caller's id for this request (a job id, an encounter id)
    images: Sequence[Image.Image]
    query: str
    prompt_id: int = 1


@dataclass(frozen=True)
class DraftResult:
    text: str
    new_tokens: int
    prompt_tokens: int = 0
    seconds: float = 0.0  # wall time of the generate call this draft came from, shared by its batch


@dataclass(frozen=True)
class DraftOutcome:
    """Either a result or the error that stopped this one request."""

    key: str
    result: DraftResult | None = None
    error: BaseException | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.result is not None


class Drafter(abc.ABC):
    """A loaded model that drafts answers. Load once, draft many batches, ``close`` at the end."""

    #: Stored with every draft: which model (and revision / adapter) wrote it.
    model_version: str
    #: How many images one request may carry natively (1 for LLaVA-1.5-style models).
    max_images: int = 1

    @abc.abstractmethod
    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        """Draft every request; never raise for a per-request problem, return its error instead."""

    def refresh(self) -> None:  # noqa: B027 - optional hook
        """Between batches: make sure the model is still being served (e.g. re-register a served adapter)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model (memory, connections)."""
