"""Load and validate config/ (accesswatch.toml, feeds.toml, vendors.toml).

Precedence: environment (``ACCESSWATCH_<SECTION>_<KEY>``) > file > default. Every invalid
value raises one :class:`ConfigError` naming the file (or variable) and the key.
Secrets are never read from files: see :func:`slack_secrets`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .models import FeedSpec

ENV_PREFIX = "ACCESSWATCH_"
DEFAULT_CONFIG_DIR = Path("config")

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    path: str = "data/accesswatch.duckdb"
    lock_timeout_seconds: PositiveFloat = 30


class HttpSettings(_Section):
    user_agent: str = "accesswatch/0.1 (news monitor for AI API access disputes)"
    connect_timeout_seconds: PositiveFloat = 10
    read_timeout_seconds: PositiveFloat = 20
    total_timeout_seconds: PositiveFloat = 45
    max_page_bytes: PositiveInt = 5_000_000
    max_feed_bytes: PositiveInt = 5_000_000
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    concurrency: Annotated[int, Field(gt=0, le=256)] = 16
    per_host_concurrency: Annotated[int, Field(gt=0, le=64)] = 2
    allowed_private_hosts: tuple[str, ...] = ()

    @field_validator("user_agent")
    @classmethod
    def _ua(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("allowed_private_hosts")
    @classmethod
    def _hosts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            if not h or "/" in h or " " in h:
                raise ValueError(f"{h!r} is not a host or host:port")
        return v


class FeedSettings(_Section):
    max_entries_per_feed: PositiveInt = 200
    backoff_base_minutes: PositiveFloat = 15
    backoff_max_minutes: PositiveFloat = 1440
    # one notice when a feed fails this many polls in a row, one when it recovers
    notice_after_failures: Annotated[int, Field(ge=1, le=1000)] = 3
    # ... or goes quiet: no item for quiet_factor x its typical gap (at least quiet_min_hours)
    quiet_factor: PositiveFloat = 4
    quiet_min_hours: PositiveFloat = 48


class ExtractSettings(_Section):
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    min_text_chars: Annotated[int, Field(ge=0)] = 250


class PipelineSettings(_Section):
    batch_size: Annotated[int, Field(gt=0, le=10_000)] = 200


class DetectSettings(_Section):
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5


class SlackSettings(_Section):
    channel: str = "#ai-access-disputes"
    base_url: str = ""
    timeout_seconds: Annotated[int, Field(gt=0, le=120)] = 10

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL or empty")
        return v


class AlertSettings(_Section):
    # stories below this score are stored but not alerted
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.5
    include_borderline: bool = False
    # non-empty: alert only stories naming one of these vendors (canonical names)
    watch_vendors: tuple[str, ...] = ()
    mute_vendors: tuple[str, ...] = ()
    # flood guard: at most this many messages per run; the rest go as one summary message
    max_messages_per_run: Annotated[int, Field(ge=1, le=1000)] = 10
    # delivery retries: failed alerts wait base * 2^(attempts-1) minutes, up to max_attempts
    retry_base_minutes: PositiveFloat = 2
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    # a story takes articles about the same actor/target/action for this many days
    story_window_days: PositiveFloat = 7
    # optional daily digest of the last day's stories, posted once after this UTC hour
    daily_digest: bool = False
    digest_hour_utc: Annotated[int, Field(ge=0, le=23)] = 8


class ScheduleSettings(_Section):
    interval_minutes: PositiveFloat = 15
    # a cron string instead of the interval, e.g. "*/10 6-22 * * *"; empty = use the interval
    cron: str = ""


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    feeds: FeedSettings = FeedSettings()
    extract: ExtractSettings = ExtractSettings()
    pipeline: PipelineSettings = PipelineSettings()
    detect: DetectSettings = DetectSettings()
    slack: SlackSettings = SlackSettings()
    alerts: AlertSettings = AlertSettings()
    schedule: ScheduleSettings = ScheduleSettings()


class _FeedModel(_Section):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    url: str
    enabled: bool = True
    tags: tuple[str, ...] = ()

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v


@dataclass(frozen=True)
class Config:
    """Everything a run needs, validated."""

    settings: Settings
    feeds: tuple[FeedSpec, ...]
    config_dir: Path
    db_path: Path

    @property
    def vendors_path(self) -> Path:
        return self.config_dir / "vendors.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "", f"not valid TOML: {e}") from e


def _first_error(e: ValidationError, prefix: str = "") -> tuple[str, str]:
    err = e.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and not isinstance(err["input"], dict):
        msg = f"{msg} (got {err['input']!r})"
    return key, msg


def _parse_env_value(raw: str) -> Any:
    """Read an environment value as a TOML value when it is one, else as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Map ACCESSWATCH_<SECTION>_<KEY> variables onto the settings tree."""
    sections = {name: set(model.model_fields) for name, model in
                ((n, f.annotation) for n, f in Settings.model_fields.items())}  # type: ignore[misc]
    out: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG_DIR":
            continue
        rest = var[len(ENV_PREFIX):].lower()
        for section, keys in sections.items():
            if rest.startswith(section + "_") and rest[len(section) + 1:] in keys:
                key = rest[len(section) + 1:]
                out.setdefault(section, {})[key] = _parse_env_value(raw)
                origin[f"{section}.{key}"] = var
                break
        else:
            raise ConfigError(f"environment {var}", "", "unknown setting (expected "
                              "ACCESSWATCH_<SECTION>_<KEY>, e.g. ACCESSWATCH_DATABASE_PATH)")
    return out, origin


def load_settings(config_dir: Path, environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ if environ is None else environ)
    path = config_dir / "accesswatch.toml"
    data = _read_toml(path) if path.exists() else {}
    try:
        Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(str(path), *_first_error(e)) from None
    overrides, origin = _env_overrides(environ)
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for section, values in overrides.items():
        merged.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        key, msg = _first_error(e)
        raise ConfigError(f"environment {origin.get(key, '?')}", key, msg) from None


def load_feeds(path: Path) -> tuple[FeedSpec, ...]:
    data = _read_toml(path)
    unknown = set(data) - {"feed"}
    if unknown:
        raise ConfigError(str(path), sorted(unknown)[0], "unknown key (feeds are [[feed]] tables)")
    raw = data.get("feed", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(str(path), "feed", "expected at least one [[feed]] table")
    feeds: list[FeedSpec] = []
    names: set[str] = set()
    urls: set[str] = set()
    for i, item in enumerate(raw):
        try:
            m = _FeedModel.model_validate(item)
        except ValidationError as e:
            raise ConfigError(str(path), *_first_error(e, f"feed[{i}]")) from None
        if m.name in names:
            raise ConfigError(str(path), f"feed[{i}].name", f"duplicate feed name {m.name!r}")
        if m.url in urls:
            raise ConfigError(str(path), f"feed[{i}].url", f"duplicate feed url {m.url!r}")
        names.add(m.name)
        urls.add(m.url)
        if m.enabled:
            feeds.append(FeedSpec(name=m.name, url=m.url, tags=m.tags))
    return tuple(feeds)


def resolve_config_dir(config_dir: str | Path | None) -> Path:
    if config_dir is not None:
        return Path(config_dir)
    env = os.environ.get(ENV_PREFIX + "CONFIG_DIR")
    return Path(env) if env else DEFAULT_CONFIG_DIR


def load_config(config_dir: str | Path | None = None, db_path: str | Path | None = None,
                environ: dict[str, str] | None = None) -> Config:
    """Load config/ (or ``config_dir``); ``db_path`` overrides the database path."""
    cdir = resolve_config_dir(config_dir)
    if not cdir.is_dir():
        raise ConfigError(str(cdir), "", "config directory not found")
    settings = load_settings(cdir, environ)
    feeds = load_feeds(cdir / "feeds.toml")
    path = Path(db_path) if db_path is not None else Path(settings.database.path)
    return Config(settings=settings, feeds=feeds, config_dir=cdir, db_path=path)


@dataclass(frozen=True)
class SlackSecrets:
    bot_token: str | None
    webhook_url: str | None

    def __repr__(self) -> str:  # never print a secret
        return (f"SlackSecrets(bot_token={'***' if self.bot_token else None}, "
                f"webhook_url={'***' if self.webhook_url else None})")


def slack_secrets(environ: dict[str, str] | None = None) -> SlackSecrets:
    env = os.environ if environ is None else environ
    return SlackSecrets(bot_token=env.get("SLACK_BOT_TOKEN") or None,
                        webhook_url=env.get("SLACK_WEBHOOK_URL") or None)
