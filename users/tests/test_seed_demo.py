"""seed_demo on an empty database: a lived-in, verifiable demo, and nothing twice."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from auditsite.testing import rolled_back
from logs.models import Execution, JobRun, ProcessingError, ProcessingLog, ProcessingLogSummary
from logs.months import Month, business_tz
from logs.selectors import default_partition_rows
from logs.services.demo import HISTORY_SOURCE, TODAY_SOURCE
from logs.services.ingest import execution_create, execution_run
from users.models import ServiceUser, UserStatistics

pytestmark = pytest.mark.django_db

TABLES = (
    "users",
    "user_statistics",
    "processing_logs",
    "processing_logs_summary",
    "executions",
    "processing_errors",
    "job_runs",
    "auth_user",
)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """One `seed_demo` on an empty database, shared by the module; returns its output."""
    media = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=media), rolled_back(django_db_blocker):
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        yield {"output": out.getvalue(), "media": media}


def _row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        return counts


def _days_with_rows(days: int) -> set:
    today = timezone.localdate(timezone=business_tz())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT (processed_at AT TIME ZONE %s)::date FROM processing_logs",
            [str(business_tz())],
        )
        return {day for (day,) in cursor.fetchall() if (today - day).days < days}


def test_seed_demo_makes_two_hundred_users_with_sixty_days_of_history(seeded):
    """200 demo users, each with counters, and log rows on at least 55 of the last 60 days."""
    assert ServiceUser.objects.count() == 200
    assert UserStatistics.objects.count() == 200
    assert UserStatistics.objects.filter(login_count__gt=0).count() == 200
    assert len(_days_with_rows(60)) >= 55
    assert "demo history:" in seeded["output"]


def test_seed_demo_has_failed_and_skipped_rows_in_realistic_shares(seeded):
    """A few % of the cells failed (unknown user, non-integer, negative), 10–30% skipped."""
    total = ProcessingLog.objects.count()
    failed = ProcessingLog.objects.filter(status="failed")
    skipped = ProcessingLog.objects.filter(status="skipped").count()
    assert 0.01 <= failed.count() / total <= 0.05
    assert 0.10 <= skipped / total <= 0.30
    messages = set(failed.values_list("error_message", flat=True))
    assert "User not found in users table" in messages
    assert any("not an integer" in message for message in messages)
    assert any("negative value" in message for message in messages)
    assert ProcessingLog.objects.filter(status="skipped", old_value=0, new_value=0).exists()


def test_seed_demo_has_a_rejected_file_and_runs_with_failures(seeded):
    """A rejected Execution with its reason and file error but no log rows; completed runs with
    failed cells; a crashed run failed by the stale-run job."""
    rejected = Execution.objects.get(status=Execution.Status.REJECTED)
    assert "already processed" in rejected.error_message
    assert not ProcessingLog.objects.filter(execution_name=rejected.name).exists()
    assert ProcessingError.objects.filter(
        execution=rejected, kind=ProcessingError.Kind.FILE
    ).exists()
    with_failures = Execution.objects.filter(status=Execution.Status.COMPLETED, failed_count__gt=0)
    assert with_failures.count() >= 30
    today = timezone.localdate(timezone=business_tz())
    engine_run = with_failures.get(name=rejected.name.removesuffix("-2"))
    assert engine_run.file and timezone.localtime(engine_run.finished_at).date() == today
    assert Execution.objects.filter(status=Execution.Status.FAILED).count() == 1
    assert not Execution.objects.exclude(source__in=[HISTORY_SOURCE, TODAY_SOURCE]).exists()


def test_seed_demo_runs_every_job_and_summarizes_last_month(seeded):
    """One succeeded JobRun of every job (but the inbox pickup: the demo has no inbox); last
    month summarized, matching its log rows."""
    runs = JobRun.objects.all()
    every_job = sorted(set(JobRun.Job.values) - {JobRun.Job.INBOX})
    assert sorted(runs.values_list("job", flat=True)) == every_job
    assert set(runs.values_list("status", flat=True)) == {JobRun.Status.SUCCEEDED}
    assert runs.get(job=JobRun.Job.ERRORS).rows_deleted > 0
    assert runs.get(job=JobRun.Job.STALE_RUNS).details["failed"] == 1
    assert runs.get(job=JobRun.Job.RETENTION).partitions_dropped == []
    previous = Month.current().add(-1)
    summaries = ProcessingLogSummary.objects.all()
    assert set(summaries.values_list("summary_date", flat=True)) == {previous.start.date()}
    month_rows = ProcessingLog.objects.filter(
        processed_at__gte=previous.start, processed_at__lt=previous.end
    ).count()
    assert month_rows > 0
    assert sum(summaries.values_list("total_processed", flat=True)) == month_rows
    # every day of that month was imported
    assert summaries.count() == (previous.end - previous.start).days


def test_verify_logs_is_clean_after_seed_demo(seeded):
    """verify_logs finds no problem: digests, chains, empty DEFAULT, counters = last rows."""
    out = io.StringIO()
    call_command("verify_logs", stdout=out)
    assert out.getvalue().strip() == "processing logs verified: no problems"
    assert default_partition_rows() == 0


def test_second_seed_demo_adds_nothing(seeded):
    """A second seed_demo changes no row count and no counter, and says the demo is there."""
    before = _row_counts()
    counters = list(UserStatistics.objects.order_by("user_id").values_list())
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert _row_counts() == before
    assert list(UserStatistics.objects.order_by("user_id").values_list()) == counters
    assert "demo history: already there" in out.getvalue()


def test_dashboard_last_seven_days_are_not_empty(seeded):
    """The admin index, logged in as the demo admin, charts rows on each of the last 8 days."""
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    week, month = response.context["daily_windows"]
    assert len(week["counts"]) == 8  # today and the 7 days before
    assert all(day.total > 0 for day in week["counts"])
    assert sum(day.failed for day in week["counts"]) > 0
    assert sum(day.skipped for day in week["counts"]) > 0
    assert len(month["counts"]) == 31
    assert month["total"] > week["total"] > 0
    html = response.content.decode()
    assert 'class="bar-failed"' in html and 'class="bar-skipped"' in html


def test_clean_sample_csv_completes_after_seed_demo(seeded):
    """A newcomer's first import of the clean sample completes (not a duplicate) and the trail
    still verifies."""
    sample = seeded["media"] / "demo" / "user-log-20250802-093000.csv"
    execution = execution_create(file_name=sample.name, source=str(sample))
    result = execution_run(execution=execution)
    assert not result.rejected, result.message
    assert result.execution.status == Execution.Status.COMPLETED
    assert result.success_count > 0
    out = io.StringIO()
    call_command("verify_logs", stdout=out)
    assert "no problems" in out.getvalue()


def test_history_runs_daily_until_yesterday_and_today_is_the_engines(seeded):
    """One demo import a day up to yesterday, its rows on its day; today's rows are the engine's."""
    today = timezone.localdate(timezone=business_tz())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT execution_name, min((processed_at AT TIME ZONE %s)::date), "
            "max((processed_at AT TIME ZONE %s)::date) FROM processing_logs GROUP BY 1",
            [str(business_tz())] * 2,
        )
        days = {name: (first, last) for name, first, last in cursor.fetchall()}
    history = Execution.objects.filter(file="", status=Execution.Status.COMPLETED)
    history_days = []
    for execution in history:
        first, last = days.pop(execution.name)
        assert first == last  # one import, one moment
        assert execution.name.startswith(f"user-log-{first:%Y%m%d}-")
        history_days.append(first)
    history_days.sort()
    assert history_days[-1] == today - timedelta(days=1)
    assert len(history_days) == len(set(history_days)) == (today - history_days[0]).days
    assert list(days.values()) == [(today, today)]  # the engine's run of today's file
