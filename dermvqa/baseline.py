"""A retrieval baseline (pure): answer with the first answer of the most similar training query.

It needs no model and no images, so it runs anywhere; it is the floor a VLM must beat. Similarity
is the cosine of TF-IDF vectors of the query words (title and content).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from dermvqa.data.challenge import Encounter, Prediction

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class NearestQueryBaseline:
    """Fit on training encounters; predict the first answer of the nearest training query."""

    def __init__(self, train: Sequence[Encounter], lang: str = "en") -> None:
        self.lang = lang
        self._answers: list[str] = []
        docs: list[Counter] = []
        for enc in train:
            answers = enc.reference_texts(lang)
            query = enc.query_text(lang)
            if answers and query:
                self._answers.append(answers[0])
                docs.append(Counter(_words(query)))
        if not docs:
            raise ValueError(f"no training encounter has both a query and an answer in {lang!r}")
        df = Counter(word for doc in docs for word in doc)
        n = len(docs)
        self._idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}
        self._vectors = [self._vector(doc) for doc in docs]

    def _vector(self, counts: Counter) -> dict[str, float]:
        vec = {w: c * self._idf.get(w, 0.0) for w, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {w: v / norm for w, v in vec.items()}

    def answer(self, query: str) -> str:
        q = self._vector(Counter(_words(query)))
        scores = [sum(weight * doc.get(w, 0.0) for w, weight in q.items()) for doc in self._vectors]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return self._answers[best]

    def predict(self, encounters: Sequence[Encounter]) -> list[Prediction]:
        return [Prediction(e.encounter_id, self.answer(e.query_text(self.lang))) for e in encounters]


CONSTANT_ANSWER = (
    "It is a case of eczema. Use topical steroid cream twice daily for 2 weeks and oral antihistamines if needed."
)


def constant_predictions(encounters: Sequence[Encounter], text: str = CONSTANT_ANSWER) -> list[Prediction]:
    """The collapsed extreme: one answer for everybody (the seed's failure, on purpose)."""
    return [Prediction(e.encounter_id, text) for e in encounters]
