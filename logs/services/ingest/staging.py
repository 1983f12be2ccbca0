"""Staging: the file parsed once and streamed with ``COPY`` into temporary tables of the run's
transaction, and the work tables its statements fill."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditsite.db import cursor_copy
from logs.messages import CSV_UNPARSABLE, NO_HEADER
from logs.models import Execution
from logs.services.executions import Progress
from logs.services.ingest.parsing import (
    EMPTY_CELL,
    MALFORMED,
    MAX_USER_ID_LENGTH,
    Header,
    header_parse,
    is_blank,
    row_cells,
    user_id_kind,
)
from logs.services.sources import SourceError
from users.statistics import Statistic

PROGRESS_EVERY_ROWS = 20_000

# Every temporary table of a run. ON COMMIT DROP does not fire when the run's transaction is only
# a savepoint of a longer one, so a run also drops them itself, first and last.
DROP_STAGING = (
    "DROP TABLE IF EXISTS ingest_rows, ingest_fixes, ingest_failed, ingest_counts, ingest_finals"
)
# The failed cells of the run, in file order, for its problems and the error store.
FAILED_CELLS = (
    "SELECT row_no, line_no, idx, user_id, raw_user_id, processing_type, raw, error_message "
    "FROM ingest_failed"
)


@dataclass(frozen=True)
class Staged:
    header: Header
    rows: int
    users_repeat: bool  # some user_id is on several well-formed rows


def stage(cursor, path: Path, encoding: str, progress: Progress | None) -> Staged:
    """Parse the file once and COPY its rows into the ``ingest_rows`` temporary table: per row
    its number, line, field count, row-level kind and user_id, and per statistic present its
    value's kind (``k``), number (``n``) and raw text (``v``)."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        # strict: an unterminated quote is an error, not a cell that swallows the next rows
        reader = csv.reader(text, strict=True)
        try:
            fields = next((row for row in reader if not is_blank(row)), None)
            if fields is None:
                msg = NO_HEADER.render()
                raise SourceError(msg)
            header = header_parse(fields)
            value_columns = [
                f"{prefix}{index}"
                for index in range(len(header.statistics))
                for prefix in ("k", "n", "v")
            ]
            column_types = {"k": "text", "n": "integer", "v": "text"}
            cursor.execute(
                "CREATE TEMPORARY TABLE ingest_rows (row_no integer, line_no integer, "
                "field_count integer, row_kind text, user_id text, "
                + ", ".join(f"{column} {column_types[column[0]]}" for column in value_columns)
                + ") ON COMMIT DROP"
            )
            width, uid = header.width, header.user_id_position
            cells_of = row_cells(header.positions)
            malformed_cells = EMPTY_CELL * len(header.positions)
            row_no = 0
            # Exports sorted by user_id are common: while the well-formed rows' user_ids ascend
            # strictly, none repeats, and the database need not be asked.
            ascending, previous_user = True, ""
            with cursor_copy(
                cursor,
                "COPY ingest_rows (row_no, line_no, field_count, row_kind, user_id, "
                + ", ".join(value_columns)
                + ") FROM STDIN",
            ) as copy:
                write = copy.write_row
                for fields in reader:
                    if len(fields) <= 1 and is_blank(fields):
                        continue
                    row_no += 1
                    count = len(fields)
                    if count == width:
                        cells = cells_of(fields)
                        user_id = fields[uid].strip()
                        row_kind = (
                            None
                            if 0 < len(user_id) <= MAX_USER_ID_LENGTH
                            else user_id_kind(user_id)
                        )
                        if ascending and row_kind is None:
                            ascending, previous_user = user_id > previous_user, user_id
                    else:
                        cells = malformed_cells
                        user_id = fields[uid].strip() if uid < count else ""
                        row_kind = MALFORMED
                    write((row_no, reader.line_num, count, row_kind, user_id, *cells))
                    if progress and row_no % PROGRESS_EVERY_ROWS == 0:
                        progress(Execution.Phase.STAGING, row_no, raw.tell())
        except csv.Error as exc:
            msg = CSV_UNPARSABLE.render(line=reader.line_num, error=exc)
            raise SourceError(msg) from exc
    analyze(cursor, "ingest_rows")
    if ascending:
        return Staged(header=header, rows=row_no, users_repeat=False)
    # Cells chain only when a user_id is on several well-formed rows.
    cursor.execute(
        "SELECT EXISTS (SELECT FROM ingest_rows WHERE row_kind IS NULL "
        "GROUP BY user_id HAVING count(*) > 1)"
    )
    return Staged(header=header, rows=row_no, users_repeat=cursor.fetchone()[0])


def analyze(cursor, table: str) -> None:
    """Planner statistics for a staging table (hash joins, not nested loops); a small sample
    is enough for row counts and distinct users."""
    cursor.execute("SET LOCAL default_statistics_target = 10")
    cursor.execute(f"ANALYZE {table}")
    cursor.execute("RESET default_statistics_target")


def users_lock(
    cursor,
    among: str = "SELECT user_id FROM ingest_rows",
    params: Mapping[str, object] | None = None,
) -> None:
    """Lock the users of a run (the file's, or those the query ``among`` names) in user_id
    order: concurrent imports and corrections wait, never deadlock."""
    cursor.execute(
        "SELECT count(*) FROM (SELECT 1 FROM users "  # noqa: S608 - the engine's own queries
        f"WHERE user_id IN ({among}) "
        'ORDER BY user_id COLLATE "C" FOR NO KEY UPDATE) AS locked',
        params,
    )


def work_tables_create(cursor, statistics: Sequence[Statistic]) -> None:
    """Where the statements of a run leave their results: the failed cells (for problems and the
    error store), the counts, and the final values of the counters of ``statistics``."""
    counters = ", ".join(f"{statistic.column} integer" for statistic in statistics)
    cursor.execute(
        "CREATE TEMPORARY TABLE ingest_failed (row_no integer, line_no integer, idx integer, "
        "user_id text, raw_user_id text, processing_type text, raw text, error_message text) "
        "ON COMMIT DROP; "
        "CREATE TEMPORARY TABLE ingest_counts (processing_type text, status text, n bigint) "
        "ON COMMIT DROP; "
        f"CREATE TEMPORARY TABLE ingest_finals (user_id text, has_counters boolean, {counters}) "
        "ON COMMIT DROP"
    )
