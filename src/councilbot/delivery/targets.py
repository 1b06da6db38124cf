"""What the outbox hands to a platform, and how a platform says it failed.

A target sends one rendered message to one chat and either returns the
platform's message id or raises one of the errors below; the dispatcher turns
those into retries, waits, failed rows or dead rows. Only `PermanentError` switches a
chat off: a message the platform refuses (`Rejected`, also when the app was removed from
the chat's workspace, so that a reinstall finds its chats linked) or a workspace whose
credentials it refuses (`Unauthorized`) leaves the chat linked.

A target also edits and deletes the messages it sent, by the id it returned, with the same
errors; `NotAllowed` says that the platform does not let the bot change that message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from councilbot.core.messages import Button, ChatKind, Platform


class FileRef(BaseModel):
    """A stored file an outbox message carries (see delivery.files.store).

    The outbox row holds only this reference; the dispatcher reads the bytes into `data`
    just before the message goes to its target, and they are never written back.
    """

    model_config = ConfigDict(frozen=True)

    id: int  # the `files` row holding the bytes
    sha256: str  # their hex digest: the same bytes, whatever the row
    filename: str
    content_type: str
    size: int  # bytes
    data: bytes | None = Field(default=None, exclude=True, repr=False)


class NativePoll(BaseModel):
    """A platform's own poll to post instead of the text (Telegram's sendPoll), if it can.

    Only targets with native polls read it; the others send the text and its buttons, and
    so does Telegram where it refuses the native poll (a channel). `closed`, in an edit,
    stops the poll (stopPoll).
    """

    model_config = ConfigDict(frozen=True)

    question: str  # plain text
    options: tuple[str, ...]
    multiple: bool = False
    closed: bool = False


class Outgoing(BaseModel):
    """One message for one chat, as stored in the outbox."""

    model_config = ConfigDict(frozen=True)

    platform: Platform
    workspace: str = ""
    chat_id: str
    chat_kind: ChatKind = ChatKind.GROUP
    text: str  # safe markup, see core.messages.Reply
    buttons: tuple[tuple[Button, ...], ...] = ()
    file: FileRef | None = None  # sent with the text: see each target for how
    # Not a message: "home" publishes the member's Slack Home tab (services.home), rendered
    # when it is sent. Only the Slack target is given such rows.
    view: str | None = None
    poll: NativePoll | None = None  # a native poll where the platform has them
    # A picture shown with the text, by its address (a magazine issue's cover): Telegram
    # sends it as a photo captioned with the text, Slack as an image block. Not with `file`.
    image_url: str | None = None


class DeliveryError(Exception):
    """Base of the errors a target raises."""

    status: int | None = None  # the HTTP status of the platform's answer, if one came

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryAfter(DeliveryError):
    """The platform asked us to slow down: retry after `seconds` (HTTP 429)."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds


class TransientError(DeliveryError):
    """A network error or a 5xx: retry with exponential backoff."""


class Rejected(DeliveryError):
    """The platform refuses this message (bad markup, app uninstalled): fail it, keep the chat."""


class NotAllowed(Rejected):
    """The platform does not let the bot edit or delete this message (too old, no right)."""


class Unauthorized(DeliveryError):
    """The platform refused our credentials for the message's workspace: hold it, keep the chat."""


class PermanentError(DeliveryError):
    """The chat is gone for us (bot removed, chat not found, user blocked us): never retry."""


class Moved(DeliveryError):
    """The chat has a new id (a Telegram group upgraded to a supergroup): send there instead."""

    def __init__(self, reason: str, chat_id: str) -> None:
        super().__init__(reason)
        self.chat_id = chat_id


class DeliveryTarget(Protocol):
    """Send outbox messages to one platform, and edit and delete what it sent."""

    platform: Platform
    # How long after posting the platform lets a bot delete its message (None: no limit);
    # the dispatcher does not try a deletion it knows the platform would refuse.
    delete_window: timedelta | None

    async def deliver(self, message: Outgoing) -> str | None:
        """Send the message; return the platform's message id, or raise a DeliveryError."""
        ...

    async def edit(self, message: Outgoing, message_id: str) -> None:
        """Replace the text and buttons of a sent message, or raise a DeliveryError."""
        ...

    async def delete(self, message: Outgoing, message_id: str) -> None:
        """Delete a sent message (one already gone counts as deleted), or raise a DeliveryError."""
        ...
