"""Retention: expired months summarized, archived, verified, then detached and dropped, once."""

from datetime import datetime

import pytest
from django.db import connection

from logs.models import JobRun, ProcessingLog, ProcessingLogSummary
from logs.months import Month
from logs.selectors import partitions_list
from logs.services import archive, retention
from logs.services.job_runs import JobFailed
from logs.services.partitions import partition_create
from logs.services.retention import retention_run
from logs.tests.support import (
    TODAY,
    TOKYO,
    after_first_call,
    archive_rows,
    fail_at_call,
    late_log,
    orm_rows,
    other_connection,
    record_calls,
    s3_keys,
    seed_summary,
    table_exists,
)

pytestmark = pytest.mark.django_db

KEEP_FROM = Month(2023, 6)  # today 2024-06-15, 12 months kept
EXPIRED = [Month(2022, 12).add(offset) for offset in range(6)]  # 2022-12 … 2023-05


class WorkerKilled(BaseException):
    """Stands for the process dying (kill -9): nothing catches it, the JobRun stays running."""


@pytest.fixture(autouse=True)
def _twelve_months(settings):
    settings.LOG_RETENTION_MONTHS = 12
    settings.ARCHIVE_S3_BUCKET = ""


def _expired_logs():
    return ProcessingLog.objects.filter(processed_at__lt=KEEP_FROM.start)


def _summaries_before(month: Month) -> set[tuple]:
    return set(
        ProcessingLogSummary.objects.filter(summary_date__lt=month.start.date()).values_list(
            "summary_date", "execution_name", "total_processed", "success_count", "failed_count"
        )
    )


def _month_names() -> set[str]:
    return {p.name for p in partitions_list() if p.month is not None}


def _totals(field: str) -> int:
    return sum(JobRun.objects.filter(job="retention").values_list(field, flat=True))


def _dropped_everywhere() -> list[str]:
    runs = JobRun.objects.filter(job="retention").order_by("pk")
    return [name for run in runs for name in run.partitions_dropped]


def _assert_counted_once(*, total: int, summary: set[tuple]) -> None:
    """Over all runs, each expired month summarized, archived, dropped and counted exactly once."""
    counted = [_totals(field) for field in ("rows_summarized", "rows_archived", "rows_deleted")]
    assert counted == [total, total, total]
    assert _dropped_everywhere() == [month.partition_name for month in EXPIRED]
    assert _summaries_before(KEEP_FROM) == summary


def test_expired_months_summarized_archived_and_dropped(log_history, s3):
    """Exactly the six expired months go; their summaries are the seed's; S3 holds their rows."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    expired_rows = orm_rows(_expired_logs())
    kept_rows = orm_rows(ProcessingLog.objects.filter(processed_at__gte=KEEP_FROM.start))
    names_before = _month_names()

    run = retention_run(today=log_history.today)

    assert run.status == JobRun.Status.SUCCEEDED
    expired_names = [month.partition_name for month in EXPIRED]
    assert run.partitions_dropped == expired_names
    assert _month_names() == names_before - set(expired_names)
    assert not any(table_exists(name) for name in expired_names)
    assert orm_rows(ProcessingLog.objects.all()) == kept_rows
    assert _summaries_before(KEEP_FROM) == expected_summary
    archived = []
    for month in EXPIRED:
        archived += archive_rows(s3, f"processing_logs/{month.year}/{month.partition_name}.csv.gz")
    assert archived == expired_rows
    assert len(s3_keys(s3)) == 2 * len(EXPIRED)
    total = len(expired_rows)
    assert (run.rows_summarized, run.rows_archived, run.rows_deleted) == (total, total, total)
    assert [entry["month"] for entry in run.archives] == [str(month) for month in EXPIRED]
    assert all(entry["job_run_id"] == run.pk for entry in run.archives)
    assert run.details["keep_from"] == "2023-06"


def test_second_run_finds_nothing_to_do(log_history, s3):
    """Run again, retention drops, archives and counts nothing more."""
    retention_run(today=log_history.today)
    keys = s3_keys(s3)
    again = retention_run(today=log_history.today)
    assert again.status == JobRun.Status.SUCCEEDED
    assert (again.rows_summarized, again.rows_archived, again.rows_deleted) == (0, 0, 0)
    assert again.partitions_dropped == [] and again.details["months"] == {}
    assert s3_keys(s3) == keys


def test_without_bucket_months_are_summarized_then_dropped(log_history):
    """With archiving off, summary then drop; no S3 call is made."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    run = retention_run(today=log_history.today)
    assert run.archives == [] and run.rows_archived == 0
    assert run.rows_deleted == run.rows_summarized > 0
    assert _summaries_before(KEEP_FROM) == expected_summary
    assert not _expired_logs().exists()


def test_crash_between_archive_and_drop(log_history, s3, monkeypatch):
    """Killed after archiving, before dropping: the next run drops, re-uploading nothing."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    total = _expired_logs().count()
    uploads = record_calls(monkeypatch, archive, "_upload")
    fail_at_call(monkeypatch, retention, "partition_drop", 1, WorkerKilled())
    with pytest.raises(WorkerKilled):
        retention_run(today=log_history.today)
    first = JobRun.objects.get()
    assert first.status == JobRun.Status.RUNNING  # what a killed worker leaves
    assert (
        first.rows_archived
        == ProcessingLog.objects.filter(processed_at__lt=EXPIRED[1].start).count()
    )
    assert table_exists(EXPIRED[0].partition_name)

    second = retention_run(today=log_history.today)

    first.refresh_from_db()
    assert first.status == JobRun.Status.FAILED
    assert f"job run #{second.pk}" in first.error_message
    assert second.status == JobRun.Status.SUCCEEDED
    uploaded = [call["key"] for call in uploads]
    assert uploaded == [archive.archive_key(month=month) for month in EXPIRED]
    assert second.archives[0]["reused"] is True
    _assert_counted_once(total=total, summary=expected_summary)
    assert len(s3_keys(s3)) == 2 * len(EXPIRED)


def test_crash_after_drop_before_its_record_undoes_the_drop(log_history, s3, monkeypatch):
    """Killed after DROP but before the JobRun records it: both roll back, the next run drops."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    total = _expired_logs().count()

    def killed_after_drop(rows, kwargs):
        assert not table_exists(kwargs["table"])  # dropped, inside the uncommitted transaction
        raise WorkerKilled

    after_first_call(monkeypatch, retention, "partition_drop", killed_after_drop)
    with pytest.raises(WorkerKilled):
        retention_run(today=log_history.today)
    first = JobRun.objects.get()
    assert table_exists(EXPIRED[0].partition_name)
    assert (first.partitions_dropped, first.rows_deleted) == ([], 0)

    retention_run(today=log_history.today)
    _assert_counted_once(total=total, summary=expected_summary)


def test_crash_after_drop_committed(log_history, s3, monkeypatch):
    """Killed after the first month's drop committed: it is recorded once, never again."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    total = _expired_logs().count()
    fail_at_call(monkeypatch, retention, "summary_month_upsert", 2, WorkerKilled())
    with pytest.raises(WorkerKilled):
        retention_run(today=log_history.today)
    first = JobRun.objects.get()
    assert first.partitions_dropped == [EXPIRED[0].partition_name]
    assert first.rows_deleted == first.rows_summarized == first.rows_archived > 0

    second = retention_run(today=log_history.today)
    assert EXPIRED[0].partition_name not in second.partitions_dropped
    _assert_counted_once(total=total, summary=expected_summary)


def test_manifest_written_but_not_recorded_is_counted_by_next_run(log_history, s3, monkeypatch):
    """Killed after the manifest, before the run recorded the archive: the next run counts it."""
    total = _expired_logs().count()

    def killed(manifest, kwargs):
        raise WorkerKilled

    after_first_call(monkeypatch, retention, "partition_archive", killed)
    with pytest.raises(WorkerKilled):
        retention_run(today=log_history.today)
    assert JobRun.objects.get().rows_archived == 0
    second = retention_run(today=log_history.today)
    assert second.archives[0]["reused"] is True
    assert "counted here" in second.details["months"]["2022-12"]["archive"]
    assert _totals("rows_archived") == _totals("rows_deleted") == total


def test_detached_partition_is_finished_by_next_run(log_history, s3):
    """A month left detached (DETACH done, DROP not) is found, summarized, archived, dropped."""
    expected_summary = seed_summary(before=KEEP_FROM.start)
    month = EXPIRED[2]
    orphan_rows = orm_rows(
        ProcessingLog.objects.filter(processed_at__gte=month.start, processed_at__lt=month.end)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE processing_logs DETACH PARTITION {month.partition_name}")
        # A recent month detached by hand is not retention's business.
        cursor.execute("ALTER TABLE processing_logs DETACH PARTITION processing_logs_2024_01")
    run = retention_run(today=log_history.today)
    assert month.partition_name in run.partitions_dropped
    assert not table_exists(month.partition_name)
    assert table_exists("processing_logs_2024_01")
    assert _summaries_before(KEEP_FROM) == expected_summary
    key = f"processing_logs/{month.year}/{month.partition_name}.csv.gz"
    assert archive_rows(s3, key) == orphan_rows


def test_archive_failure_drops_nothing(log_history, s3, settings):
    """S3 failing (bucket missing): no partition dropped, the JobRun failed with the reason."""
    settings.ARCHIVE_S3_BUCKET = "no-such-bucket"
    names = _month_names()
    with pytest.raises(JobFailed, match="NoSuchBucket"):
        retention_run(today=log_history.today)
    run = JobRun.objects.get()
    assert run.status == JobRun.Status.FAILED
    assert "NoSuchBucket" in run.error_message
    assert (run.partitions_dropped, run.rows_deleted, run.rows_archived) == ([], 0, 0)
    assert _month_names() == names
    assert _expired_logs().count() > 0


def _late_row_after(monkeypatch, step: str) -> None:
    """A December 2022 row arrives right after the first call of retention's ``step``."""
    after_first_call(
        monkeypatch,
        retention,
        step,
        lambda result, kwargs: late_log(datetime(2022, 12, 20, tzinfo=TOKYO)),
    )


def test_row_arriving_before_the_drop_stops_it(log_history, s3, monkeypatch):
    """A row landing after summary and archive refuses the drop; the next run redoes both."""
    month = EXPIRED[0]
    _late_row_after(monkeypatch, "partition_archive")
    with pytest.raises(JobFailed, match="not dropped"):
        retention_run(today=log_history.today)
    assert table_exists(month.partition_name)
    assert "RetentionRefused" in JobRun.objects.get().error_message

    expected_summary = seed_summary(before=KEEP_FROM.start)
    month_rows = orm_rows(
        ProcessingLog.objects.filter(processed_at__gte=month.start, processed_at__lt=month.end)
    )
    second = retention_run(today=log_history.today)
    assert second.details["months"]["2022-12"]["summarized_rows"] == 1
    assert second.archives[0]["reused"] is False
    assert archive_rows(s3, archive.archive_key(month=month)) == month_rows
    assert _summaries_before(KEEP_FROM) == expected_summary
    assert not table_exists(month.partition_name)


def test_row_arriving_after_the_summary_stops_the_drop(log_history, monkeypatch):
    """Archiving off: a row landing between summary and drop refuses the drop of that month."""
    _late_row_after(monkeypatch, "summary_month_upsert")
    with pytest.raises(JobFailed, match="holds 6 rows but the summary of 2022-12 accounts for 5"):
        retention_run(today=log_history.today)
    assert table_exists(EXPIRED[0].partition_name)
    assert JobRun.objects.get().rows_deleted == 0


def test_archive_not_matching_the_rows_stops_the_drop(log_history, s3, monkeypatch):
    """An archive holding another number of rows than the month refuses the drop."""

    def one_row_short(manifest, kwargs):
        manifest.rows -= 1

    after_first_call(monkeypatch, retention, "partition_archive", one_row_short)
    with pytest.raises(JobFailed, match="holds 5 rows but 4 were archived"):
        retention_run(today=log_history.today)
    assert table_exists(EXPIRED[0].partition_name)


def test_lock_not_obtained_fails_the_run_and_keeps_the_month(db, monkeypatch):
    """A long query holding processing_logs makes DETACH give up: run failed, month kept."""
    monkeypatch.setattr(retention, "RETIRE_LOCK_TIMEOUT", "200ms")
    month = Month(2019, 1)
    # Made from DEFAULT's rows (CREATE + ATTACH), which leaves processing_logs itself free for
    # the other session below (CREATE TABLE … PARTITION OF would lock it until the test ends).
    late_log(month.start)
    partition_create(month=month)
    with other_connection() as other, other.transaction():
        other.execute("LOCK TABLE ONLY processing_logs IN ACCESS SHARE MODE")
        with pytest.raises(JobFailed, match="lock timeout"):
            retention_run(today=TODAY)
    run = JobRun.objects.get()
    assert run.status == JobRun.Status.FAILED and run.partitions_dropped == []
    assert table_exists(month.partition_name)
    assert retention_run(today=TODAY).partitions_dropped == [month.partition_name]


def test_dry_run_changes_nothing_and_lists_the_plan(log_history, s3):
    """A dry run writes no summary, no object and drops nothing; its JobRun holds the plan."""
    names = _month_names()
    run = retention_run(dry_run=True, today=log_history.today)
    assert run.dry_run and run.status == JobRun.Status.SUCCEEDED
    assert _month_names() == names
    assert not ProcessingLogSummary.objects.exists()
    assert s3_keys(s3) == []
    assert (run.rows_summarized, run.rows_archived, run.rows_deleted) == (0, 0, 0)
    plan = run.details["months"]
    assert list(plan) == [str(month) for month in EXPIRED]
    for month in EXPIRED:
        rows = ProcessingLog.objects.filter(
            processed_at__gte=month.start, processed_at__lt=month.end
        ).count()
        entry = plan[str(month)]
        assert (entry["rows"], entry["summarize_rows"], entry["archive"]) == (rows, rows, "upload")
        assert entry["archive_key"].endswith(f"{month.partition_name}.csv.gz")


def test_dry_run_after_partial_run_shows_what_is_left(log_history, s3, monkeypatch):
    """After a run killed before its first drop, a dry run plans no summary and a verify."""
    fail_at_call(monkeypatch, retention, "partition_drop", 1, WorkerKilled())
    with pytest.raises(WorkerKilled):
        retention_run(today=log_history.today)
    plan = retention_run(dry_run=True, today=log_history.today).details["months"]
    assert (plan["2022-12"]["summarize_rows"], plan["2022-12"]["archive"]) == (0, "verify existing")
    assert (plan["2023-01"]["summarize_rows"] > 0, plan["2023-01"]["archive"]) == (True, "upload")


def test_retention_months_below_one_fails_the_run(log_history, settings):
    """LOG_RETENTION_MONTHS of 0 would drop last month: the run fails saying so, drops nothing."""
    settings.LOG_RETENTION_MONTHS = 0
    names = _month_names()
    with pytest.raises(JobFailed, match="LOG_RETENTION_MONTHS must be 1 or more"):
        retention_run(today=log_history.today)
    assert JobRun.objects.get().status == JobRun.Status.FAILED
    assert _month_names() == names


def test_current_and_recent_months_never_dropped(log_history, settings):
    """With one month kept, only months before the previous one go; last month and now stay."""
    settings.LOG_RETENTION_MONTHS = 1
    run = retention_run(today=log_history.today)
    assert run.partitions_dropped[-1] == "processing_logs_2024_04"
    assert table_exists("processing_logs_2024_05") and table_exists("processing_logs_2024_06")
