"""Staging: the file's users streamed with ``COPY`` into a temporary table of the run's
transaction (the users to lock and to look up), what the database knows of them read back in
file order, and the work tables a run fills."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auditsite.db import cursor_chunks, cursor_copy
from logs.models import Execution
from logs.services.executions import Progress
from logs.services.ingest.cells import identifier
from logs.services.ingest.parsing import CsvRows
from users.statistics import Statistic

PROGRESS_EVERY_ROWS = 20_000

# Every temporary table of a run. ON COMMIT DROP does not fire when the run's transaction is only
# a savepoint of a longer one, so a run also drops them itself, first and last.
DROP_STAGING = "DROP TABLE IF EXISTS ingest_rows, ingest_failed, ingest_counts, ingest_finals"
# The failed cells of the run, in file order, for its problems and the error store.
FAILED_CELLS = (
    "SELECT row_no, line_no, idx, user_id, raw_user_id, processing_type, raw, error_message "
    "FROM ingest_failed"
)
# ``Lookups.flags``: the user exists; the user has a ``user_statistics`` row.
KNOWN, HAS_COUNTERS = 1, 2


@dataclass(frozen=True)
class Staged:
    rows: int  # data rows of the file
    users_repeat: bool  # some user_id is on several well-formed rows


def stage(cursor, rows: CsvRows, progress: Progress | None) -> Staged:
    """First pass over the file: COPY the user_id of each well-formed row whose user_id can be
    looked up into the ``ingest_rows`` temporary table, with its row number."""
    cursor.execute(
        "CREATE TEMPORARY TABLE ingest_rows (row_no integer, user_id text) ON COMMIT DROP"
    )
    row_no = 0
    # Exports sorted by user_id are common: while the user_ids ascend strictly, none repeats,
    # and the database need not be asked.
    ascending, previous_user = True, ""
    with cursor_copy(cursor, "COPY ingest_rows (row_no, user_id) FROM STDIN") as copy:
        write = copy.write_row
        for row_no, _, _, row_kind, user_id, _ in rows.rows(cells=False):
            if row_kind is None:
                write((row_no, user_id))
                if ascending:
                    ascending, previous_user = user_id > previous_user, user_id
            if progress and row_no % PROGRESS_EVERY_ROWS == 0:
                progress(Execution.Phase.STAGING, row_no, rows.position())
    analyze(cursor, "ingest_rows")
    if ascending:
        return Staged(rows=row_no, users_repeat=False)
    cursor.execute("SELECT EXISTS (SELECT FROM ingest_rows GROUP BY user_id HAVING count(*) > 1)")
    return Staged(rows=row_no, users_repeat=cursor.fetchone()[0])


@dataclass(frozen=True)
class Lookups:
    """What the database holds for each staged row, in file order: ``flags`` (KNOWN,
    HAS_COUNTERS) and, per statistic present, the user's counter before the file (0 without a
    statistics row). Compact: a million rows take ~17 MB."""

    flags: bytearray
    counters: tuple[array, ...]


def lookups_read(cursor, statistics: Sequence[Statistic]) -> Lookups:
    """The staged rows' users and counters, in file order (their users locked when applying),
    read in chunks: never all at once on the client."""
    counters = ", ".join(
        f"COALESCE(st.{identifier(statistic.column)}, 0)" for statistic in statistics
    )
    flags = bytearray()
    columns = tuple(array("q") for _ in statistics)
    for chunk in cursor_chunks(
        cursor,
        f"SELECT (u.user_id IS NOT NULL)::integer * {KNOWN} "  # noqa: S608 - registry columns
        f"+ (st.user_id IS NOT NULL)::integer * {HAS_COUNTERS}, {counters} "
        "FROM ingest_rows r LEFT JOIN users u ON u.user_id = r.user_id "
        "LEFT JOIN user_statistics st ON st.user_id = r.user_id ORDER BY r.row_no",
    ):
        flags.extend(row[0] for row in chunk)
        for index, column in enumerate(columns, start=1):
            column.extend(row[index] for row in chunk)
    return Lookups(flags=flags, counters=columns)


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
    """Where a run leaves its results: the failed cells (for problems and the error store), the
    counts, and the final values of the counters of ``statistics``."""
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
