"""The cell table in one place (SPEC §4): each message an import writes is the one the catalogue
renders, as stored by COPY, every kind has its rule, and stored messages are shown in the
reader's language."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.utils import translation

from logs.messages import (
    CELL_MESSAGES,
    LONG_USER,
    MALFORMED,
    MISSING_USER,
    NEGATIVE,
    NOT_INTEGER,
    OVERFLOW,
    TOO_BIG,
    UNKNOWN_USER,
    message_localize,
    message_recognise,
    shown,
)
from logs.models import ProcessingLog
from logs.services.ingest import execution_create, execution_run
from logs.services.ingest.cells import CHAINED_KINDS, MAX_COUNTER, RULES, CellKind

# cut at 40, with %, quotes, a tab, a backslash and a line break, which COPY text escapes
LONG_RAW = "x" * 20 + "%s 100% 'q'\t\\ \n " + "y" * 10


@pytest.mark.django_db
def test_each_failed_cell_stores_the_message_the_catalogue_renders(service_users, tmp_path):
    """A file with one cell of every failing kind: each log row stores exactly the catalogue's
    rendering of its message, odd characters included, in file order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE user_statistics SET login_count = %s WHERE user_id = 'U00002'",
            [MAX_COUNTER - 5],
        )
    rows = [
        ["U00001", LONG_RAW],
        ["U00002", "10"],
        ["U00003", "9" * 45],
        ["U00004", "-3"],
        ["U00005"],
        ["X99999", "1"],
        ["U" * 50, "1"],
        ["", "1"],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["user_id", "login_count"])
    writer.writerows(rows)
    path = tmp_path / "kinds.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    stored = list(
        ProcessingLog.objects.filter(execution_name=result.execution_name)
        .order_by("log_id")
        .values_list("error_message", flat=True)
    )
    column = "login_count"
    assert stored == [
        NOT_INTEGER.render(column=column, raw=LONG_RAW),
        OVERFLOW.render(column=column, old=MAX_COUNTER - 5, value=10, result=MAX_COUNTER + 5),
        TOO_BIG.render(column=column, old=0, value="9" * 45),
        NEGATIVE.render(column=column, raw="-3"),
        MALFORMED.render(fields=1, width=2),
        UNKNOWN_USER.render(),
        LONG_USER.render(user_id="U" * 50),
        MISSING_USER.render(),
    ]
    assert "\t" in stored[0] and "\\" in stored[0] and "\n" in stored[0]


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
