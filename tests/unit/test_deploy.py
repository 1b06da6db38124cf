"""compose.yaml and .env.example: the shape operators rely on, and every setting named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from councilbot.settings import ENVIRONMENT, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
BOTS = ("migrate", "web", "worker")
# What the image's entry point and compose.yaml read, besides the bot's settings.
DEPLOYMENT_NAMES = {"COUNCILBOT_MIGRATE_ON_START", "POSTGRES_PASSWORD", "COUNCILBOT_PUBLISHED_PORT"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def env_example() -> dict[str, tuple[str, bool]]:
    """Return each name in .env.example with its value and whether the line is commented."""
    names: dict[str, tuple[str, bool]] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            names[match[2]] = (match[3], match[1] is not None)
    return names


def interpolate(text: str, values: dict[str, str]) -> str:
    """Replace compose's ${NAME}, ${NAME:?message} and ${NAME:-default} with values."""
    return re.sub(r"\$\{(\w+)(?::[?-][^}]*)?\}", lambda match: values[match[1]], text)


def test_postgres_keeps_its_data_in_a_named_volume_and_reports_health(compose: dict) -> None:
    postgres = compose["services"]["postgres"]
    volume, _, target = postgres["volumes"][0].partition(":")
    assert volume in compose["volumes"]
    assert target == "/var/lib/postgresql/data"
    assert "pg_isready" in postgres["healthcheck"]["test"]


def test_the_bot_waits_for_a_healthy_database_and_a_finished_migration(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", *BOTS}
    for name in BOTS:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["environment"]["COUNCILBOT_MIGRATE_ON_START"] == "false"
    assert (ROOT / "Dockerfile").exists()


def test_only_migrate_builds_the_image_the_bot_runs(compose: dict) -> None:
    services = compose["services"]
    assert [name for name, service in services.items() if "build" in service] == ["migrate"]
    assert services["migrate"]["build"] == "."
    image = services["migrate"]["image"]
    for name in ("web", "worker"):
        assert services[name]["image"] == image
        # Never a registry's image of that name in place of the one just built.
        assert services[name]["pull_policy"] == "never"


def test_web_takes_the_updates_and_the_worker_the_scheduler(compose: dict) -> None:
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert web["environment"]["COUNCILBOT_ROLE"] == "web"
    assert worker["environment"]["COUNCILBOT_ROLE"] == "worker"
    port = web["environment"]["COUNCILBOT_HTTP_PORT"]
    assert [mapping.rpartition(":")[2] for mapping in web["ports"]] == [port]
    assert "ports" not in worker


def test_every_bot_reaches_the_compose_database(compose: dict) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    for name in BOTS:
        url = interpolate(
            compose["services"][name]["environment"]["COUNCILBOT_DATABASE_URL"],
            {"POSTGRES_PASSWORD": "s3cret"},
        )
        settings = load_settings(database_url=url)
        assert settings.database_url == (
            f"postgresql+asyncpg://{postgres['POSTGRES_USER']}:s3cret"
            f"@postgres:5432/{postgres['POSTGRES_DB']}"
        )


def test_env_example_names_every_setting(compose: dict) -> None:
    documented = env_example()
    settings = {ENVIRONMENT[field] for field in Settings.model_fields}
    used_by_compose = set(re.findall(r"\$\{(\w+)", (ROOT / "compose.yaml").read_text()))
    for service in compose["services"].values():
        used_by_compose |= set(service.get("environment", {})) - {"POSTGRES_USER", "POSTGRES_DB"}
    missing = (settings | used_by_compose | DEPLOYMENT_NAMES) - documented.keys()
    assert not missing, f".env.example does not mention {sorted(missing)}"


def test_env_example_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = env_example()
    for name, (value, commented) in documented.items():
        if name in ENVIRONMENT.values():
            # An uncommented line would be in force: no empty token in the example.
            assert commented or value, f"{name}= is set to nothing"
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.telegram_webhook_secret is not None
    assert settings.outbox_max_attempts == int(documented["COUNCILBOT_OUTBOX_MAX_ATTEMPTS"][0])
