"""The bare echo bots the benchmark compares CouncilBot with: each library and nothing else.

    python -m bench.echo telegram BASE_URL
    python -m bench.echo slack BASE_URL PORT

Telegram: a python-telegram-bot Application, long polling, answering every message with
its own text (as CouncilBot's adapter, updates one at a time). Slack: a slack_bolt AsyncApp
on bolt's own aiohttp server, acking `/council` and posting its text back to the channel.
Both run until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from bench.fakes import SIGNING_SECRET, SLACK_TOKEN, TOKEN


async def telegram(base_url: str) -> None:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    application = ApplicationBuilder().token(TOKEN).base_url(base_url).job_queue(None).build()
    application.add_handler(MessageHandler(filters.ALL, echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=10)
    await _until_stopped()
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def slack(base_url: str, port: int) -> None:
    from aiohttp import web
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        client=AsyncWebClient(token=SLACK_TOKEN, base_url=base_url),
        signing_secret=SIGNING_SECRET,
    )

    @app.command("/council")
    async def echo(ack: AsyncAck, body: dict[str, str], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(channel=body["channel_id"], text=body["text"])

    server = app.server(port=port, path="/slack/events", host="127.0.0.1")
    runner = web.AppRunner(server.web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_stopped()
    await runner.cleanup()


async def _until_stopped() -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()


if __name__ == "__main__":
    if sys.argv[1] == "telegram":
        asyncio.run(telegram(sys.argv[2]))
    else:
        asyncio.run(slack(sys.argv[2], int(sys.argv[3])))
