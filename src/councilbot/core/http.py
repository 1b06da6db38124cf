"""A plain HTTP GET, as services may ask for one (the magazine's feed) without a library.

The layers below the adapters load no HTTP library: the composition root hands them an
`HttpGet` (adapters/http.py's, on aiohttp), and tests may hand them their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What a server answered: its status, headers (as sent) and body (maybe cut short)."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    truncated: bool = False  # the body was longer than the caller's limit


class HttpFailure(Exception):
    """No answer came: the network failed, the address is wrong, or time ran out."""


# get(url, headers, seconds, max_bytes): one GET within `seconds` in all, reading at most
# `max_bytes` of the body; raises HttpFailure when no answer came.
HttpGet = Callable[[str, Mapping[str, str], float, int], Awaitable[HttpAnswer]]
