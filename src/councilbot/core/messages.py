"""Platform-neutral messages: what adapters hand to the router and what they get back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Platform(StrEnum):
    """Name a chat platform the bot lives on."""

    CONSOLE = "console"
    TELEGRAM = "telegram"
    SLACK = "slack"


class ChatKind(StrEnum):
    """Tell a one-to-one chat from a shared one."""

    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Identity(_Frozen):
    """Name a person on one platform (and, for Slack, one workspace)."""

    platform: Platform
    user_id: str
    workspace: str = ""
    username: str | None = None
    display_name: str | None = None
    language_code: str | None = None

    @property
    def label(self) -> str:
        """Return the friendliest name we know."""
        return self.display_name or self.username or self.user_id


class Chat(_Frozen):
    """Name the chat a command came from."""

    platform: Platform
    chat_id: str
    workspace: str = ""
    kind: ChatKind = ChatKind.GROUP
    title: str | None = None

    @property
    def is_private(self) -> bool:
        """Tell whether only the bot and one person are in this chat."""
        return self.kind is ChatKind.PRIVATE


class Command(_Frozen):
    """Carry one command typed or pressed by a person."""

    name: str
    args: str = ""
    # Arguments filled in a form (a Slack modal), by field name, instead of typed as `args`.
    fields: dict[str, str] | None = None
    sender: Identity
    chat: Chat
    received_at: datetime


class Button(_Frozen):
    """Offer a button that runs a command when pressed, or opens a web page (`url`).

    A link button (a magazine issue's Read) has a `url` and no command: Telegram and Slack
    open the page, the console shows the address.
    """

    label: str
    command: str = ""
    # When the button stops working (an RSVP button: when the event ends); None: the
    # platform's default. Only platforms that store long commands (Telegram) need it.
    expires_at: datetime | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _command_or_url(self) -> Button:
        if bool(self.command) == bool(self.url):
            raise ValueError("a button runs a command or opens a url: give exactly one")
        return self


class Attachment(_Frozen):
    """Carry a file to send with a reply (calendar file, chart, CSV)."""

    filename: str
    content_type: str
    data: bytes


class FormRequest(_Frozen):
    """Ask for the rest of a command in a form, on platforms that have forms (Slack modals).

    The form has one box, `field`, filled in with `value`; its submission runs `command`
    (with `args`, the form's word: `announce edit`) with the fields `fixed` and `field` =
    what was typed. Platforms without forms show the reply's text, which says how to type
    the command instead.
    """

    command: str
    field: str
    # Shown in the reader's language: the box's label, the form's title and its buttons.
    label: str
    title: str
    submit: str
    close: str
    value: str = ""
    args: str = ""
    fixed: dict[str, str] = Field(default_factory=dict)

    def fields(self, typed: str) -> dict[str, str]:
        """Return the command's fields once the box is filled in."""
        return {**self.fixed, self.field: typed.strip()}


class Reply(_Frozen):
    """Carry what the bot answers.

    `text` is safe markup: a small HTML subset (<b>, <i>, <code>, <pre>, <a href>)
    in which every piece of user text has already been escaped. Adapters render it
    for their platform.
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = Field(default=())
    file: Attachment | None = None
    # Where forms exist, ask for the rest of a command in one instead of showing `text`.
    form: FormRequest | None = None
    private: bool = False
    # A short confirmation of a button press (a vote counted): where a platform can show it as
    # a passing notice (Telegram's answer to the press), that notice is all it shows.
    notice: bool = False
    # Set when the command was refused and changed nothing: the reason alone (safe markup,
    # without the usage line) and the argument at fault, if one is.
    error: str | None = None
    error_field: str | None = None

    @property
    def button_list(self) -> list[Button]:
        """Return the buttons row by row, flattened."""
        return [button for row in self.buttons for button in row]
