"""The command grammar: quoted arguments, `--flags`, and typed argument models.

A command's arguments are a pydantic model. Fields are positional in declaration
order, except those marked `Flag()`; a field marked `Rest()` takes the remaining
words verbatim; a field marked `CommaList()` takes words joined by commas
(`cork, malaga`). Dates and times are read in the council's time zone through the
validation context (`today`, `now`, `tz`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from markupsafe import Markup
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from councilbot.core import dates
from councilbot.core.errors import InvalidInput
from councilbot.core.i18n import N_, Lazy, Translator

# Straight, typographic and guillemet quotes: phones type the latter two.
QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "«": "»", "‘": "’", "”": "”"}
# A single quote that is never closed is an apostrophe ('90s, 'tis): the word is read as typed,
# so the options after it still count.
APOSTROPHES = {"'", "‘"}
# Phones and word processors turn "--" into an em or en dash (some keyboards offer the minus
# sign): one or two of them before a known option name read as "--".
_DASHED_OPTION = re.compile(r"[—–−]{1,2}(\S+)")
# A dash apart from the option name it comes before (`-- at`, `— at`): a slip, not text.
_LONE_DASH = re.compile(r"--|[—–−]{1,2}")


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the arguments, with where it sits in the raw text."""

    value: str
    start: int
    end: int
    quoted: bool = False
    unclosed: bool = False

    @property
    def is_flag(self) -> bool:
        """Tell whether this is an unquoted `--name`."""
        return not self.quoted and self.value.startswith("--") and len(self.value) > 2


def tokenize(text: str) -> list[Token]:
    """Split text into words, keeping quoted parts whole; an unclosed quote runs to the end."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        closing = QUOTES.get(text[i])
        end = -1 if closing is None else text.find(closing, i + 1)
        if closing is not None and (end != -1 or text[i] not in APOSTROPHES):
            unclosed = end == -1
            end = n if unclosed else end
            tokens.append(
                Token(text[i + 1 : end], start, min(end + 1, n), quoted=True, unclosed=unclosed)
            )
            i = end + 1
            continue
        while i < n and not text[i].isspace():
            i += 1
        tokens.append(Token(text[start:i], start, i))
    return tokens


class Flag:
    """Mark a field as a `--name` option instead of a positional argument."""


class Rest:
    """Mark a field as taking every remaining positional word, verbatim."""


class CommaList:
    """Mark a field as a comma-separated list, which may have spaces around its commas."""


class Councils:
    """Mark a field whose words are council slugs: a form offers the councils to pick from."""


class Picked:
    """Mark a field whose value a form picks from a list the app loads when the form opens.

    `kind` names the list (a feature declares how to load it: core.features.Choices), e.g.
    "facility": a Slack modal offers the facilities in a menu; typed, the word is the value.
    """

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class TypedOnly:
    """Mark a field that only typed commands give: forms leave it out (they ask otherwise)."""


class Declared:
    """Mark a field whose choices the app declares at run time (the features' topics).

    The router gives the choices by kind in the parsing context (`declared`); the usage line
    and forms show them like a Literal's, and a value outside them is refused the same way.
    """

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class ArgModel(BaseModel):
    """Base of every command's argument model."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    # Times a daylight-saving change skips or repeats, by field: the answer says how each
    # was read.
    _shifts: dict[str, dates.Shift] = PrivateAttr(default_factory=dict)
    # Fields of type WhenOrDay given a date alone (read as the end of that day), by field.
    _whole_days: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _keep_shifts(self, info: ValidationInfo) -> ArgModel:
        self._shifts = (info.context or {}).get(_SHIFTS, {})
        self._whole_days = (info.context or {}).get(_WHOLE_DAYS, {})
        return self

    def whole_day(self, name: str) -> str | None:
        """Return what was typed for a WhenOrDay field given a date alone (None: a time too)."""
        return self._whole_days.get(name)

    def notes(self, t: Translator) -> list[Markup]:
        """Say, in the reader's language, how each time a daylight-saving change moved was read."""
        return [_explain_shift(shift, t) for shift in self._shifts.values()]


class NoArgs(ArgModel):
    """Take no arguments."""


def _context_value(info: ValidationInfo, key: str) -> Any:
    context = info.context or {}
    if key not in context:
        raise RuntimeError(f"argument parsing needs {key!r} in the validation context")
    return context[key]


def _parse_date(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        try:
            return dates.parse_date(value, today=_context_value(info, "today"))
        except dates.DateParseError:
            raise PydanticCustomError("bad_date", "not a date") from None
    return value


_SHIFTS = "shifts"
_WHOLE_DAYS = "whole_days"
END_OF_DAY = time(23, 59)  # what a WhenOrDay given a date alone means
DECLARED = "declared"  # the parsing context's run-time choices, by kind (see Declared)


def _parse_when(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        try:
            moment = dates.parse_moment(
                value, now=_context_value(info, "now"), tz=_context_value(info, "tz")
            )
        except dates.DateParseError:
            raise PydanticCustomError("bad_when", "not a time") from None
        if moment.shift is not None:
            # Read back by ArgModel._keep_shifts once the whole model is valid.
            (info.context or {}).setdefault(_SHIFTS, {})[str(info.field_name)] = moment.shift
        return moment.at
    return value


def _parse_when_or_day(value: Any, info: ValidationInfo) -> Any:
    """Read a moment, or a date alone as the end of that day (23:59 in the zone)."""
    try:
        return _parse_when(value, info)
    except PydanticCustomError:
        now: datetime = _context_value(info, "now")
        tz: ZoneInfo = _context_value(info, "tz")
        today = now.astimezone(tz).date()
        try:
            # "yesterday" only to say it has passed (dates reads days to come).
            day = (
                today - timedelta(days=1)
                if value.strip().lower() == "yesterday"
                else dates.parse_date(value, today=today)
            )
        except dates.DateParseError:
            raise PydanticCustomError("bad_when", "not a time") from None
        (info.context or {}).setdefault(_WHOLE_DAYS, {})[str(info.field_name)] = value
        return datetime.combine(day, END_OF_DAY, tzinfo=tz).astimezone(UTC)


def _explain_shift(shift: dates.Shift, t: Translator) -> Markup:
    values = {
        "time": shift.wall.strftime("%H:%M"),
        "day": format_date(shift.wall.date(), "d MMM", locale=t.lang),
        "zone": str(shift.used.tzinfo),
        # The offset, not the zone's abbreviation: the same in every language, and what
        # a time typed with its offset (as {other} suggests) spells out.
        "used": format_time(shift.used, "HH:mm '(UTC'xxx')'", locale=t.lang),
        "other": shift.other.isoformat(timespec="minutes"),
    }
    if shift.skipped:
        return t(
            "{time} does not exist on {day} in {zone} (clocks go forward); I used {used}.",
            **values,
        )
    return t(
        "{time} happens twice on {day} in {zone} (clocks go back); I used the first one, "
        "{used}. For the second one, write {other}.",
        **values,
    )


def _parse_time(value: Any, _info: ValidationInfo) -> Any:
    if isinstance(value, str):
        try:
            return dates.parse_time(value)
        except dates.DateParseError:
            raise PydanticCustomError("bad_time", "not a time of day") from None
    return value


def _parse_time_range(value: Any, _info: ValidationInfo) -> Any:
    if isinstance(value, str):
        try:
            return dates.parse_time_range(value)
        except dates.DateParseError:
            raise PydanticCustomError("bad_time_range", "not a time range") from None
    return value


LocalDate = Annotated[date, BeforeValidator(_parse_date)]
LocalTime = Annotated[time, BeforeValidator(_parse_time)]  # a time of day, no date
When = Annotated[datetime, BeforeValidator(_parse_when)]
# A moment, or a date alone meaning the end of that day (`--closes friday`).
WhenOrDay = Annotated[datetime, BeforeValidator(_parse_when_or_day)]
TimeRange = Annotated[tuple[time, time], BeforeValidator(_parse_time_range)]


# What a form asks for, by the argument's type: a platform with forms (Slack) picks its
# input from this; whatever the input, its value comes back as the text one would type.
FieldKind = Literal[
    "text", "choice", "flag", "date", "time", "when", "number", "councils", "picked"
]


@dataclass(frozen=True, slots=True)
class FormField:
    """Describe one argument of a command: how it is typed, and how a form asks for it."""

    name: str
    info: FieldInfo
    flag: bool
    rest: bool
    comma_list: bool
    boolean: bool
    many: bool
    choices: tuple[str, ...]
    kind: FieldKind = "text"
    minimum: int | None = None  # of a number, when the model bounds it
    maximum: int | None = None
    declared: str | None = None  # the kind of run-time choices (Declared), if any
    picks: str | None = None  # the list a form picks the value from (Picked), if any
    typed_only: bool = False  # forms leave it out (TypedOnly)

    @property
    def placeholder(self) -> Lazy:
        return Lazy(self.info.title or self.name)


def _unwrap(annotation: Any) -> Any:
    """Strip Optional[...] and Annotated[...] to reach the base type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


@functools.cache
def fields_of(model: type[ArgModel]) -> tuple[FormField, ...]:
    """Describe a model's fields for parsing and for the usage line (once per model)."""
    described = []
    for name, info in model.model_fields.items():
        markers = info.metadata
        base = _unwrap(info.annotation)
        origin = get_origin(base)
        choices = tuple(str(c) for c in get_args(base)) if origin is Literal else ()
        described.append(
            FormField(
                name=name,
                info=info,
                flag=any(isinstance(m, Flag) for m in markers),
                rest=any(isinstance(m, Rest) for m in markers),
                comma_list=any(isinstance(m, CommaList) for m in markers),
                boolean=base is bool,
                many=origin is list,
                choices=choices,
                kind=_kind(base, markers, choices),
                minimum=_bound(markers, "ge", "gt", 1),
                maximum=_bound(markers, "le", "lt", -1),
                declared=next((m.kind for m in markers if isinstance(m, Declared)), None),
                picks=next((m.kind for m in markers if isinstance(m, Picked)), None),
                typed_only=any(isinstance(m, TypedOnly) for m in markers),
            )
        )
    return tuple(described)


def _kind(base: Any, markers: Sequence[Any], choices: tuple[str, ...]) -> FieldKind:
    """Tell what a form should ask for, from the argument's type and markers."""
    if any(isinstance(m, Councils) for m in markers):
        return "councils"
    if any(isinstance(m, Picked) for m in markers):
        return "picked"
    if base is bool:  # before int: a bool is an int
        return "flag"
    if choices:
        return "choice"
    if base is datetime:  # before date: a datetime is a date
        return "when"
    if base is date:
        return "date"
    if base is time:
        return "time"
    if base is int:
        return "number"
    return "text"


def _bound(markers: Sequence[Any], inclusive: str, exclusive: str, step: int) -> int | None:
    """Return an int field's bound (`ge`/`le`, or `gt`/`lt` moved by one), if it has one."""
    for marker in markers:
        if isinstance(getattr(marker, inclusive, None), int):
            return int(getattr(marker, inclusive))
        if isinstance(getattr(marker, exclusive, None), int):
            return int(getattr(marker, exclusive)) + step
    return None


def with_declared(
    fields: Sequence[FormField], declared: Mapping[str, Sequence[str]] | None
) -> tuple[FormField, ...]:
    """Return the fields with their run-time choices filled in (see Declared)."""
    return tuple(
        dataclasses.replace(field, choices=tuple(declared[field.declared]), kind="choice")
        if declared and field.declared in declared
        else field
        for field in fields
    )


def usage(
    name: str,
    model: type[ArgModel],
    translate: Callable[[str], str] = str,
    declared: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Generate `/name <required> [optional] [--flag <value>]` from the model."""
    parts = [f"/{name}"]
    for field in with_declared(fields_of(model), declared):
        if field.flag:
            shown = f"--{field.name.replace('_', '-')}"
            if field.choices:
                shown += " " + "|".join(field.choices)
            elif not field.boolean:
                shown += f" <{translate(field.placeholder)}>"
        elif field.choices:
            shown = "|".join(field.choices)
        elif field.info.is_required():
            shown = f"<{translate(field.placeholder)}>"
        else:
            shown = translate(field.placeholder)
        if field.comma_list:
            shown += ",..."
        elif field.many or field.rest:
            shown += " ..."
        parts.append(shown if field.info.is_required() else f"[{shown}]")
    return " ".join(parts)


def parse_args(model: type[ArgModel], text: str, context: dict[str, Any]) -> ArgModel:
    """Read the raw argument text into the command's model, or raise InvalidInput."""
    fields = fields_of(model)
    flags = {f.name.replace("_", "-"): f for f in fields if f.flag}
    positional = [f for f in fields if not f.flag]
    values: dict[str, Any] = {}
    words: list[tuple[int, Token]] = []
    tokens = tokenize(text)
    _refuse_slips(text, tokens, flags)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        option = _option(token, flags)
        if option is None:
            words.append((i - 1, token))
            continue
        field = flags.get(option)
        if field is None:
            raise InvalidInput(N_("I don't know the option {option}."), option=token.value)
        if field.name in values:  # `--at 9:00 ... --at 10:00`: which one was meant?
            raise InvalidInput(
                N_("The option {option} is given twice; give it once."), option=token.value
            ).about(field.name)
        if field.boolean:
            values[field.name] = True
            continue
        taken = []
        while i < len(tokens) and _option(tokens[i], flags) is None:
            taken.append((i, tokens[i]))
            i += 1
        if not taken:
            raise InvalidInput(N_("The option {option} needs a value."), option=token.value).about(
                field.name
            )
        if field.comma_list:
            # Only the list belongs to the option; the words after it are positional.
            values[field.name], count = _take_list(field, taken)
            words.extend(taken[count:])
            continue
        value = _join(text, taken)
        values[field.name] = value.lower() if field.choices or field.declared else value

    for index, field in enumerate(positional):
        if not words:
            break
        if field.rest:
            _refuse_quoted_start(text, field, words)
            values[field.name] = _join(text, words)
            words = []
        elif field.comma_list:
            values[field.name], count = _take_list(field, words)
            words = words[count:]
        elif field.many:
            values[field.name] = [token.value for _, token in words]
            words = []
        elif not field.info.is_required() and _remaining_required(positional[index + 1 :]) >= len(
            words
        ):
            continue  # leave the words to the required fields that follow
        else:
            taken = _date_words(field, words, _remaining_required(positional[index + 1 :]))
            value = _join(text, words[:taken])
            words = words[taken:]
            values[field.name] = value.lower() if field.choices or field.declared else value
    if words:
        raise InvalidInput(
            N_("I didn't expect {words}."), words=" ".join(token.value for _, token in words)
        )
    return _validate(model, values, context)


def _option(token: Token, flags: Mapping[str, FormField]) -> str | None:
    """Return the option name a word gives (`--at`, or `—at` for a known option), else None."""
    if token.is_flag:
        return token.value[2:].lower()
    match = None if token.quoted else _DASHED_OPTION.fullmatch(token.value)
    if match is not None and match[1].lower() in flags:
        return match[1].lower()
    return None


def _refuse_slips(text: str, tokens: Sequence[Token], flags: Mapping[str, FormField]) -> None:
    """Refuse an unclosed quote or a mistyped option: either would send the options as text."""
    for index, token in enumerate(tokens):
        if token.unclosed:
            opening, words = text[token.start], token.value.split()
            raise InvalidInput(
                N_(
                    "The quote that opens at {opening}{words} has no closing {closing}: add it, "
                    "or leave the quotes out."
                ),
                opening=opening,
                words=" ".join(words[:3]) + ("…" if len(words) > 3 else ""),
                closing=QUOTES[opening],
            )
        if token.quoted:
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.value.startswith("-") and token.value[1:].lower() in flags:  # `-at`
            name, typed = token.value[1:].lower(), token.value
        elif (
            _LONE_DASH.fullmatch(token.value)
            and following is not None
            and not following.quoted
            and following.value.lower() in flags
        ):
            name, typed = following.value.lower(), f"{token.value} {following.value}"
        else:
            continue
        raise InvalidInput(
            N_(
                "Did you mean --{option}? Options start with -- and no space; if “{words}” "
                "belongs to the text, put the text in quotes."
            ),
            option=name,
            words=typed,
        )


def _take_list(field: FormField, words: Sequence[tuple[int, Token]]) -> tuple[str | list[str], int]:
    """Read the list the words start with (`cork, malaga`, `cork ,malaga`); say how many it took."""
    count = 1
    while count < len(words):
        (before, previous), (index, token) = words[count - 1], words[count]
        joined = previous.value.endswith(",") or token.value.startswith(",")
        if index != before + 1 or previous.quoted or token.quoted or not joined:
            break
        count += 1
    return _list_value(field, ",".join(token.value for _, token in words[:count])), count


def _list_value(field: FormField, text: str) -> str | list[str]:
    """Return the items of a comma-separated list: a list for a list field, else `a,b`."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    return items if field.many else ",".join(items)


def _refuse_quoted_start(text: str, field: FormField, words: Sequence[tuple[int, Token]]) -> None:
    """Refuse a text whose first word is quoted and followed by more: where it ends is a guess."""
    if words[0][1].quoted and len(words) > 1:
        raise InvalidInput(
            N_(
                "I can't tell where the {name} ends: “{words}” comes after the quoted part. "
                "Put all of the {name} inside the quotes, and start options with --."
            ),
            name=field.placeholder,
            words=_join(text, list(words[1:])),
        ).about(field.name)


def parse_fields(
    model: type[ArgModel], given: Mapping[str, str], context: dict[str, Any]
) -> ArgModel:
    """Read arguments filled in a form, one text per field, into the command's model."""
    fields = fields_of(model)
    known = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    for name, raw in given.items():
        field = known.get(name)
        if field is None:
            raise InvalidInput(N_("I don't know the option {option}."), option=name)
        text = raw.strip()
        if not text:
            continue
        if field.boolean:
            values[name] = True
        elif field.comma_list:
            values[name] = _list_value(field, text)
        elif field.many:
            # Written on several lines (a poll's question, then its options), one item per
            # line; on one line, one item per word.
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            values[name] = lines if "\n" in text else text.split()
        else:
            values[name] = text.lower() if field.choices or field.declared else text
    return _validate(model, values, context)


def _validate(model: type[ArgModel], values: dict[str, Any], context: dict[str, Any]) -> ArgModel:
    """Build the model, on a copy of the context so that what one parse notes stays its own."""
    _check_declared(fields_of(model), values, context)
    try:
        return model.model_validate(values, context=dict(context))
    except ValidationError as exc:
        raise _explain(exc, fields_of(model)) from None


def _check_declared(
    fields: Sequence[FormField], values: Mapping[str, Any], context: Mapping[str, Any]
) -> None:
    """Refuse a value outside its field's run-time choices, as a Literal's would be refused."""
    for field in fields:
        if field.declared is None or not isinstance(values.get(field.name), str):
            continue
        choices = (context.get(DECLARED) or {}).get(field.declared)
        if choices is None:
            raise RuntimeError(f"argument parsing needs the declared {field.declared!r} choices")
        if values[field.name] not in choices:
            raise InvalidInput(
                N_("“{value}” is not one of: {choices}."),
                value=values[field.name],
                choices=", ".join(choices),
            ).about(field.name)


def _date_words(field: FormField, words: list[tuple[int, Token]], needed: int) -> int:
    """Return how many words a field takes: a date may be several ("3 Dec", "next monday")."""
    if field.kind == "date":
        for count in range(min(4, len(words) - needed), 1, -1):
            if dates.is_date(" ".join(token.value for _, token in words[:count])):
                return count
    return 1


def _remaining_required(fields: Sequence[FormField]) -> int:
    return sum(1 for f in fields if f.info.is_required())


def _join(text: str, words: list[tuple[int, Token]]) -> str:
    """Return the words as typed: verbatim where adjacent, space-joined across flags."""
    if len(words) == 1:
        return words[0][1].value
    runs: list[list[Token]] = []
    previous = None
    for index, token in words:
        if previous is None or index != previous + 1:
            runs.append([])
        runs[-1].append(token)
        previous = index
    return " ".join(text[run[0].start : run[-1].end] for run in runs)


def _explain(exc: ValidationError, fields: Sequence[FormField]) -> InvalidInput:
    """Turn the first validation error into a message a person understands."""
    by_name = {f.name: f for f in fields}
    error = exc.errors(include_url=False)[0]
    field = by_name.get(str(error["loc"][0])) if error["loc"] else None
    name = field.placeholder if field else "?"
    value = error.get("input")
    kind = error["type"]
    problem = _describe(kind, field, name, value)
    if field is not None:
        problem.about(field.name)
    return problem


def _describe(kind: str, field: FormField | None, name: str, value: Any) -> InvalidInput:
    """Word one validation error for a person."""
    if kind == "missing":
        return InvalidInput(N_("Please give the {name}."), name=name)
    if kind == "bad_date":
        return InvalidInput(
            N_(
                "I can't read “{value}” as a date. Try 2026-12-03, 03/12, today, tomorrow or a weekday."
            ),
            value=value,
        )
    if kind == "bad_when":
        return InvalidInput(
            N_("I can't read “{value}” as a time. Try “tomorrow 09:00”, “03/12 14:30” or “in 2h”."),
            value=value,
        )
    if kind == "bad_time":
        return InvalidInput(
            N_("I can't read “{value}” as a time of day. Try 14:00, 9h30 or 2pm."), value=value
        )
    if kind == "bad_time_range":
        return InvalidInput(
            N_("I can't read “{value}” as a time range. Try 14:00-16:00."), value=value
        )
    if kind == "literal_error" and field is not None:
        return InvalidInput(
            N_("“{value}” is not one of: {choices}."), value=value, choices=", ".join(field.choices)
        )
    if kind == "string_too_long":
        return InvalidInput(N_("The {name} is too long."), name=name)
    return InvalidInput(N_("“{value}” is not a valid {name}."), value=value, name=name)


def normalise_name(name: str) -> str:
    """Turn `/Events@CouncilBot` into `events`."""
    return name.strip().lstrip("/").split("@", 1)[0].lower()


def split_command(text: str) -> tuple[str, str]:
    """Split `/name@Bot rest of line` into (`name`, `rest of line`)."""
    match = _COMMAND_HEAD.match(text)
    if match is None:
        return "", ""
    return normalise_name(match[1]), match[2].strip()


_COMMAND_HEAD = re.compile(r"\s*(\S+)\s*(.*)", re.DOTALL)
