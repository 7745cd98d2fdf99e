"""Errors a person can read: each known cause is one line on stderr with a documented exit status,
never a traceback, and never the token, a password or patient text (issue 10)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dermvqa.cli import main as dermvqa_main
from dermvqa.data.locations import EXAMPLES_DIR, shared_dermavqa_dir
from dermvqa.errors import ConfigError, DermError, UnreachableError, UsageError, explain

ROOT = Path(__file__).resolve().parents[2]
REFS = EXAMPLES_DIR / "example_valid.json"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(module: str, *argv: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    environment.pop("DERMBOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(result: subprocess.CompletedProcess, prog: str) -> str:
    """The stderr's error line; asserts there is exactly one and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the one place that turns errors into a line -----------------------------------------------


def test_explain_gives_each_known_error_its_documented_status():
    assert explain(ConfigError("bad\n  value")) == ("bad value", 2)
    assert explain(UnreachableError("no route")) == ("no route", 4)
    assert explain(FileNotFoundError(2, "No such file or directory", "/x/y.json")) == (
        "No such file or directory: /x/y.json",
        2,
    )
    assert explain(ValueError("a bug")) is None  # bugs keep their traceback
    assert issubclass(UsageError, DermError) and UsageError("x").exit_code == 2


# -- dermbot: database and Telegram ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["sqlte:/x", "postgresql://::bad", "postgresql://dermbot:hunter2@db.internal:notaport/x", "sqlte:///x"],
)
def test_an_unusable_database_url_is_one_line_naming_the_key(tmp_path, url):
    path = config_file(tmp_path, f'[database]\nurl = "{url}"\n')
    result = run("bot.cli", "--config", str(path), "migrate")
    assert result.returncode == 2
    line = one_error_line(result, "dermbot")
    assert "[database] url" in line
    assert "hunter2" not in result.stderr


def test_an_unreachable_postgresql_is_one_line_with_the_password_masked(tmp_path):
    url = f"postgresql+psycopg://dermbot:hunter2@127.0.0.1:{closed_port()}/dermbot"
    path = config_file(tmp_path, f'[database]\nurl = "{url}"\n')
    result = run("bot.cli", "models", "list", "--config", str(path))
    assert result.returncode == 4
    line = one_error_line(result, "dermbot")
    assert "cannot connect to the database at postgresql+psycopg://dermbot:***@127.0.0.1" in line
    assert "refused" in line.lower()
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("command", ["bot", "run"])
def test_an_unreachable_telegram_is_one_line_naming_the_host_not_the_token(tmp_path, command):
    port = closed_port()
    path = config_file(
        tmp_path,
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n'
        f'[telegram]\nbase_url = "http://127.0.0.1:{port}/bot"\n',
    )
    result = run("bot.cli", command, "--config", str(path), env={"DERMBOT_TELEGRAM_TOKEN": "123456:SECRETTOKEN"})
    assert result.returncode == 4
    line = one_error_line(result, "dermbot")
    assert f"Telegram could not be reached at 127.0.0.1:{port}" in line
    assert "SECRETTOKEN" not in result.stderr + result.stdout
    assert "/bot123456" not in result.stderr  # nor the URL that would carry it


def test_config_is_accepted_after_the_command_too(tmp_path, capsys, monkeypatch):
    from bot.cli import build_parser
    from bot.cli import main as dermbot_main

    # main() would point the root logger at capsys's stderr, which closes after the test.
    monkeypatch.setattr("bot.cli.configure_logging", lambda verbose=False: None)

    path = config_file(tmp_path, "[worker]\nbatch_size = 7\n")
    assert dermbot_main(["config", "--config", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["worker"]["batch_size"] == 7
    assert dermbot_main(["--config", str(path), "config"]) == 0  # before the command: not overwritten
    assert json.loads(capsys.readouterr().out)["worker"]["batch_size"] == 7
    parser = build_parser()
    assert parser.parse_args(["run", "--config", "A"]).config == "A"
    assert parser.parse_args(["--config", "A", "run"]).config == "A"
    assert parser.parse_args(["--config", "A", "run", "--config", "B"]).config == "B"
    assert parser.parse_args(["models", "list", "--config", "A"]).config == "A"
    assert parser.parse_args(["models", "promote", "3", "--reason", "x", "--config", "A"]).config == "A"
    assert parser.parse_args(["train", "-v"]).verbose is True


def test_models_list_with_config_after_the_command_reads_that_database(tmp_path):
    db = tmp_path / "elsewhere.sqlite3"
    path = config_file(tmp_path, f'[database]\nurl = "sqlite:///{db}"\n')
    result = run("bot.cli", "models", "list", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert db.exists()


# -- dermvqa -----------------------------------------------------------------------------------


def test_per_case_into_a_missing_folder_is_refused_before_any_scoring(tmp_path, capsys, monkeypatch):
    import dermvqa.evaluation

    monkeypatch.setattr(dermvqa.evaluation, "evaluate", lambda *a, **k: pytest.fail("scored before the check"))
    code = dermvqa_main(
        ["evaluate", str(REFS), str(REFS), "--metrics", "deltableu", "--per-case", str(tmp_path / "no" / "x.jsonl")]
    )
    assert code == 2
    assert "--per-case" in capsys.readouterr().err


def test_empty_metrics_is_an_error(capsys):
    assert dermvqa_main(["evaluate", str(REFS), str(REFS), "--metrics", ""]) == 2
    assert "--metrics is empty" in capsys.readouterr().err
    assert dermvqa_main(["evaluate", str(REFS), str(REFS), "--metrics", "bleu"]) == 2
    assert "unknown metric 'bleu'" in capsys.readouterr().err


def predict_args(tmp_path: Path, *extra: str) -> list[str]:
    # The model does not exist: an error found before loading it exits 2, after loading it 3.
    return ["predict", "--model", str(tmp_path / "no-model"), "--input", str(REFS), *extra]


def test_predict_output_into_a_missing_folder_is_refused_before_the_model_loads(tmp_path, capsys):
    code = dermvqa_main(predict_args(tmp_path, "--output", str(tmp_path / "missing" / "p.json")))
    assert code == 2
    assert "--output" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3", "four"])
def test_batch_size_must_be_a_positive_whole_number(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        dermvqa_main(predict_args(tmp_path, "--output", str(tmp_path / "p.json"), "--batch-size", value))
    assert exit_.value.code == 2
    assert "--batch-size" in capsys.readouterr().err


def test_predict_checks_every_encounters_images_before_drafting(tmp_path, capsys):
    images = tmp_path / "private-folder-name"
    images.mkdir()
    Image.new("RGB", (20, 20)).save(images / "IMG_EX101_00001.jpg")
    (images / "IMG_EX102_00001.jpg").write_bytes(b"not an image at all")
    args = predict_args(tmp_path, "--output", str(tmp_path / "p.json"), "--images", str(images))
    assert dermvqa_main(args) == 2  # not 3: the model was never loaded
    err = capsys.readouterr().err
    assert "2 of 4 encounter(s) have no image" in err and "EX103, EX104" in err
    assert "EX102/IMG_EX102_00001.jpg (not a readable image)" in err
    assert "private-folder-name" not in err
    assert not (tmp_path / "p.json").exists()


def test_predict_without_an_images_folder_says_so(tmp_path, capsys):
    assert dermvqa_main(predict_args(tmp_path, "--output", str(tmp_path / "p.json"))) == 2
    assert "no --images folder given" in capsys.readouterr().err


def test_make_tiny_model_refuses_an_existing_file_and_a_foreign_folder(tmp_path, capsys):
    target = tmp_path / "weights.bin"
    target.write_bytes(b"precious")
    assert dermvqa_main(["make-tiny-model", str(target)]) == 2
    assert "existing file" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"
    folder = tmp_path / "real-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert dermvqa_main(["make-tiny-model", str(folder)]) == 2
    assert "other files" in capsys.readouterr().err
    assert (folder / "config.json").read_text() == "{}"


def test_a_missing_input_file_is_one_line(tmp_path):
    result = run("dermvqa.cli", "evaluate", str(tmp_path / "nope.json"), str(REFS), "--metrics", "deltableu")
    assert result.returncode == 2
    assert "nope.json" in one_error_line(result, "dermvqa")


def test_a_wrong_dermvqa_data_is_named_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("DERMVQA_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"DERMVQA_DATA=.*nowhere: no such folder"):
        shared_dermavqa_dir()
    monkeypatch.setenv("DERMVQA_DATA", str(tmp_path))
    with pytest.raises(ConfigError, match="no iiyi/ folder"):
        shared_dermavqa_dir()
    (tmp_path / "iiyi").mkdir()
    assert shared_dermavqa_dir() == tmp_path.resolve()


def test_baseline_with_a_wrong_dermvqa_data_exits_2(tmp_path):
    result = run("dermvqa.cli", "baseline", "--no-bertscore", env={"DERMVQA_DATA": str(tmp_path / "nowhere")})
    assert result.returncode == 2
    assert "DERMVQA_DATA" in one_error_line(result, "dermvqa")
