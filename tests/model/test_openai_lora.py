"""Nightly adapters served by an OpenAI-compatible server (vLLM runtime LoRA), against the fake server.

The registry, the worker and ``dermbot models promote|rollback`` run for real on a SQLite file; the
fake server records every load/unload call and answers chat completions only for models it serves.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer
from sqlalchemy import select
from support.cases import submit

from dermvqa.config import ModelConfig, load_config
from dermvqa.drafting.factory import ModelSpec, create_drafter
from dermvqa.drafting.lora_serving import (
    LoraServer,
    ServedAdapter,
    adapter_name,
    served_adapter,
    server_path,
    serves_adapter,
    unload_adapter,
)
from dermvqa.errors import ConfigError, ModelLoadError, ServingUnavailableError
from dermvqa.states import CaseState
from dermvqa.storage import registry
from dermvqa.storage.models import Case, Draft, ModelRecord
from dermvqa.worker import Worker
from training.cli import add_commands

BASE = "fake-vlm"


# -- pure ---------------------------------------------------------------------------------------


def test_adapter_name_is_stable_and_unique_per_registry_entry():
    assert adapter_name(7) == "dermbot-7"
    assert adapter_name(7) != adapter_name(17)


def test_server_path_swaps_the_local_prefix_for_the_servers():
    mapping = "/srv/dermbot/var/training=/models"
    assert server_path("/srv/dermbot/var/training/run-0003/adapter", mapping) == "/models/run-0003/adapter"
    assert server_path("/srv/dermbot/var/training", mapping) == "/models"
    # Only whole path segments match, and a path elsewhere is sent as it is.
    assert server_path("/srv/dermbot/var/training-old/a", mapping) == "/srv/dermbot/var/training-old/a"
    assert server_path("/data/adapter", mapping) == "/data/adapter"
    assert server_path("/data/adapter", "") == "/data/adapter"
    assert server_path("runs/a", "") == os.path.abspath("runs/a")  # the server cannot know our folder


def openai_model(**kw) -> ModelConfig:
    return ModelConfig(**{"backend": "openai", "name": BASE, "serve_adapters": True, **kw})


def test_serves_adapter_only_for_registry_adapters_with_the_switch_on():
    adapter = ModelSpec("hf", BASE, "main", "/runs/1/adapter", 4)
    assert serves_adapter(adapter, openai_model())
    assert not serves_adapter(adapter, openai_model(serve_adapters=False))
    assert not serves_adapter(adapter, ModelConfig(backend="hf", name=BASE, serve_adapters=True))
    assert not serves_adapter(ModelSpec("openai", BASE, "main", None, 3), openai_model())  # the baseline
    assert not serves_adapter(ModelSpec("hf", BASE, "main", "/runs/1/adapter"), openai_model())  # not registered


def test_an_adapter_of_another_base_model_is_refused():
    spec = ModelSpec("hf", "other/base", "main", "/runs/1/adapter", 4)
    with pytest.raises(ModelLoadError, match=r"adapter on 'other/base'.*serves 'fake-vlm'"):
        served_adapter(spec, openai_model())
    mapped = openai_model(adapter_path_prefix="/runs=/m")
    assert served_adapter(ModelSpec("hf", BASE, "main", "/runs/1/a", 4), mapped) == ServedAdapter("dermbot-4", "/m/1/a")


def test_config_keys_default_off_and_validate_the_prefix_map(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[model]\n")
    model = load_config(path, environ={}).model
    assert (model.serve_adapters, model.adapter_path_prefix) == (False, "")
    path.write_text('[model]\nbackend = "openai"\nserve_adapters = true\nadapter_path_prefix = "/srv/runs=/models"\n')
    model = load_config(path, environ={}).model
    assert (model.serve_adapters, model.adapter_path_prefix) == (True, "/srv/runs=/models")
    for bad in ("/srv/runs", "runs=/models", "/srv/runs=models"):
        path.write_text(f'[model]\nadapter_path_prefix = "{bad}"\n')
        with pytest.raises(ConfigError, match="adapter_path_prefix"):
            load_config(path, environ={})


# -- the HTTP client ----------------------------------------------------------------------------


def test_load_and_unload_are_idempotent():
    with FakeOpenAIServer(models=(BASE,)) as server, LoraServer(server.base_url) as lora:
        adapter = ServedAdapter("dermbot-1", "/models/run-1/adapter")
        assert lora.load(adapter) is True
        assert lora.load(adapter) is False  # "already loaded" is fine
        assert server.adapters == {"dermbot-1": "/models/run-1/adapter"}
        assert lora.unload("dermbot-1") is True
        assert lora.unload("dermbot-1") is False  # gone already is fine
        assert server.adapters == {}
    assert server.lora_calls == [
        ("load", {"lora_name": "dermbot-1", "lora_path": "/models/run-1/adapter"}),
        ("load", {"lora_name": "dermbot-1", "lora_path": "/models/run-1/adapter"}),
        ("unload", {"lora_name": "dermbot-1"}),
        ("unload", {"lora_name": "dermbot-1"}),
    ]


def test_refusals_name_the_cause_and_an_unreachable_server_is_not_the_adapters_fault(tmp_path):
    without_runtime_lora = FakeOpenAIServer(models=(BASE,), lora_enabled=False)
    refused = pytest.raises(ModelLoadError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING")
    with without_runtime_lora as server, LoraServer(server.base_url) as lora, refused:
        lora.load(ServedAdapter("dermbot-1", str(tmp_path)))
    with FakeOpenAIServer(models=(BASE,), refuse_missing_paths=True) as server, LoraServer(server.base_url) as lora:
        with pytest.raises(ModelLoadError, match=r"HTTP 404.*No adapter found"):
            lora.load(ServedAdapter("dermbot-1", str(tmp_path / "missing")))
        assert lora.load(ServedAdapter("dermbot-1", str(tmp_path))) is True
    with LoraServer(server.base_url, timeout_s=2) as lora, pytest.raises(ServingUnavailableError):
        lora.load(ServedAdapter("dermbot-1", str(tmp_path)))  # the server is gone


# -- the worker, the registry and the CLI -------------------------------------------------------


def run_cli(config, *argv):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(config, args)


def write_config(tmp_path: Path, db_url: str, api_base: str, *, serve_adapters: bool = True):
    path = tmp_path / "config.toml"
    path.write_text(
        "\n".join(
            [
                "[database]",
                f'url = "{db_url}"',
                "[storage]",
                f'dir = "{tmp_path / "images"}"',
                "[model]",
                'backend = "openai"',
                f'name = "{BASE}"',
                f'api_base = "{api_base}"',
                "request_retries = 0",
                f"serve_adapters = {'true' if serve_adapters else 'false'}",
                f'adapter_path_prefix = "{tmp_path / "training"}=/models"',
                "[worker]",
                "batch_size = 4",
                "backoff_base_seconds = 0.0",
            ]
        )
        + "\n"
    )
    return load_config(path, environ={})


@pytest.fixture
def server():
    with FakeOpenAIServer(models=(BASE,)) as srv:
        yield srv


def setup_registry(db, tmp_path) -> tuple[int, int, int]:
    """The baseline (the served base model) and two nightly adapters on it, as the learning loop registers them."""
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="openai", name=BASE)
        first, second = (
            registry.register(
                session, backend="hf", name=BASE, adapter_path=str(tmp_path / "training" / f"run-000{n}" / "adapter")
            )
            for n in (1, 2)
        )
        return base.id, first.id, second.id


def draft_one(worker, db, store, user: int) -> Draft:
    case_id = submit(db, store, user)
    assert worker.run_once() == 1
    with db.read() as session:
        assert session.get(Case, case_id).state == CaseState.AWAITING_REVIEW
        return session.scalars(select(Draft).where(Draft.case_id == case_id)).one()


def make_worker(config, db, store) -> Worker:
    return Worker(config, db, lambda spec: create_drafter(spec, config.model), store=store, worker_id="w-lora")


def test_promote_registers_the_adapter_drafts_ask_for_it_and_rollback_unloads_it(db, store, tmp_path, server):
    config = write_config(tmp_path, db.url, server.base_url)
    base_id, first, second = setup_registry(db, tmp_path)
    worker = make_worker(config, db, store)

    assert draft_one(worker, db, store, 1).model_version.startswith(f"registry#{base_id}:{BASE}")
    assert server.models_asked() == [BASE] and server.lora_calls == []  # the base model needs no registration

    assert run_cli(config, "models", "promote", str(first), "--reason", "nightly") == 0
    name = adapter_name(first)
    assert server.lora_calls == [("load", {"lora_name": name, "lora_path": "/models/run-0001/adapter"})]
    draft = draft_one(worker, db, store, 2)
    assert server.models_asked()[-1] == name  # asked for by name
    assert draft.model_version == f"registry#{first}:{BASE}@main+adapter:{tmp_path}/training/run-0001/adapter"
    # The worker's switch registered it again (idempotent: the server already had it).
    assert [c[0] for c in server.lora_calls] == ["load", "load"] and server.adapters == {
        name: "/models/run-0001/adapter"
    }

    assert run_cli(config, "models", "promote", str(second), "--reason", "next night") == 0
    draft_one(worker, db, store, 3)
    assert server.models_asked()[-1] == adapter_name(second)
    # Switching away, the worker unloaded the adapter that is no longer active.
    assert server.adapters == {adapter_name(second): "/models/run-0002/adapter"}

    server.lora_calls.clear()
    assert run_cli(config, "models", "rollback", "--reason", "odd answers") == 0
    assert server.lora_calls[0] == ("unload", {"lora_name": adapter_name(second)})
    assert server.adapters == {}
    draft = draft_one(worker, db, store, 4)
    assert server.models_asked()[-1] == name  # the previous adapter drafts again, registered again
    assert draft.model_version.startswith(f"registry#{first}:")
    assert server.adapters == {name: "/models/run-0001/adapter"}

    assert run_cli(config, "models", "rollback", "--reason", "back to the base") == 0
    assert server.adapters == {}
    draft_one(worker, db, store, 5)
    assert server.models_asked()[-1] == BASE


def test_a_server_restart_is_healed_by_registering_again_on_the_next_batch(db, store, tmp_path, server):
    config = write_config(tmp_path, db.url, server.base_url)
    _, first, _ = setup_registry(db, tmp_path)
    with db.write() as session:
        registry.promote(session, first, reason="nightly", actor="test")  # a crash before any registration
    worker = make_worker(config, db, store)
    draft_one(worker, db, store, 1)  # the worker's start registers it
    server.restart()
    assert server.adapters == {}
    server.lora_calls.clear()

    draft = draft_one(worker, db, store, 2)  # drafted in this batch: no attempt lost

    name = adapter_name(first)
    assert server.lora_calls == [("load", {"lora_name": name, "lora_path": "/models/run-0001/adapter"})]
    assert server.models_asked()[-2:] == [name, name]  # refused once (404), then answered
    assert draft.model_version.startswith(f"registry#{first}:")
    with db.read() as session:
        assert session.get(ModelRecord, first).status == registry.ACTIVE


def test_an_adapter_the_server_refuses_is_marked_failed_and_the_previous_model_drafts(db, store, tmp_path):
    with FakeOpenAIServer(models=(BASE,), refuse_missing_paths=True) as server:
        config = write_config(tmp_path, db.url, server.base_url)
        base_id, first, _ = setup_registry(db, tmp_path)  # its folder does not exist
        worker = make_worker(config, db, store)
        draft_one(worker, db, store, 1)
        with db.write() as session:
            registry.promote(session, first, reason="nightly", actor="test")

        draft = draft_one(worker, db, store, 2)

        assert draft.model_version.startswith(f"registry#{base_id}:")
        assert server.models_asked() == [BASE, BASE]
        with db.read() as session:
            record = session.get(ModelRecord, first)
            assert record.status == registry.FAILED and "No adapter found" in record.note
            assert registry.active_record(session).id == base_id


def test_a_server_down_at_the_switch_never_marks_the_adapter_failed(db, store, tmp_path):
    server = FakeOpenAIServer(models=(BASE,))
    with server:
        config = write_config(tmp_path, db.url, server.base_url)
        base_id, first, _ = setup_registry(db, tmp_path)
        worker = make_worker(config, db, store)
        draft_one(worker, db, store, 1)
        with db.write() as session:
            registry.promote(session, first, reason="nightly", actor="test")
    # The server is gone: the switch cannot happen now, and that is not the adapter's fault.
    assert worker.ensure_model() is worker.drafter
    assert worker.spec.registry_id == base_id
    with db.read() as session:
        assert session.get(ModelRecord, first).status == registry.ACTIVE


def test_promote_and_rollback_stand_when_the_server_is_down_with_a_warning(db, tmp_path, capsys):
    config = write_config(tmp_path, db.url, "http://127.0.0.1:9/v1")
    base_id, first, _ = setup_registry(db, tmp_path)
    assert run_cli(config, "models", "promote", str(first), "--reason", "nightly") == 0
    assert "warning: the server at http://127.0.0.1:9/v1 did not register the adapter" in capsys.readouterr().out
    assert run_cli(config, "models", "rollback", "--reason", "odd") == 0
    assert "did not unload the retired adapter" in capsys.readouterr().out
    with db.read() as session:
        assert registry.active_record(session).id == base_id


def test_serve_adapters_off_makes_no_lora_calls(db, store, tmp_path, server):
    config = write_config(tmp_path, db.url, server.base_url, serve_adapters=False)
    _, first, _ = setup_registry(db, tmp_path)
    calls = []
    worker = Worker(config, db, lambda spec: calls.append(spec) or create_drafter(spec, config.model), store=store)
    draft_one(worker, db, store, 1)
    assert run_cli(config, "models", "promote", str(first), "--reason", "nightly") == 0
    assert run_cli(config, "models", "rollback", "--reason", "odd") == 0
    assert unload_adapter(config.model, ModelSpec("hf", BASE, "main", "/x", first)) is True
    assert server.lora_calls == []
    assert server.models_asked() == [BASE]


# -- the learning loop --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_learning_loop_scores_the_candidate_through_the_server_and_unloads_a_rejected_one(
    db, store, tmp_path, server
):
    from test_training_pipeline import approve

    from dermvqa.config import load_config
    from training.pipeline import run_pipeline
    from training.trainer import FinetuneResult

    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{db.url}"\n[storage]\ndir = "{tmp_path / "images"}"\n'
        f'[model]\nbackend = "openai"\nname = "{BASE}"\napi_base = "{server.base_url}"\nrequest_retries = 0\n'
        f"serve_adapters = true\n"
        f'[training]\noutput_dir = "{tmp_path / "models"}"\nmin_new_cases = 5\nheldout_share = 0.35\n'
        "gate_min_heldout = 3\ngate_min_delta_bleu = 0.5\n"
    )
    config = load_config(path, environ={})
    approve(db, store, range(14))
    adapter_dir = tmp_path / "models" / "adapter-of-the-night"

    def trainer(margs, dargs, targs, train, heldout):
        adapter_dir.mkdir(parents=True)
        return FinetuneResult(str(adapter_dir), "lora", 1, len(train), len(heldout), 0, 0, None, None, 1, 0.1, "")

    outcome = run_pipeline(config, trainer=trainer, force=True)

    # Both models answered through the server, the candidate by its adapter's name; the same
    # (echoing) answers cannot beat the active model, so the candidate is rejected and unloaded.
    assert outcome.status == "rejected", outcome.reason
    name = adapter_name(outcome.candidate_model_id)
    assert set(server.models_asked()) == {BASE, name}
    assert server.lora_calls == [
        ("load", {"lora_name": name, "lora_path": str(adapter_dir)}),
        ("unload", {"lora_name": name}),
    ]
    assert server.adapters == {}
