"""moondream2 (``vikhyatk/moondream2``, remote code) behind the :class:`~dermvqa.drafting.base.Drafter` interface.

moondream2 changed its Python API twice and depends on transformers internals, so which revision
can run depends on the installed transformers (``shared/docs/models.md``):

* 2025 revisions (2025-01-09 ... 2025-06-21) use ``encode_image`` + ``query(enc, q, settings=...)``
  and need transformers < 5. ``settings`` takes ``max_tokens`` (all) and ``temperature``/``top_p``
  (from 2025-04-14; greedy decoding is ``temperature=0``).
* 2024 revisions use ``encode_image`` + ``answer_question(enc, q, tokenizer, chat_history="")`` with
  a tokenizer loaded at the same revision. Up to 2024-05-20 they need transformers <= 4.41
  (transformers issue #31782), up to 2024-08-26 transformers < 4.52 (no ``GenerationMixin``).
  Only 2024-08-26 takes ``max_new_tokens``; earlier ones fix 512 inside.

A hub revision the installed transformers cannot serve is refused with :class:`ModelLoadError`
*before* anything is loaded. A local folder (a snapshot, a fine-tuned copy) is not checked against
the table: its API is detected from the loaded model (``query`` -> 2025, ``answer_question`` -> 2024).

A LoRA adapter (``adapter_path``, trained by ``training.moondream_finetune`` on a 2025 revision) is
merged into the loaded weights before drafting, so ``query`` runs moondream's own code unchanged.

moondream has no real batching, so a batch is a loop; one failing request becomes an error outcome.
Prompts, answers and images are health data: only ids, the revision and timings are logged.
"""

from __future__ import annotations

import gc
import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from dermvqa.config import ModelConfig
from dermvqa.drafting import images as image_policy
from dermvqa.drafting.base import Drafter, DraftOutcome, DraftRequest, DraftResult, GenerationSettings
from dermvqa.drafting.devices import resolve_device, resolve_dtype
from dermvqa.errors import ConfigError, DraftingError, ModelLoadError
from dermvqa.prompts import build_question

logger = logging.getLogger(__name__)

HUB_ID = "vikhyatk/moondream2"
#: The revision recommended in messages and docs: the newest known one, served by transformers 4.57.x.
DEFAULT_REVISION = "2025-06-21"
#: The seed paper fine-tuned and evaluated this revision.
SEED_REVISION = "2024-04-02"

Api = Literal["2024", "2025"]
MULTI_IMAGE_POLICIES = ("grid", "first", "all")


@dataclass(frozen=True)
class TransformersNeed:
    """Which transformers versions a group of revisions runs on, and why."""

    specifier: str  # checked with packaging, e.g. "<4.42"
    label: str  # as people write it, e.g. "transformers<=4.41"
    reason: str
    environment: str  # a pin that serves it, for the refusal message


_NEEDS_441 = TransformersNeed(
    "<4.42",
    "transformers<=4.41",
    "its remote code crashes on transformers>=4.42 (transformers issue #31782)",
    "transformers==4.41.2",
)
_NEEDS_451 = TransformersNeed(
    "<4.52",
    "transformers<4.52",
    "its remote code calls generate() on a class without GenerationMixin, which transformers>=4.52 no longer adds",
    "transformers==4.51.3",
)
_NEEDS_4X = TransformersNeed(
    "<5",
    "transformers<5",
    "its remote code breaks on transformers 5.x",
    "transformers>=4.57,<4.58",
)


@dataclass(frozen=True)
class RevisionSupport:
    """What one known ``vikhyatk/moondream2`` revision offers and needs."""

    revision: str
    api: Api
    transformers: TransformersNeed
    #: 2024 API: ``answer_question`` takes ``max_new_tokens`` (only 2024-08-26; earlier ones fix 512 inside).
    takes_max_new_tokens: bool = False
    #: 2025 API: ``settings`` take ``temperature`` and ``top_p`` (from 2025-04-14; earlier ones decode greedily).
    takes_sampling: bool = False
    note: str = ""

    @property
    def title(self) -> str:
        return f"moondream2 revision {self.revision}" + (f" ({self.note})" if self.note else "")

    def serves(self, transformers_version: str) -> bool:
        try:
            version = Version(transformers_version)
        except InvalidVersion:
            return False
        return SpecifierSet(self.transformers.specifier).contains(version, prereleases=True)


REVISIONS: dict[str, RevisionSupport] = {
    r.revision: r
    for r in (
        RevisionSupport("2024-03-04", "2024", _NEEDS_441),
        RevisionSupport("2024-03-06", "2024", _NEEDS_441),
        RevisionSupport("2024-03-13", "2024", _NEEDS_441),
        RevisionSupport("2024-04-02", "2024", _NEEDS_441, note="the seed paper's"),
        RevisionSupport("2024-05-08", "2024", _NEEDS_441),
        RevisionSupport("2024-05-20", "2024", _NEEDS_441),
        RevisionSupport("2024-07-23", "2024", _NEEDS_451),
        RevisionSupport("2024-08-26", "2024", _NEEDS_451, takes_max_new_tokens=True),
        RevisionSupport("2025-01-09", "2025", _NEEDS_4X),
        RevisionSupport("2025-03-27", "2025", _NEEDS_4X),
        RevisionSupport("2025-04-14", "2025", _NEEDS_4X, takes_sampling=True),
        RevisionSupport("2025-06-21", "2025", _NEEDS_4X, takes_sampling=True, note="recommended"),
    )
}


def installed_transformers_version() -> str:
    import transformers

    return transformers.__version__


def revision_support(revision: str) -> RevisionSupport:
    """The table entry of a ``vikhyatk/moondream2`` revision; an unknown one is refused naming the known ones."""
    try:
        return REVISIONS[revision]
    except KeyError:
        raise ModelLoadError(
            f"moondream2 revision {revision!r} is not one this adapter knows; pin one of: "
            + ", ".join(REVISIONS)
            + f" (recommended: {DEFAULT_REVISION})"
        ) from None


def check_revision(revision: str, transformers_version: str | None = None) -> RevisionSupport:
    """Refuse a hub revision that is unknown or that ``transformers_version`` (default: installed) cannot serve."""
    support = revision_support(revision)
    installed = transformers_version or installed_transformers_version()
    if not support.serves(installed):
        need = support.transformers
        if support.api == "2025":
            remedy = f"Install {need.environment} (the project's pin)"
        else:
            remedy = (
                f"Use a 2025 revision such as {DEFAULT_REVISION}, or a separate environment with {need.environment}"
            )
        raise ModelLoadError(f"{support.title} needs {need.label}; installed {installed} ({need.reason}). {remedy}")
    return support


def servable_revisions(transformers_version: str | None = None) -> tuple[str, ...]:
    """The known revisions the given (default: installed) transformers can run, oldest first."""
    installed = transformers_version or installed_transformers_version()
    return tuple(r for r, s in REVISIONS.items() if s.serves(installed))


def is_local(name: str) -> bool:
    """Whether ``name`` is a model folder on disk (as opposed to a hub id)."""
    return Path(name).expanduser().is_dir()


def detect_api(model: Any) -> Api:
    """Which moondream API a loaded model offers: ``query`` (2025; it also keeps a compat
    ``answer_question``) or ``answer_question`` (2024)."""
    if hasattr(model, "query") and hasattr(model, "encode_image"):
        return "2025"
    if hasattr(model, "answer_question") and hasattr(model, "encode_image"):
        return "2024"
    raise ModelLoadError(
        f"the loaded model ({type(model).__name__}) has neither moondream2's query() (2025 API) nor "
        "answer_question() (2024 API) next to encode_image(); is it a moondream2 checkpoint?"
    )


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens in ``text`` by a transformers tokenizer, a ``tokenizers.Tokenizer``, or words when there is none."""
    if tokenizer is None:
        return len(text.split())
    if hasattr(tokenizer, "convert_tokens_to_ids"):  # a transformers tokenizer
        return len(tokenizer(text, add_special_tokens=False).input_ids)
    encoded = tokenizer.encode(text, add_special_tokens=False)  # tokenizers.Tokenizer -> Encoding
    return len(getattr(encoded, "ids", encoded))


class MoondreamDrafter(Drafter):
    """moondream2 loaded once (hub id at a pinned revision, or a local folder); drafts one request at a time."""

    max_images = 1

    def __init__(
        self,
        name: str,
        revision: str,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        generation: GenerationSettings = GenerationSettings(),  # noqa: B008 - frozen dataclass
        multi_image: str = "grid",
        adapter_path: str | None = None,
        version: str | None = None,
    ) -> None:
        if multi_image not in MULTI_IMAGE_POLICIES:
            raise ConfigError(
                f"[model] multi_image: invalid value {multi_image!r}; allowed: " + ", ".join(MULTI_IMAGE_POLICIES)
            )
        self.name = name
        self.revision = revision
        self.generation = generation
        self.multi_image = multi_image
        self.local = is_local(name)
        self.adapter_path = adapter_path
        self.support: RevisionSupport | None = None
        if self.local:
            self.model_version = str(Path(name).expanduser().resolve()) + ("" if revision == "main" else f"@{revision}")
        else:
            if name.startswith(("/", ".", "~")) or name.count("/") != 1:
                raise ModelLoadError(f"no model folder at {name!r} (and it is not a hub id like {HUB_ID})")
            if name == HUB_ID:
                self.support = check_revision(revision)  # before anything is loaded
            self.model_version = f"{name}@{revision}"
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if adapter_path:
            self.model_version += f"+{Path(adapter_path).resolve()}"
        self.model_version = version or self.model_version
        self.model: Any = None
        self.tokenizer: Any = None
        self._load()

    @classmethod
    def from_config(
        cls, model: ModelConfig, *, adapter_path: str | None = None, version: str | None = None
    ) -> MoondreamDrafter:
        return cls(
            model.name,
            model.revision,
            device=model.device,
            dtype=model.dtype,
            generation=GenerationSettings.from_config(model),
            multi_image=model.multi_image,
            adapter_path=adapter_path,
            version=version,
        )

    # -- loading ---------------------------------------------------------------------------------

    def _load(self) -> None:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        # transformers 4.56 renamed torch_dtype to dtype (the old name warns); 2024 revisions run on older ones.
        dtype_key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
        try:
            model = AutoModelForCausalLM.from_pretrained(
                self.name, revision=self.revision, trust_remote_code=True, **{dtype_key: self.dtype}
            )
            if self.adapter_path:
                model = self._merge_adapter(model)
            model = model.to(self.device)
            model.eval()
        except Exception as exc:
            raise ModelLoadError(
                f"could not load moondream2 from {self.model_version}: {type(exc).__name__}: {exc}"
            ) from exc
        api = detect_api(model)
        if self.support is not None and api != self.support.api:
            raise ModelLoadError(
                f"{self.model_version} was expected to offer the {self.support.api} API but offers the {api} API"
            )
        self.api: Api = api
        self.model = model
        if api == "2024":
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(self.name, revision=self.revision)
            except Exception as exc:
                raise ModelLoadError(
                    f"could not load the tokenizer of {self.model_version}: {type(exc).__name__}: {exc}"
                ) from exc
            self._count_tokenizer = self.tokenizer
            if self.support is not None:
                self._pass_max_new_tokens = self.support.takes_max_new_tokens
            else:
                self._pass_max_new_tokens = _accepts(model.answer_question, "max_new_tokens")
        else:
            # 2025 code keeps a tokenizers.Tokenizer on the inner MoondreamModel (model.model.tokenizer).
            self._count_tokenizer = _find_tokenizer(model)
            self._pass_max_new_tokens = False
        # Local folders: settings are read with .get(), so older code ignores keys it does not know,
        # while newer code would otherwise sample at its default temperature 0.5.
        self._pass_sampling = self.support.takes_sampling if self.support is not None else True
        if api == "2025" and self.generation.do_sample and not self._pass_sampling:
            logger.warning("moondream2 revision %s decodes greedily only; do_sample is ignored", self.revision)
        logger.info(
            "loaded %s (%s API) on %s as %s in %.1fs",
            self.model_version,
            api,
            self.device,
            str(self.dtype).removeprefix("torch."),
            time.perf_counter() - started,
        )

    def _merge_adapter(self, model: Any) -> Any:
        """A LoRA adapter trained by ``training.moondream_finetune`` on ``model.text``, merged into the
        weights: ``query`` then runs the plain model code, as fast as the base model."""
        from dermvqa.drafting.hf import _apply_adapter  # the same loader (and base-model check) as hf

        if self.support is not None and self.support.api != "2025":
            raise ModelLoadError(f"{self.support.title} cannot take a LoRA adapter (trained on 2025 revisions)")
        merged = _apply_adapter(model, self.adapter_path, name=self.name, revision=self.revision)
        logger.info("merged a LoRA adapter into %s", self.name if not self.local else "the local model")
        return merged

    # -- drafting --------------------------------------------------------------------------------

    def query_settings(self) -> dict[str, Any]:
        """The ``settings`` passed to the 2025 API's ``query``."""
        settings: dict[str, Any] = {"max_tokens": self.generation.max_new_tokens}
        if self._pass_sampling:
            if self.generation.do_sample:
                settings["temperature"] = self.generation.temperature
                settings["top_p"] = self.generation.top_p
            else:
                settings["temperature"] = 0.0  # greedy
        return settings

    def answer_kwargs(self) -> dict[str, Any]:
        """The keyword arguments passed to the 2024 API's ``answer_question`` (forwarded to ``generate``)."""
        g = self.generation
        kwargs: dict[str, Any] = {}
        if self._pass_max_new_tokens:
            kwargs["max_new_tokens"] = g.max_new_tokens
        if g.do_sample:
            kwargs.update(do_sample=True, temperature=g.temperature, top_p=g.top_p)
        if g.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = g.repetition_penalty
        if g.no_repeat_ngram_size > 0:
            kwargs["no_repeat_ngram_size"] = g.no_repeat_ngram_size
        return kwargs

    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        if self.model is None:
            raise DraftingError(f"the moondream2 drafter for {self.model_version} is closed")
        if self.generation.do_sample:
            import torch

            torch.manual_seed(self.generation.seed)
        outcomes = []
        for request in requests:
            try:
                result = self._draft_one(request)
            except Exception as exc:
                # The exception's text may quote the input; log only its type.
                logger.warning("draft %s failed: %s", request.key, type(exc).__name__)
                outcomes.append(DraftOutcome(request.key, error=exc))
            else:
                logger.debug("draft %s: %d new tokens in %.2fs", request.key, result.new_tokens, result.seconds)
                outcomes.append(DraftOutcome(request.key, result=result))
        return outcomes

    def _draft_one(self, request: DraftRequest) -> DraftResult:
        import torch

        [image] = image_policy.combine(request.images, self.multi_image, max_images=self.max_images)
        question = build_question(request.prompt_id, request.query)
        started = time.perf_counter()
        with torch.inference_mode():
            encoded = self.model.encode_image(image)
            if self.api == "2025":
                output = self.model.query(encoded, question, settings=self.query_settings())
                answer = output["answer"] if isinstance(output, Mapping) else None
            else:
                answer = self.model.answer_question(
                    encoded, question, self.tokenizer, chat_history="", **self.answer_kwargs()
                )
        seconds = time.perf_counter() - started
        if not isinstance(answer, str):
            raise DraftingError(f"moondream2 returned {type(answer).__name__} instead of text")
        text = answer.strip()
        if self.api == "2024":
            new_tokens = len(self.tokenizer(text).input_ids)
        else:
            new_tokens = count_tokens(self._count_tokenizer, text)
        return DraftResult(text=text, new_tokens=new_tokens, prompt_tokens=0, seconds=seconds)

    def close(self) -> None:
        if self.model is None:
            return
        self.model = None
        self.tokenizer = None
        self._count_tokenizer = None
        gc.collect()
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
        logger.info("closed %s", self.model_version)


def _accepts(function: Any, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _find_tokenizer(model: Any) -> Any:
    for owner in (model, getattr(model, "model", None)):
        tokenizer = getattr(owner, "tokenizer", None) if owner is not None else None
        if tokenizer is not None and hasattr(tokenizer, "encode"):
            return tokenizer
    return None
