"""Seeding councils from YAML is idempotent and follows edits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.models import Council
from councilbot.db.session import create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from tests.conftest import SEED_FILE, START


async def _seed(engine: AsyncEngine, path: Path):
    async with create_sessionmaker(engine)() as session, session.begin():
        return await seed_councils(session, read_seed_file(path), now=START)


async def _councils(engine: AsyncEngine) -> dict[str, Council]:
    async with create_sessionmaker(engine)() as session:
        return {c.slug: c for c in await session.scalars(select(Council))}


def test_the_seed_file_has_six_councils_with_desks() -> None:
    seed = read_seed_file(SEED_FILE)
    assert [c.slug for c in seed.councils] == [
        "malaga", "alcala", "bologna", "cork", "istanbul", "paris",
    ]  # fmt: skip
    zones = {c.slug: c.timezone for c in seed.councils}
    assert zones["istanbul"] == "Europe/Istanbul" and zones["cork"] == "Europe/Dublin"
    for council in seed.councils:
        assert council.facilities, council.slug
        assert any(f.kind in {"science_park", "university"} for f in council.facilities)
        for facility in council.facilities:
            assert 4 <= len(facility.desks) <= 12, facility.slug
            assert len({d.code for d in facility.desks}) == len(facility.desks)


async def test_seeding_twice_changes_nothing(engine: AsyncEngine) -> None:
    first = await _seed(engine, SEED_FILE)
    assert (first.created, first.updated, first.unchanged) == (6, 0, 0)
    before = {slug: (c.id, c.updated_at) for slug, c in (await _councils(engine)).items()}
    second = await _seed(engine, SEED_FILE)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 6)
    after = {slug: (c.id, c.updated_at) for slug, c in (await _councils(engine)).items()}
    assert before == after


async def test_editing_the_yaml_updates_rows(engine: AsyncEngine, tmp_path: Path) -> None:
    await _seed(engine, SEED_FILE)
    data = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    data["councils"][3]["focus"] = "talent, lean, skills, robotics"
    data["councils"].append(
        {"slug": "porto", "name": "Porto council", "city": "Porto", "timezone": "Europe/Lisbon",
         "language": "en"}
    )  # fmt: skip
    edited = tmp_path / "councils.yaml"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    report = await _seed(engine, edited)
    assert (report.created, report.updated, report.unchanged) == (1, 1, 5)
    councils = await _councils(engine)
    assert councils["cork"].focus == "talent, lean, skills, robotics"
    assert councils["porto"].timezone == "Europe/Lisbon"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("language", "de", "language must be one of"),
        ("slug", "Bad Slug", "String should match pattern"),
    ],
)
def test_a_wrong_seed_file_is_refused(tmp_path: Path, field: str, value: str, message: str) -> None:
    data = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    data["councils"][0][field] = value
    path = tmp_path / "councils.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValidationError, match=message):
        read_seed_file(path)
