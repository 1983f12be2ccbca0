"""Reading an activity file in Python, without a database: the header, the row-level kinds and
the syntax of each value (SPEC §4). Whether a user exists and what a counter becomes are decided
in SQL (``classify``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from logs.messages import (
    EMPTY_COLUMN_NAME,
    HEADER_NO_STATISTIC,
    HEADER_NO_USER_ID,
    HEADER_REPEATED,
    UNKNOWN_COLUMN,
)
from logs.services.ingest.cells import MAX_COUNTER, CellKind
from logs.services.sources import SourceError
from users.statistics import STATISTICS, STATISTICS_BY_COLUMN, Statistic

MAX_USER_ID_LENGTH = 10  # users.user_id is VARCHAR(10)
# The trailing column of a failed-rows download (why each row failed): uploaded back with the
# fixed rows, it is ignored without a warning.
ERROR_COLUMN = "error"

# Kinds as the plain strings the staging COPY writes (an enum member is slower to adapt).
_ADD, _EMPTY, _ZERO = str(CellKind.ADD), str(CellKind.EMPTY), str(CellKind.ZERO)
_NOT_INTEGER, _NEGATIVE, _TOO_BIG = (
    str(CellKind.NOT_INTEGER),
    str(CellKind.NEGATIVE),
    str(CellKind.TOO_BIG),
)
MALFORMED = str(CellKind.MALFORMED)
_MISSING_USER, _LONG_USER = str(CellKind.MISSING_USER), str(CellKind.LONG_USER)

_INTEGER = re.compile(r"[+-]?[0-9]+").fullmatch
_INT4_MIN = -MAX_COUNTER - 1
EMPTY_CELL = (_EMPTY, None, None)  # (kind, number, raw text) of an empty value
_ZERO_CELL = (_ZERO, 0, None)


@dataclass(frozen=True)
class Header:
    width: int
    user_id_position: int
    statistics: tuple[Statistic, ...]  # the registry columns present, in registry order
    positions: tuple[int, ...]  # position of each of those columns in a row
    warnings: tuple[str, ...]


def header_parse(fields: list[str]) -> Header:
    """Validate a header row (trimmed, case-insensitive); raises SourceError with the reason."""
    names = [name.strip().lower() for name in fields]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0].lstrip("\ufeff")
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        msg = HEADER_REPEATED.render(columns=", ".join(repeated))
        raise SourceError(msg)
    if "user_id" not in names:
        msg = HEADER_NO_USER_ID.render()
        raise SourceError(msg)
    present = tuple(statistic for statistic in STATISTICS if statistic.column in names)
    if not present:
        expected = ", ".join(statistic.column for statistic in STATISTICS)
        msg = HEADER_NO_STATISTIC.render(expected=expected)
        raise SourceError(msg)
    unknown = [
        name
        for name in names
        if name not in ("user_id", ERROR_COLUMN) and name not in STATISTICS_BY_COLUMN
    ]
    warnings = tuple(
        UNKNOWN_COLUMN.render(name=repr(name)) if name else EMPTY_COLUMN_NAME.render()
        for name in unknown
    )
    return Header(
        width=len(names),
        user_id_position=names.index("user_id"),
        statistics=present,
        positions=tuple(names.index(statistic.column) for statistic in present),
        warnings=warnings,
    )


def is_blank(fields: list[str]) -> bool:
    """A blank line (ignored, SPEC §4)."""
    return len(fields) <= 1 and (not fields or not fields[0].strip())


def value_cell(raw: str) -> tuple[str, int | None, str | None]:
    """(kind, the value if it fits an integer column, raw text kept for the message) of a
    trimmed value."""
    if raw.isdigit() and raw.isascii() and len(raw) < 10:  # the usual case: 0 … 999,999,999
        number = int(raw)
        return (_ADD, number, None) if number else _ZERO_CELL
    if not raw:
        return EMPTY_CELL
    if not _INTEGER(raw):
        return _NOT_INTEGER, None, raw
    digits = raw.lstrip("+-").lstrip("0")
    if len(digits) > 10:  # beyond any 32-bit value (and Python's int() digit limit)
        return (_NEGATIVE if raw[0] == "-" else _TOO_BIG), None, raw
    number = int(raw)
    fits = number if _INT4_MIN <= number <= MAX_COUNTER else None
    if number < 0:
        return _NEGATIVE, fits, raw
    if number == 0:
        return _ZERO, 0, None
    if number > MAX_COUNTER:
        return _TOO_BIG, None, raw
    return _ADD, number, None


def row_cells(positions: tuple[int, ...]) -> Callable[[list[str]], tuple]:
    """The staged cells of a well-formed row: ``value_cell`` of each statistic's field, in
    registry order. Files repeat the same few values, so results are kept for recent ones."""
    pick = itemgetter(*positions)
    single = len(positions) == 1  # itemgetter then gives the field itself, not a tuple

    @functools.lru_cache(maxsize=4096)
    def cells_of(values) -> tuple:
        values = (values,) if single else values
        return tuple(value for raw in values for value in value_cell(raw.strip()))

    return lambda fields: cells_of(pick(fields))


def user_id_kind(user_id: str) -> str | None:
    """The row-level kind of a well-formed row's trimmed user_id: None when it can be looked up."""
    if not user_id:
        return _MISSING_USER
    if len(user_id) > MAX_USER_ID_LENGTH:
        return _LONG_USER
    return None
