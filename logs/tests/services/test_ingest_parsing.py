"""The parser of activity files, pure Python (no database): the header rules and the syntax of
each value (SPEC §4)."""

from __future__ import annotations

import pytest

from logs.services.ingest.cells import MAX_COUNTER, CellKind
from logs.services.ingest.parsing import header_parse, is_blank, row_cells, user_id_kind, value_cell
from logs.services.sources import SourceError


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("5", (CellKind.ADD, 5, None)),
        ("+7", (CellKind.ADD, 7, None)),
        ("000012", (CellKind.ADD, 12, None)),
        ("", (CellKind.EMPTY, None, None)),
        ("0", (CellKind.ZERO, 0, None)),
        ("-0", (CellKind.ZERO, 0, None)),
        ("1.5", (CellKind.NOT_INTEGER, None, "1.5")),
        ("abc", (CellKind.NOT_INTEGER, None, "abc")),
        ("２", (CellKind.NOT_INTEGER, None, "２")),  # a full-width digit is not an integer
        ("-3", (CellKind.NEGATIVE, -3, "-3")),
        ("-99999999999999999999", (CellKind.NEGATIVE, None, "-99999999999999999999")),
        (str(MAX_COUNTER), (CellKind.ADD, MAX_COUNTER, None)),
        (str(MAX_COUNTER + 1), (CellKind.TOO_BIG, None, str(MAX_COUNTER + 1))),
        ("9" * 5000, (CellKind.TOO_BIG, None, "9" * 5000)),  # past Python's int() digit limit
    ],
)
def test_value_syntax(raw, expected):
    """Each trimmed value gets its kind, its number when it fits a counter, and its raw text
    when a message will quote it."""
    assert value_cell(raw) == expected


def test_row_cells_follow_registry_order_and_trim():
    """A row's cells come in the order of the header's statistics, values trimmed."""
    header = header_parse(["post_count", "user_id", "login_count"])
    cells = row_cells(header.positions)([" 2 ", "U00001", "x"])
    assert [statistic.column for statistic in header.statistics] == ["login_count", "post_count"]
    assert cells == (CellKind.NOT_INTEGER, None, "x", CellKind.ADD, 2, None)


def test_header_is_trimmed_case_insensitive_and_warns_of_unknown_columns():
    """Header names are trimmed and any case; a BOM is dropped; unknown columns are warnings."""
    header = header_parse(["\ufeffUser_ID ", " LOGIN_COUNT", "note", ""])
    assert (header.width, header.user_id_position) == (4, 0)
    assert header.warnings == (
        "unknown column ignored: 'note'",
        "a column with an empty name was ignored",
    )


@pytest.mark.parametrize(
    "fields, message",
    [
        (["user_id", "login_count", "Login_Count"], "repeated column in header: login_count"),
        (["login_count"], "the header has no user_id column"),
        (["user_id", "note"], "the header has no statistic column"),
    ],
)
def test_header_rejections(fields, message):
    """A repeated column, no user_id or no statistic column rejects the file, saying which."""
    with pytest.raises(SourceError, match=message):
        header_parse(fields)


def test_row_level_kinds_and_blank_lines():
    """An empty user_id is missing, one over 10 characters too long; blank lines are ignored."""
    assert user_id_kind("") == CellKind.MISSING_USER
    assert user_id_kind("U0000000001") == CellKind.LONG_USER
    assert user_id_kind("U000000001") is None
    assert is_blank([]) and is_blank(["  "]) and not is_blank(["", ""])
