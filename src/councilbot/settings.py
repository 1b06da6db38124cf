"""Operator settings: `config/councilbot.toml` overridden by the environment."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from councilbot.core.i18n import LANGUAGES
from councilbot.core.messages import Identity, Platform
from councilbot.logsafe import LOG_FORMATS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"
CONFIG_FILE = "councilbot.toml"

# The operator contract: each setting's environment variable (stable names).
ENVIRONMENT: Mapping[str, str] = {
    "config_dir": "COUNCILBOT_CONFIG_DIR",
    "database_url": "COUNCILBOT_DATABASE_URL",
    "http_port": "COUNCILBOT_HTTP_PORT",
    "admins": "COUNCILBOT_ADMINS",
    "default_language": "COUNCILBOT_DEFAULT_LANGUAGE",
    "log_level": "COUNCILBOT_LOG_LEVEL",
    "log_format": "COUNCILBOT_LOG_FORMAT",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_api_base_url": "TELEGRAM_API_BASE_URL",
    "telegram_webhook_url": "TELEGRAM_WEBHOOK_URL",
    "telegram_webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_client_id": "SLACK_CLIENT_ID",
    "slack_client_secret": "SLACK_CLIENT_SECRET",
    "slack_api_base_url": "SLACK_API_BASE_URL",
    "telegram_rate": "COUNCILBOT_TELEGRAM_RATE",
    "telegram_private_rate": "COUNCILBOT_TELEGRAM_PRIVATE_RATE",
    "telegram_group_per_minute": "COUNCILBOT_TELEGRAM_GROUP_PER_MINUTE",
    "slack_channel_rate": "COUNCILBOT_SLACK_CHANNEL_RATE",
    "outbox_max_attempts": "COUNCILBOT_OUTBOX_MAX_ATTEMPTS",
    "scheduler_grace_minutes": "COUNCILBOT_SCHEDULER_GRACE_MINUTES",
    "scheduler_sync_seconds": "COUNCILBOT_SCHEDULER_SYNC_SECONDS",
    "role": "COUNCILBOT_ROLE",
    "public_url": "COUNCILBOT_PUBLIC_URL",
    "magazine_feed_url": "COUNCILBOT_MAGAZINE_FEED_URL",
    "magazine_feed_minutes": "COUNCILBOT_MAGAZINE_FEED_MINUTES",
    "event_reminders": "COUNCILBOT_EVENT_REMINDERS",
    "poll_secret": "COUNCILBOT_POLL_SECRET",
}


# A rate limit the dispatcher can pace at (`Rate` needs a positive, finite count).
PositiveRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# A webhook secret Telegram accepts in setWebhook (1 to 256 characters), and long enough
# that nobody guesses it: it is all that keeps strangers' updates out of the webhook.
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")


class Role(StrEnum):
    """Which parts `councilbot run` starts in this process."""

    WEB = "web"  # platform updates and the web server; commands only enqueue
    WORKER = "worker"  # the scheduler and the dispatcher; the web server for /healthz, /metrics
    ALL = "all"  # everything in one process

    @property
    def takes_updates(self) -> bool:
        """Tell whether this role receives the platforms' updates."""
        return self is not Role.WORKER

    @property
    def sends(self) -> bool:
        """Tell whether this role runs the dispatcher and the scheduler."""
        return self is not Role.WEB


class SettingsError(Exception):
    """Raise when the configuration is wrong; the message names the setting."""


_OFFSET = re.compile(r"(\d+)\s*([hm])")


def _offsets(text: str) -> tuple[timedelta, ...]:
    """Read `24h,1h` (hours or minutes, comma separated; `none`: no reminders)."""
    if text.strip().lower() in ("", "none"):
        return ()
    found = set()
    for part in text.split(","):
        match = _OFFSET.fullmatch(part.strip().lower())
        if match is None or int(match[1]) == 0:
            raise ValueError(f"{part.strip()!r} is not a duration like 24h or 90m")
        amount = int(match[1])
        found.add(timedelta(hours=amount) if match[2] == "h" else timedelta(minutes=amount))
    return tuple(sorted(found, reverse=True))


class Settings(BaseSettings):
    """Everything an operator can set; see the README's configuration table."""

    model_config = SettingsConfigDict(extra="forbid")

    config_dir: Path = DEFAULT_CONFIG_DIR
    database_url: str = "sqlite+aiosqlite:///./councilbot.db"
    http_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    admins: str = ""
    default_language: str = "en"
    log_level: str = "INFO"
    log_format: str = "auto"  # auto: JSON lines unless stderr is a terminal

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"

    # Platform limits differ for self-hosted Bot API servers and enterprise plans.
    telegram_rate: PositiveRate = 30.0  # messages/s per bot
    telegram_private_rate: PositiveRate = 1.0  # messages/s per private chat
    telegram_group_per_minute: PositiveRate = 20.0  # messages/min per group
    slack_channel_rate: PositiveRate = 1.0  # messages/s per channel
    # The retry backoff doubles per attempt: past ~1000 attempts it no longer fits a float.
    outbox_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    # APScheduler wants a misfire grace of at least a second; a year is already "any time".
    scheduler_grace_minutes: Annotated[float, Field(ge=1, le=525_600, allow_inf_nan=False)] = 60.0
    # How often the scheduler reloads its jobs, and a follower retries the lead.
    scheduler_sync_seconds: Annotated[float, Field(ge=1, le=3600, allow_inf_nan=False)] = 15.0
    role: Role = Role.ALL
    # Where people reach the built-in web server (for the personal calendar feed's URL);
    # unset: http://localhost:<COUNCILBOT_HTTP_PORT>.
    public_url: str | None = None
    # The EMPOWER magazine's RSS or Atom feed (unset: no feed is read), and how often.
    magazine_feed_url: str | None = None
    magazine_feed_minutes: Annotated[float, Field(ge=1, le=10_080, allow_inf_nan=False)] = 60.0
    # How long before an event's start those going are reminded: `24h,1h`, `90m`, or `none`.
    event_reminders: str = "24h,1h"
    # Keys who voted in anonymous polls (services/polls.py); unset: a key kept in the database.
    poll_secret: SecretStr | None = None

    @field_validator("event_reminders")
    @classmethod
    def _reminder_offsets(cls, value: str) -> str:
        _offsets(value)  # raises ValueError with the reason
        return value

    @property
    def reminder_offsets(self) -> tuple[timedelta, ...]:
        """Return how long before an event's start its reminders go, longest first."""
        return _offsets(self.event_reminders)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be an async SQLAlchemy URL: sqlite+aiosqlite:///path.db "
                "or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator(
        "telegram_bot_token",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        "poll_secret",
    )
    @classmethod
    def _not_blank(cls, value: SecretStr | str | None) -> SecretStr | str | None:
        shown = value.get_secret_value() if isinstance(value, SecretStr) else value
        if shown is not None and not shown.strip():
            raise ValueError("must not be empty (unset it instead)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TELEGRAM_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 16 to 256 characters: letters, digits, _ and -")
        return value

    @field_validator(
        "telegram_api_base_url",
        "telegram_webhook_url",
        "slack_api_base_url",
        "magazine_feed_url",
        "public_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _slack_base_ends_with_slash(cls, value: str) -> str:
        # slack_sdk joins method names with urljoin, which drops a last segment without "/".
        return value if value.endswith("/") else value + "/"

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        names = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value.lower() not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
        return value.lower()

    @field_validator("admins")
    @classmethod
    def _admins_shape(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            platform, sep, user = item.partition(":")
            if not sep or not user or platform not in {p.value for p in Platform}:
                raise ValueError(
                    f"{item!r} is not platform:user_id (platforms: telegram, slack, console)"
                )
        return value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    def secrets(self) -> dict[str, str]:
        """Return every configured secret by its environment name, for masking in logs."""
        return {
            ENVIRONMENT[name]: value.get_secret_value()
            for name, value in self
            if isinstance(value, SecretStr)
        }

    @property
    def admin_identities(self) -> frozenset[tuple[str, str]]:
        """Return the bootstrap admins as (platform, user id) pairs."""
        pairs = (item.strip().partition(":") for item in self.admins.split(","))
        return frozenset((platform, user) for platform, _, user in pairs if user)

    def is_bootstrap_admin(self, identity: Identity) -> bool:
        """Tell whether this identity is named in COUNCILBOT_ADMINS."""
        return (identity.platform.value, identity.user_id) in self.admin_identities

    @property
    def councils_file(self) -> Path:
        """Return the seed file of councils, facilities and desks."""
        return self.config_dir / "councils.yaml"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init arguments, then the stable environment names, then the TOML file."""
        return (init_settings, _Environment(settings_cls), _TomlFile(settings_cls))


class _Environment(PydanticBaseSettingsSource):
    """Read exactly the contract's variable names (no bare `DATABASE_URL` surprises)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(ENVIRONMENT[field_name]), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: os.environ[env] for name, env in ENVIRONMENT.items() if env in os.environ}


class _TomlFile(PydanticBaseSettingsSource):
    """Read `councilbot.toml` from COUNCILBOT_CONFIG_DIR (or `config/`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get(ENVIRONMENT["config_dir"], DEFAULT_CONFIG_DIR)) / CONFIG_FILE
        if not path.exists():
            return {}
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"cannot read {path}: {exc}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one line per bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else "settings"
        if error["type"] == "extra_forbidden":
            problems.append(f"{field}: unknown setting in {CONFIG_FILE}")
        else:
            problems.append(f"{ENVIRONMENT.get(field, field)}: {error['msg']}")
    return "invalid setting " + "; ".join(problems)
