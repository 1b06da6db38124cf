"""The Telegram chat adapter: commands and button presses in, the router's replies out.

It runs python-telegram-bot's Application, by long polling or behind the built-in web
server's /telegram/webhook. A reply's file goes after its text: charts as photos,
anything else (calendar files, CSV) as a document. Outbox messages (announcements, reminders) do not pass here:
they go through delivery.TelegramTarget.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from telegram import (
    BotCommand,
    ChatMember,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram import Chat as TelegramChat
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    PollAnswerHandler,
    filters,
)

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.adapters.telegram.render import (
    CallbackStore,
    is_photo,
    keyboard,
    split_html,
    toast,
)
from councilbot.core.formatting import plain_text
from councilbot.core.grammar import split_command
from councilbot.core.i18n import LANGUAGES, N_
from councilbot.core.messages import (
    Attachment,
    Chat,
    ChatKind,
    Command,
    Identity,
    Platform,
    Reply,
)
from councilbot.core.router import Router
from councilbot.delivery.targets import DeliveryError

log = logging.getLogger(__name__)

ALLOWED_UPDATES = (
    "message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "poll_answer",  # a vote in one of our native polls
    # Not "poll" (a native poll's new state): we keep our own counts, so it would only cost.
)
# The bot's own membership: "member"/"administrator" is in the chat, "left"/"kicked" is out.
PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})
COMMAND_DESCRIPTION_LIMIT = 256
DRAIN_TIMEOUT = 10.0  # seconds stop() waits for the updates being answered
NOT_PRIVATE = N_(
    "This answer is only for you, but I cannot write to you privately yet: open a chat "
    "with @{bot}, press Start and send the command there."
)
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_KINDS = {
    TelegramChat.PRIVATE: ChatKind.PRIVATE,
    TelegramChat.GROUP: ChatKind.GROUP,
    TelegramChat.SUPERGROUP: ChatKind.GROUP,
    TelegramChat.CHANNEL: ChatKind.CHANNEL,
}

Context = ContextTypes.DEFAULT_TYPE


class TelegramAdapter:
    """Answer Telegram commands and button presses through the router."""

    def __init__(
        self,
        router: Router,
        token: str,
        *,
        base_url: str = "https://api.telegram.org/bot",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        callbacks: CallbackStore | None = None,
        poll_timeout: float = 10.0,
    ) -> None:
        self.router = router
        # Long button commands are kept in the database, so that buttons outlive a restart.
        self.callbacks = callbacks or CallbackStore(router.sessionmaker, clock=router.clock)
        self._token = token
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._poll_timeout = poll_timeout
        # Replies go out on a lean aiohttp pool (JSON bodies), as the outbox's messages do:
        # python-telegram-bot's send_message through httpx cost more CPU than the command.
        self._replies = TelegramTarget(token, base_url, callbacks=self.callbacks)
        head, _, tail = base_url.rstrip("/").rpartition("/")
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .base_file_url(f"{head}/file/{tail}")  # Telegram serves files under /file/bot<token>
            .job_queue(None)
        )
        if webhook_url:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        self.application.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST, self._on_message
            )
        )
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        self.application.add_handler(
            ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        self.application.add_handler(PollAnswerHandler(self._on_poll_answer))
        self.application.add_error_handler(self._on_error)

    async def start(self) -> None:
        """Check the token, publish the command menu and start receiving updates."""
        await self.application.initialize()
        self._replies.open()
        await self._set_commands()
        await self.application.start()
        if self._webhook_url:
            if not self._webhook_secret:
                log.warning("telegram webhook has no secret: every webhook call will be refused")
            await self.application.bot.set_webhook(
                url=self._webhook_url,
                secret_token=self._webhook_secret,
                allowed_updates=list(ALLOWED_UPDATES),
            )
        elif self.application.updater is not None:
            await self.application.updater.start_polling(
                poll_interval=0.0,
                timeout=self._poll_timeout,
                allowed_updates=list(ALLOWED_UPDATES),
                error_callback=self._on_polling_error,
            )

    async def pause(self) -> None:
        """Stop polling for updates (in webhook mode the web server refuses them)."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self, grace: float = DRAIN_TIMEOUT) -> None:
        """Stop receiving, answer the updates received (up to `grace` seconds), disconnect."""
        await self.pause()
        if self.application.running:
            stopping = asyncio.ensure_future(self.application.stop())
            _done, late = await asyncio.wait({stopping}, timeout=grace)
            if late:
                log.warning("telegram updates still being answered after %.0f s", grace)
                stopping.cancel()
        await self.application.shutdown()
        await self._replies.stop()

    async def process_webhook(self, body: bytes, secret_header: str | None) -> int:
        """Process one webhook call and return the HTTP status to answer with."""
        if not self._webhook_secret:
            log.warning("refused a telegram webhook call: no webhook secret is configured")
            return 403
        if secret_header is None or not hmac.compare_digest(
            secret_header.encode(), self._webhook_secret.encode()
        ):
            log.info("refused a telegram webhook call with a missing or wrong secret")
            return 403
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # de_json fails in many ways on a body of the wrong shape
            log.info("refused a telegram webhook call with a bad body: %r", exc)
            return 400
        await self.application.process_update(update)
        return 200

    async def _set_commands(self) -> None:
        specs = self.router.visible_specs()
        for lang in (None, *LANGUAGES):
            translate = self.router.catalogs.translator(lang or "en")
            commands = [
                BotCommand(
                    spec.name, plain_text(translate(spec.summary))[:COMMAND_DESCRIPTION_LIMIT]
                )
                for spec in specs
            ]
            await self.application.bot.set_my_commands(commands, language_code=lang)

    async def _on_message(self, update: Update, _context: Context) -> None:
        """Answer a command addressed to this bot; hand other text to the router (a hint)."""
        message = update.effective_message
        if message is None:
            return
        text = message.text or message.caption or ""
        entities = message.entities or message.caption_entities
        head = next(
            (e for e in entities if e.type == MessageEntity.BOT_COMMAND and e.offset == 0), None
        )
        if head is None:
            if text:  # not service messages (a member joined, a pinned message)
                chat = _chat(message.chat, message.from_user)
                reply = await self.router.handle_text(_identity(message), chat)
                if reply is not None:
                    await self._post(chat.chat_id, reply)
            return
        typed = text[: head.length]  # commands are ASCII, so UTF-16 and str lengths agree
        name, _, addressee = typed.partition("@")
        if addressee and addressee.lower() != (self.application.bot.username or "").lower():
            return
        command = Command(
            name=name.lstrip("/"),
            args=text[head.length :].strip(),
            sender=_identity(message),
            chat=_chat(message.chat, message.from_user),
            received_at=message.date,
        )
        reply = await self.router.handle(command)
        # In a group, quote the command so that everyone sees whom the answer is for.
        quote = message.message_id if command.chat.kind is ChatKind.GROUP else None
        await self._send_reply(command, reply, quote=quote)

    async def _on_callback(self, update: Update, _context: Context) -> None:
        """Run the command behind a pressed button and show its answer."""
        query = update.callback_query
        if query is None:
            return
        user = query.from_user
        message = query.message
        sender, chat = _user_identity(user), _chat(message.chat if message else None, user)
        pressed = await self.callbacks.resolve(query.data or "")
        typed = pressed.command
        if typed is None or pressed.expired:
            t = await self.router.translator_for(sender, chat)
            if typed is None:
                await query.answer(t("This button has expired; please type the command."))
            else:  # say what it did, so that it can still be done by hand
                expired = t(
                    "This button has expired. To do it anyway, send: {command}", command=typed
                )
                await query.answer(toast(expired), show_alert=True)
            return
        name, args = split_command(typed)
        command = Command(
            name=name, args=args, sender=sender, chat=chat, received_at=self.router.clock()
        )
        reply = await self.router.handle(command)
        if reply.error is not None:
            # A refusal is for the presser alone: a pop-up, and the message stays as it was.
            await query.answer(toast(reply.error), show_alert=True)
            return
        await query.answer(toast(reply.text))
        if reply.notice:
            return  # the toast says it; the message pressed (a poll's post) stays as it was
        elsewhere = reply.private and not command.chat.is_private
        if elsewhere or reply.file is not None or not isinstance(message, Message):
            # A file cannot be edited into a text message: the answer comes as a new one.
            await self._send_reply(command, reply)
            return
        first = split_html(reply.text)[0]
        if plain_text(first).strip() == (message.text or "").strip():
            return
        try:
            await message.edit_text(
                first,
                parse_mode=ParseMode.HTML,
                reply_markup=await keyboard(reply.buttons, self.callbacks),
                link_preview_options=_NO_PREVIEW,
            )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            log.info("could not edit telegram message, sending a new one: %s", exc.message)
            await self._send_reply(command, reply)

    async def _on_poll_answer(self, update: Update, _context: Context) -> None:
        """Turn a vote in a native poll into the platform-neutral /vote (or /unvote).

        A `poll_answer` names no chat, only the poll's id: the polls service maps it to our
        poll. No options chosen means the vote was taken back. Telegram shows the voter their
        vote, so the answer is only logged.
        """
        answer = update.poll_answer
        if answer is None or answer.user is None:  # a chat voting anonymously: nobody to count
            return
        chosen = " ".join(str(option) for option in answer.option_ids)
        name = "vote" if chosen else "unvote"
        command = Command(
            name=name,
            args=f"tg:{answer.poll_id} {chosen}".strip(),
            sender=_user_identity(answer.user),
            chat=_chat(None, answer.user),
            received_at=self.router.clock(),
        )
        reply = await self.router.handle(command)
        if reply.error is not None:
            log.info("a telegram poll answer was not counted: %s", plain_text(reply.error))

    async def _on_migrate(self, update: Update, _context: Context) -> None:
        """Keep a group's link when Telegram upgrades it to a supergroup (a new chat id)."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_from_chat_id is not None:  # said in the new supergroup
            old, new = str(message.migrate_from_chat_id), str(message.chat.id)
        elif message.migrate_to_chat_id is not None:  # said in the old group
            old, new = str(message.chat.id), str(message.migrate_to_chat_id)
        else:
            return
        old_chat = Chat(platform=Platform.TELEGRAM, chat_id=old, kind=ChatKind.GROUP)
        await self.router.chat_moved(old_chat, new)
        log.info("telegram group %s is now supergroup %s", old, new)

    async def _on_membership(self, update: Update, _context: Context) -> None:
        """Greet a group the bot was added to; stop sending to one it left or that blocked it."""
        change = update.my_chat_member
        if change is None:
            return
        was = change.old_chat_member.status in PRESENT
        present = change.new_chat_member.status in PRESENT
        if was == present:
            return  # promoted, demoted, restricted: still there
        chat = _chat(change.chat, change.from_user)
        reply = await self.router.presence(chat, _user_identity(change.from_user), present=present)
        if reply is not None and chat.kind is ChatKind.GROUP:  # a channel's readers need no help
            await self._post(chat.chat_id, reply)

    async def _send_reply(
        self, command: Command, reply: Reply, *, quote: int | None = None
    ) -> None:
        if not reply.private or command.chat.is_private:
            await self._post(command.chat.chat_id, reply, quote=quote)
            return
        # Only for the sender: to their private chat, which has the user's id. A chat
        # speaking (an anonymous admin, a channel) has nobody to write to, and Telegram
        # refuses a private chat the person never started.
        if not command.sender.user_id.startswith("-"):
            try:
                await self._post(command.sender.user_id, reply)
                return
            except Forbidden as exc:
                log.info("cannot write privately to a telegram user: %s", exc.message)
            except DeliveryError as exc:
                if exc.status != 403:
                    raise
                log.info("cannot write privately to a telegram user: %s", exc.reason)
        t = await self.router.translator_for(command.sender, command.chat)
        note = Reply(text=t(NOT_PRIVATE, bot=self.application.bot.username or "CouncilBot"))
        await self._post(command.chat.chat_id, note, quote=quote)

    async def _post(self, chat_id: str, reply: Reply, *, quote: int | None = None) -> None:
        """Send a reply's text, in chunks with the keyboard on the last, then its file."""
        chunks = split_html(reply.text)
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            if self._replies.is_open:
                await self._replies.send_text(
                    chat_id,
                    chunk,
                    buttons=reply.buttons if last else (),
                    quote=quote if index == 0 else None,
                )
                continue
            await self.application.bot.send_message(
                chat_id,
                chunk,
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
                reply_markup=(await keyboard(reply.buttons, self.callbacks)) if last else None,
                reply_parameters=_quoting(quote) if index == 0 else None,
            )
        if reply.file is not None:
            await self._send_file(chat_id, reply.file)

    async def _send_file(self, chat_id: str, file: Attachment) -> None:
        """Send a chart as a photo (shown inline) and anything else as a document."""
        upload = InputFile(file.data, filename=file.filename)
        if is_photo(file.content_type, len(file.data)):
            await self.application.bot.send_photo(chat_id, upload)
        else:
            await self.application.bot.send_document(chat_id, upload)

    async def _on_error(self, update: object, context: Context) -> None:
        """Log an error raised while handling an update."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, TelegramError | DeliveryError):
            log.warning("telegram update %s failed: %s", update_id, self._redact(error))
        else:
            log.error("telegram update %s failed", update_id, exc_info=error)

    def _on_polling_error(self, error: TelegramError) -> None:
        log.warning("telegram polling failed, retrying: %s", self._redact(error))

    def _redact(self, error: BaseException) -> str:
        return str(error).replace(self._token, "<token>")


def _quoting(message_id: int | None) -> ReplyParameters | None:
    """Quote a message, or send anyway when it was deleted meanwhile."""
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


def _user_identity(user: User) -> Identity:
    return Identity(
        platform=Platform.TELEGRAM,
        user_id=str(user.id),
        username=user.username,
        display_name=user.full_name,
        language_code=user.language_code,
    )


def _identity(message: Message) -> Identity:
    """Name who spoke: the user, or the chat for channel posts and anonymous admins."""
    if message.sender_chat is None and message.from_user is not None:
        return _user_identity(message.from_user)
    speaker = message.sender_chat or message.chat
    return Identity(
        platform=Platform.TELEGRAM,
        user_id=str(speaker.id),
        username=speaker.username,
        display_name=speaker.effective_name,
    )


def _chat(chat: TelegramChat | None, user: User | None) -> Chat:
    if chat is None:  # a button under an inline message: answer in the user's private chat
        assert user is not None
        return Chat(platform=Platform.TELEGRAM, chat_id=str(user.id), kind=ChatKind.PRIVATE)
    return Chat(
        platform=Platform.TELEGRAM,
        chat_id=str(chat.id),
        kind=_KINDS.get(chat.type, ChatKind.GROUP),
        title=chat.title or chat.effective_name or (user.full_name if user else None),
    )
