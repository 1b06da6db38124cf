"""Prefixed ids (`E12`, `e12`, `#12`, `12`): one reading for every kind, one answer when too large."""

from __future__ import annotations

import pytest

from councilbot.core.errors import InvalidInput, NotFound
from councilbot.core.i18n import N_
from councilbot.core.ids import MAX_ID, parse_prefixed_id
from councilbot.db import base

WHAT = N_("“{value}” is not an event id: events are named like E12. /events lists them.")


@pytest.mark.parametrize("typed", ["E12", "e12", "#12", "12", " #E12 ", "E012"])
def test_every_way_of_typing_an_id_reads_the_same(typed: str) -> None:
    assert parse_prefixed_id(typed, "E", what=WHAT) == 12


@pytest.mark.parametrize("typed", ["soon", "E", "B12", "E1.5", "-3", "E١٢"])
def test_a_word_that_is_no_id_is_refused_with_the_kinds_message(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_prefixed_id(typed, "E", what=WHAT)
    assert refused.value.message == WHAT and refused.value.values == {"value": typed}


def test_nothing_typed_asks_the_question_given() -> None:
    with pytest.raises(InvalidInput) as asked:
        parse_prefixed_id("  ", "E", what=WHAT, missing=N_("Which event?"))
    assert asked.value.message == "Which event?"


def test_the_largest_id_reads_and_one_more_names_nothing() -> None:
    assert base.MAX_ID == MAX_ID == 2**31 - 1  # db.base re-exports core's
    assert parse_prefixed_id(f"B{MAX_ID}", "B", what=WHAT) == MAX_ID
    with pytest.raises(NotFound) as none:
        parse_prefixed_id(f"B{MAX_ID + 1}", "B", what=WHAT)
    assert none.value.values == {"id": f"B{MAX_ID + 1}", "most": MAX_ID}
