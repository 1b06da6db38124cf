import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO
from urllib.parse import quote

import pytest

from councilbot.logsafe import TEXT_LOGGERS, configure_logging, correlation_id

TOKEN = "5550001234:CanaryTelegramKey_9f8e7d6c5b4a3210"
SIGNING = "sign/with+odd=chars&more"
SECRETS = {"TELEGRAM_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING}


Configure = Callable[..., None]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """Run configure_logging on a root logger without handlers, as the CLI finds it.

    Readable lines unless told otherwise, so that the masking tests read plainly.
    """
    root = logging.getLogger()
    saved: list[logging.Handler] = []
    configured: list[bool] = []

    def configure(
        level: str,
        secrets: Mapping[str, str],
        log_format: str = "text",
        stream: TextIO | None = None,
    ) -> None:
        # pytest adds its capturing handlers just before the test runs, so clear them here.
        if not configured:
            saved[:], configured[:] = root.handlers, [True]
        root.handlers = []
        configure_logging(level, secrets, log_format, stream)

    level = root.level
    yield configure
    root.handlers = saved
    root.setLevel(level)


def test_secrets_in_args_and_tracebacks_of_any_logger_are_masked(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", SECRETS)
    try:
        raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getMe failed")
    except RuntimeError:
        logging.getLogger("some.library").exception(
            "calling %s with %s", f"https://api.telegram.org/bot{TOKEN}/sendMessage", SIGNING
        )
    logging.getLogger("other").warning(
        "quoted %s, key alone %s", quote(SIGNING, safe=""), TOKEN[11:]
    )
    err = capsys.readouterr().err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err
    assert SIGNING not in err and quote(SIGNING, safe="") not in err
    assert "calling https://api.telegram.org/bot[TELEGRAM_BOT_TOKEN]/sendMessage with " in err
    assert "[SLACK_SIGNING_SECRET]" in err
    assert "RuntimeError: GET https://api.telegram.org/bot[TELEGRAM_BOT_TOKEN]/getMe" in err
    assert "quoted [SLACK_SIGNING_SECRET], key alone [TELEGRAM_BOT_TOKEN]" in err


def test_stack_info_is_masked(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", SECRETS)
    stack = f'Stack (most recent call last):\n  File "x.py", line 1\n    get("{TOKEN}")'
    record = logging.LogRecord("x", logging.INFO, "x.py", 1, "here", None, None, sinfo=stack)
    logging.getLogger("x").handle(record)
    err = capsys.readouterr().err
    assert 'get("[TELEGRAM_BOT_TOKEN]")' in err and TOKEN not in err


def test_a_secret_inside_another_is_masked_whole(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = {"SLACK_APP_TOKEN": "xapp-long-secret", "SLACK_BOT_TOKEN": "long-secret"}
    configure("INFO", secrets)
    logging.getLogger("x").info("app xapp-long-secret, bot long-secret")
    assert "app [SLACK_APP_TOKEN], bot [SLACK_BOT_TOKEN]" in capsys.readouterr().err


def test_a_secret_too_short_to_mask_leaves_the_lines_whole(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", {"SLACK_SIGNING_SECRET": "s", **SECRETS})
    logging.getLogger("x").info("sending with %s", TOKEN)
    assert "sending with [TELEGRAM_BOT_TOKEN]" in capsys.readouterr().err


def test_url_loggers_stay_at_warning_even_in_debug(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", SECRETS)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/x", TOKEN)
    logging.getLogger("httpcore.connection").debug("connect_tcp.started")
    logging.getLogger("httpx").warning("retrying https://api.telegram.org/bot%s/x", TOKEN)
    logging.getLogger("telegram.ext").debug("polling")
    err = capsys.readouterr().err
    assert "HTTP Request" not in err and "connect_tcp" not in err
    assert "WARNING httpx: retrying https://api.telegram.org/bot[TELEGRAM_BOT_TOKEN]/x" in err
    assert "DEBUG telegram.ext: polling" in err


def test_loggers_that_write_what_people_wrote_stay_at_info_even_in_debug(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", SECRETS)
    said = "Processing update {'text': 'my private words'}"
    for name in TEXT_LOGGERS:
        logging.getLogger(name).debug(said)
        child = logging.getLogger(f"{name}.Child")
        child.setLevel(logging.DEBUG)  # as slack_bolt does to its loggers
        child.debug(said)
    logging.getLogger("telegram.Bot").info("kept")
    logging.getLogger("telegram.ext.Updater").debug("Updater started")
    err = capsys.readouterr().err
    assert "private words" not in err
    assert "INFO telegram.Bot: kept" in err and "DEBUG telegram.ext.Updater: Updater" in err


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def _raise_with_secret() -> None:
    raise RuntimeError(f"GET https://api.telegram.org/bot{TOKEN}/getMe failed")


def test_json_lines_carry_the_fields_masked_the_traceback_and_the_command_id(
    configure: Configure,
) -> None:
    stream = io.StringIO()  # not a terminal: JSON lines by default
    configure("INFO", SECRETS, "auto", stream)
    token = correlation_id.set("0123abcd")
    try:
        _raise_with_secret()
    except RuntimeError:
        logging.getLogger("councilbot.x").exception(
            "calling %s", TOKEN, extra={"platform": "telegram", "duration_ms": 7, "url": SIGNING}
        )
    finally:
        correlation_id.reset(token)
    logging.getLogger("other").warning("multi\nline «ü»")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    traceback = first.pop("traceback")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first.pop("time"))
    assert first == {
        "level": "ERROR",
        "logger": "councilbot.x",
        "message": "calling [TELEGRAM_BOT_TOKEN]",
        "platform": "telegram",
        "duration_ms": 7,
        "url": "[SLACK_SIGNING_SECRET]",
        "correlation_id": "0123abcd",
    }
    assert traceback.startswith("Traceback (most recent call last):")
    assert "RuntimeError: GET https://api.telegram.org/bot[TELEGRAM_BOT_TOKEN]/getMe" in traceback
    assert TOKEN.split(":")[1] not in stream.getvalue()
    # Outside a command there is no id; the text is kept whole.
    assert second["message"] == "multi\nline «ü»" and "correlation_id" not in second


def test_a_terminal_gets_readable_lines_with_the_command_id(configure: Configure) -> None:
    terminal = Terminal()
    configure("INFO", SECRETS, "auto", terminal)
    token = correlation_id.set("0123abcd")
    try:
        _raise_with_secret()
    except RuntimeError:
        logging.getLogger("councilbot.x").exception("failed with %s", SIGNING)
    finally:
        correlation_id.reset(token)
    logging.getLogger("councilbot.y").info("serving")
    lines = terminal.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR councilbot\.x \[0123abcd\]: "
        r"failed with \[SLACK_SIGNING_SECRET\]",
        lines[0],
    )
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2].endswith(
        "RuntimeError: GET https://api.telegram.org/bot[TELEGRAM_BOT_TOKEN]/getMe failed"
    )
    assert lines[-1].endswith("Z INFO councilbot.y: serving")


@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("text", False)])
def test_the_format_can_be_forced(configure: Configure, log_format: str, json_lines: bool) -> None:
    terminal, piped = Terminal(), io.StringIO()
    for stream in (terminal, piped):
        configure("INFO", SECRETS, log_format, stream)
        logging.getLogger("councilbot").info("hello")
    for stream in (terminal, piped):
        line = stream.getvalue().strip()
        assert line.startswith("{") == json_lines
        assert (json.loads(line)["message"] if json_lines else line.split(": ", 1)[1]) == "hello"


def test_a_malformed_call_is_masked_and_does_not_raise(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", SECRETS)
    logging.getLogger("careless").info("%d retries for %s", "many", TOKEN)
    err = capsys.readouterr().err
    assert "%d retries for %s % ('many', '[TELEGRAM_BOT_TOKEN]')" in err and TOKEN not in err
