"""Monthly summaries: every complete month, the seed's counts, idempotent, late rows caught up."""

from datetime import datetime, timedelta

import pytest

from logs.models import JobRun, ProcessingLog, ProcessingLogSummary
from logs.months import Month
from logs.services import summaries
from logs.services.job_runs import JobFailed, JobRefused
from logs.services.summaries import summaries_update, summary_month_pending
from logs.tests.support import TOKYO, fail_at_call, seed_summary

pytestmark = pytest.mark.django_db


def _summary_rows(before: Month | None = None) -> set[tuple]:
    queryset = ProcessingLogSummary.objects.all()
    if before is not None:
        queryset = queryset.filter(summary_date__lt=before.start.date())
    return set(
        queryset.values_list(
            "summary_date", "execution_name", "total_processed", "success_count", "failed_count"
        )
    )


def test_every_complete_month_equals_seed_aggregation(log_history):
    """Each complete month gets the seed's 8.3.3 counts (business time zone); June is not done."""
    current = Month.of(log_history.today)
    run = summaries_update(today=log_history.today)
    assert run.status == JobRun.Status.SUCCEEDED
    assert _summary_rows() == seed_summary(before=current.start)
    assert not ProcessingLogSummary.objects.filter(summary_date=current.start.date()).exists()
    assert (
        run.rows_summarized == ProcessingLog.objects.filter(processed_at__lt=current.start).count()
    )
    assert sorted(run.details["months"]) == [str(month) for month in log_history.months[:-1]]


def test_skipped_count_is_filled(log_history):
    """The extra skipped_count column counts the skipped rows of each (month, execution)."""
    summaries_update(today=log_history.today)
    summary = ProcessingLogSummary.objects.get(
        summary_date="2023-03-01", execution_name="user-log-20230301-003000"
    )
    assert (summary.total_processed, summary.success_count, summary.failed_count) == (3, 1, 1)
    assert summary.skipped_count == 1


def test_first_minutes_of_a_month_in_tokyo_count_for_that_month(log_history):
    """00:30 JST on March 1st is February in UTC, and still counts for March."""
    summaries_update(today=log_history.today)
    assert not ProcessingLogSummary.objects.filter(
        summary_date="2023-02-01", execution_name="user-log-20230301-003000"
    ).exists()


def test_rerun_changes_nothing(log_history):
    """A second run writes no row and counts nothing; summarized_at stays as it was."""
    summaries_update(today=log_history.today)
    before = dict(ProcessingLogSummary.objects.values_list("pk", "summarized_at"))
    run = summaries_update(today=log_history.today)
    assert run.rows_summarized == 0
    assert run.details["months"] == {}
    assert dict(ProcessingLogSummary.objects.values_list("pk", "summarized_at")) == before


def test_late_rows_are_summarized_again(log_history):
    """Rows arriving in a summarized month re-summarize that (month, execution) only."""
    summaries_update(today=log_history.today)
    ProcessingLog.objects.create(
        execution_name="user-log-20230301-003000",
        user_id="U00004",
        processing_type="login_update",
        status="success",
        processed_at=datetime(2023, 3, 20, 9, tzinfo=TOKYO),
    )
    run = summaries_update(today=log_history.today)
    assert run.details["months"] == {"2023-03": {"rows": 4, "executions": 1}}
    assert run.rows_summarized == 4
    summary = ProcessingLogSummary.objects.get(
        summary_date="2023-03-01", execution_name="user-log-20230301-003000"
    )
    assert (summary.total_processed, summary.success_count) == (4, 2)
    assert _summary_rows() == seed_summary(before=Month.of(log_history.today).start)


def test_forced_month_summarizes_only_that_month(log_history):
    """--month writes that month alone, even the current, incomplete one."""
    current = Month.of(log_history.today)
    run = summaries_update(month=current, today=log_history.today)
    assert run.details["checked"] == [str(current)]
    assert set(ProcessingLogSummary.objects.values_list("summary_date", flat=True)) == {
        current.start.date()
    }


def test_future_month_refused_without_job_run(log_history):
    """A month after the current one is refused before anything runs."""
    with pytest.raises(JobRefused, match="in the future"):
        summaries_update(month=Month(2024, 7), today=log_history.today)
    assert not JobRun.objects.exists()


def test_rows_in_default_partition_are_summarized(db):
    """A complete month with no partition (rows in DEFAULT) is summarized too."""
    stray = datetime(2019, 5, 3, 12, tzinfo=TOKYO)
    ProcessingLog.objects.create(execution_name="stray", status="skipped", processed_at=stray)
    summaries_update(today=stray + timedelta(days=40))
    summary = ProcessingLogSummary.objects.get()
    assert (str(summary.summary_date), summary.total_processed, summary.skipped_count) == (
        "2019-05-01",
        1,
        1,
    )


def test_pending_reports_without_writing(log_history):
    """summary_month_pending tells what would be written and writes nothing."""
    pending = summary_month_pending(month=Month(2023, 3))
    assert (pending.rows, pending.executions) == (8, 2)
    assert not ProcessingLogSummary.objects.exists()
    summaries_update(month=Month(2023, 3), today=log_history.today)
    pending = summary_month_pending(month=Month(2023, 3))
    assert (pending.rows, pending.executions) == (0, 0)


def test_failure_leaves_a_true_record(log_history, monkeypatch):
    """A run failing at its third month is failed with the reason and counts the two it wrote."""
    fail_at_call(monkeypatch, summaries, "summary_month_upsert", 3, OSError("disk full"))
    with pytest.raises(JobFailed, match="disk full"):
        summaries_update(today=log_history.today)
    run = JobRun.objects.get()
    assert run.status == JobRun.Status.FAILED
    assert run.error_message == "OSError: disk full"
    assert run.finished_at is not None
    written = ProcessingLogSummary.objects.values_list("total_processed", flat=True)
    assert run.rows_summarized == sum(written) > 0
    assert sorted(run.details["months"]) == ["2022-12", "2023-01"]
