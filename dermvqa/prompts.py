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
"""

from __future__ import annotations

from dataclasses import dataclass

from dermvqa.errors import DermError

IMAGE_MARKER = "<IMAGE>"
QUERY_MARKER = "<QUERY>"


@dataclass(frozen=True)
class PromptTemplate:
    prompt_id: int
    template: str  # exactly as printed in the seed paper's Table 1

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
}


def get_prompt(prompt_id: int) -> PromptTemplate:
    try:
        return PROMPTS[int(prompt_id)]
    except (KeyError, ValueError):
        raise DermError(f"prompt id {prompt_id!r}: unknown; allowed: {', '.join(map(str, PROMPTS))}") from None


def build_question(prompt_id: int, query: str) -> str:
    """The instruction with the patient's query filled in (no role or image marker)."""
    return get_prompt(prompt_id).instruction.replace(QUERY_MARKER, query.strip())


def render_template(prompt_id: int, query: str) -> str:
    """The full Table 1 template with ``<QUERY>`` filled in and ``<IMAGE>`` left as a marker."""
    return get_prompt(prompt_id).template.replace(QUERY_MARKER, query.strip())
