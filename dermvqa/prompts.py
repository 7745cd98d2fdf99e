"""The seed paper's two prompt templates (its Table 1), word for word, and their rendering (pure).

Table 1 writes each template with a role marker and an image marker::

    1  USER: <IMAGE> This is additional information about the dermatology issue on the image:
       <QUERY> What dermatological disease is on the image and how can it be treated?
    2  USER <IMAGE> Patient wants to find out what dermatological disease he suffers from.
       Considering patient additional description: <QUERY> Answer two questions: 1. What
       dermatological disease is on the image? 2. How can it be treated?

``<QUERY>`` is the patient's text (title and content, see ``join_query``). Each model family has
its own chat format and image token, so the drafters take the *instruction* (the template without
``USER:`` and ``<IMAGE>``) and wrap it themselves; ``render_template`` gives the full Table 1 form.

Template 3 is ours, not the paper's: template 1 worded for a query that ends with the patient's
answers to the closed intake questions as a short list (``query_with_answers``: the worker puts
them in the query, so the drafters need no change). Without answers its query is the text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dermvqa.errors import DermError

IMAGE_MARKER = "<IMAGE>"
QUERY_MARKER = "<QUERY>"


@dataclass(frozen=True)
class PromptTemplate:
    prompt_id: int
    template: str  # 1 and 2: exactly as printed in the seed paper's Table 1
    uses_answers: bool = False  # the query carries the structured intake's answers (``query_with_answers``)

    @property
    def instruction(self) -> str:
        """The template after the role and image markers: what the model is asked."""
        return self.template.split(IMAGE_MARKER, 1)[1].strip()


PROMPTS: dict[int, PromptTemplate] = {
    1: PromptTemplate(
        1,
        "USER: <IMAGE> This is additional information about the dermatology issue on the image: <QUERY> "
        "What dermatological disease is on the image and how can it be treated?",
    ),
    2: PromptTemplate(
        2,
        "USER <IMAGE> Patient wants to find out what dermatological disease he suffers from. Considering "
        "patient additional description: <QUERY> Answer two questions: 1. What dermatological disease is on "
        "the image? 2. How can it be treated?",
    ),
    3: PromptTemplate(
        3,
        "USER: <IMAGE> This is additional information about the dermatology issue on the image, with the "
        "patient's answers to short intake questions: <QUERY> What dermatological disease is on the image and "
        "how can it be treated?",
        uses_answers=True,
    ),
}

ANSWERS_HEADING = "Answers to the intake questions:"


def get_prompt(prompt_id: int) -> PromptTemplate:
    try:
        return PROMPTS[int(prompt_id)]
    except (KeyError, ValueError):
        raise DermError(f"prompt id {prompt_id!r}: unknown; allowed: {', '.join(map(str, PROMPTS))}") from None


#: Not a Table 1 template: the request's query IS the whole instruction (the closed questions'
#: multiple-choice prompts, ``dermvqa.closedqa.asking``). Never a ``[model] prompt_id``.
RAW_PROMPT_ID = 0


def build_question(prompt_id: int, query: str) -> str:
    """The instruction with the patient's query filled in (no role or image marker)."""
    if prompt_id == RAW_PROMPT_ID:
        return query.strip()
    return get_prompt(prompt_id).instruction.replace(QUERY_MARKER, query.strip())


def query_with_answers(prompt_id: int, query: str, answer_lines: Sequence[str]) -> str:
    """The query a template takes: for one that uses answers, the patient's text followed by the
    answered questions as a short list (``"Onset: within weeks"``); otherwise the text unchanged."""
    template = PROMPTS.get(prompt_id)  # the raw prompt (0) and templates 1, 2 take the text as it is
    if template is None or not template.uses_answers or not answer_lines:
        return query
    listed = "\n".join(f"- {line}" for line in answer_lines)
    return f"{query.strip()}\n{ANSWERS_HEADING}\n{listed}"


def render_template(prompt_id: int, query: str) -> str:
    """The full Table 1 template with ``<QUERY>`` filled in and ``<IMAGE>`` left as a marker."""
    return get_prompt(prompt_id).template.replace(QUERY_MARKER, query.strip())
