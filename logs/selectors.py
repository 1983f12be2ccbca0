"""Reads of the audit trail for the admin pages (the seed's queries 6.2 and 6.3, and friends)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from logs.models import Execution, JobRun, ProcessingLog
from logs.services.partitions import (
    PartitionInfo,
    business_tz,
    default_partition_rows,
    partitions_list,
)


@dataclass(frozen=True)
class DailyCount:
    """Log rows of one business-time-zone day, by status."""

    day: date
    total: int
    success: int
    failed: int
    skipped: int


def window_start(*, days: int) -> datetime:
    """Midnight (business time zone) ``days`` days before today: the seed's
    ``CURRENT_DATE - INTERVAL 'N days'`` with the session in the business time zone."""
    today = timezone.localdate(timezone=business_tz())
    return datetime.combine(today - timedelta(days=days), time.min, tzinfo=business_tz())


def daily_counts(*, days: int) -> list[DailyCount]:
    """Seed 6.3 (plus skipped): per business-time-zone day since ``window_start``, newest first.

    Only days with rows are returned, exactly as the seed's query does. The lower bound is a
    constant, so PostgreSQL prunes the monthly partitions before it.
    """
    tz_name = str(business_tz())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (processed_at AT TIME ZONE %s)::date AS process_date,
                   count(*),
                   count(*) FILTER (WHERE status = 'success'),
                   count(*) FILTER (WHERE status = 'failed'),
                   count(*) FILTER (WHERE status = 'skipped')
            FROM processing_logs
            WHERE processed_at >= %s
            GROUP BY process_date
            ORDER BY process_date DESC
            """,
            [tz_name, window_start(days=days)],
        )
        return [DailyCount(*row) for row in cursor.fetchall()]


def daily_series(*, counts: list[DailyCount], days: int) -> list[DailyCount]:
    """Every day of the window, oldest first, with zeros for days without rows (for charts)."""
    by_day = {count.day: count for count in counts}
    first = window_start(days=days).date()
    series = []
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        series.append(by_day.get(day, DailyCount(day, 0, 0, 0, 0)))
    return series


@dataclass(frozen=True)
class BreakdownRow:
    """One row of seed 6.2: a status, its count and the processing type."""

    status: str
    count: int
    processing_type: str | None


def execution_breakdown(*, execution_name: str) -> list[BreakdownRow]:
    """Seed 6.2 for one execution: log rows per (status, processing_type)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT status, COUNT(*) AS count, processing_type
            FROM processing_logs
            WHERE execution_name = %s
            GROUP BY status, processing_type
            ORDER BY processing_type, status
            """,
            [execution_name],
        )
        return [BreakdownRow(*row) for row in cursor.fetchall()]


def execution_failed_logs(*, execution_name: str) -> QuerySet[ProcessingLog]:
    """The failed cells of one execution, in file order (log_id order is row order)."""
    return ProcessingLog.objects.filter(execution_name=execution_name, status="failed").order_by(
        "log_id"
    )


def executions_recent(*, limit: int = 10) -> QuerySet[Execution]:
    """The newest executions with who started them."""
    return Execution.objects.select_related("uploaded_by").order_by("-created_at")[:limit]


def job_runs_recent(*, limit: int = 10) -> QuerySet[JobRun]:
    """The newest scheduled or maintenance job runs."""
    return JobRun.objects.order_by("-started_at")[:limit]


@dataclass(frozen=True)
class PartitionStatus:
    partitions: list[PartitionInfo]
    default_rows: int  # exact: maintenance keeps DEFAULT empty, so this stays cheap


def partition_status() -> PartitionStatus:
    """Monthly partitions with the planner's row estimates, and the rows sitting in DEFAULT."""
    partitions = [info for info in partitions_list() if not info.is_default]
    return PartitionStatus(partitions=partitions, default_rows=default_partition_rows())


def planner_estimate(*, queryset: QuerySet) -> int:
    """PostgreSQL's estimate of how many rows ``queryset`` returns (EXPLAIN), never a count."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
