"""Monthly summaries of processing logs (the design note's §8.3.3), months of the business zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction

from logs.models import JobRun
from logs.months import PARENT_TABLE, Month, business_tz
from logs.selectors import partitions_list
from logs.services.job_runs import JobRefused, job_run_record
from logs.services.seals import seals_write

# One row per execution for one month of one table. The month's bounds are instants computed in
# the business time zone, which is the seed's DATE_TRUNC('month', …) taken `AT TIME ZONE` it,
# while letting PostgreSQL prune to the month's partition.
_AGGREGATE_SQL = """
    SELECT %(month)s::date AS summary_date,
           execution_name,
           count(*) AS total_processed,
           count(*) FILTER (WHERE status = 'success') AS success_count,
           count(*) FILTER (WHERE status = 'failed') AS failed_count,
           count(*) FILTER (WHERE status = 'skipped') AS skipped_count
    FROM {table}
    WHERE processed_at >= %(start)s AND processed_at < %(end)s
    GROUP BY execution_name
"""

# Only missing or different rows are written, so a re-run writes (and returns) nothing.
_UPSERT_SQL = """
    INSERT INTO processing_logs_summary AS s
        (summary_date, execution_name,
         total_processed, success_count, failed_count, skipped_count, summarized_at)
    SELECT a.*, now() FROM ({aggregate}) a
    ON CONFLICT (summary_date, execution_name) DO UPDATE SET
        total_processed = EXCLUDED.total_processed,
        success_count = EXCLUDED.success_count,
        failed_count = EXCLUDED.failed_count,
        skipped_count = EXCLUDED.skipped_count,
        summarized_at = EXCLUDED.summarized_at
    WHERE (s.total_processed, s.success_count, s.failed_count, s.skipped_count)
          IS DISTINCT FROM (EXCLUDED.total_processed, EXCLUDED.success_count,
                            EXCLUDED.failed_count, EXCLUDED.skipped_count)
    RETURNING s.total_processed
"""

_PENDING_SQL = """
    SELECT coalesce(sum(a.total_processed), 0), count(*)
    FROM ({aggregate}) a
    LEFT JOIN processing_logs_summary s
      ON s.summary_date = a.summary_date AND s.execution_name = a.execution_name
    WHERE (s.total_processed, s.success_count, s.failed_count, s.skipped_count)
          IS DISTINCT FROM (a.total_processed, a.success_count, a.failed_count, a.skipped_count)
"""


@dataclass(frozen=True)
class SummaryChange:
    """What one month's upsert (or would-be upsert) touched."""

    rows: int  # log rows in the (month, execution) groups written
    executions: int  # summary rows written


def _params(month: Month) -> dict[str, date | datetime]:
    return {"month": month.start.date(), "start": month.start, "end": month.end}


def _with_aggregate(template: str, table: str) -> str:
    """``template`` with the month aggregate of ``table`` (a catalog name, quoted) inside."""
    return template.format(aggregate=_AGGREGATE_SQL.format(table=connection.ops.quote_name(table)))


def summary_month_upsert(*, month: Month, table: str = PARENT_TABLE) -> SummaryChange:
    """Write the summary rows of ``month`` (from ``table``) that are missing or no longer match."""
    with connection.cursor() as cursor:
        cursor.execute(_with_aggregate(_UPSERT_SQL, table), _params(month))
        written = [row[0] for row in cursor.fetchall()]
    return SummaryChange(rows=sum(written), executions=len(written))


def summary_month_pending(*, month: Month, table: str = PARENT_TABLE) -> SummaryChange:
    """What ``summary_month_upsert`` would write for ``month`` now; writes nothing."""
    with connection.cursor() as cursor:
        cursor.execute(_with_aggregate(_PENDING_SQL, table), _params(month))
        rows, executions = cursor.fetchone()
    return SummaryChange(rows=int(rows), executions=executions)


def summary_month_total(*, month: Month) -> int:
    """Log rows the summary of ``month`` accounts for."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(total_processed), 0) FROM processing_logs_summary "
            "WHERE summary_date = %s",
            [month.start.date()],
        )
        return int(cursor.fetchone()[0])


def summaries_months(*, before: Month) -> list[Month]:
    """Months earlier than ``before`` that hold log rows or have a monthly partition."""
    months: set[Month] = set()
    for partition in partitions_list():
        if partition.month is not None:
            if partition.month < before:
                months.add(partition.month)
            continue
        # DEFAULT, or a partition not cut by month (the seed's half-year example): look inside.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT date_trunc('month', processed_at AT TIME ZONE %s) "  # noqa: S608
                f"FROM {connection.ops.quote_name(partition.name)} "
                "WHERE processed_at < %s",
                [str(business_tz()), before.start],
            )
            months.update(Month(row[0].year, row[0].month) for row in cursor.fetchall())
    return sorted(months)


def summaries_update(*, month: Month | None = None, today: datetime | None = None) -> JobRun:
    """The summarize job: upsert every complete month's summary (or only ``month``), then seal
    the complete months not sealed yet; one JobRun."""
    current = Month.of(today) if today else Month.current()
    if month is not None and month > current:
        msg = f"month {month} is in the future (the current month is {current})"
        raise JobRefused(msg)
    with job_run_record(job=JobRun.Job.SUMMARIZE) as run:
        months = [month] if month is not None else summaries_months(before=current)
        run.details = {"checked": [str(m) for m in months], "months": {}}
        run.save(update_fields=["details"])
        for each in months:
            # The summary rows and the run's count of them commit together: a crash between
            # months leaves a run that tells exactly what it wrote.
            with transaction.atomic():
                change = summary_month_upsert(month=each)
                if change.executions:
                    run.rows_summarized += change.rows
                    run.details["months"][str(each)] = {
                        "rows": change.rows,
                        "executions": change.executions,
                    }
                    run.save(update_fields=["rows_summarized", "details"])
        # A complete month is sealed once, after its summary; the seals chain month to month.
        sealed = seals_write(before=current)
        if sealed:
            run.details["sealed"] = [seal.month for seal in sealed]
            run.save(update_fields=["details"])
    return run
