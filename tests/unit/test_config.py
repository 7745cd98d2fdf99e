from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dermvqa.config import load_config, read_token, resolve_sqlite_url
from dermvqa.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_toml_loads_and_names_every_section():
    config = load_config(ROOT / "config.toml", environ={})
    assert config.model.backend == "hf"
    assert config.training.schedule == "0 2 * * *"
    assert config.review.clinician_ids == ()
    text = (ROOT / "config.toml").read_text()
    for section in ("database", "storage", "model", "worker", "telegram", "review", "bot", "training"):
        assert f"[{section}]" in text


def test_file_values_are_typed_and_frozen(tmp_path):
    path = write(tmp_path, "[worker]\nbatch_size = 8\n[review]\nclinician_ids = [11, 22]\nchat_id = -100\n")
    config = load_config(path, environ={})
    assert config.worker.batch_size == 8
    assert config.review.clinician_ids == (11, 22)
    assert config.review.chat_id == -100
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.worker.batch_size = 2  # type: ignore[misc]


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[worker]\nbatch_size = 8\n")
    env = {"DERMBOT_WORKER_BATCH_SIZE": "2", "DERMBOT_REVIEW_CLINICIAN_IDS": "5,6", "DERMBOT_MODEL_DO_SAMPLE": "true"}
    config = load_config(path, environ=env)
    assert config.worker.batch_size == 2
    assert config.review.clinician_ids == (5, 6)
    assert config.model.do_sample is True


def test_dermbot_config_variable_names_the_file(tmp_path):
    path = write(tmp_path, '[model]\nname = "some/model"\n')
    assert load_config(environ={"DERMBOT_CONFIG": str(path)}).model.name == "some/model"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '[model]\nbackend = "tensorflow"\n',
            "[model] backend: invalid value 'tensorflow'; allowed: one of 'hf', 'moondream', 'openai'",
        ),
        ("[worker]\nbatch_size = 0\n", "[worker] batch_size"),
        ('[worker]\nbatch_size = "eight"\n', "[worker] batch_size: expected an integer"),
        ('[training]\nschedule = "nightly"\n', "[training] schedule"),
        ('[training]\ntimezone = "Mars/Olympus"\n', "[training] timezone"),
        ('[model]\nnmae = "x"\n', "[model] nmae: unknown key"),
        ("[modle]\n", "[modle]: unknown section"),
        ('[telegram]\ntoken = "123:abc"\n', "DERMBOT_TELEGRAM_TOKEN"),
        ('[model]\ndevice = "gpu"\n', "[model] device"),
        ("[worker]\nlease_seconds = 10\nheartbeat_seconds = 20\n", "[worker] heartbeat_seconds"),
        ("[database\n", "not valid TOML"),
    ],
)
def test_invalid_values_name_the_key_and_what_is_allowed(tmp_path, text, needle):
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, text), environ={})
    assert needle in str(excinfo.value)


def test_invalid_environment_value_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\[worker\] batch_size"):
        load_config(environ={"DERMBOT_WORKER_BATCH_SIZE": "many"})
    with pytest.raises(ConfigError, match="DERMBOT_WORKER_BATCHSIZE"):
        load_config(environ={"DERMBOT_WORKER_BATCHSIZE": "2"})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = write(tmp_path, '[database]\nurl = "sqlite:///db/x.sqlite3"\n[storage]\ndir = "imgs"\n')
    config = load_config(path, environ={})
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/db/x.sqlite3"
    assert config.storage_dir == tmp_path.resolve() / "imgs"
    assert resolve_sqlite_url("postgresql+psycopg://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert resolve_sqlite_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"


def test_token_only_from_environment():
    assert read_token({"DERMBOT_TELEGRAM_TOKEN": " 123:abc "}) == "123:abc"
    assert read_token({}) is None


def test_max_pixels_defaults_to_40_megapixels_and_stays_under_pillows_bomb_limit(tmp_path):
    from PIL import Image

    assert load_config(write(tmp_path, ""), environ={}).storage.max_pixels == 40_000_000
    assert load_config(ROOT / "config.toml", environ={}).storage.max_pixels == 40_000_000
    too_many = Image.MAX_IMAGE_PIXELS + 1
    with pytest.raises(ConfigError, match=r"\[storage\] max_pixels: must not exceed Pillow's limit"):
        load_config(write(tmp_path, f"[storage]\nmax_pixels = {too_many}\n"), environ={})


def test_rate_limit_keys(tmp_path):
    config = load_config(write(tmp_path, "[intake]\nrate_per_minute = 12.5\nrate_burst = 15\n"), environ={})
    assert (config.intake.rate_per_minute, config.intake.rate_burst) == (12.5, 15)
    with pytest.raises(ConfigError, match=r"\[intake\] rate_burst: must be larger than \[intake\] max_photos"):
        load_config(write(tmp_path, "[intake]\nmax_photos = 10\nrate_burst = 10\n"), environ={})
    off = load_config(write(tmp_path, "[intake]\nrate_per_minute = 0\nrate_burst = 1\n"), environ={})
    assert off.intake.rate_per_minute == 0  # the guard is off: the burst does not matter
    with pytest.raises(ConfigError, match=r"\[intake\] rate_per_minute"):
        load_config(write(tmp_path, "[intake]\nrate_per_minute = -1\n"), environ={})


def test_alert_after_minutes_takes_fractions_and_refuses_zero(tmp_path):
    import datetime as dt

    assert load_config(ROOT / "config.toml", environ={}).review.alert_after == dt.timedelta(hours=1)
    config = load_config(write(tmp_path, "[review]\nalert_after_minutes = 0.01\n"), environ={})
    assert config.review.alert_after == dt.timedelta(seconds=0.6)
    whole = load_config(write(tmp_path, "[review]\nalert_after_minutes = 90\n"), environ={})
    assert whole.review.alert_after_minutes == 90
    with pytest.raises(ConfigError, match="alert_after_minutes"):
        load_config(write(tmp_path, "[review]\nalert_after_minutes = 0\n"), environ={})


def test_retention_ages_default_zero_keeps_forever_and_bad_values_name_the_key(tmp_path):
    from dermvqa.config import RetentionConfig

    shipped = load_config(ROOT / "config.toml", environ={}).retention
    assert shipped == RetentionConfig()  # config.toml documents every key at its default
    ages = (shipped.answered_days, shipped.withdrawn_days, shipped.outbox_days, shipped.audit_days)
    assert ages == (365, 30, 7, 3650)
    assert shipped.purge_schedule == "30 3 * * *"
    config = load_config(write(tmp_path, '[retention]\nanswered_days = 0\ntimezone = "Europe/Warsaw"\n'), environ={})
    assert (config.retention.answered_days, config.retention.timezone) == (0, "Europe/Warsaw")
    env = load_config(environ={"DERMBOT_RETENTION_MESSAGE_LOG_DAYS": "3"})
    assert env.retention.message_log_days == 3
    for text, needle in [
        ("[retention]\nanswered_days = -1\n", "[retention] answered_days: invalid value -1"),
        ("[retention]\naudit_days = 1.5\n", "[retention] audit_days: expected an integer"),
        ('[retention]\nfailed_days = "ninety"\n', "[retention] failed_days: expected an integer"),
        ('[retention]\npurge_schedule = "nightly"\n', "[retention] purge_schedule"),
        ('[retention]\npurge_schedule = "61 3 * * *"\n', "[retention] purge_schedule"),  # five fields, out of range
        ('[retention]\ntimezone = "Mars/Olympus"\n', "[retention] timezone"),
    ]:
        with pytest.raises(ConfigError) as excinfo:
            load_config(write(tmp_path, text), environ={})
        assert needle in str(excinfo.value)


def test_the_background_nice_values_default_to_10_and_stay_within_0_to_19(tmp_path):
    shipped = load_config(ROOT / "config.toml", environ={})
    assert (shipped.worker.nice, shipped.training.nice) == (10, 10)
    assert load_config(environ={"DERMBOT_WORKER_NICE": "0"}).worker.nice == 0
    assert load_config(environ={"DERMBOT_TRAINING_NICE": "19"}).training.nice == 19
    for section in ("worker", "training"):
        for value in ("20", "-1"):
            with pytest.raises(ConfigError) as excinfo:
                load_config(write(tmp_path, f"[{section}]\nnice = {value}\n"), environ={})
            assert f"[{section}] nice" in str(excinfo.value)
