"""Pick and load the drafter for a model: ``[model] backend`` or a registry entry."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from dermvqa.config import ModelConfig
from dermvqa.drafting.base import Drafter


@dataclass(frozen=True)
class ModelSpec:
    """Which model drafts: the configured one, or the registry's active entry."""

    backend: str
    name: str
    revision: str = "main"
    adapter_path: str | None = None
    registry_id: int | None = None

    @classmethod
    def from_config(cls, model: ModelConfig) -> ModelSpec:
        return cls(model.backend, model.name, model.revision)

    @property
    def version(self) -> str | None:
        """The model_version stored with drafts; None lets the drafter describe itself."""
        if self.registry_id is None:
            return None
        suffix = f"+adapter:{self.adapter_path}" if self.adapter_path else ""
        return f"registry#{self.registry_id}:{self.name}@{self.revision}{suffix}"


def create_drafter(spec: ModelSpec, model: ModelConfig, environ: Mapping[str, str] | None = None) -> Drafter:
    """Load the drafter ``spec`` names, with generation settings from ``[model]``.

    With ``[model] backend = "openai"`` and ``serve_adapters``, a registry adapter on the served base
    model drafts through the server by name (registered there first; see ``lora_serving``).
    """
    environ = os.environ if environ is None else environ
    from dermvqa.drafting.lora_serving import served_adapter, serves_adapter

    if serves_adapter(spec, model):
        from dermvqa.drafting.openai_compat import OpenAICompatDrafter

        adapter = served_adapter(spec, model)
        drafter = OpenAICompatDrafter.from_config(model, environ=environ, adapter=adapter, version=spec.version)
        try:
            drafter.check()  # registers the adapter
        except BaseException:
            drafter.close()
            raise
        return drafter
    model = replace(model, backend=spec.backend, name=spec.name, revision=spec.revision)
    if spec.backend == "hf":
        from dermvqa.drafting.hf import HFDrafter

        return HFDrafter.from_config(model, adapter_path=spec.adapter_path, version=spec.version)
    if spec.backend == "moondream":
        from dermvqa.drafting.moondream import MoondreamDrafter

        return MoondreamDrafter.from_config(model, adapter_path=spec.adapter_path, version=spec.version)
    if spec.backend == "openai":
        from dermvqa.drafting.openai_compat import OpenAICompatDrafter

        drafter = OpenAICompatDrafter.from_config(model, environ=environ, version=spec.version)
        drafter.check()
        return drafter
    raise ValueError(f"unknown backend {spec.backend!r}")
