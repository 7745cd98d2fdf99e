"""Read and write the DermaVQA / MEDIQA-MAGIC challenge JSON formats.

Encounter files are JSON lists of ``{encounter_id, image_ids, query_title_<lang>,
query_content_<lang>, author_id, responses: [{author_id, content_<lang>, completeness,
contains_freq_ans}]}`` (the Reddit split has no query fields). Prediction files are JSON lists of
``{encounter_id, responses: [{content_<lang>: ...}]}``; the answer is the first response.
A malformed file fails with a :class:`DataFormatError` that names the file, the index and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermvqa.errors import DataFormatError

LANGS = ("en", "zh", "es")


@dataclass(frozen=True)
class Response:
    """One reference answer of an encounter."""

    author_id: str | None
    content: Mapping[str, str]  # lang -> text
    completeness: float | None = None
    contains_freq_ans: float | None = None

    def text(self, lang: str) -> str | None:
        return self.content.get(lang)


@dataclass(frozen=True)
class Encounter:
    """One patient query (title, content, images) with its reference answers."""

    encounter_id: str
    image_ids: tuple[str, ...] = ()
    title: Mapping[str, str] = field(default_factory=dict)
    content: Mapping[str, str] = field(default_factory=dict)
    author_id: str | None = None
    responses: tuple[Response, ...] = ()

    def query_text(self, lang: str = "en") -> str:
        """The query as the seed paper fed it to its prompts: title and content joined by ';'."""
        return join_query(self.title.get(lang, ""), self.content.get(lang, ""))

    def reference_texts(self, lang: str = "en") -> list[str]:
        return [t for r in self.responses if (t := r.text(lang))]


@dataclass(frozen=True)
class Prediction:
    encounter_id: str
    text: str


def join_query(title: str, content: str) -> str:
    """Title + content as the seed's code did (``title + ";" + content``), skipping an empty part."""
    title, content = title.strip(), content.strip()
    if title and content:
        return f"{title};{content}"
    return title or content


def read_json_list(path: Path) -> list[Any]:
    """A challenge file's JSON list of encounter objects; a DataFormatError naming the file otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataFormatError(f"{path}: a folder, not a file") from None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON list of encounters, got {type(data).__name__}")
    return data


def _where(path: Path, index: int, field_name: str) -> str:
    return f"{path}: entry {index}: field {field_name!r}"


def _string(obj: Mapping[str, Any], key: str, path: Path, index: int, *, required: bool) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise DataFormatError(f"{_where(path, index, key)}: missing")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise DataFormatError(f"{_where(path, index, key)}: expected a string, got {type(value).__name__}")
    return value


def _number(obj: Mapping[str, Any], key: str, path: Path, index: int) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataFormatError(f"{_where(path, index, key)}: expected a number, got {value!r}")
    return float(value)


def _lang_fields(obj: Mapping[str, Any], prefix: str, path: Path, index: int) -> dict[str, str]:
    out = {}
    for lang in LANGS:
        value = _string(obj, f"{prefix}_{lang}", path, index, required=False)
        if value is not None:
            out[lang] = value
    return out


def _parse_response(obj: Any, path: Path, index: int, r_index: int) -> Response:
    where = f"responses[{r_index}]"
    if not isinstance(obj, dict):
        raise DataFormatError(f"{_where(path, index, where)}: expected an object")
    try:
        return Response(
            author_id=_string(obj, "author_id", path, index, required=False),
            content=_lang_fields(obj, "content", path, index),
            completeness=_number(obj, "completeness", path, index),
            contains_freq_ans=_number(obj, "contains_freq_ans", path, index),
        )
    except DataFormatError as exc:
        # Re-anchor the message on the response, so a person can find it.
        raise DataFormatError(str(exc).replace("field '", f"field '{where}.", 1)) from None


def parse_encounter(obj: Any, path: Path, index: int) -> Encounter:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: entry {index}: expected an object, got {type(obj).__name__}")
    encounter_id = _string(obj, "encounter_id", path, index, required=True)
    assert encounter_id is not None
    if not encounter_id.strip():
        raise DataFormatError(f"{_where(path, index, 'encounter_id')}: empty")
    image_ids = obj.get("image_ids", [])
    if not isinstance(image_ids, list) or not all(isinstance(i, str) for i in image_ids):
        raise DataFormatError(f"{_where(path, index, 'image_ids')}: expected a list of strings")
    responses = obj.get("responses", [])
    if not isinstance(responses, list):
        raise DataFormatError(f"{_where(path, index, 'responses')}: expected a list")
    return Encounter(
        encounter_id=encounter_id,
        image_ids=tuple(image_ids),
        title=_lang_fields(obj, "query_title", path, index),
        content=_lang_fields(obj, "query_content", path, index),
        author_id=_string(obj, "author_id", path, index, required=False),
        responses=tuple(_parse_response(r, path, index, i) for i, r in enumerate(responses)),
    )


def load_encounters(path: str | Path) -> list[Encounter]:
    """Every encounter of a DermaVQA file (iiyi with queries, or Reddit answers-only)."""
    path = Path(path)
    return [parse_encounter(obj, path, i) for i, obj in enumerate(read_json_list(path))]


def load_predictions(path: str | Path, lang: str = "en") -> list[Prediction]:
    """A prediction file: the first response's ``content_<lang>`` of every entry."""
    path = Path(path)
    out = []
    for index, obj in enumerate(read_json_list(path)):
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path}: entry {index}: expected an object, got {type(obj).__name__}")
        encounter_id = _string(obj, "encounter_id", path, index, required=True)
        responses = obj.get("responses")
        if not isinstance(responses, list) or not responses:
            raise DataFormatError(f"{_where(path, index, 'responses')}: expected a non-empty list")
        first = responses[0]
        key = f"content_{lang}"
        if not isinstance(first, dict) or key not in first:
            raise DataFormatError(f"{_where(path, index, 'responses[0].' + key)}: missing")
        if not isinstance(first[key], str):
            raise DataFormatError(f"{_where(path, index, 'responses[0].' + key)}: expected a string")
        assert encounter_id is not None
        out.append(Prediction(encounter_id, first[key]))
    return out


def predictions_json(predictions: Iterable[Prediction], lang: str = "en") -> list[dict[str, Any]]:
    """The challenge prediction format as plain JSON values."""
    return [{"encounter_id": p.encounter_id, "responses": [{f"content_{lang}": p.text}]} for p in predictions]


def write_predictions(path: str | Path, predictions: Iterable[Prediction], lang: str = "en") -> None:
    """Write a prediction file atomically (a crash never leaves half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(predictions_json(predictions, lang), ensure_ascii=False, indent=1), "utf-8")
    tmp.replace(path)


def encounters_json(encounters: Sequence[Encounter]) -> list[dict[str, Any]]:
    """Encounters back to the challenge JSON format (used for examples and held-out sets)."""
    out = []
    for enc in encounters:
        obj: dict[str, Any] = {"encounter_id": enc.encounter_id, "image_ids": list(enc.image_ids)}
        if enc.author_id is not None:
            obj["author_id"] = enc.author_id
        for lang, text in enc.title.items():
            obj[f"query_title_{lang}"] = text
        for lang, text in enc.content.items():
            obj[f"query_content_{lang}"] = text
        obj["responses"] = [
            {
                **({"author_id": r.author_id} if r.author_id is not None else {}),
                **{f"content_{lang}": t for lang, t in r.content.items()},
                **({"completeness": r.completeness} if r.completeness is not None else {}),
                **({"contains_freq_ans": r.contains_freq_ans} if r.contains_freq_ans is not None else {}),
            }
            for r in enc.responses
        ]
        out.append(obj)
    return out
