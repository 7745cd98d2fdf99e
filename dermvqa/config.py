"""Typed, validated, frozen configuration loaded once from ``config.toml``.

Loading order: the defaults below, then the TOML file (``--config`` or ``DERMBOT_CONFIG``), then
environment variables ``DERMBOT_<SECTION>_<KEY>`` (for example ``DERMBOT_WORKER_BATCH_SIZE=8``).
Secrets never come from the file: the bot token is read only from ``DERMBOT_TELEGRAM_TOKEN``.
An invalid value fails at start with the key's name and what is allowed. Relative paths (the SQLite
file, the storage folder) are resolved against the folder of the config file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dermvqa.errors import ConfigError

ENV_PREFIX = "DERMBOT_"
CONFIG_ENV = "DERMBOT_CONFIG"
TOKEN_ENV = "DERMBOT_TELEGRAM_TOKEN"
WEBHOOK_SECRET_ENV = "DERMBOT_WEBHOOK_SECRET"
# Secrets only the bot process needs: masked in its logs, never passed to its children (the worker
# runs model code, moondream2's remote code included; training needs no Telegram access).
SERVICE_SECRET_ENVS = (TOKEN_ENV, WEBHOOK_SECRET_ENV)
# The data key (dermvqa/storage/keys.py) and the next one during `dermbot keys rotate`: never
# configuration overrides; children (the worker) do need the data key, so it is no service secret.
DATA_KEY_ENV = "DERMBOT_DATA_KEY"
NEW_DATA_KEY_ENV = "DERMBOT_NEW_DATA_KEY"
DATA_KEY_ENVS = (DATA_KEY_ENV, NEW_DATA_KEY_ENV)


def _rule(check: Callable[[Any], bool], allowed: str) -> dict[str, Any]:
    return {"check": check, "allowed": allowed}


def _one_of(*values: str) -> dict[str, Any]:
    return _rule(lambda v: v in values, "one of " + ", ".join(repr(v) for v in values))


def _at_least(low: float) -> dict[str, Any]:
    return _rule(lambda v: v >= low, f"a number >= {low}")


def _between(low: float, high: float) -> dict[str, Any]:
    return _rule(lambda v: low <= v <= high, f"a number from {low} to {high}")


def _non_empty() -> dict[str, Any]:
    return _rule(lambda v: bool(str(v).strip()), "a non-empty string")


def _is_device(v: str) -> bool:
    return v in ("cpu", "auto", "mps") or re.fullmatch(r"cuda(:\d+)?", v) is not None


def _is_cron(v: str) -> bool:
    """Five-field cron text that APScheduler accepts (ranges checked: '61 3 * * *' is refused)."""
    if len(v.split()) != 5:
        return False
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(v, timezone="UTC")
    except ValueError:
        return False
    return True


def _is_timezone(v: str) -> bool:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _is_url_base(v: str) -> bool:
    return v.startswith(("http://", "https://"))


def _is_https_or_empty(v: str) -> bool:
    return v == "" or v.startswith("https://")  # Telegram delivers webhook updates only over HTTPS


def _is_prefix_map(v: str) -> bool:
    if v == "":
        return True
    local, sep, server = v.partition("=")
    return bool(sep) and local.strip().startswith("/") and server.strip().startswith("/")


def _is_url_path(v: str) -> bool:
    return re.fullmatch(r"/?([A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*)?/?", v) is not None


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = field(default="sqlite:///var/dermbot.sqlite3", metadata=_non_empty())
    busy_timeout_ms: int = field(default=10_000, metadata=_at_least(0))
    echo: bool = False


@dataclass(frozen=True)
class StorageConfig:
    dir: str = field(default="var/images", metadata=_non_empty())
    # Larger photos are scaled down before a model sees them (the original stays on disk).
    max_side_px: int = field(default=2048, metadata=_at_least(64))
    # Decompression-bomb guard: photos with more pixels are refused from their header, before
    # decoding (40 megapixels: above any phone camera). Must not exceed Pillow's own bomb limit.
    max_pixels: int = field(default=40_000_000, metadata=_at_least(1))
    # A file holding the data key (64 hex characters), readable only by its owner; used when
    # DERMBOT_DATA_KEY is not set. Encrypts the SQLite database and the photos (dermvqa/storage/keys.py).
    key_file: str = ""


@dataclass(frozen=True)
class ModelConfig:
    backend: str = field(default="hf", metadata=_one_of("hf", "moondream", "openai"))
    name: str = field(default="bczhou/tiny-llava-v1-hf", metadata=_non_empty())
    revision: str = field(default="main", metadata=_non_empty())
    device: str = field(default="cpu", metadata=_rule(_is_device, "cpu, auto, mps, cuda or cuda:N"))
    # auto: float32 on CPU (bfloat16 measured ~6x slower on our CPUs), bfloat16 on CUDA.
    dtype: str = field(default="auto", metadata=_one_of("auto", "float32", "bfloat16", "float16"))
    prompt_id: int = field(default=1, metadata=_one_of(1, 2, 3))
    max_new_tokens: int = field(default=200, metadata=_between(1, 4096))
    do_sample: bool = False
    temperature: float = field(default=0.7, metadata=_between(0.0, 5.0))
    top_p: float = field(default=0.9, metadata=_between(0.0, 1.0))
    repetition_penalty: float = field(default=1.1, metadata=_between(0.5, 3.0))
    no_repeat_ngram_size: int = field(default=0, metadata=_at_least(0))
    seed: int = 0
    # How several photos of one case reach a model that takes one image: see dermvqa/drafting/images.py.
    multi_image: str = field(default="grid", metadata=_one_of("grid", "first", "all"))
    # OpenAI-compatible backend (for example a vLLM server); the key comes from the named env var.
    api_base: str = "http://127.0.0.1:8000/v1"
    api_key_env: str = "DERMBOT_OPENAI_API_KEY"
    request_timeout_s: float = field(default=120.0, metadata=_at_least(1.0))
    request_retries: int = field(default=3, metadata=_at_least(0))
    # backend = "openai": a promoted LoRA adapter is loaded into the server at run time (vLLM's
    # /v1/load_lora_adapter) and drafts ask for it by name; see dermvqa/drafting/lora_serving.py.
    serve_adapters: bool = False
    # "LOCAL=SERVER": adapter paths under LOCAL are sent to the server under SERVER (it mounts the
    # models folder elsewhere, e.g. in a container); "" sends the paths as they are here.
    adapter_path_prefix: str = field(
        default="", metadata=_rule(_is_prefix_map, 'empty, or "LOCAL=SERVER" with two absolute paths')
    )


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = field(default=4, metadata=_between(1, 256))
    lease_seconds: float = field(default=300.0, metadata=_at_least(1.0))
    heartbeat_seconds: float = field(default=30.0, metadata=_at_least(0.1))
    poll_seconds: float = field(default=1.0, metadata=_at_least(0.01))
    max_attempts: int = field(default=3, metadata=_between(1, 100))
    backoff_base_seconds: float = field(default=5.0, metadata=_at_least(0.0))
    backoff_max_seconds: float = field(default=600.0, metadata=_at_least(0.0))
    # A batch still drafting after this long counts as hung: its jobs go back to the queue (the
    # attempt counted) and the worker exits so its supervisor restarts it.
    batch_timeout_s: float = field(default=600.0, metadata=_at_least(1.0))
    # The worker's CPU priority as a nice value (0-19; higher yields more): the bot runs first when
    # both want a core (dermvqa/cpu_priority.py). 0 leaves the worker as it was started.
    nice: int = field(default=10, metadata=_between(0, 19))


@dataclass(frozen=True)
class TelegramConfig:
    base_url: str = field(default="https://api.telegram.org/bot", metadata=_rule(_is_url_base, "an http(s) URL"))
    base_file_url: str = field(
        default="https://api.telegram.org/file/bot", metadata=_rule(_is_url_base, "an http(s) URL")
    )
    mode: str = field(default="polling", metadata=_one_of("polling", "webhook"))
    # Webhook mode: the public HTTPS base URL (a reverse proxy in front of webhook_listen:webhook_port);
    # setWebhook gets webhook_url + "/" + the path. The path is derived from the webhook secret
    # (DERMBOT_WEBHOOK_SECRET, else drawn at start) unless webhook_path names one.
    webhook_url: str = field(default="", metadata=_rule(_is_https_or_empty, "empty, or an https:// URL"))
    webhook_path: str = field(
        default="", metadata=_rule(_is_url_path, "empty, or path segments of A-Z a-z 0-9 _ - separated by /")
    )
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = field(default=8443, metadata=_between(1, 65535))
    poll_timeout_s: int = field(default=10, metadata=_between(0, 50))
    # python-telegram-bot's AIORateLimiter: Telegram allows about 30 messages a second overall and
    # 20 a minute in one group; raise these only against a local Bot API server.
    rate_overall_per_second: float = field(default=30.0, metadata=_at_least(0.1))
    rate_group_per_minute: float = field(default=20.0, metadata=_at_least(0.1))
    # Updates of different chats are handled concurrently (one chat's updates stay in order).
    concurrent_chats: int = field(default=16, metadata=_between(1, 1024))
    # HTTP connections to the Bot API: a few keep-alive connections carry Telegram's 30 messages a
    # second easily; hundreds only add contention (bench/bot_load.py).
    connection_pool_size: int = field(default=8, metadata=_between(1, 256))


@dataclass(frozen=True)
class IntakeConfig:
    max_photos: int = field(default=10, metadata=_between(1, 50))
    # Telegram's Bot API lets a bot download files up to 20 MB.
    max_file_bytes: int = field(default=20_000_000, metadata=_at_least(1))
    max_description_chars: int = field(default=2000, metadata=_between(1, 4000))
    min_description_chars: int = field(default=3, metadata=_at_least(1))
    # Flood guard for patients' private chats (clinicians are never limited): a patient may send
    # rate_burst updates at once (a full album and a few messages), then rate_per_minute; the excess
    # is dropped before any download or database work, with one notice. 0 turns the guard off.
    rate_per_minute: float = field(default=30.0, metadata=_at_least(0.0))
    rate_burst: int = field(default=20, metadata=_between(1, 10_000))


@dataclass(frozen=True)
class ReviewConfig:
    clinician_ids: tuple[int, ...] = ()
    # A group chat for reviews; 0 sends each case privately to every clinician.
    chat_id: int = 0
    # How often the bot counts the review group's members (a non-clinician locks the room).
    room_check_minutes: float = field(default=10.0, metadata=_at_least(0.01))
    # The bot's watchdog tells the review recipients, once each, about a case waiting longer than this
    # in a non-final state (queued, drafting, awaiting review, approved) and about a message that failed
    # for good. Fractions allowed (tests use 0.01).
    alert_after_minutes: float = field(default=60.0, metadata=_at_least(0.001))
    # Safety checks against automation bias: the share of review posts (0 to 1) that show a planted
    # faulty draft instead of the model's (dermvqa/casework/canaries.json). Approving one unedited
    # sends nothing and tells the clinician; urgent cases are never planted on. 0 = off.
    canary_rate: float = field(default=0.0, metadata=_between(0.0, 1.0))

    @property
    def alert_after(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.alert_after_minutes)


DEFAULT_DISCLAIMER = (
    "This answer was drafted with the help of an AI model and reviewed by a clinician. It is general "
    "information, not a diagnosis: if your skin gets worse, or you feel unwell, see a doctor in person."
)


@dataclass(frozen=True)
class BotConfig:
    disclaimer: str = field(default=DEFAULT_DISCLAIMER, metadata=_non_empty())
    service_name: str = field(default="DermBot", metadata=_non_empty())
    outbox_max_attempts: int = field(default=8, metadata=_between(1, 100))
    outbox_poll_seconds: float = field(default=0.5, metadata=_at_least(0.01))
    # the bot's transactions in a child process (bot/dbprocess.py), off the event loop's core; false:
    # on a thread of the bot's own process (an in-memory SQLite database always is)
    database_process: bool = True


@dataclass(frozen=True)
class TrainingConfig:
    schedule: str = field(default="0 2 * * *", metadata=_rule(_is_cron, "five-field cron text, e.g. '0 2 * * *'"))
    timezone: str = field(default="UTC", metadata=_rule(_is_timezone, "an IANA time zone, e.g. 'Europe/Warsaw'"))
    misfire_grace_seconds: int = field(default=3600, metadata=_at_least(1))
    min_new_cases: int = field(default=20, metadata=_at_least(0))
    output_dir: str = field(default="var/models", metadata=_non_empty())
    method: str = field(default="lora", metadata=_one_of("lora", "full"))
    epochs: float = field(default=3.0, metadata=_rule(lambda v: v > 0, "a number > 0"))
    learning_rate: float = field(default=1e-4, metadata=_rule(lambda v: v > 0, "a number > 0"))
    batch_size: int = field(default=4, metadata=_at_least(1))
    gradient_accumulation_steps: int = field(default=2, metadata=_at_least(1))
    lora_rank: int = field(default=16, metadata=_at_least(1))
    lora_alpha: int = field(default=32, metadata=_at_least(1))
    lora_dropout: float = field(default=0.05, metadata=_between(0.0, 0.9))
    train_projector: bool = False
    heldout_share: float = field(default=0.15, metadata=_between(0.01, 0.9))
    base_corpus: str = ""
    base_corpus_images: str = ""
    gate_min_delta_bleu: float = field(default=0.1, metadata=_at_least(0.0))
    gate_max_cluster_share: float = field(default=0.1, metadata=_between(0.0, 1.0))
    gate_max_copy_share: float = field(default=0.1, metadata=_between(0.0, 1.0))
    augment_rotation_deg: float = field(default=10.0, metadata=_between(0.0, 180.0))
    augment_hflip_p: float = field(default=0.5, metadata=_between(0.0, 1.0))
    augment_jitter: float = field(default=0.1, metadata=_between(0.0, 1.0))
    seed: int = 0
    # Longer examples keep their whole prompt (image tokens included) and lose the end of the answer.
    max_seq_len: int = field(default=2048, metadata=_between(64, 32768))
    warmup_ratio: float = field(default=0.1, metadata=_between(0.0, 0.5))
    weight_decay: float = field(default=0.0, metadata=_between(0.0, 1.0))
    max_grad_norm: float = field(default=1.0, metadata=_at_least(0.0))  # 0 = no clipping
    save_steps: int = field(default=200, metadata=_at_least(0))  # checkpoint every N optimizer steps; 0 = at the end
    # The nightly training process's CPU priority (0-19), as [worker] nice: the bot runs first.
    nice: int = field(default=10, metadata=_between(0, 19))
    device: str = field(default="auto", metadata=_rule(_is_device, "cpu, auto, mps, cuda or cuda:N"))
    # Recompute each layer's activations in the backward pass: far less memory, about a third more time.
    gradient_checkpointing: bool = False
    # The gate refuses to judge on fewer held-out cases than this (collapse shares are noise on 3 cases).
    gate_min_heldout: int = field(default=10, metadata=_at_least(1))
    # Promote only when the candidate beats the active model by gate_min_delta_bleu in at least this share
    # of paired bootstrap resamples of the held-out cases (gate_bootstrap_samples of them, seeded by seed).
    gate_confidence: float = field(default=0.95, metadata=_between(0.5, 1.0))
    gate_bootstrap_samples: int = field(default=1000, metadata=_between(100, 100000))
    # An optional fixed reference set (DermaVQA-format JSON and its image folder), always held out
    # and never trained on: judged beside the clinicians' own (edited or hand-written) answers.
    gate_reference_set: str = ""
    gate_reference_images: str = ""



def _is_timezone_or_empty(v: str) -> bool:
    return v == "" or _is_timezone(v)


_DAYS = _rule(lambda v: v >= 0, "a whole number of days >= 0 (0 = keep forever)")


@dataclass(frozen=True)
class RetentionConfig:
    """How long each kind of record is kept (dermvqa/retention.py); 0 keeps it forever."""

    # Cases in a final state, counted from when they reached it, then deleted with their photos,
    # messages, drafts and reviews. Cases still in progress are never purged.
    answered_days: int = field(default=365, metadata=_DAYS)
    rejected_days: int = field(default=365, metadata=_DAYS)
    withdrawn_days: int = field(default=30, metadata=_DAYS)
    failed_days: int = field(default=90, metadata=_DAYS)
    # Delivered (or failed for good) outgoing messages, counted from delivery.
    outbox_days: int = field(default=7, metadata=_DAYS)
    # The conversation record (every message in and out).
    message_log_days: int = field(default=30, metadata=_DAYS)
    # The pseudonymised audit of clinicians' decisions (no words, photos or patient ids): kept for the
    # period the clinic's medical-record law requires; 10 years by default.
    audit_days: int = field(default=3650, metadata=_DAYS)
    purge_schedule: str = field(
        default="30 3 * * *", metadata=_rule(_is_cron, "five-field cron text, e.g. '30 3 * * *'")
    )
    # Empty: the same time zone as [training] timezone.
    timezone: str = field(
        default="", metadata=_rule(_is_timezone_or_empty, "empty, or an IANA time zone, e.g. 'Europe/Warsaw'")
    )
    misfire_grace_seconds: int = field(default=3600, metadata=_at_least(1))


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    # Folder that relative paths are resolved against (the config file's folder).
    base_dir: Path = field(default_factory=Path.cwd)

    def resolve_path(self, value: str) -> Path:
        """An absolute path for a configured path (relative ones are relative to the config file)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite file made absolute."""
        return resolve_sqlite_url(self.database.url, self.base_dir)

    @property
    def storage_dir(self) -> Path:
        return self.resolve_path(self.storage.dir)


SECTIONS: dict[str, type] = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "base_dir"}


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make ``sqlite:///relative.db`` absolute against ``base_dir``; other URLs pass unchanged."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite:///:memory:":
        return url
    path, _, query = url[len(prefix) :].partition("?")
    if path.startswith("/"):
        return url
    absolute = (base_dir / path).resolve()
    return prefix + str(absolute) + (("?" + query) if query else "")


def _section_classes() -> dict[str, type]:
    hints = get_type_hints(Config)
    return {name: hints[name] for name in SECTIONS}


# Number fields: the value types accepted (strings come from environment variables) and their name.
_NUMBERS: dict[type, tuple[tuple[type, ...], str]] = {
    int: ((int, str), "an integer"),
    float: ((int, float, str), "a number"),
}


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Convert a TOML (or env string) value to the field's type, or raise ConfigError naming the key."""
    origin = get_origin(hint)
    if origin is tuple:
        (item_type, _) = get_args(hint)
        if isinstance(value, str):
            value = [v for v in (p.strip() for p in value.split(",")) if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint in _NUMBERS:
        accepted, what = _NUMBERS[hint]
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(f"{key}: expected {what}, got {value!r}")
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{key}: expected {what}, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover - programming error


def _build_section(cls: type, raw: Mapping[str, Any], name: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"[{name}] {unknown[0]}: unknown key; allowed keys are " + ", ".join(sorted(known)))
    values: dict[str, Any] = {}
    for key, value in raw.items():
        full = f"[{name}] {key}"
        converted = _convert(value, hints[key], full)
        meta = known[key].metadata
        if "check" in meta and not meta["check"](converted):
            raise ConfigError(f"{full}: invalid value {converted!r}; allowed: {meta['allowed']}")
        values[key] = converted
    return cls(**values)


def _env_overrides(environ: Mapping[str, str], classes: Mapping[str, type]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in (CONFIG_ENV, *SERVICE_SECRET_ENVS, *DATA_KEY_ENVS):
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in classes and key:
            if key not in {f.name for f in dataclasses.fields(classes[section])}:
                raise ConfigError(f"{var}: [{section}] has no key {key!r}")
            out.setdefault(section, {})[key] = value
    return out


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the configuration once: defaults, then the TOML file, then ``DERMBOT_*`` variables.

    ``path`` defaults to ``$DERMBOT_CONFIG``; with neither, only defaults and the environment apply.
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV)
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        base_dir = file.resolve().parent
    classes = _section_classes()
    unknown = sorted(set(raw) - set(classes))
    if unknown:
        raise ConfigError(f"[{unknown[0]}]: unknown section; allowed sections are " + ", ".join(classes))
    if "token" in raw.get("telegram", {}):
        raise ConfigError(f"[telegram] token: the bot token is never read from a file; set {TOKEN_ENV}")
    for section, values in _env_overrides(environ, classes).items():
        raw.setdefault(section, {}).update(values)
    sections = {}
    for name, cls in classes.items():
        section_raw = raw.get(name, {})
        if not isinstance(section_raw, dict):
            raise ConfigError(f"[{name}]: expected a table of keys")
        sections[name] = _build_section(cls, section_raw, name)
    config = Config(**sections, base_dir=base_dir)
    _check_cross_field(config)
    return config


def _check_cross_field(config: Config) -> None:
    if config.worker.heartbeat_seconds >= config.worker.lease_seconds:
        raise ConfigError(
            "[worker] heartbeat_seconds: must be smaller than [worker] lease_seconds "
            f"({config.worker.heartbeat_seconds} >= {config.worker.lease_seconds})"
        )
    if config.intake.min_description_chars > config.intake.max_description_chars:
        raise ConfigError("[intake] min_description_chars: must not exceed max_description_chars")
    if config.intake.rate_per_minute and config.intake.rate_burst <= config.intake.max_photos:
        raise ConfigError(
            "[intake] rate_burst: must be larger than [intake] max_photos (a full album arrives at once) "
            f"({config.intake.rate_burst} <= {config.intake.max_photos})"
        )
    from PIL import Image  # Pillow's own decompression-bomb limit (None: unlimited)

    if Image.MAX_IMAGE_PIXELS and config.storage.max_pixels > Image.MAX_IMAGE_PIXELS:
        raise ConfigError(
            f"[storage] max_pixels: must not exceed Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            f"({config.storage.max_pixels:,})"
        )
    if config.telegram.mode == "webhook" and not config.telegram.webhook_url:
        raise ConfigError("[telegram] webhook_url: required when [telegram] mode is 'webhook'")


def child_environment(
    environ: Mapping[str, str] | None = None, *, import_root: str | Path | None = None
) -> dict[str, str]:
    """The environment for a child process (worker, training, the bot's database process): ours,
    less the bot's own secrets; ``import_root`` first on ``PYTHONPATH`` (a checkout that is not
    installed stays importable by ``python -m``)."""
    environ = os.environ if environ is None else environ
    child = {name: value for name, value in environ.items() if name not in SERVICE_SECRET_ENVS}
    if import_root is not None:
        child["PYTHONPATH"] = os.pathsep.join(p for p in (str(import_root), child.get("PYTHONPATH", "")) if p)
    return child


def read_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The bot token from ``DERMBOT_TELEGRAM_TOKEN`` (never from a file), or None."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV, "").strip()
    return token or None
