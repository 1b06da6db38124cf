import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from councilbot.cli import main
from councilbot.core.messages import Identity, Platform
from councilbot.settings import Role, Settings, SettingsError, load_settings

KEEP = {"COUNCILBOT_TEST_POSTGRES_URL"}


@pytest.fixture
def config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty config dir and an environment with no setting of ours in it."""
    # Settings also read a field's bare TOML key from the environment (case-insensitively),
    # so clear those too.
    bare_keys = set(Settings.model_fields)
    for name in list(os.environ):
        ours = name.startswith(("COUNCILBOT_", "TELEGRAM_", "SLACK_"))
        if (ours and name not in KEEP) or name.lower() in bare_keys:
            monkeypatch.delenv(name)
    monkeypatch.setenv("COUNCILBOT_CONFIG_DIR", str(tmp_path))
    return tmp_path


def write_toml(config_dir: Path, text: str) -> None:
    (config_dir / "councilbot.toml").write_text(text, encoding="utf-8")


def settings_error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    return str(caught.value)


# --- sources ----------------------------------------------------------------------------------


def test_defaults_without_env_or_file(config_dir: Path) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./councilbot.db"
    assert settings.http_port == 8080
    assert settings.admins == ""
    assert settings.default_language == "en"
    assert settings.log_level == "INFO"
    assert settings.log_format == "auto"
    assert settings.telegram_bot_token is None
    assert settings.slack_bot_token is None
    assert settings.slack_api_base_url == "https://slack.com/api/"
    assert settings.role is Role.ALL
    assert settings.scheduler_sync_seconds == 15
    assert settings.config_dir == config_dir
    assert settings.councils_file == config_dir / "councils.yaml"


def test_values_come_from_the_toml_file(config_dir: Path) -> None:
    write_toml(
        config_dir,
        'database_url = "sqlite+aiosqlite:///file.db"\n'
        "http_port = 9000\n"
        'admins = "telegram:1"\n'
        'default_language = "es"\n'
        'telegram_bot_token = "file-token"\n'
        'slack_api_base_url = "http://file.invalid/api/"\n',
    )
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///file.db"
    assert settings.http_port == 9000
    assert settings.admins == "telegram:1"
    assert settings.default_language == "es"
    assert settings.telegram_bot_token == SecretStr("file-token")
    assert settings.slack_api_base_url == "http://file.invalid/api/"


def test_environment_overrides_the_toml_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(
        config_dir,
        'database_url = "sqlite+aiosqlite:///file.db"\n'
        "http_port = 9000\n"
        'admins = "telegram:1"\n'
        'telegram_bot_token = "file-token"\n'
        'slack_api_base_url = "http://file.invalid/api/"\n',
    )
    monkeypatch.setenv("COUNCILBOT_DATABASE_URL", "postgresql+asyncpg://bot@db/council")
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", "9100")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "env-token")
    monkeypatch.setenv("SLACK_API_BASE_URL", "http://env.invalid/api/")
    monkeypatch.setenv("COUNCILBOT_ADMINS", "slack:U1,console:root")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://bot@db/council"
    assert settings.http_port == 9100
    assert settings.telegram_bot_token == SecretStr("env-token")
    assert settings.slack_api_base_url == "http://env.invalid/api/"
    assert settings.admins == "slack:U1,console:root"


def test_file_values_not_in_the_environment_are_kept(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(config_dir, 'http_port = 9000\nlog_level = "WARNING"\n')
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", "9100")
    settings = load_settings()
    assert settings.http_port == 9100
    assert settings.log_level == "WARNING"


def test_keyword_overrides_win_over_the_environment(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", "9100")
    assert load_settings(http_port=9200).http_port == 9200


def test_prefixed_env_var_wins_over_an_unprefixed_one(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///other-app.db")
    monkeypatch.setenv("COUNCILBOT_DATABASE_URL", "sqlite+aiosqlite:///council.db")
    assert load_settings().database_url == "sqlite+aiosqlite:///council.db"


def test_unprefixed_env_var_is_ignored(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://user@host/other")
    assert load_settings().database_url == "sqlite+aiosqlite:///./councilbot.db"


# --- secrets ----------------------------------------------------------------------------------


def test_secrets_are_hidden_from_repr_and_str(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "TELEGRAM_BOT_TOKEN": "tg-secret-123",
        "TELEGRAM_WEBHOOK_SECRET": "hook-secret-456-long",
        "SLACK_BOT_TOKEN": "xoxb-secret-789",
        "SLACK_SIGNING_SECRET": "sign-secret-abc",
        "SLACK_APP_TOKEN": "xapp-secret-def",
        "SLACK_CLIENT_SECRET": "client-secret-ghi",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert isinstance(settings.telegram_bot_token, SecretStr)
    assert isinstance(settings.slack_client_secret, SecretStr)
    assert settings.telegram_bot_token.get_secret_value() == "tg-secret-123"
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == "sign-secret-abc"
    shown = repr(settings) + str(settings)
    for value in secrets.values():
        assert value not in shown


# --- admins -----------------------------------------------------------------------------------


def test_admin_identities_are_platform_user_pairs(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNCILBOT_ADMINS", " telegram:123 , slack:U0123,,console:root ")
    settings = load_settings()
    assert settings.admin_identities == frozenset(
        {("telegram", "123"), ("slack", "U0123"), ("console", "root")}
    )


def test_no_admins_by_default(config_dir: Path) -> None:
    assert load_settings().admin_identities == frozenset()


def test_is_bootstrap_admin_matches_platform_and_user(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNCILBOT_ADMINS", "telegram:123,slack:U0123")
    settings = load_settings()
    assert settings.is_bootstrap_admin(Identity(platform=Platform.TELEGRAM, user_id="123"))
    assert settings.is_bootstrap_admin(
        Identity(platform=Platform.SLACK, user_id="U0123", workspace="T1")
    )
    assert not settings.is_bootstrap_admin(Identity(platform=Platform.SLACK, user_id="123"))
    assert not settings.is_bootstrap_admin(Identity(platform=Platform.TELEGRAM, user_id="1234"))
    assert not settings.is_bootstrap_admin(Identity(platform=Platform.CONSOLE, user_id="U0123"))


# --- bad settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["abc", "80.5", "0", "65536", "-1"])
def test_bad_http_port_names_the_env_variable(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    message = settings_error(monkeypatch, "COUNCILBOT_HTTP_PORT", port)
    assert message.startswith("invalid setting COUNCILBOT_HTTP_PORT: ")
    assert "\n" not in message


@pytest.mark.parametrize("port", ["1", "65535"])
def test_http_port_bounds_are_allowed(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", port)
    assert load_settings().http_port == int(port)


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://user@host/db", "x"])
def test_sync_database_url_is_refused(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = settings_error(monkeypatch, "COUNCILBOT_DATABASE_URL", url)
    assert message.startswith("invalid setting COUNCILBOT_DATABASE_URL: ")
    assert "sqlite+aiosqlite" in message


@pytest.mark.parametrize("admins", ["bob", "fax:1", "telegram:", "telegram:1,bob"])
def test_malformed_admins_are_refused(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, admins: str
) -> None:
    message = settings_error(monkeypatch, "COUNCILBOT_ADMINS", admins)
    assert message.startswith("invalid setting COUNCILBOT_ADMINS: ")


def test_malformed_admin_is_quoted_in_the_message(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "'fax:1'" in settings_error(monkeypatch, "COUNCILBOT_ADMINS", "telegram:1,fax:1")


def test_unknown_default_language_is_refused(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = settings_error(monkeypatch, "COUNCILBOT_DEFAULT_LANGUAGE", "de")
    assert message.startswith("invalid setting COUNCILBOT_DEFAULT_LANGUAGE: ")
    assert "en, es, it, fr, tr" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "0"),  # APScheduler needs a positive grace
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "0.5"),
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "-5"),
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "inf"),
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "nan"),
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "1e12"),  # `now - grace` is before year 1
        ("COUNCILBOT_SCHEDULER_SYNC_SECONDS", "0.5"),  # a follower would hammer the lock
        ("COUNCILBOT_SCHEDULER_SYNC_SECONDS", "inf"),
        ("COUNCILBOT_ROLE", "scheduler"),
        ("COUNCILBOT_ROLE", ""),
        ("COUNCILBOT_TELEGRAM_RATE", "0"),
        ("COUNCILBOT_TELEGRAM_RATE", "inf"),
        ("COUNCILBOT_TELEGRAM_PRIVATE_RATE", "-1"),
        ("COUNCILBOT_TELEGRAM_GROUP_PER_MINUTE", "nan"),
        ("COUNCILBOT_SLACK_CHANNEL_RATE", "0"),
        ("COUNCILBOT_OUTBOX_MAX_ATTEMPTS", "0"),
        ("COUNCILBOT_OUTBOX_MAX_ATTEMPTS", "2000"),  # the backoff 2**n overflows a float
        ("COUNCILBOT_LOG_LEVEL", "LOUD"),
        ("COUNCILBOT_LOG_FORMAT", "yaml"),
        ("COUNCILBOT_LOG_FORMAT", ""),
        ("TELEGRAM_BOT_TOKEN", ""),
        ("TELEGRAM_BOT_TOKEN", "  "),
        ("SLACK_BOT_TOKEN", ""),
        ("SLACK_SIGNING_SECRET", ""),
        ("SLACK_APP_TOKEN", ""),
        ("SLACK_CLIENT_ID", ""),
        ("SLACK_CLIENT_SECRET", ""),
        ("TELEGRAM_WEBHOOK_SECRET", ""),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces"),
        ("TELEGRAM_WEBHOOK_SECRET", "short-secret"),
        ("TELEGRAM_WEBHOOK_SECRET", "x" * 257),
        ("TELEGRAM_WEBHOOK_URL", ""),
        ("TELEGRAM_WEBHOOK_URL", "bot.example.org/telegram/webhook"),
        ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot"),
        ("SLACK_API_BASE_URL", "ftp://slack.example/api/"),
    ],
)
def test_values_the_libraries_refuse_are_refused_by_name(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    message = settings_error(monkeypatch, name, value)
    assert message.startswith(f"invalid setting {name}: ")
    assert "\n" not in message
    if name.endswith(("_TOKEN", "_SECRET")) and value.strip():
        assert value not in message


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("COUNCILBOT_SCHEDULER_GRACE_MINUTES", "1", "scheduler_grace_minutes", 1.0),
        ("COUNCILBOT_TELEGRAM_RATE", "0.5", "telegram_rate", 0.5),
        ("COUNCILBOT_SCHEDULER_SYNC_SECONDS", "1", "scheduler_sync_seconds", 1.0),
        ("COUNCILBOT_ROLE", "worker", "role", Role.WORKER),
        ("COUNCILBOT_OUTBOX_MAX_ATTEMPTS", "100", "outbox_max_attempts", 100),
        ("COUNCILBOT_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("COUNCILBOT_LOG_FORMAT", "JSON", "log_format", "json"),
        ("TELEGRAM_WEBHOOK_URL", "https://bot.example/hook", "telegram_webhook_url", "https://bot.example/hook"),
        # slack_sdk joins method names with urljoin: without the slash "api" would be dropped.
        ("SLACK_API_BASE_URL", "http://127.0.0.1:9/api", "slack_api_base_url", "http://127.0.0.1:9/api/"),
    ],
)  # fmt: skip
def test_edge_values_the_libraries_accept(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    field: str,
    expected: object,
) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), field) == expected


def test_secrets_are_listed_by_environment_name_for_the_log_filter(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:tg-secret")
    monkeypatch.setenv("SLACK_CLIENT_ID", "1.2")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-secret-ghi")
    assert load_settings().secrets() == {
        "TELEGRAM_BOT_TOKEN": "123:tg-secret",
        "SLACK_CLIENT_SECRET": "client-secret-ghi",
    }


def test_bad_value_in_the_toml_file_names_the_setting(config_dir: Path) -> None:
    write_toml(config_dir, 'http_port = "lots"\n')
    with pytest.raises(SettingsError, match="COUNCILBOT_HTTP_PORT"):
        load_settings()


def test_several_bad_settings_are_reported_on_one_line(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", "abc")
    monkeypatch.setenv("COUNCILBOT_DEFAULT_LANGUAGE", "de")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "COUNCILBOT_HTTP_PORT" in message
    assert "COUNCILBOT_DEFAULT_LANGUAGE" in message
    assert "\n" not in message


def test_malformed_toml_file_is_a_settings_error(config_dir: Path) -> None:
    write_toml(config_dir, "http_port = \n")
    with pytest.raises(SettingsError):
        load_settings()


# --- command line -----------------------------------------------------------------------------


def test_cli_reports_a_bad_setting_in_one_line(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COUNCILBOT_HTTP_PORT", "not-a-port")
    assert main(["db", "current"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("councilbot: invalid setting COUNCILBOT_HTTP_PORT")
    assert "Traceback" not in err


@pytest.mark.parametrize("role", ["web", "worker"])
def test_a_split_role_without_a_platform_does_not_open_the_console_chat(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    role: str,
) -> None:
    monkeypatch.setenv("COUNCILBOT_ROLE", role)
    assert main(["run"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"councilbot: COUNCILBOT_ROLE={role} needs TELEGRAM_BOT_TOKEN or the Slack settings "
        "(the console chat is one process: use all)\n"
    )


def test_cli_reports_a_malformed_toml_file_in_one_line(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_toml(config_dir, "http_port = \n")
    assert main(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("councilbot: ")
