"""The statements of a run over the staged file: preview (classify only) or apply (log rows and
counters), then the counts and problems both report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from logs.services.ingest.classify import classified_sql, identifier
from logs.services.ingest.parsing import Header
from logs.services.ingest.staging import FAILED_CELLS, analyze
from logs.services.integrity import LOG_COLUMNS, digest_copy, execution_digest
from users.statistics import Statistic

PROBLEMS_SHOWN = 100
STATUSES = ("success", "failed", "skipped")  # of a log row


@dataclass
class CellProblem:
    row_number: int  # line of the file where the row ends
    user_id: str | None
    processing_type: str | None
    message: str


def preview(cursor, header: Header, *, users_repeat: bool, fixed: bool) -> None:
    """Classify the cells into ``ingest_failed`` and ``ingest_counts``; writes nothing else."""
    cursor.execute(
        classified_sql(header, users_repeat=users_repeat, fixed=fixed) + "SELECT 1",
        {"width": header.width},
    )


def apply(cursor, header: Header, *, execution_name: str, users_repeat: bool, fixed: bool) -> str:
    """Write log rows and counters (users already locked); return the digest of the log rows.

    One statement classifies the cells, inserts the log rows and streams them back for the
    digest as they are written, so hashing them here overlaps the database's work. The last
    success of each (user, statistic) is its largest new_value: those go to ``ingest_finals``
    first, so the counters' update is planned on real row counts.
    """
    present = [identifier(statistic.column) for statistic in header.statistics]
    finals = ", ".join(
        f"max(new_value) FILTER (WHERE idx = {index})::integer" for index in range(len(present))
    )
    columns = ", ".join(present)
    head = classified_sql(header, users_repeat=users_repeat, fixed=fixed)
    digest = digest_copy(
        cursor,
        head  # noqa: S608 - identifiers rendered by psycopg.sql; values are parameters
        + f"""
        , finals AS (
            INSERT INTO ingest_finals (user_id, has_counters, {columns})
            SELECT raw_user_id, bool_or(has_counters), {finals}
            FROM cells WHERE status = 'success' GROUP BY raw_user_id
        ),
        {log_rows_insert_sql(order_by="row_no, idx")}
        """,  # noqa: S608
        {"width": header.width, "execution_name": execution_name},
    )
    if digest is None:  # the rows came back out of log_id order: read them back in order
        digest = execution_digest(execution_name=execution_name)
    counters_apply(cursor, header.statistics)
    return digest


def log_rows_insert_sql(*, order_by: str) -> str:
    """The end of a run's statement: its ``cells`` inserted as the log rows of
    ``%(execution_name)s`` in ``order_by`` order (their log_id order), and streamed back
    (LOG_COLUMNS) for the digest."""
    return f"""
        inserted AS (
            INSERT INTO processing_logs (execution_name, user_id, processing_type, old_value,
                                         new_value, status, error_message)
            SELECT %(execution_name)s, user_id, processing_type, old_value::integer,
                   new_value::integer, status, error_message
            FROM cells ORDER BY {order_by}
            RETURNING {LOG_COLUMNS}
        )
        SELECT * FROM inserted
    """  # noqa: S608 - a column list of the engine's own


def counters_apply(cursor, statistics: Sequence[Statistic]) -> None:
    """Set the counters of ``statistics`` to the run's final values (``ingest_finals``: the last
    success of each user and statistic, NULL for none); users without a statistics row get one
    on their first success. The users are locked."""
    present = [identifier(statistic.column) for statistic in statistics]
    columns = ", ".join(present)
    analyze(cursor, "ingest_finals")
    kept = ", ".join(f"{column} = COALESCE(f.{column}, s.{column})" for column in present)
    cursor.execute(
        f"UPDATE user_statistics s SET {kept}, updated_at = now() "  # noqa: S608
        "FROM ingest_finals f WHERE f.has_counters AND s.user_id = f.user_id"
    )
    started = ", ".join(f"COALESCE({column}, 0)" for column in present)
    cursor.execute(
        f"INSERT INTO user_statistics (user_id, {columns}, updated_at) "  # noqa: S608
        f"SELECT user_id, {started}, now() FROM ingest_finals WHERE NOT has_counters "
        "ORDER BY user_id"
    )


def counts_read(cursor) -> dict[str, dict[str, int]]:
    """{processing_type: {status: cells}} of the run."""
    cursor.execute("SELECT processing_type, status, n FROM ingest_counts ORDER BY 1, 2")
    counts: dict[str, dict[str, int]] = {}
    for processing_type, status, count in cursor.fetchall():
        counts.setdefault(processing_type, dict.fromkeys(STATUSES, 0))[status] = count
    return counts


def status_totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Cells per status over all statistics."""
    return {status: sum(per_type[status] for per_type in counts.values()) for status in STATUSES}


def problems_read(cursor) -> list[CellProblem]:
    """The first failed cells of the run, in file order."""
    cursor.execute(
        "SELECT line_no, coalesce(user_id, nullif(left(raw_user_id, 40), '')), processing_type, "  # noqa: S608
        f"error_message FROM ({FAILED_CELLS}) failed ORDER BY row_no, idx LIMIT %s",  # noqa: S608
        [PROBLEMS_SHOWN],
    )
    return [CellProblem(*row) for row in cursor.fetchall()]


def failed_cells_sql() -> str:
    """A query of the failed cells of the run being applied (``row_no, line_no, idx, user_id,
    raw_user_id, processing_type, raw, error_message``), for the error store; in the run's
    transaction only."""
    return FAILED_CELLS
