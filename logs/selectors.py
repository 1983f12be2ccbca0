"""Reads of the audit trail (the seed's queries 6.2 and 6.3, and friends) and of its partitions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Count, QuerySet
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from logs.models import Alert, AlertDelivery, Execution, JobRun, ProcessingLog
from logs.months import DEFAULT_PARTITION, PARENT_TABLE, Month, business_tz, partition_month
from logs.triggers import truncate_guard_pgid


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

    Only days with rows are returned, exactly as the seed's query does. Summed from the counts
    each run recorded beside its rows (``processing_log_counts``, a few rows a day) instead of
    counting the rows themselves (a week holds hundreds of thousands).
    """
    tz_name = str(business_tz())
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (processed_at AT TIME ZONE %s)::date AS process_date,
                   sum(total)::bigint, sum(success_count)::bigint, sum(failed_count)::bigint,
                   sum(skipped_count)::bigint
            FROM processing_log_counts
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
class PartitionInfo:
    """One partition of processing_logs, as the catalogue describes it."""

    name: str
    month: Month | None  # None for DEFAULT and for partitions not named by month
    is_default: bool
    bounds: str
    estimated_rows: int
    truncate_guarded: bool  # has the parent's TRUNCATE guard (statement triggers are not cloned)


def partitions_list(*, using: str = DEFAULT_DB_ALIAS) -> list[PartitionInfo]:
    """Every partition of processing_logs with its bounds and planner row estimate, by name."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname, pg_get_expr(child.relpartbound, child.oid),
                   GREATEST(child.reltuples, 0)::bigint,
                   EXISTS (SELECT 1 FROM pg_trigger t
                           WHERE t.tgrelid = child.oid AND t.tgname = %s)
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            ORDER BY child.relname
            """,
            [truncate_guard_pgid(), PARENT_TABLE],
        )
        rows = cursor.fetchall()
    return [
        PartitionInfo(
            name=name,
            month=partition_month(name),
            is_default=bounds == "DEFAULT",
            bounds=bounds,
            estimated_rows=estimate,
            truncate_guarded=guarded,
        )
        for name, bounds, estimate, guarded in rows
    ]


def default_partition_months(*, using: str = DEFAULT_DB_ALIAS) -> list[Month]:
    """Months (business time zone) of the rows sitting in the DEFAULT partition."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT date_trunc('month', processed_at AT TIME ZONE %s) "  # noqa: S608
            f"FROM {DEFAULT_PARTITION} ORDER BY 1",
            [str(business_tz())],
        )
        return [Month(row[0].year, row[0].month) for row in cursor.fetchall()]


def default_partition_rows(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Exact number of rows in DEFAULT (kept empty by maintenance, so this is cheap)."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # noqa: S608
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class ExpiredPartition:
    """A month's table past retention: attached to processing_logs, or left detached by a crash."""

    table: str
    month: Month
    attached: bool
    rows: int


def partitions_expired(*, keep_from: Month) -> list[ExpiredPartition]:
    """Month tables older than ``keep_from``, oldest first, with exact row counts.

    Besides attached partitions this finds month tables no longer attached (a run stopped
    between DETACH and DROP, or an operator detached one): they are the same month's rows.
    """
    attached = {partition.name for partition in partitions_list()}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname
            FROM pg_class c
            WHERE c.relkind = 'r'
              AND c.relnamespace = current_schema()::regnamespace
              AND c.relname ~ '^processing_logs_[0-9]{4}_[0-9]{2}$'
            """
        )
        candidates = [
            (name, month)
            for (name,) in cursor.fetchall()
            if (month := partition_month(name)) is not None and month < keep_from
        ]
        expired = []
        for name, month in sorted(candidates, key=lambda item: item[1]):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(name)}")  # noqa: S608
            expired.append(ExpiredPartition(name, month, name in attached, cursor.fetchone()[0]))
    return expired


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


# --- Unattended operation: what alerts, /healthz, /metrics and the dashboard read ----------


def executions_finished_since(*, since: datetime) -> QuerySet[Execution]:
    """Executions that ended (completed, rejected, failed) at or after ``since``, oldest first."""
    return Execution.objects.filter(
        finished_at__gte=since,
        status__in=[
            Execution.Status.COMPLETED,
            Execution.Status.REJECTED,
            Execution.Status.FAILED,
        ],
    ).order_by("finished_at", "pk")


def job_runs_failed_since(*, since: datetime) -> QuerySet[JobRun]:
    """Job runs that failed and ended at or after ``since``, oldest first."""
    return JobRun.objects.filter(status=JobRun.Status.FAILED, finished_at__gte=since).order_by(
        "finished_at", "pk"
    )


def execution_completed_since(*, since: datetime) -> bool:
    """Whether some import (not a correction) completed at or after ``since``."""
    return Execution.objects.filter(
        status=Execution.Status.COMPLETED, kind=Execution.Kind.IMPORT, finished_at__gte=since
    ).exists()


def job_run_last(*, job: str) -> JobRun | None:
    """The newest finished run of ``job``."""
    return JobRun.objects.filter(job=job, finished_at__isnull=False).order_by("-started_at").first()


@dataclass(frozen=True)
class BeatHeartbeat:
    """Whether Celery beat keeps its schedules: the newest time it sent a task, and the enabled
    schedules overdue by more than the grace (beat writes ``last_run_at`` every few minutes)."""

    last_sent_at: datetime | None
    overdue: list[str]

    @property
    def alive(self) -> bool:
        return not self.overdue


BEAT_GRACE = timedelta(minutes=5)  # beat saves last_run_at every 3 minutes; plus slack


def beat_heartbeat(*, now: datetime | None = None) -> BeatHeartbeat:
    """django-celery-beat's own record: each enabled, repeating schedule must have been sent
    no later than its next due time after the previous send (or after it was last changed,
    as beat itself counts) plus ``BEAT_GRACE``."""
    now = now or timezone.now()
    overdue, last_sent = [], None
    tasks = PeriodicTask.objects.filter(enabled=True, one_off=False, clocked__isnull=True)
    for task in tasks.select_related("interval", "crontab", "solar"):
        if task.scheduler is None:
            continue
        if task.last_run_at and (last_sent is None or task.last_run_at > last_sent):
            last_sent = task.last_run_at
        reference = task.last_run_at or task.date_changed
        schedule = task.schedule
        schedule.nowfun = lambda: now  # judge against this now (tests pass their own)
        remaining = schedule.remaining_estimate(reference)
        if remaining < -BEAT_GRACE:
            overdue.append(task.name)
    return BeatHeartbeat(last_sent_at=last_sent, overdue=overdue)


@dataclass(frozen=True)
class ExecutionTotals:
    """Executions of one status and what they hold (the metrics' counters)."""

    status: str
    executions: int
    rows: int
    success: int
    failed: int
    skipped: int


def execution_totals() -> list[ExecutionTotals]:
    """Per execution status: how many, their data rows and their cells by status."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*), coalesce(sum(rows_total), 0), "
            "coalesce(sum(success_count), 0), coalesce(sum(failed_count), 0), "
            "coalesce(sum(skipped_count), 0) FROM executions GROUP BY status ORDER BY status"
        )
        return [ExecutionTotals(*row) for row in cursor.fetchall()]


def import_durations(*, bounds: tuple[float, ...]) -> tuple[list[int], int, float]:
    """Completed executions' run times (started → finished): cumulative counts at each bound,
    the count and the sum of seconds (a Prometheus histogram)."""
    buckets = ", ".join(f"count(*) FILTER (WHERE seconds <= {float(bound)!r})" for bound in bounds)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {buckets}, count(*), coalesce(sum(seconds), 0) FROM ("  # noqa: S608 - floats
            "SELECT extract(epoch FROM finished_at - started_at)::float AS seconds "
            "FROM executions WHERE status = 'completed' AND started_at IS NOT NULL "
            "AND finished_at IS NOT NULL) durations"
        )
        *cumulative, count, total = cursor.fetchone()
    return list(cumulative), count, float(total)


def job_run_totals() -> list[tuple[str, str, int]]:
    """(job, status, runs) for every job and status seen."""
    return list(
        JobRun.objects.values_list("job", "status")
        .annotate(runs=Count("pk"))
        .order_by("job", "status")
    )


def alerts_recent(*, limit: int = 5) -> QuerySet[Alert]:
    """The newest alerts."""
    return Alert.objects.order_by("-created_at", "-pk")[:limit]


def alert_delivery_totals() -> list[tuple[str, str, str, int]]:
    """(alert kind, channel, delivery status, deliveries) for every combination seen."""
    return list(
        AlertDelivery.objects.values_list("alert__kind", "channel", "status")
        .annotate(deliveries=Count("pk"))
        .order_by("alert__kind", "channel", "status")
    )


# --- corrections (SPEC §4a) ---------------------------------------------------------------


def corrected_execution(name: str) -> Execution | None:
    """The completed import named ``name``, which a new upload may say it corrects."""
    return Execution.objects.filter(
        name=name, status=Execution.Status.COMPLETED, kind=Execution.Kind.IMPORT
    ).first()


@dataclass(frozen=True)
class Lineage:
    """Where a log row's change came from: its execution's kind, who asked and approved, why,
    and the reversal that took it back, if any."""

    execution: Execution
    reversed_by: Execution | None


def executions_lineage(*, names: set[str]) -> dict[str, Lineage]:
    """The completed executions of these names (a page of a user's history), with what the
    timeline says of each."""
    executions = Execution.objects.filter(
        name__in=names, status=Execution.Status.COMPLETED
    ).select_related("uploaded_by", "approved_by", "reverses", "corrects")
    reversals = {
        reversal.reverses_id: reversal
        for reversal in Execution.objects.filter(
            reverses__name__in=names, status=Execution.Status.COMPLETED
        )
    }
    return {
        execution.name: Lineage(execution=execution, reversed_by=reversals.get(execution.pk))
        for execution in executions
    }
