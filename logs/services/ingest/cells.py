"""The cell table of SPEC §4, in one place: every kind of cell, what its log row holds, and the
message a failed one carries.

The parser (``parsing``), the SQL classification (``classify``) and the overflow replay
(``overflow``) are generated from this module, and the admin shows the stored (English) messages
in the reader's language through it (``message_localize``); no other module spells a kind, a
status rule or a message.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop
from psycopg import sql

MAX_COUNTER = 2_147_483_647  # counters are PostgreSQL integers
SHOWN_CHARACTERS = 40  # of a raw text quoted in a message


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
class Message:
    """A message of the trail: an English ``str.format`` template, stored as rendered."""

    code: str
    template: str
    shown: tuple[str, ...] = ()  # fields holding raw text, cut to SHOWN_CHARACTERS

    def render(self, **values: object) -> str:
        """The message as the trail stores it."""
        given = {**_CONSTANTS, **values}
        return self.template.format(
            **{name: shown(str(v)) if name in self.shown else v for name, v in given.items()}
        )

    def sql(self, **expressions: str) -> str:
        """SQL computing ``render`` from the cells query's expressions (one per field); for a
        statement with parameters, so ``%`` is doubled."""
        text, arguments = [], []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            text.append(literal.replace("%", "%%"))
            if name is None:
                continue
            if name in _CONSTANTS:
                text.append(str(_CONSTANTS[name]))
                continue
            text.append("%s")
            expression = expressions[name]
            arguments.append(shown_sql(expression) if name in self.shown else expression)
        literal = sql.Literal("".join(text)).as_string(None).replace("%", "%%")
        if not arguments:
            return literal
        return f"format({literal}, {', '.join(arguments)})"

    def parse(self, text: str) -> dict[str, str] | None:
        """The fields of a stored message of this template, or None when it is another one."""
        match = self._pattern().fullmatch(text)
        return match.groupdict() if match else None

    def _pattern(self) -> re.Pattern:
        pattern = []
        for literal, name, _, _ in string.Formatter().parse(self.template):
            pattern.append(re.escape(literal))
            if name is not None:
                pattern.append(f"(?P<{name}>.*?)")
        return re.compile("".join(pattern), re.DOTALL)


_CONSTANTS = {"maximum": MAX_COUNTER}

# The messages, English as stored; gettext_noop marks each for the Japanese catalogue.
OVERFLOW = Message(
    "overflow", gettext_noop("{column}: {old} + {value} = {result} is above the maximum {maximum}")
)
TOO_BIG = Message(
    "too_big", gettext_noop("{column}: {old} + {value} is above the maximum {maximum}"), ("value",)
)
UNKNOWN_USER = Message("unknown_user", gettext_noop("User not found in users table"))
NOT_INTEGER = Message("not_integer", gettext_noop('{column}: not an integer: "{raw}"'), ("raw",))
NEGATIVE = Message(
    "negative",
    gettext_noop("{column}: negative value {raw} (increments are never below 0)"),
    ("raw",),
)
MALFORMED = Message(
    "malformed", gettext_noop("malformed row: {fields} fields where the header has {width}")
)
MISSING_USER = Message("missing_user", gettext_noop("missing user_id"))
LONG_USER = Message(
    "long_user", gettext_noop('user_id longer than 10 characters: "{user_id}"'), ("user_id",)
)
MESSAGES = (
    OVERFLOW,
    TOO_BIG,
    UNKNOWN_USER,
    NOT_INTEGER,
    NEGATIVE,
    MALFORMED,
    MISSING_USER,
    LONG_USER,
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


def shown(text: str) -> str:
    """A raw text as a message quotes it: its first SHOWN_CHARACTERS, with "…" when cut."""
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


def shown_sql(expression: str) -> str:
    """SQL of ``shown``."""
    return (
        f"left({expression}, {SHOWN_CHARACTERS}) || "
        f"CASE WHEN length({expression}) > {SHOWN_CHARACTERS} THEN '…' ELSE '' END"
    )


def kind_list_sql(kinds) -> str:
    """SQL: the kinds as a parenthesised list of literals, for ``kind IN …``."""
    return "(" + ", ".join(sql.Literal(str(kind)).as_string(None) for kind in kinds) + ")"


def message_localize(text: str) -> str:
    """A stored cell message in the active language (the stored text stays English)."""
    for message in MESSAGES:
        fields = message.parse(text)
        if fields is not None:
            return gettext(message.template).format(**{**_CONSTANTS, **fields})
    return text
