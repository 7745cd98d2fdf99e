"""Which BERTScore model is official per language, and when a score is not meaningful (plain values)."""

from __future__ import annotations

from dermvqa.metrics.bertscore import PACKAGED_MODEL_NAME, BertScoreModelSpec


def spec(name, layer, lang):
    return BertScoreModelSpec(name=name, path=name, layer=layer, lang=lang)


def test_official_models_per_language_as_the_scorer_called_bert_score():
    # lang="en" for English and Spanish: roberta-large layer 17.
    assert spec("roberta-large", 17, "en").official
    assert spec("roberta-large", 17, "es").official
    # lang="ch" (not "zh") fell back to bert_score's default multilingual model, layer 9.
    assert spec("bert-base-multilingual-cased", 9, "zh").official
    assert not spec("roberta-large", 17, "zh").official
    assert not spec("bert-base-multilingual-cased", 8, "zh").official


def test_describe_names_the_official_model_of_the_language():
    assert "not the official roberta-large layer 17" in spec(PACKAGED_MODEL_NAME, 6, "es").describe()
    assert "not the official bert-base-multilingual-cased layer 9" in spec(PACKAGED_MODEL_NAME, 6, "zh").describe()
    assert "not the official" not in spec("bert-base-multilingual-cased", 9, "zh").describe()


def test_english_model_on_other_languages_is_flagged():
    assert spec(PACKAGED_MODEL_NAME, 6, "en").language_warning() is None
    zh = spec(PACKAGED_MODEL_NAME, 6, "zh")
    assert not zh.meaningful
    assert "NOT meaningful for Chinese" in zh.language_warning()
    # Official Spanish used an English model: reproduced, and said to mean little.
    es = spec("roberta-large", 17, "es")
    assert not es.meaningful
    assert "reproduces the official number" in es.language_warning()
    assert spec("bert-base-multilingual-cased", 9, "zh").language_warning() is None
