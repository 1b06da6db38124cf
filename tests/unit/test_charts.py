"""Charts are real PNGs of the size asked for, drawn without pyplot's global state."""

from __future__ import annotations

import asyncio
import io
import struct

from councilbot.services.charts import DPI, render_png


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_chart_is_a_png_whose_bars_were_drawn() -> None:
    def draw(figure) -> None:
        axes = figure.add_subplot()
        axes.bar(["Lean", "Green"], [12, 5])

    data = await render_png(draw, width=4, height=3)
    width, height = _png_size(data)
    # bbox_inches="tight" trims the margins: the image is at most the figure's size.
    assert 0 < width <= 4 * DPI and 0 < height <= 3 * DPI
    from PIL import Image  # matplotlib's own dependency

    image = Image.open(io.BytesIO(data)).convert("RGB")
    # The default bar colour (matplotlib's C0, #1f77b4) is on the image.
    assert (0x1F, 0x77, 0xB4) in {colour for _, colour in image.getcolors(1 << 16)}


async def test_charts_drawn_at_once_do_not_mix() -> None:
    def bars(n: int):
        def draw(figure) -> None:
            figure.add_subplot().bar([str(i) for i in range(n)], range(1, n + 1))

        return draw

    one, other = await asyncio.gather(render_png(bars(2)), render_png(bars(9)))
    assert one != other and _png_size(one) and _png_size(other)
