"""The HTTP GET that services are handed (core.http.HttpGet), on aiohttp."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from councilbot.core.http import HttpAnswer, HttpFailure


async def get(url: str, headers: Mapping[str, str], seconds: float, max_bytes: int) -> HttpAnswer:
    """GET `url` within `seconds` in all, reading at most `max_bytes` of the body."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as http,
            http.get(url, headers=dict(headers), allow_redirects=True) as response,
        ):
            body = await response.content.read(max_bytes + 1)
            return HttpAnswer(
                status=response.status,
                reason=response.reason or "",
                headers={k: v for k, v in response.headers.items()},
                body=body[:max_bytes],
                truncated=len(body) > max_bytes,
            )
    except TimeoutError:
        raise HttpFailure(f"no answer within {seconds:g} seconds") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
