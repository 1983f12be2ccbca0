"""The job commands: they run their service, print what it did, exit 0, or 1/2 with the reason."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from logs.models import Execution, JobRun, ProcessingError, ProcessingLog, ProcessingLogSummary
from logs.months import Month

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_ensure_partitions_prints_what_it_made():
    """ensure_partitions lists new partitions and the rows moved out of DEFAULT."""
    ProcessingLog.objects.create(
        execution_name="stray", status="success", processed_at="2019-05-03T00:00:00Z"
    )
    output = _call("ensure_partitions", "--months-ahead", "4")
    current = Month.current()
    assert f"created: processing_logs_2019_05, {current.add(4).partition_name}" in output
    assert "rows moved out of DEFAULT: 1" in output
    run = JobRun.objects.get()
    assert f"job run #{run.pk} succeeded" in output


def test_ensure_partitions_negative_months_refused(exit_code):
    """--months-ahead -1 is an error naming the option, exit 1."""
    with pytest.raises(CommandError, match="--months-ahead must be 0 or more"):
        _call("ensure_partitions", "--months-ahead", "-1")
    assert exit_code("ensure_partitions", "--months-ahead", "-1") == 1


def test_summarize_logs_prints_months_and_is_idempotent(log_history):
    """summarize_logs names each month it wrote; a second run says all is up to date."""
    output = _call("summarize_logs")
    assert "2023-03: 8 rows in 2 execution summaries" in output
    assert ProcessingLogSummary.objects.filter(summary_date="2024-06-01").exists()  # complete now
    again = _call("summarize_logs")
    assert "up to date: 2022-12" in again and "rows summarized: 0" in again


def test_summarize_logs_forced_month():
    """--month YYYY-MM summarizes that month only."""
    output = _call("summarize_logs", "--month", "2020-02")
    assert "up to date: 2020-02" in output
    assert JobRun.objects.get().details["checked"] == ["2020-02"]


@pytest.mark.parametrize("month", ["2025-13", "2025/01", "last"])
def test_summarize_logs_bad_month_is_a_usage_error(month, capsys, exit_code):
    """A --month that is not YYYY-MM is refused by the parser (exit 2), no JobRun written."""
    with pytest.raises(CommandError, match="expected YYYY-MM"):
        _call("summarize_logs", "--month", month)
    assert exit_code("summarize_logs", "--month", month) == 2
    assert "expected YYYY-MM" in capsys.readouterr().err
    assert not JobRun.objects.exists()


def test_summarize_logs_future_month_refused(exit_code):
    """A month after the current one is refused with the reason, exit 1."""
    future = str(Month.current().add(1))
    with pytest.raises(CommandError, match="is in the future"):
        _call("summarize_logs", "--month", future)
    assert exit_code("summarize_logs", "--month", future) == 1


def test_run_retention_dry_run_prints_the_plan(log_history, s3):
    """--dry-run names each month with its rows to summarize, archive and drop; changes nothing."""
    output = _call("run_retention", "--dry-run")
    assert output.startswith("dry run: nothing summarized, archived or dropped")
    assert (
        "2023-03 processing_logs_2023_03: 8 rows; would summarize 8 rows; archive 8 rows to "
        "s3://auditsite-archive-test/processing_logs/2023/processing_logs_2023_03.csv.gz "
        "(upload); would drop 8 rows"
    ) in output
    assert output.count("would drop") == len(log_history.months)  # all are old by now
    assert ProcessingLog.objects.count() > 0
    assert not ProcessingLogSummary.objects.exists()
    assert JobRun.objects.get().dry_run


def test_run_retention_prints_what_it_dropped(log_history, settings):
    """A real run lists each month summarized and dropped, and the totals."""
    settings.ARCHIVE_S3_BUCKET = ""
    total = ProcessingLog.objects.filter(processed_at__lt=Month(2024, 7).start).count()
    output = _call("run_retention")
    assert "keeping months from" in output and "archive: off" in output
    assert "2023-03 processing_logs_2023_03: summarized 8 rows; dropped 8 rows" in output
    assert f"rows summarized {total}, archived 0, deleted {total}" in output


def test_run_retention_archive_failure_exits_1_with_reason(
    log_history, s3, settings, capsys, exit_code
):
    """With the bucket missing the command fails, naming the S3 error, and drops nothing."""
    settings.ARCHIVE_S3_BUCKET = "no-such-bucket"
    before = ProcessingLog.objects.count()
    with pytest.raises(CommandError, match="NoSuchBucket"):
        _call("run_retention")
    assert exit_code("run_retention") == 1
    assert "NoSuchBucket" in capsys.readouterr().err
    assert ProcessingLog.objects.count() == before


def test_purge_errors_prints_count(exit_code):
    """purge_errors says how many expired errors it deleted."""
    ProcessingError.objects.create(
        execution_name="x", error_message="e", expires_at=timezone.now() - timedelta(days=1)
    )
    assert "expired processing errors deleted: 1" in _call("purge_errors")
    assert exit_code("purge_errors") == 0


def test_fail_stale_runs_prints_the_executions(settings):
    """fail_stale_runs lists each execution it marked failed."""
    settings.STALE_RUN_MINUTES = 120
    stuck = Execution.objects.create(
        name="user-log-20260101-000000",
        status="running",
        started_at=timezone.now() - timedelta(hours=3),
    )
    output = _call("fail_stale_runs")
    assert "stale executions marked failed: 1" in output
    assert f"#{stuck.pk} user-log-20260101-000000" in output
