"""Training checkpoints: the trainable weights, optimizer, scheduler and random state at a step.

A LoRA checkpoint holds only the adapter's weights (megabytes, not the 1.4B frozen base); a full
fine-tune's holds the trained language model. ``checkpoints/step-000120/state.pt`` is written to a
temporary name and renamed, so a crash mid-save leaves the previous checkpoint intact; the newest
``keep`` are kept. Resuming loads the newest and replays the same batch order from the next step.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"step-(\d+)$")
STATE_FILE = "state.pt"


def checkpoint_dirs(root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.fullmatch(child.name)
        if match and (child / STATE_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest(root: Path) -> Path | None:
    dirs = checkpoint_dirs(root)
    return dirs[-1][1] if dirs else None


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if p.requires_grad}


def save(root: Path, step: int, model: torch.nn.Module, optimizer, scheduler, keep: int = 2) -> Path:
    """Write the checkpoint of ``step`` and prune older ones (call on the main process only)."""
    folder = root / f"step-{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "trainable": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    tmp = folder / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(folder / STATE_FILE)
    for _, old in checkpoint_dirs(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint at step %d", step)
    return folder


def load(folder: Path, model: torch.nn.Module, optimizer, scheduler) -> int:
    """Restore a checkpoint into ``model`` (trainable weights), optimizer and scheduler; returns its step."""
    state: dict[str, Any] = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    missing = [name for name in state["trainable"] if name not in params]
    if missing:
        raise ValueError(f"checkpoint {folder.name} does not fit this model: {len(missing)} unknown parameter(s)")
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    logger.info("resumed from checkpoint at step %d", state["step"])
    return int(state["step"])
