"""Reading an activity file in Python, without a database: the header, the row-level kinds and
the syntax of each value (SPEC §4), for both passes of a run over the file (``CsvRows``).
Whether a user exists and what a counter becomes are decided in ``classify``."""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from logs.messages import (
    CSV_UNPARSABLE,
    EMPTY_COLUMN_NAME,
    FILE_CHANGED,
    HEADER_NO_STATISTIC,
    HEADER_NO_USER_ID,
    HEADER_REPEATED,
    NO_HEADER,
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


# A parsed data row: (row_no, line_no, field_count, row_kind, user_id, cells). ``row_kind`` is
# None for a well-formed row whose user_id can be looked up, else MALFORMED, MISSING_USER or
# LONG_USER; ``cells`` holds (kind, number, raw text) of each statistic present, in registry
# order, flattened.
Row = tuple[int, int, int, str | None, str, tuple]


class _Hashing(io.RawIOBase):
    """A binary file whose bytes read are hashed on the way (sha256)."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self.sha256.update(memoryview(buffer)[:count])
        return count


class CsvRows:
    """One pass over an activity file: its header, then its data rows (``Row``), blank lines
    left out. The file must still have the content ``sha256`` when the rows have been read,
    else ``SourceError``: a run reads its file twice and both passes must see the same rows.

    Use as a context manager; ``header`` is read on entry (``SourceError`` without one)."""

    def __init__(self, path: Path, encoding: str, sha256: str) -> None:
        self._path, self._encoding, self._sha256 = path, encoding, sha256
        self.header: Header

    def __enter__(self) -> CsvRows:
        self._raw = self._path.open("rb")
        self._hashing = _Hashing(self._raw)
        text = io.TextIOWrapper(io.BufferedReader(self._hashing), self._encoding, newline="")
        # strict: an unterminated quote is an error, not a cell that swallows the next rows
        self._reader = csv.reader(text, strict=True)
        try:
            with self._unparsable_as_source_error():
                fields = next((row for row in self._reader if not is_blank(row)), None)
            if fields is None:
                raise SourceError(NO_HEADER.render())
            self.header = header_parse(fields)
        except BaseException:
            self._raw.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._raw.close()

    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._raw.tell()

    @functools.cached_property
    def _cells_of(self) -> Callable[[list[str]], tuple]:
        return row_cells(self.header.positions)

    def __iter__(self) -> Iterator[Row]:
        return self.rows()

    def rows(self, *, cells: bool = True) -> Iterator[Row]:
        """The data rows in file order; without ``cells`` their values are not parsed (an
        empty tuple stands for them)."""
        header, reader = self.header, self._reader
        width, uid = header.width, header.user_id_position
        cells_of = self._cells_of if cells else lambda fields: ()
        malformed_cells = EMPTY_CELL * len(header.positions) if cells else ()
        row_no = 0
        with self._unparsable_as_source_error():
            for fields in reader:
                if len(fields) <= 1 and is_blank(fields):
                    continue
                row_no += 1
                count = len(fields)
                if count == width:
                    user_id = fields[uid].strip()
                    row_kind = (
                        None if 0 < len(user_id) <= MAX_USER_ID_LENGTH else user_id_kind(user_id)
                    )
                    yield row_no, reader.line_num, count, row_kind, user_id, cells_of(fields)
                else:
                    user_id = fields[uid].strip() if uid < count else ""
                    yield row_no, reader.line_num, count, MALFORMED, user_id, malformed_cells
        if self._hashing.sha256.hexdigest() != self._sha256:
            raise SourceError(FILE_CHANGED.render())

    @contextlib.contextmanager
    def _unparsable_as_source_error(self) -> Iterator[None]:
        try:
            yield
        except csv.Error as exc:
            msg = CSV_UNPARSABLE.render(line=self._reader.line_num, error=exc)
            raise SourceError(msg) from exc
