import logging
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote

import pytest

from councilbot.logsafe import QUIET_LOGGERS, configure_logging

TOKEN = "5550001234:CanaryTelegramKey_9f8e7d6c5b4a3210"
SIGNING = "sign/with+odd=chars&more"
SECRETS = {"TELEGRAM_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING}


@pytest.fixture
def configure() -> Iterator[Callable[[str, Mapping[str, str]], None]]:
    """Run configure_logging on a root logger without handlers, as the CLI finds it."""
    root = logging.getLogger()
    saved: list[logging.Handler] = []

    def configure(level: str, secrets: Mapping[str, str]) -> None:
        # pytest adds its capturing handlers just before the test runs, so clear them here.
        saved[:], root.handlers = root.handlers, []
        configure_logging(level, secrets)

    level, quiet = root.level, {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield configure
    root.handlers = saved
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def test_secrets_in_args_and_tracebacks_of_any_logger_are_masked(
    configure: Callable[[str, Mapping[str, str]], None], capsys: pytest.CaptureFixture[str]
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


def test_stack_info_is_masked(
    configure: Callable[[str, Mapping[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", SECRETS)
    stack = f'Stack (most recent call last):\n  File "x.py", line 1\n    get("{TOKEN}")'
    record = logging.LogRecord("x", logging.INFO, "x.py", 1, "here", None, None, sinfo=stack)
    logging.getLogger("x").handle(record)
    err = capsys.readouterr().err
    assert 'get("[TELEGRAM_BOT_TOKEN]")' in err and TOKEN not in err


def test_a_secret_inside_another_is_masked_whole(
    configure: Callable[[str, Mapping[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", {"SLACK_APP_TOKEN": "xapp-long-secret", "SLACK_BOT_TOKEN": "long"})
    logging.getLogger("x").info("app xapp-long-secret, bot long")
    assert "app [SLACK_APP_TOKEN], bot [SLACK_BOT_TOKEN]" in capsys.readouterr().err


def test_url_loggers_stay_at_warning_even_in_debug(
    configure: Callable[[str, Mapping[str, str]], None], capsys: pytest.CaptureFixture[str]
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


def test_a_malformed_call_is_masked_and_does_not_raise(
    configure: Callable[[str, Mapping[str, str]], None], capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", SECRETS)
    logging.getLogger("careless").info("%d retries for %s", "many", TOKEN)
    err = capsys.readouterr().err
    assert "%d retries for %s % ('many', '[TELEGRAM_BOT_TOKEN]')" in err and TOKEN not in err
