"""Config files and worker processes for the worker tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dermvqa.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, db_url: str, model_dir: Path, **worker: object) -> Path:
    """A config.toml for a worker on the tiny model; ``worker`` overrides [worker] keys."""
    settings = {
        "batch_size": 4,
        "lease_seconds": 3.0,
        "heartbeat_seconds": 1.0,
        "poll_seconds": 0.1,
        "max_attempts": 3,
        "backoff_base_seconds": 0.2,
    }
    settings.update(worker)
    lines = [
        "[database]",
        f'url = "{db_url}"',
        "[storage]",
        f'dir = "{tmp_path / "images"}"',
        "[model]",
        f'name = "{model_dir}"',
        "max_new_tokens = 24",
        "[worker]",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in settings.items()),
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_for(tmp_path: Path, db_url: str, model_dir: Path, **worker: object) -> Config:
    return load_config(write_config(tmp_path, db_url, model_dir, **worker), environ={})


def start_worker(config_path: Path, worker_id: str, *extra: str, log: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    out = open(log or config_path.with_name(f"{worker_id}.log"), "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config_path), "worker", "--worker-id", worker_id, *extra],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop(process: subprocess.Popen, timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout)
