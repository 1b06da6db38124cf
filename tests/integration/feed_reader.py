"""A separate process that reads the magazine's feed a few times, as a second worker would.

`python -m tests.integration.feed_reader DATABASE_URL FEED_URL TIMES` prints the numbers of
the issues it posted, one JSON list per line (tests/integration/test_magazine_feed.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from councilbot.adapters import http
from councilbot.core.i18n import Catalogs
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.services import magazine_feed


async def main(database_url: str, feed_url: str, times: int) -> None:
    engine = create_engine(database_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        for _ in range(times):
            outcome = await magazine_feed.read_feed(
                sessionmaker,
                feed_url,
                get=http.get,
                now=datetime.now(UTC),
                catalogs=Catalogs.load(),
                seconds=5,
            )
            print(json.dumps(list(outcome.posted)), flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
