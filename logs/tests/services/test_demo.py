"""The demo trail: past days exactly as the engine would have written them, then real runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from logs.models import Execution, JobRun, ProcessingError, ProcessingLog
from logs.months import Month
from logs.selectors import partitions_list
from logs.services.demo import HISTORY_SOURCE, TODAY_SOURCE, demo_day_generate, demo_trail_seed
from logs.services.ingest import execution_create, execution_run
from logs.services.integrity import execution_digest, logs_verify
from users.models import UserStatistics
from users.services import demo_accounts_seed, demo_user_ids, demo_users_seed
from users.statistics import STATISTICS

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_users(db, settings, tmp_path):
    """100 demo service users with zeroed counters, the demo accounts, media in tmp_path."""
    settings.MEDIA_ROOT = tmp_path
    demo_users_seed(count=100)
    demo_accounts_seed()
    return demo_user_ids(count=100)


def _logged(execution_name: str) -> list[tuple]:
    return list(
        ProcessingLog.objects.filter(execution_name=execution_name)
        .order_by("log_id")
        .values_list(
            "user_id", "processing_type", "old_value", "new_value", "status", "error_message"
        )
    )


def _kind(status: str, message: str | None) -> str:
    if status != "failed":
        return status
    if message == "User not found in users table":
        return "unknown user"
    assert message is not None, "a failed row says why"
    return next(kind for kind in ("not an integer", "negative value") if kind in message)


def test_demo_days_are_what_the_engine_makes_of_their_files(demo_users, tmp_path):
    """Importing ten demo days' files with the engine gives the demo's log rows, counts,
    errors and counters, for every kind of cell the demo writes."""
    counters: dict[str, dict[str, int]] = {}
    kinds = set()
    for offset in range(10):
        day = demo_day_generate(
            day=date(2026, 11, 1) + timedelta(days=offset),
            user_ids=demo_users,
            counters=counters,
            unknown_ids=["U99999", "U91234"],
        )
        path = tmp_path / f"day-{offset}.csv"
        path.write_bytes(day.content)
        result = execution_run(execution=execution_create(file_name=path.name, source=str(path)))
        execution = result.execution
        assert execution.status == Execution.Status.COMPLETED, result.message
        cells = [
            (c.user_id, c.processing_type, c.old_value, c.new_value, c.status, c.error_message)
            for c in day.cells
        ]
        assert _logged(execution.name) == cells
        assert execution.counts == day.counts()
        assert (execution.rows_total, execution.log_rows) == (day.rows, len(day.cells))
        assert (execution.sha256, execution.size_bytes) == (day.sha256, len(day.content))
        errors = ProcessingError.objects.filter(execution=execution).order_by("id")
        assert list(
            errors.values_list(
                "row_number", "user_id", "processing_type", "raw_value", "error_message"
            )
        ) == [
            (c.line_no, c.user_id, c.processing_type, c.raw_value, c.error_message)
            for c in day.cells
            if c.status == "failed"
        ]
        kinds |= {_kind(c.status, c.error_message) for c in day.cells}
    columns = [statistic.column for statistic in STATISTICS]
    assert {
        user_id: dict(zip(columns, values, strict=True))
        for user_id, *values in UserStatistics.objects.values_list("user_id", *columns)
    } == {
        user_id: {c: counters.get(user_id, {}).get(c, 0) for c in columns} for user_id in demo_users
    }
    assert kinds == {"success", "skipped", "unknown user", "not an integer", "negative value"}


def test_demo_trail_writes_each_day_as_one_run_with_its_digest(demo_users):
    """Each past day is one completed demo Execution whose counts and digest match its rows,
    days in log_id order; every month touched has its partition; the trail verifies."""
    trail = demo_trail_seed(user_ids=demo_users, days=60)
    assert trail.written
    assert len(trail.history) >= 59
    previous_last = 0
    for execution in sorted(trail.history, key=lambda e: e.started_at):
        execution.refresh_from_db()
        assert execution.source == HISTORY_SOURCE
        assert execution.digest == execution_digest(execution_name=execution.name)
        rows = ProcessingLog.objects.filter(execution_name=execution.name)
        ids = list(rows.order_by("log_id").values_list("log_id", flat=True))
        assert len(ids) == execution.log_rows > 0
        assert ids[0] > previous_last
        previous_last = ids[-1]
        by_status = {s: rows.filter(status=s).count() for s in ("success", "failed", "skipped")}
        assert by_status == {
            "success": execution.success_count,
            "failed": execution.failed_count,
            "skipped": execution.skipped_count,
        }
        assert sum(sum(per_type.values()) for per_type in execution.counts.values()) == len(ids)
    partitioned = {info.month for info in partitions_list() if info.month is not None}
    month, current = Month.of(min(e.started_at for e in trail.history)), Month.current()
    assert month < current
    while month <= current:
        assert month in partitioned
        month = month.add(1)
    assert logs_verify() == []


def test_demo_trail_is_not_written_over_other_executions(demo_users, tmp_path):
    """A trail that already holds an import gets no demo: nothing is added to it."""
    path = tmp_path / "activity.csv"
    path.write_text("user_id,login_count\nU00001,3\n")
    execution_run(execution=execution_create(file_name=path.name, source=str(path)))
    trail = demo_trail_seed(user_ids=demo_users)
    assert not trail.written
    assert "other executions" in trail.note
    assert Execution.objects.count() == 1
    assert not JobRun.objects.exists()


def test_demo_trail_under_a_short_retention_drops_nothing(demo_users, settings):
    """With LOG_RETENTION_MONTHS=1 the demo's retention run is a dry run: every row stays."""
    settings.LOG_RETENTION_MONTHS = 1
    trail = demo_trail_seed(user_ids=demo_users)
    retention = JobRun.objects.get(job=JobRun.Job.RETENTION)
    assert retention.dry_run
    assert retention.details["months"]  # it would have dropped the oldest demo month
    assert retention.partitions_dropped == []
    written = sum(e.log_rows for e in [*trail.history, *trail.today])
    assert ProcessingLog.objects.count() == written
    assert logs_verify() == []


def test_demo_failed_cells_expire_thirty_days_after_their_day(demo_users, settings):
    """Past days' failed cells got ProcessingErrors dated that day; the purge job removed the
    ones past ERROR_RETENTION_DAYS and kept the rest."""
    trail = demo_trail_seed(user_ids=demo_users)
    purge = JobRun.objects.get(job=JobRun.Job.ERRORS)
    failed_cells = ProcessingLog.objects.filter(status="failed").count()
    kept = ProcessingError.objects.filter(kind=ProcessingError.Kind.CELL)
    assert purge.rows_deleted > 0
    assert purge.rows_deleted + kept.count() == failed_cells
    cutoff = purge.started_at - timedelta(days=settings.ERROR_RETENTION_DAYS)
    assert all(error.created_at >= cutoff for error in kept)
    for error in kept.filter(execution__source=HISTORY_SOURCE).select_related("execution"):
        started = error.execution.started_at
        assert started <= error.created_at <= error.execution.finished_at  # dated by its run
        assert error.expires_at - error.created_at == timedelta(days=30)
    old = [e for e in trail.history if e.finished_at < cutoff - timedelta(days=1)]
    assert old and not kept.filter(execution__in=old).exists()


@pytest.fixture
def partitions_restored(transactional_db):
    """Month partitions a transactional test creates are dropped after it (a flush keeps them)."""
    before = {info.name for info in partitions_list()}
    yield
    with connection.cursor() as cursor:
        for info in partitions_list():
            if info.name not in before:
                cursor.execute(f"ALTER TABLE processing_logs DETACH PARTITION {info.name}")
                cursor.execute(f"DROP TABLE {info.name}")


def test_today_runs_commit_on_their_own_like_a_worker(partitions_restored, settings, tmp_path):
    """Outside any transaction, today's engine runs stamp their rows between their start and
    finish, and the stale-run job fails the crashed run, as in production."""
    settings.MEDIA_ROOT = tmp_path
    demo_users_seed(count=20)
    demo_accounts_seed()
    trail = demo_trail_seed(user_ids=demo_user_ids(count=20))
    completed, rejected = (
        Execution.objects.get(source=TODAY_SOURCE, status=status)
        for status in (Execution.Status.COMPLETED, Execution.Status.REJECTED)
    )
    stamps = set(
        ProcessingLog.objects.filter(execution_name=completed.name).values_list(
            "processed_at", flat=True
        )
    )
    assert len(stamps) == 1
    assert completed.started_at <= stamps.pop() <= completed.finished_at
    assert rejected.name == f"{completed.name}-2"
    crashed = Execution.objects.get(source=TODAY_SOURCE, status=Execution.Status.FAILED)
    assert "stale-run check" in crashed.error_message
    assert len(trail.job_runs) == len(JobRun.Job.values)
    assert logs_verify() == []
