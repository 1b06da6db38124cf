"""Operator settings: `config/councilbot.toml` overridden by the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from councilbot.core.messages import Identity, Platform

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_DIR = PROJECT_ROOT / "config"


def _env(name: str, *extra: str) -> AliasChoices:
    """Accept a setting under its TOML key and its stable environment name."""
    return AliasChoices(name.lower().removeprefix("councilbot_"), name, *extra)


class SettingsError(Exception):
    """Raise when the configuration is wrong; the message names the setting."""


class Settings(BaseSettings):
    """Everything an operator can set; see the README's configuration table."""

    model_config = SettingsConfigDict(
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    config_dir: Annotated[Path, Field(validation_alias=_env("COUNCILBOT_CONFIG_DIR"))] = (
        DEFAULT_CONFIG_DIR
    )
    database_url: Annotated[str, Field(validation_alias=_env("COUNCILBOT_DATABASE_URL"))] = (
        "sqlite+aiosqlite:///./councilbot.db"
    )
    http_port: Annotated[
        int, Field(ge=1, le=65535, validation_alias=_env("COUNCILBOT_HTTP_PORT"))
    ] = 8080
    admins: Annotated[str, Field(validation_alias=_env("COUNCILBOT_ADMINS"))] = ""
    default_language: Annotated[
        str, Field(validation_alias=_env("COUNCILBOT_DEFAULT_LANGUAGE"))
    ] = "en"
    log_level: Annotated[str, Field(validation_alias=_env("COUNCILBOT_LOG_LEVEL"))] = "INFO"

    telegram_bot_token: Annotated[
        SecretStr | None, Field(validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    ] = None
    telegram_api_base_url: Annotated[str, Field(validation_alias=_env("TELEGRAM_API_BASE_URL"))] = (
        "https://api.telegram.org/bot"
    )
    telegram_webhook_url: Annotated[
        str | None, Field(validation_alias=_env("TELEGRAM_WEBHOOK_URL"))
    ] = None
    telegram_webhook_secret: Annotated[
        SecretStr | None, Field(validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"))
    ] = None
    slack_bot_token: Annotated[
        SecretStr | None, Field(validation_alias=_env("SLACK_BOT_TOKEN"))
    ] = None
    slack_signing_secret: Annotated[
        SecretStr | None, Field(validation_alias=_env("SLACK_SIGNING_SECRET"))
    ] = None
    slack_app_token: Annotated[
        SecretStr | None, Field(validation_alias=_env("SLACK_APP_TOKEN"))
    ] = None
    slack_client_id: Annotated[str | None, Field(validation_alias=_env("SLACK_CLIENT_ID"))] = None
    slack_client_secret: Annotated[
        SecretStr | None, Field(validation_alias=_env("SLACK_CLIENT_SECRET"))
    ] = None
    slack_api_base_url: Annotated[str, Field(validation_alias=_env("SLACK_API_BASE_URL"))] = (
        "https://slack.com/api/"
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be an async SQLAlchemy URL: sqlite+aiosqlite:///path.db "
                "or postgresql+asyncpg://user@host/db"
            )
        return value

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
        from councilbot.core.i18n import LANGUAGES

        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

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
        """Read init arguments, then the environment, then the TOML file."""
        import os

        config_dir = Path(os.environ.get("COUNCILBOT_CONFIG_DIR", DEFAULT_CONFIG_DIR))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_dir / "councilbot.toml")
        return (init_settings, env_settings, toml)


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one line per bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else "settings"
        name = _ENV_NAMES.get(field, field)
        problems.append(f"{name}: {error['msg']}")
    return "invalid setting " + "; ".join(problems)


_ENV_NAMES = {
    name: next(
        (choice for choice in info.validation_alias.choices if str(choice).isupper()),  # type: ignore[union-attr]
        name,
    )
    for name, info in Settings.model_fields.items()
}
