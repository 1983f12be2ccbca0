"""Database helpers shared by the services: COPY through Django's cursor wrappers, stable text."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.backends.utils import CursorDebugWrapper

# How COPY and ::text render a timestamp depends on the session's TimeZone and DateStyle: this
# pins both for the current transaction, so the same rows always give the same bytes. Execution
# digests and archive CSVs are sha256 of those bytes: changing it invalidates stored digests.
UTC_ISO_SESSION = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'"


@contextlib.contextmanager
def cursor_copy(cursor, statement: str, params: Sequence[Any] | None = None) -> Iterator[Any]:
    """psycopg 3 ``COPY`` on a Django cursor, with parameters, under every setting.

    Django's debug cursor (``DEBUG=True`` or ``connection.force_debug_cursor``) offers a
    ``copy()`` without parameters; this goes to the psycopg cursor beneath and, when debugging,
    records the statement and its whole duration in ``connection.queries`` like any other query.
    """
    raw = cursor.cursor
    if isinstance(cursor, CursorDebugWrapper):
        with cursor.debug_sql(statement, params), raw.copy(statement, params) as copy:
            yield copy
    else:
        with raw.copy(statement, params) as copy:
            yield copy


def cursor_chunks(
    cursor, statement: str, params: Sequence[Any] | None = None, *, size: int = 20_000
) -> Iterator[list[tuple]]:
    """The rows of ``statement`` in lists of ``size``, read through a server-side cursor of the
    current transaction, so a large result is never held whole on the client. Recorded in
    ``connection.queries`` when debugging, like ``cursor_copy``."""
    recording = (
        cursor.debug_sql(statement, params)
        if isinstance(cursor, CursorDebugWrapper)
        else contextlib.nullcontext()
    )
    with recording, cursor.cursor.connection.cursor(name="auditsite_chunks") as server:
        server.execute(statement, params)
        while chunk := server.fetchmany(size):
            yield chunk


# The characters PostgreSQL's COPY text format writes backslash-escaped (COPY TO) and reads back
# (COPY FROM); any other character stands for itself. NULL is written \N.
_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
)
COPY_NULL = "\\N"


def copy_text(value: str | None) -> str:
    """A text as one field of COPY's text format, exactly as ``COPY … TO`` writes it."""
    return COPY_NULL if value is None else value.translate(_COPY_ESCAPES)
