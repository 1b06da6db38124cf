"""PNG charts (poll results, desk occupancy), drawn off the event loop.

matplotlib is imported the first time a chart is drawn, not when the bot starts, so that a
bot that never draws one stays small; the drawing runs in a worker thread so that other
commands are not held up meanwhile. Each chart draws on its own `Figure` (no pyplot and
its global state), which is what makes drawing from threads safe.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["render_png"]

DPI = 100


async def render_png(
    draw: Callable[[Figure], None], *, width: float = 6.4, height: float = 4.0
) -> bytes:
    """Return the PNG of a `width` x `height` inch figure that `draw` fills."""
    return await asyncio.to_thread(_render, draw, width, height)


def _render(draw: Callable[[Figure], None], width: float, height: float) -> bytes:
    # matplotlib is tens of MB: loaded with the first chart.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    draw(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
