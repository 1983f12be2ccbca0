"""The cell table of SPEC §4, in one place: every kind of cell, what its log row holds, and the
message (from the catalogue, ``logs.messages``) a failed one carries.

The parser (``parsing``) and the classification (``classify``) follow this module; no other
module spells a kind or a status rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psycopg import sql

from logs.messages import (
    CONSTANTS,
    LONG_USER,
    MALFORMED,
    MISSING_USER,
    NEGATIVE,
    NOT_INTEGER,
    TOO_BIG,
    UNKNOWN_USER,
    Message,
)

MAX_COUNTER = 2_147_483_647  # counters are PostgreSQL integers
assert CONSTANTS["maximum"] == MAX_COUNTER, "messages say the same maximum"


class CellKind(StrEnum):
    """What a cell is, judged once: row-level kinds in Python while the row is in hand, the
    syntax of each value in Python, whether the user exists in SQL. In the order the cell
    table is tested (the usual kinds first)."""

    ADD = "add"  # an increment: success, or failed when the result passes MAX_COUNTER
    EMPTY = "empty"
    ZERO = "zero"
    NOT_INTEGER = "not_integer"
    NEGATIVE = "negative"
    TOO_BIG = "too_big"  # a value above MAX_COUNTER by itself
    UNKNOWN_USER = "unknown_user"
    MALFORMED = "malformed"  # the row has another number of fields than the header
    MISSING_USER = "missing_user"
    LONG_USER = "long_user"  # user_id longer than 10 characters


# Cells of known users on well-formed rows: they carry their counter's chain of old → new values.
CHAINED_KINDS = (
    CellKind.ADD,
    CellKind.EMPTY,
    CellKind.ZERO,
    CellKind.NOT_INTEGER,
    CellKind.NEGATIVE,
    CellKind.TOO_BIG,
)


@dataclass(frozen=True)
class Rule:
    """One row of the cell table. ``old`` and ``new`` name what the log row holds: "current"
    (the counter just before this cell), "result" (current + value), "value" (the CSV value
    when it parses), or None (NULL)."""

    status: str
    old: str | None
    new: str | None
    message: Message | None


RULES: dict[CellKind, Rule] = {
    # An increment whose result passes MAX_COUNTER is failed instead, with OVERFLOW (new NULL).
    CellKind.ADD: Rule("success", "current", "result", None),
    CellKind.EMPTY: Rule("skipped", "current", "current", None),
    CellKind.ZERO: Rule("skipped", "current", "current", None),
    CellKind.NOT_INTEGER: Rule("failed", "current", None, NOT_INTEGER),
    CellKind.NEGATIVE: Rule("failed", "current", None, NEGATIVE),
    CellKind.TOO_BIG: Rule("failed", "current", None, TOO_BIG),
    CellKind.UNKNOWN_USER: Rule("failed", None, "value", UNKNOWN_USER),
    CellKind.MALFORMED: Rule("failed", None, None, MALFORMED),
    CellKind.MISSING_USER: Rule("failed", None, None, MISSING_USER),
    CellKind.LONG_USER: Rule("failed", None, None, LONG_USER),
}
assert set(RULES) == set(CellKind), "every kind of cell has its rule"
assert {kind for kind, rule in RULES.items() if rule.old == "current"} == set(CHAINED_KINDS)


def identifier(name: str) -> str:
    """A column of the statistics registry as an SQL identifier."""
    return sql.Identifier(name).as_string(None)


def literal(value: str) -> str:
    """A text of code (a kind, a processing type, a column name) as an SQL literal."""
    return sql.Literal(str(value)).as_string(None)
