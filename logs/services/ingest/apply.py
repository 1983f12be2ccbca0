"""A run's writes over the classified file: the log rows streamed with ``COPY`` while the file
is classified (the database writes while Python classifies), their digest, the failed cells and
the counters; and the counts and problems a preview or a correction reports."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from auditsite.db import COPY_NULL, UTC_ISO_SESSION, copy_text, cursor_copy
from logs.services.ingest.cells import identifier
from logs.services.ingest.classify import (
    LOG_ROW_COLUMNS,
    PROBLEMS_SHOWN,
    STATUSES,
    CellProblem,
    Classified,
    FailedCell,
    Final,
    classify,
)
from logs.services.ingest.parsing import CsvRows
from logs.services.ingest.staging import FAILED_CELLS, Lookups, analyze, work_tables_create
from logs.services.integrity import LOG_COLUMNS, execution_digest
from users.statistics import Statistic

# The identity sequence of processing_logs.log_id.
_LOG_ID_SEQUENCE = "pg_get_serial_sequence('processing_logs', 'log_id')"
_SPOOL_BYTES = 8 << 20  # failed cells and final counters kept in memory up to this, then on disk


@dataclass
class Applied:
    classified: Classified
    digest: str


def apply(
    cursor, rows: CsvRows, lookups: Lookups, *, execution_name: str, users_repeat: bool
) -> Applied:
    """Classify the file (second pass, users locked) and write its log rows, failed cells and
    counters; return the digest of the log rows.

    The log rows go to ``processing_logs`` by one ``COPY`` as they are classified, and are
    hashed here at the same time: their log_ids are the identity's next values, taken one by
    one in row order, and ``processed_at`` is the transaction's ``now()``. The log_id just
    before them is taken first; when the last one is as many further on as there are rows, no
    other session took one in between and the digest stands; otherwise (imports writing at the
    same moment) the rows are read back in log_id order for it.
    """
    cursor.execute(UTC_ISO_SESSION)
    cursor.execute(f"SELECT nextval({_LOG_ID_SEQUENCE}), now()::text")  # noqa: S608
    before, processed_at = cursor.fetchone()
    digest = hashlib.sha256()
    next_id = before + 1
    with (
        tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", encoding="utf-8") as failed,
        tempfile.SpooledTemporaryFile(_SPOOL_BYTES, "w+", encoding="utf-8") as finals,
    ):
        with cursor_copy(cursor, f"COPY processing_logs ({LOG_ROW_COLUMNS}) FROM STDIN") as copy:

            def log_lines(lines: list[str]) -> None:
                nonlocal next_id
                copy.write("\n".join(lines) + "\n")
                tail = f"\t{processed_at}\n"
                digest.update(
                    "".join(
                        f"{log_id}\t{line}{tail}" for log_id, line in enumerate(lines, next_id)
                    ).encode()
                )
                next_id += len(lines)

            classified = classify(
                rows,
                lookups,
                users_repeat=users_repeat,
                execution_name=execution_name,
                log_lines=log_lines,
                failed_cell=lambda cell: failed.write(_copy_line(cell)),
                final=lambda values: finals.write(_final_line(values)),
            )
        cursor.execute(f"SELECT currval({_LOG_ID_SEQUENCE})")  # noqa: S608
        (last,) = cursor.fetchone()
        statistics = rows.header.statistics
        work_tables_create(cursor, statistics)
        _spool_copy(cursor, failed, "COPY ingest_failed FROM STDIN")
        columns = ", ".join(identifier(statistic.column) for statistic in statistics)
        _spool_copy(
            cursor, finals, f"COPY ingest_finals (user_id, has_counters, {columns}) FROM STDIN"
        )
    written = digest.hexdigest() if last == next_id - 1 else None
    counters_apply(cursor, statistics)
    if written is None:  # another session took log_ids meanwhile: hash the rows as stored
        written = execution_digest(execution_name=execution_name)
    return Applied(classified=classified, digest=written)


def _copy_line(values: FailedCell) -> str:
    return (
        "\t".join(
            copy_text(value) if value is None or isinstance(value, str) else str(value)
            for value in values
        )
        + "\n"
    )


def _final_line(values: Final) -> str:
    user_id, has_counters, counters = values
    counted = "\t".join(COPY_NULL if value is None else str(value) for value in counters)
    return f"{copy_text(user_id)}\t{'t' if has_counters else 'f'}\t{counted}\n"


def _spool_copy(cursor, spool, statement: str) -> None:
    """COPY what a spool holds (COPY text) with ``statement``."""
    spool.seek(0)
    with cursor_copy(cursor, statement) as copy:
        while chunk := spool.read(1 << 20):
            copy.write(chunk)


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
