"""The cell table in one place (SPEC §4): each message the SQL classification writes is the one
the Python catalogue renders, every kind has its rule, and stored messages are shown in the
reader's language."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation

from logs.messages import (
    CELL_MESSAGES,
    LONG_USER,
    MALFORMED,
    NEGATIVE,
    NOT_INTEGER,
    OVERFLOW,
    TOO_BIG,
    UNKNOWN_USER,
    message_localize,
    message_recognise,
    shown,
)
from logs.services.ingest.cells import CHAINED_KINDS, MAX_COUNTER, RULES, CellKind
from logs.services.ingest.classify import _message_sql

LONG_RAW = "x" * 39 + "%s 100% 'quoted' " + "y" * 10  # cut at 40, with % and quotes

# (message, kind whose SQL renders it, the cell's values in SQL terms, the same in Python terms)
CASES = [
    (
        OVERFLOW,
        CellKind.ADD,
        {"after": MAX_COUNTER + 5, "number": 10},
        {"old": MAX_COUNTER - 5, "value": 10, "result": MAX_COUNTER + 5},
    ),
    (TOO_BIG, CellKind.TOO_BIG, {"after": 7, "raw": "9" * 45}, {"old": 7, "value": "9" * 45}),
    (NOT_INTEGER, CellKind.NOT_INTEGER, {"raw": LONG_RAW}, {"raw": LONG_RAW}),
    (NEGATIVE, CellKind.NEGATIVE, {"raw": "-3"}, {"raw": "-3"}),
    (MALFORMED, CellKind.MALFORMED, {"field_count": 2}, {"fields": 2, "width": 3}),
    (UNKNOWN_USER, CellKind.UNKNOWN_USER, {}, {}),
    (LONG_USER, CellKind.LONG_USER, {"raw_user_id": "U" * 50}, {"user_id": "U" * 50}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "message, kind, in_sql, in_python", CASES, ids=[case[0].code for case in CASES]
)
def test_sql_writes_the_message_the_catalogue_renders(message, kind, in_sql, in_python):
    """The SQL generated from a message gives, in PostgreSQL, exactly its Python rendering."""
    row = {
        "column_name": "login_count",
        "after": 0,
        "number": 0,
        "raw": "",
        "field_count": 0,
        "raw_user_id": "",
        **in_sql,
    }
    columns = ", ".join(row)
    placeholders = ", ".join(f"%({name})s" for name in row)
    statement = f"SELECT {_message_sql(message, kind)} FROM (SELECT {placeholders}) AS t({columns})"
    with connection.cursor() as cursor:
        cursor.execute(statement, {**row, "width": 3})
        from_sql = cursor.fetchone()[0]
    assert from_sql == message.render(column="login_count", **in_python)


def test_raw_text_is_cut_at_forty_characters_with_an_ellipsis():
    """A quoted raw text keeps its first 40 characters and says it was cut."""
    text = NOT_INTEGER.render(column="post_count", raw=LONG_RAW)
    assert text == f'post_count: not an integer: "{LONG_RAW[:40]}…"'
    assert shown("a" * 40) == "a" * 40


def test_every_kind_has_one_rule_and_chained_kinds_start_from_the_counter():
    """The rule table covers every kind; the cells that carry a chain log the counter as old."""
    assert set(RULES) == set(CellKind)
    assert {kind for kind, rule in RULES.items() if rule.old == "current"} == set(CHAINED_KINDS)
    failed = {kind for kind, rule in RULES.items() if rule.status == "failed"}
    assert all(RULES[kind].message is not None for kind in failed)
    assert {RULES[CellKind.EMPTY].status, RULES[CellKind.ZERO].status} == {"skipped"}


@pytest.mark.parametrize("message", CELL_MESSAGES, ids=[message.code for message in CELL_MESSAGES])
def test_a_stored_message_is_recognised_with_its_fields(message):
    """Each rendered message parses back to its own template and fields."""
    fields = {
        "column": "login_count",
        "old": 1,
        "value": 2,
        "result": 3,
        "raw": "abc",
        "fields": 2,
        "width": 3,
        "user_id": "U123",
    }
    text = message.render(**fields)
    assert message.parse(text) is not None
    recognised, _ = message_recognise(text)
    assert recognised.code == message.code


def test_messages_are_shown_in_the_readers_language():
    """A stored English cell message reads in Japanese for a Japanese reader, unchanged in
    English, and an unknown text is shown as stored."""
    stored = NEGATIVE.render(column="login_count", raw="-3")
    with translation.override("ja"):
        japanese = message_localize(stored)
        assert japanese != stored
        assert "login_count" in japanese and "-3" in japanese
        assert message_localize(UNKNOWN_USER.render()) != UNKNOWN_USER.render()
        assert message_localize("something else entirely") == "something else entirely"
    with translation.override("en"):
        assert message_localize(stored) == stored
