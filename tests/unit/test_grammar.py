from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from councilbot.core.errors import InvalidInput
from councilbot.core.grammar import (
    ArgModel,
    CommaList,
    Councils,
    Declared,
    Flag,
    LocalDate,
    LocalTime,
    NoArgs,
    Rest,
    TimeRange,
    Token,
    When,
    fields_of,
    parse_args,
    parse_fields,
    split_command,
    tokenize,
    usage,
    with_declared,
)
from councilbot.core.i18n import Catalog, Catalogs, Translator

MADRID = ZoneInfo("Europe/Madrid")
TODAY = date(2026, 12, 1)
# 10:00 in Madrid (CET, UTC+1) on Tuesday 1 December 2026.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONTEXT: dict[str, Any] = {"today": TODAY, "now": NOW, "tz": MADRID}

# The English msgids of grammar.py, compared literally.
UNKNOWN_OPTION = "I don't know the option {option}."
NEEDS_VALUE = "The option {option} needs a value."
UNEXPECTED = "I didn't expect {words}."
MISSING = "Please give the {name}."
BAD_DATE = "I can't read “{value}” as a date. Try 2026-12-03, 03/12, today, tomorrow or a weekday."
BAD_WHEN = "I can't read “{value}” as a time. Try “tomorrow 09:00”, “03/12 14:30” or “in 2h”."
BAD_TIME_RANGE = "I can't read “{value}” as a time range. Try 14:00-16:00."
NOT_A_CHOICE = "“{value}” is not one of: {choices}."
NOT_VALID = "“{value}” is not a valid {name}."
TOO_LONG = "The {name} is too long."
QUOTED_START = (
    "I can't tell where the {name} ends: “{words}” comes after the quoted part. "
    "Put all of the {name} inside the quotes, and start options with --."
)


class AnnounceArgs(ArgModel):
    council: Annotated[str, Field(title="council")]
    text: Annotated[str, Field(title="message"), Rest()]
    at: Annotated[When | None, Field(title="when"), Flag()] = None
    multi: Annotated[bool, Flag()] = False
    dry_run: Annotated[bool, Flag()] = False


class OptionalFirstArgs(ArgModel):
    council: Annotated[str | None, Field(title="council")] = None
    title: Annotated[str, Field(title="title")]


class KindArgs(ArgModel):
    kind: Annotated[Literal["all", "mine"], Field(title="kind")]
    council: Annotated[str | None, Field(title="council")] = None


class OptionalKindArgs(ArgModel):
    kind: Annotated[Literal["all", "mine"] | None, Field(title="kind")] = None
    council: Annotated[str, Field(title="council")]


class CountArgs(ArgModel):
    count: Annotated[int, Field(title="count")]
    label: Annotated[str | None, Field(title="label", max_length=5)] = None


class DayArgs(ArgModel):
    day: Annotated[LocalDate, Field(title="date")]
    hours: Annotated[TimeRange | None, Field(title="hours"), Flag()] = None


class ShiftArgs(ArgModel):
    hours: Annotated[TimeRange, Field(title="hours")]


class TagsArgs(ArgModel):
    tags: Annotated[list[str], Field(title="tag")] = []


class LangFlagArgs(ArgModel):
    lang: Annotated[Literal["en", "es"] | None, Field(title="language"), Flag()] = None


class SendArgs(ArgModel):
    councils: Annotated[str, Field(title="councils"), CommaList()]
    text: Annotated[str | None, Field(title="message"), Rest()] = None
    to: Annotated[str | None, Field(title="councils"), Flag(), CommaList()] = None
    tags: Annotated[list[str], Field(title="tag"), Flag(), CommaList()] = []


def invalid(model: type[ArgModel], text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_args(model, text, CONTEXT)
    return caught.value


# --- tokenize ---------------------------------------------------------------------------------


def test_tokenize_splits_plain_words_on_any_whitespace() -> None:
    assert [t.value for t in tokenize("  one two\tthree\nfour  ")] == [
        "one",
        "two",
        "three",
        "four",
    ]


def test_tokenize_of_blank_text_is_empty() -> None:
    assert tokenize("") == []
    assert tokenize("   \n\t") == []


@pytest.mark.parametrize(
    "quoted",
    ['"big  news"', "'big  news'", "“big  news”", "„big  news“", "«big  news»", "‘big  news’"],
)
def test_tokenize_keeps_spaces_inside_quotes(quoted: str) -> None:
    tokens = tokenize(f"say {quoted} now")
    assert [t.value for t in tokens] == ["say", "big  news", "now"]
    assert [t.quoted for t in tokens] == [False, True, False]


def test_tokenize_unclosed_quote_runs_to_end_of_text() -> None:
    tokens = tokenize('say "big news --at 9')
    assert tokens == [
        Token("say", 0, 3),
        Token("big news --at 9", 4, 20, quoted=True, unclosed=True),
    ]


@pytest.mark.parametrize("apostrophe", ["'", "‘"])
def test_tokenize_reads_an_unclosed_single_quote_as_an_apostrophe(apostrophe: str) -> None:
    tokens = tokenize(f"back to the {apostrophe}90s --at 9")
    assert [t.value for t in tokens] == ["back", "to", "the", f"{apostrophe}90s", "--at", "9"]
    assert not any(t.quoted or t.unclosed for t in tokens)


def test_tokenize_records_start_and_end_offsets() -> None:
    text = 'ab  "c d" «e»f'
    tokens = tokenize(text)
    assert tokens == [
        Token("ab", 0, 2),
        Token("c d", 4, 9, quoted=True),
        Token("e", 10, 13, quoted=True),
        Token("f", 13, 14),
    ]
    assert [text[t.start : t.end] for t in tokens] == ["ab", '"c d"', "«e»", "f"]


def test_tokenize_empty_quotes_give_an_empty_quoted_token() -> None:
    assert tokenize('a "" b') == [Token("a", 0, 1), Token("", 2, 4, quoted=True), Token("b", 5, 6)]


def test_tokenize_apostrophe_inside_a_word_is_not_a_quote() -> None:
    assert [t.value for t in tokenize("don't stop")] == ["don't", "stop"]


def test_double_dash_word_is_a_flag() -> None:
    tokens = tokenize("--at --dry-run x")
    assert [t.is_flag for t in tokens] == [True, True, False]


def test_quoted_double_dash_word_is_not_a_flag() -> None:
    (token,) = tokenize('"--x"')
    assert token.value == "--x"
    assert token.quoted
    assert not token.is_flag


@pytest.mark.parametrize("word", ["--", "-x", "x--y"])
def test_words_that_are_not_flags(word: str) -> None:
    (token,) = tokenize(word)
    assert not token.is_flag


QUOTE_CHARS = st.sampled_from(list("\"'“”„«»‘’ -\n"))


@given(st.text(alphabet=st.one_of(st.characters(), QUOTE_CHARS)))
def test_tokenize_never_raises_and_offsets_point_at_the_token(text: str) -> None:
    tokens = tokenize(text)
    previous_end = 0
    for token in tokens:
        assert previous_end <= token.start < token.end <= len(text)
        assert token.value in text[token.start : token.end]
        if not token.quoted:
            assert text[token.start : token.end] == token.value
            assert token.value.strip() == token.value
        previous_end = token.end


# --- parse_args: positionals ------------------------------------------------------------------


def test_required_and_optional_positionals() -> None:
    assert parse_args(CountArgs, "3 hello", CONTEXT) == CountArgs(count=3, label="hello")
    assert parse_args(CountArgs, "3", CONTEXT) == CountArgs(count=3)


def test_optional_positional_before_required_is_left_out_when_words_run_short() -> None:
    assert parse_args(OptionalFirstArgs, "party", CONTEXT) == OptionalFirstArgs(title="party")


def test_optional_positional_before_required_takes_a_word_when_there_are_enough() -> None:
    parsed = parse_args(OptionalFirstArgs, "malaga party", CONTEXT)
    assert parsed == OptionalFirstArgs(council="malaga", title="party")


def test_quoted_positional_keeps_its_spaces() -> None:
    parsed = parse_args(OptionalFirstArgs, 'malaga "summer party"', CONTEXT)
    assert parsed == OptionalFirstArgs(council="malaga", title="summer party")


def test_choice_is_case_insensitive() -> None:
    assert parse_args(KindArgs, "ALL malaga", CONTEXT) == KindArgs(kind="all", council="malaga")
    assert parse_args(KindArgs, "Mine", CONTEXT) == KindArgs(kind="mine")


def test_unknown_choice_lists_the_choices() -> None:
    error = invalid(KindArgs, "some")
    assert error.message == NOT_A_CHOICE
    assert error.values == {"value": "some", "choices": "all, mine"}


def test_int_conversion_error_names_the_field() -> None:
    error = invalid(CountArgs, "three")
    assert error.message == NOT_VALID
    assert error.values == {"value": "three", "name": "count"}


def test_too_long_value_names_the_field() -> None:
    error = invalid(CountArgs, "3 abcdefgh")
    assert error.message == TOO_LONG
    assert error.values == {"name": "label"}


def test_missing_required_names_the_field_title() -> None:
    error = invalid(OptionalFirstArgs, "")
    assert error.message == MISSING
    assert error.values == {"name": "title"}


def test_missing_required_after_a_given_one() -> None:
    error = invalid(AnnounceArgs, "malaga")
    assert error.message == MISSING
    assert error.values == {"name": "message"}


def test_too_many_words_are_reported() -> None:
    error = invalid(CountArgs, "3 hello there world")
    assert error.message == UNEXPECTED
    assert error.values == {"words": "there world"}


def test_no_args_rejects_any_word() -> None:
    assert parse_args(NoArgs, "  ", CONTEXT) == NoArgs()
    error = invalid(NoArgs, "x y")
    assert error.message == UNEXPECTED
    assert error.values == {"words": "x y"}


def test_list_field_takes_every_remaining_word() -> None:
    assert parse_args(TagsArgs, 'a "b c" d', CONTEXT) == TagsArgs(tags=["a", "b c", "d"])
    assert parse_args(TagsArgs, "", CONTEXT) == TagsArgs()


# --- parse_args: Rest -------------------------------------------------------------------------


def test_rest_keeps_verbatim_text_with_quotes_and_spacing() -> None:
    parsed = parse_args(AnnounceArgs, 'malaga Hello   "big" world', CONTEXT)
    assert parsed.council == "malaga"
    assert parsed.text == 'Hello   "big" world'


def test_rest_stops_at_a_trailing_flag() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Hello  world --multi", CONTEXT)
    assert parsed.text == "Hello  world"
    assert parsed.multi is True


def test_rest_of_one_word_is_that_word() -> None:
    assert parse_args(AnnounceArgs, "malaga Hi", CONTEXT).text == "Hi"


def test_quoted_flag_lookalike_is_text() -> None:
    parsed = parse_args(AnnounceArgs, 'malaga "--multi"', CONTEXT)
    assert parsed.text == "--multi"
    assert parsed.multi is False


def test_rest_leaves_out_a_boolean_flag_typed_inside_it() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Hi --multi there", CONTEXT)
    assert parsed.multi is True
    assert parsed.text == "Hi there"


# --- parse_args: flags ------------------------------------------------------------------------


def test_valued_flag_takes_several_words_up_to_the_next_flag() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Hi --at tomorrow 9:00 --dry-run", CONTEXT)
    assert parsed == AnnounceArgs(
        council="malaga", text="Hi", at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC), dry_run=True
    )


def test_flag_may_come_before_the_positionals() -> None:
    parsed = parse_args(AnnounceArgs, "--multi malaga Hi there", CONTEXT)
    assert parsed == AnnounceArgs(council="malaga", text="Hi there", multi=True)


def test_boolean_flags_default_to_false() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Hi", CONTEXT)
    assert parsed.multi is False
    assert parsed.dry_run is False
    assert parsed.at is None


def test_flag_with_dashes_maps_to_underscored_field() -> None:
    assert parse_args(AnnounceArgs, "malaga Hi --dry-run", CONTEXT).dry_run is True


def test_flag_names_are_case_insensitive() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Hi --MULTI --Dry-Run", CONTEXT)
    assert parsed.multi is True
    assert parsed.dry_run is True


@pytest.mark.parametrize("flag", ["--nope", "--dry_run", "--multi=yes"])
def test_unknown_flag(flag: str) -> None:
    error = invalid(AnnounceArgs, f"malaga Hi {flag}")
    assert error.message == UNKNOWN_OPTION
    assert error.values == {"option": flag}


@pytest.mark.parametrize("text", ["malaga Hi --at", "malaga Hi --at --multi"])
def test_flag_missing_its_value(text: str) -> None:
    error = invalid(AnnounceArgs, text)
    assert error.message == NEEDS_VALUE
    assert error.values == {"option": "--at"}


def test_flag_value_keeps_the_user_spelling_of_the_option() -> None:
    error = invalid(AnnounceArgs, "malaga Hi --AT")
    assert error.values == {"option": "--AT"}


def test_choice_flag_is_case_insensitive() -> None:
    assert parse_args(LangFlagArgs, "--lang ES", CONTEXT) == LangFlagArgs(lang="es")


def test_optional_choice_before_required_positional_is_left_out() -> None:
    assert parse_args(OptionalKindArgs, "malaga", CONTEXT) == OptionalKindArgs(council="malaga")


# --- parse_args: dates and times --------------------------------------------------------------


def test_local_date_reads_relative_words_against_today() -> None:
    assert parse_args(DayArgs, "tomorrow", CONTEXT) == DayArgs(day=date(2026, 12, 2))


def test_local_date_reads_day_first_dates() -> None:
    assert parse_args(DayArgs, "03/12", CONTEXT).day == date(2026, 12, 3)


def test_when_reads_quoted_local_time_in_the_council_zone() -> None:
    parsed = parse_args(AnnounceArgs, 'malaga Hi --at "03/12 14:00"', CONTEXT)
    assert parsed.at == datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


def test_when_uses_the_context_time_zone() -> None:
    context = {**CONTEXT, "tz": ZoneInfo("Europe/Istanbul")}
    parsed = parse_args(AnnounceArgs, 'malaga Hi --at "03/12 14:00"', context)
    assert parsed.at == datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def test_time_range_flag_reads_start_and_end() -> None:
    parsed = parse_args(DayArgs, "today --hours 14:00-16:00", CONTEXT)
    assert parsed == DayArgs(day=TODAY, hours=(time(14, 0), time(16, 0)))


@pytest.mark.parametrize("text", ["someday", "31/02", "2026-13-01"])
def test_bad_date(text: str) -> None:
    error = invalid(DayArgs, text)
    assert error.message == BAD_DATE
    assert error.values == {"value": text}


@pytest.mark.parametrize("when", ["soon", "tomorrow 25:00"])
def test_bad_when(when: str) -> None:
    error = invalid(AnnounceArgs, f'malaga Hi --at "{when}"')
    assert error.message == BAD_WHEN
    assert error.values == {"value": when}


@pytest.mark.parametrize("hours", ["16:00-14:00", "lunch"])
def test_bad_time_range(hours: str) -> None:
    error = invalid(DayArgs, f"today --hours {hours}")
    assert error.message == BAD_TIME_RANGE
    assert error.values == {"value": hours}


def test_dates_need_the_validation_context() -> None:
    with pytest.raises(RuntimeError, match="today"):
        parse_args(DayArgs, "tomorrow", {})


def test_time_range_positional_reads_start_and_end() -> None:
    assert parse_args(ShiftArgs, "14:00-16:00", CONTEXT) == ShiftArgs(
        hours=(time(14, 0), time(16, 0))
    )


# --- usage ------------------------------------------------------------------------------------


def test_usage_shows_required_rest_and_flags() -> None:
    assert (
        usage("announce", AnnounceArgs)
        == "/announce <council> <message> ... [--at <when>] [--multi] [--dry-run]"
    )


def test_usage_brackets_optional_positionals() -> None:
    assert usage("rename", OptionalFirstArgs) == "/rename [council] <title>"
    assert usage("count", CountArgs) == "/count <count> [label]"


def test_usage_shows_literal_choices() -> None:
    assert usage("events", KindArgs) == "/events all|mine [council]"
    assert usage("events", OptionalKindArgs) == "/events [all|mine] <council>"


def test_usage_of_list_field_ends_with_ellipsis() -> None:
    assert usage("tag", TagsArgs) == "/tag [tag ...]"


def test_usage_without_arguments_is_the_command() -> None:
    assert usage("help", NoArgs) == "/help"


def test_usage_translates_placeholders() -> None:
    spanish = {"council": "consejo", "message": "mensaje", "when": "cuándo"}
    line = usage("announce", AnnounceArgs, lambda msgid: spanish.get(msgid, msgid))
    assert line == "/announce <consejo> <mensaje> ... [--at <cuándo>] [--multi] [--dry-run]"


def test_usage_does_not_translate_flag_names_or_choices() -> None:
    line = usage("events", KindArgs, str.upper)
    assert line == "/events all|mine [COUNCIL]"


def test_usage_of_choice_flag_names_the_flag() -> None:
    assert "--lang" in usage("lang", LangFlagArgs)


def test_usage_of_time_range_positional_has_no_ellipsis() -> None:
    assert usage("shift", ShiftArgs) == "/shift <hours>"


# --- split_command ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Events@CouncilBot all", ("events", "all")),
        ("   /help   events  ", ("help", "events")),
        ("/help", ("help", "")),
        ("/unlink   ", ("unlink", "")),
        ("/poll\nLunch?\npizza", ("poll", "Lunch?\npizza")),
        ("/announce malaga  Two  spaces", ("announce", "malaga  Two  spaces")),
        ("", ("", "")),
        ("   \n ", ("", "")),
    ],
)
def test_split_command(text: str, expected: tuple[str, str]) -> None:
    assert split_command(text) == expected


# -- arguments filled in a form


def test_form_fields_are_read_like_typed_ones() -> None:
    parsed = parse_fields(
        AnnounceArgs,
        {"council": "malaga", "text": "Two\nlines", "at": "03/12 14:00", "multi": "on"},
        CONTEXT,
    )
    assert parsed == parse_args(
        AnnounceArgs, 'malaga "Two\nlines" --at 03/12 14:00 --multi', CONTEXT
    )
    assert parse_fields(KindArgs, {"kind": " MINE ", "council": ""}, CONTEXT) == KindArgs(
        kind="mine"
    )
    assert parse_fields(TagsArgs, {"tags": "a  b"}, CONTEXT) == TagsArgs(tags=["a", "b"])
    # On several lines (a Slack box), one item per line.
    lines = {"tags": "a b\n\n c \n"}
    assert parse_fields(TagsArgs, lines, CONTEXT) == TagsArgs(tags=["a b", "c"])


@pytest.mark.parametrize(
    ("model", "given", "message", "field"),
    [
        (AnnounceArgs, {"council": "malaga", "text": " "}, MISSING, "text"),
        (AnnounceArgs, {"council": "m", "text": "t", "at": "soonish"}, BAD_WHEN, "at"),
        (KindArgs, {"kind": "some"}, NOT_A_CHOICE, "kind"),
        (AnnounceArgs, {"council": "m", "text": "t", "colour": "red"}, UNKNOWN_OPTION, None),
    ],
)
def test_a_bad_form_field_is_named(
    model: type[ArgModel], given: dict[str, str], message: str, field: str | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_fields(model, given, CONTEXT)
    assert (caught.value.message, caught.value.field) == (message, field)


def test_typed_errors_name_their_argument_too() -> None:
    assert invalid(DayArgs, "someday").field == "day"
    assert invalid(AnnounceArgs, "malaga hi --at").field == "at"
    assert invalid(AnnounceArgs, "malaga hi extra --colour red").field is None


# --- comma-separated lists --------------------------------------------------------------------


@pytest.mark.parametrize(
    "councils",
    ["cork,malaga", "cork, malaga", "cork ,malaga", "cork , malaga", "cork,  malaga ,"],
)
def test_a_comma_list_may_have_spaces_around_its_commas(councils: str) -> None:
    parsed = parse_args(SendArgs, f'{councils} "Hi there"', CONTEXT)
    assert (parsed.councils, parsed.text) == ("cork,malaga", "Hi there")


def test_a_comma_list_of_three_then_unquoted_text() -> None:
    parsed = parse_args(SendArgs, "cork, malaga ,bologna Hi, all", CONTEXT)
    assert (parsed.councils, parsed.text) == ("cork,malaga,bologna", "Hi, all")


@pytest.mark.parametrize(
    ("text", "councils", "rest"),
    [
        ("cork malaga hi", "cork", "malaga hi"),  # no comma: the list ends
        ('cork, "hi, there"', "cork", "hi, there"),  # quoted text is never a list item
        ("cork, --tags x malaga hi", "cork", "malaga hi"),  # an option breaks the list
    ],
)
def test_a_comma_list_ends_where_no_comma_joins_the_next_word(
    text: str, councils: str, rest: str
) -> None:
    parsed = parse_args(SendArgs, text, CONTEXT)
    assert (parsed.councils, parsed.text) == (councils, rest)


def test_a_comma_list_option_takes_the_list_and_leaves_the_rest_positional() -> None:
    parsed = parse_args(SendArgs, "--to cork, malaga events Hello all --tags a ,b, c", CONTEXT)
    assert parsed == SendArgs(
        councils="events", text="Hello all", to="cork,malaga", tags=["a", "b", "c"]
    )


def test_a_comma_list_in_a_form_is_read_like_a_typed_one() -> None:
    assert parse_fields(SendArgs, {"councils": "cork , malaga", "tags": "a, b"}, CONTEXT) == (
        parse_args(SendArgs, "cork, malaga --tags a,b", CONTEXT)
    )


def test_usage_of_a_comma_list() -> None:
    assert usage("send", SendArgs) == (
        "/send <councils>,... [message ...] [--to <councils>,...] [--tags <tag>,...]"
    )


# --- dashes that phones make of "--" ----------------------------------------------------------


@pytest.mark.parametrize("dash", ["—", "–", "−", "——", "–—"])
def test_a_dash_before_a_known_option_is_that_option(dash: str) -> None:
    parsed = parse_args(AnnounceArgs, f'malaga "Hi" {dash}at tomorrow 9:00 {dash}Dry-Run', CONTEXT)
    assert parsed == AnnounceArgs(
        council="malaga", text="Hi", at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC), dry_run=True
    )


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("malaga Hi —there", "Hi —there"),  # not an option of this command
        ("malaga 10 — 12 people –attend", "10 — 12 people –attend"),
        ("malaga “—at tomorrow”", "—at tomorrow"),  # quoted
        ("malaga Call -5 or e-mail -abc at 9:00", "Call -5 or e-mail -abc at 9:00"),
        ("malaga Hi - at 9:00", "Hi - at 9:00"),  # a lone hyphen is punctuation
        ("malaga 10 — 12 people —welcome", "10 — 12 people —welcome"),
    ],
)
def test_other_dashes_stay_in_the_text(text: str, kept: str) -> None:
    parsed = parse_args(AnnounceArgs, text, CONTEXT)
    assert (parsed.text, parsed.at) == (kept, None)


UNCLOSED = (
    "The quote that opens at {opening}{words} has no closing {closing}: add it, or leave the "
    "quotes out."
)
DID_YOU_MEAN = (
    "Did you mean --{option}? Options start with -- and no space; if “{words}” belongs to the "
    "text, put the text in quotes."
)


@pytest.mark.parametrize(
    ("text", "opening", "words", "closing"),
    [
        ('malaga "unclosed quote --at tomorrow 9:00', '"', "unclosed quote --at…", '"'),
        ("malaga “Smart quote unclosed —at tomorrow 9:00", "“", "Smart quote unclosed…", "”"),
        ("malaga Hi «there", "«", "there", "»"),
        ('"malaga hi', '"', "malaga hi", '"'),
    ],
)
def test_an_unclosed_quote_is_refused(text: str, opening: str, words: str, closing: str) -> None:
    error = invalid(AnnounceArgs, text)
    assert (error.message, error.values) == (
        UNCLOSED,
        {"opening": opening, "words": words, "closing": closing},
    )


def test_an_unclosed_apostrophe_leaves_the_options_working() -> None:
    parsed = parse_args(AnnounceArgs, "malaga Back to the '90s --at tomorrow 9:00", CONTEXT)
    assert (parsed.text, parsed.at) == ("Back to the '90s", datetime(2026, 12, 2, 8, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "option", "words"),
    [
        ("malaga Single hyphen -at tomorrow 9:00", "at", "-at"),
        ("malaga Hi -Dry-Run", "dry-run", "-Dry-Run"),
        ("malaga Hello -- at tomorrow 9:00", "at", "-- at"),
        ("malaga Hello — at tomorrow 9:00", "at", "— at"),
        ("malaga Hello –– AT tomorrow 9:00", "at", "–– AT"),
        ("malaga Hello −  multi", "multi", "− multi"),
        ('malaga "Hi" --at tomorrow -multi', "multi", "-multi"),  # inside an option's value
    ],
)
def test_a_mistyped_option_is_refused_with_the_right_spelling(
    text: str, option: str, words: str
) -> None:
    error = invalid(AnnounceArgs, text)
    assert (error.message, error.values) == (DID_YOU_MEAN, {"option": option, "words": words})


@pytest.mark.parametrize(
    "text", ['malaga "Hi -at 9, then -- at 10"', "malaga Hello -- “at” noon", 'malaga Hi "-at"']
)
def test_a_quoted_option_lookalike_stays_text(text: str) -> None:
    assert parse_args(AnnounceArgs, text, CONTEXT).at is None


def test_a_double_hyphen_before_an_unknown_name_is_still_refused() -> None:
    assert invalid(AnnounceArgs, "malaga Hi --there").message == UNKNOWN_OPTION


# --- a quoted text followed by more words -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('malaga "a" -- later', "-- later"),
        ('malaga "a" at tomorrow 9:00', "at tomorrow 9:00"),
        ('malaga "a" "b"', "b"),
        ('malaga "a" --multi b', "b"),
        ("malaga «Hola» a todos --at tomorrow 9:00", "a todos"),
    ],
)
def test_a_quoted_text_followed_by_more_words_is_refused(text: str, words: str) -> None:
    error = invalid(AnnounceArgs, text)
    assert (error.message, error.values["words"], error.field) == (QUOTED_START, words, "text")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("malaga hello world", "hello world"),
        ('malaga "hello world" --at tomorrow 09:00', "hello world"),
        ('malaga --multi "hello world" --dry-run', "hello world"),
        ('malaga hello "big" world', 'hello "big" world'),
    ],
)
def test_a_text_quoted_whole_or_not_at_all_is_taken(text: str, kept: str) -> None:
    assert parse_args(AnnounceArgs, text, CONTEXT).text == kept


# --- times a daylight-saving change moves -----------------------------------------------------

ENGLISH = Translator("en", Catalog())


def test_a_time_in_the_spring_gap_is_noted() -> None:
    parsed = parse_args(AnnounceArgs, "malaga hi --at 2027-03-28 02:30", CONTEXT)
    assert parsed.at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert parsed.notes(ENGLISH) == [
        "02:30 does not exist on 28 Mar in Europe/Madrid (clocks go forward); "
        "I used 03:30 (UTC+02:00)."
    ]


def test_a_repeated_autumn_time_is_noted_with_the_way_to_the_other_one() -> None:
    first = parse_fields(
        AnnounceArgs, {"council": "m", "text": "t", "at": "31/10/2027 2:30"}, CONTEXT
    )
    assert first.at == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert first.notes(ENGLISH) == [
        "02:30 happens twice on 31 Oct in Europe/Madrid (clocks go back); I used the first "
        "one, 02:30 (UTC+02:00). For the second one, write 2027-10-31T02:30+01:00."
    ]


@pytest.mark.parametrize(
    ("when", "hour"),
    [("2027-10-31T02:30+01:00", 1), ("2027-10-31T02:30+02:00", 0), ("in 1h", 1)],
)
def test_a_time_given_with_its_offset_or_counted_from_now_has_no_note(when: str, hour: int) -> None:
    # Each is a 02:30 of the repeated hour, but exactly the one asked for.
    context = {**CONTEXT, "now": datetime(2027, 10, 31, 0, 30, tzinfo=UTC)}
    parsed = parse_args(AnnounceArgs, f"malaga hi --at {when}", context)
    assert parsed.at == datetime(2027, 10, 31, hour, 30, tzinfo=UTC)
    assert parsed.notes(ENGLISH) == []


def test_the_time_used_is_shown_with_its_offset_in_every_language() -> None:
    parsed = parse_args(AnnounceArgs, "malaga hi --at 2027-03-28 02:30", CONTEXT)
    spanish = Catalogs.load().translator("es")
    assert parsed.notes(spanish) == [
        "La hora 02:30 no existe el 28 mar en Europe/Madrid (los relojes se adelantan); "
        "he usado las 03:30 (UTC+02:00)."
    ]


def test_an_ordinary_time_has_no_note_even_after_a_moved_one() -> None:
    assert parse_args(AnnounceArgs, "malaga hi --at 2027-03-28 02:30", CONTEXT).notes(ENGLISH)
    assert parse_args(AnnounceArgs, "malaga hi --at 2027-03-28 03:30", CONTEXT).notes(ENGLISH) == []


class EveryKindArgs(ArgModel):
    councils: Annotated[str, CommaList(), Councils()]
    home: Annotated[str | None, Councils()] = None
    day: LocalDate | None = None
    start: Annotated[LocalTime | None, Flag()] = None
    at: Annotated[When | None, Flag()] = None
    seats: Annotated[int | None, Field(ge=1, lt=13), Flag()] = None
    quiet: Annotated[bool, Flag()] = False
    scope: Literal["me", "chat"] | None = None
    slot: TimeRange | None = None
    text: Annotated[str | None, Rest()] = None


def test_each_field_says_what_a_form_should_ask_for() -> None:
    kinds = {f.name: (f.kind, f.minimum, f.maximum) for f in fields_of(EveryKindArgs)}
    assert kinds == {
        "councils": ("councils", None, None),
        "home": ("councils", None, None),
        "day": ("date", None, None),
        "start": ("time", None, None),
        "at": ("when", None, None),
        "seats": ("number", 1, 12),  # lt=13: at most 12
        "quiet": ("flag", None, None),
        "scope": ("choice", None, None),
        "slot": ("text", None, None),
        "text": ("text", None, None),
    }


def test_form_values_read_as_typed_ones() -> None:
    typed = parse_args(
        EveryKindArgs,
        'cork,malaga --start 9h30 --at "2026-12-03 09:00" --seats 4 --quiet',
        CONTEXT,
    )
    filled = parse_fields(
        EveryKindArgs,
        {
            "councils": "cork,malaga",
            "start": "09:30",
            "at": "2026-12-03 09:00",
            "seats": "4",
            "quiet": "on",
        },
        CONTEXT,
    )
    assert filled == typed
    assert filled.at == datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 09:00 in Madrid
    assert filled.start == time(9, 30)


def test_a_time_of_day_it_cannot_read_is_explained() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_fields(EveryKindArgs, {"councils": "cork", "start": "teatime"}, CONTEXT)
    assert caught.value.message == (
        "I can't read “{value}” as a time of day. Try 14:00, 9h30 or 2pm."
    )
    assert caught.value.field == "start"


class FollowArgs(ArgModel):
    topic: Annotated[str, Field(title="topic"), Declared("topic")]
    council: Annotated[str | None, Field(title="council")] = None


DECLARED_TOPICS = {**CONTEXT, "declared": {"topic": ("announcements", "digest")}}


def test_declared_choices_are_given_at_run_time_and_read_like_a_literal_s() -> None:
    assert parse_args(FollowArgs, "Digest cork", DECLARED_TOPICS).topic == "digest"
    assert parse_fields(FollowArgs, {"topic": "DIGEST"}, DECLARED_TOPICS).topic == "digest"
    with pytest.raises(InvalidInput) as refused:
        parse_args(FollowArgs, "events", DECLARED_TOPICS)
    assert refused.value.message == "“{value}” is not one of: {choices}."
    assert refused.value.values == {"value": "events", "choices": "announcements, digest"}
    assert refused.value.field == "topic"
    with pytest.raises(InvalidInput) as missing:
        parse_args(FollowArgs, "", DECLARED_TOPICS)
    assert missing.value.message == MISSING


def test_declared_choices_show_in_the_usage_and_the_form_fields() -> None:
    declared = {"topic": ("announcements", "digest")}
    assert usage("follow", FollowArgs, declared=declared) == (
        "/follow announcements|digest [council]"
    )
    assert usage("follow", FollowArgs) == "/follow <topic> [council]"  # none given: a name
    fields = with_declared(fields_of(FollowArgs), declared)
    assert [(f.name, f.choices) for f in fields] == [
        ("topic", ("announcements", "digest")),
        ("council", ()),
    ]


def test_declared_choices_must_be_in_the_context() -> None:
    with pytest.raises(RuntimeError, match="declared 'topic' choices"):
        parse_args(FollowArgs, "digest", CONTEXT)


def test_an_option_given_twice_is_refused_rather_than_one_silently_winning() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_args(AnnounceArgs, "cork Hello --at 09:00 --at 10:00", CONTEXT)
    assert caught.value.message == "The option {option} is given twice; give it once."
    assert caught.value.field == "at"
