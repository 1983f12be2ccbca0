"""The dashboard's rollup: how many log rows each execution wrote, by status, at its
``processed_at`` (``processing_log_counts``).

An import or a correction records its counts in its own transaction (``log_counts_record``),
beside the rows it writes; rows written another way (the demo's past days) are counted from the
rows themselves (``log_counts_rebuild``); a dropped month's counts go with it
(``log_counts_forget``). The daily counts (seed 6.3) are then sums over a few rows per day
(``logs.selectors.daily_counts``), and ``verify_logs`` checks the counts against the rows
(``log_counts_problems``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from logs.months import Month

_COUNTED = """
SELECT processed_at, execution_name, count(*), count(*) FILTER (WHERE status = 'success'),
       count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped')
FROM processing_logs
"""


def log_counts_record(*, execution_name: str, totals: dict[str, int]) -> None:
    """Record the rows the run of this transaction has written, ``totals`` by status.

    The run's rows take ``processed_at``'s default, ``now()``: the start of this transaction,
    which is the time recorded here. Nothing is recorded for a run that wrote no row.
    """
    total = sum(totals.values())
    if not total:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO processing_log_counts (processed_at, execution_name, total, "
            "success_count, failed_count, skipped_count) VALUES (now(), %s, %s, %s, %s, %s)",
            [execution_name, total, totals["success"], totals["failed"], totals["skipped"]],
        )


def log_counts_rebuild(*, execution_names: Iterable[str]) -> int:
    """Count the rows of these executions again from the rows themselves (for rows written
    without the engine); returns the count rows written."""
    names = sorted(set(execution_names))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM processing_log_counts WHERE execution_name = ANY(%s)", [names])
        cursor.execute(
            "INSERT INTO processing_log_counts (processed_at, execution_name, total, "  # noqa: S608
            f"success_count, failed_count, skipped_count) {_COUNTED} "
            "WHERE execution_name = ANY(%s) GROUP BY execution_name, processed_at",
            [names],
        )
        return cursor.rowcount


def log_counts_forget(*, month: Month) -> int:
    """Remove the counts of a month whose rows are gone (retention dropped its partition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM processing_log_counts WHERE processed_at >= %s AND processed_at < %s",
            [month.start, month.end],
        )
        return cursor.rowcount


def log_counts_problems() -> list[str]:
    """Where the recorded counts and the rows disagree: an execution and time with rows but no
    counts, counts but no rows, or other numbers (one pass over the rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT coalesce(rows.execution_name, counts.execution_name),
                   coalesce(rows.processed_at, counts.processed_at),
                   counts.total, counts.success_count, counts.failed_count, counts.skipped_count,
                   rows.total, rows.success_count, rows.failed_count, rows.skipped_count
            FROM ({_COUNTED} GROUP BY execution_name, processed_at)
                 AS rows (processed_at, execution_name, total, success_count, failed_count,
                          skipped_count)
            FULL JOIN processing_log_counts counts
                 ON counts.execution_name = rows.execution_name
                AND counts.processed_at = rows.processed_at
            WHERE (counts.total, counts.success_count, counts.failed_count, counts.skipped_count)
                  IS DISTINCT FROM
                  (rows.total, rows.success_count, rows.failed_count, rows.skipped_count)
            ORDER BY 2, 1
            """  # noqa: S608 - no value in the text
        )
        return [
            f"execution {name!r} at {processed_at.isoformat()}: the dashboard's counts say "
            f"{_numbers(recorded)}, its log rows are {_numbers(actual)}"
            for name, processed_at, *numbers in cursor.fetchall()
            for recorded, actual in [(numbers[:4], numbers[4:])]
        ]


def _numbers(numbers: list[int | None]) -> str:
    total, success, failed, skipped = (number or 0 for number in numbers)
    return f"{total} ({success} success, {failed} failed, {skipped} skipped)"
