"""The dashboard: daily counts equal the seed's query 6.3, as SVG, with runs and partitions."""

from datetime import datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from logs.charts import stacked_bar_chart
from logs.models import Execution, JobRun
from logs.months import business_tz
from logs.selectors import DailyCount, daily_counts, daily_series
from logs.services.partitions import partitions_ensure
from logs.tests.test_seed_sql import SEED_6_3

pytestmark = pytest.mark.django_db


def _seed_6_3(days: int) -> list[tuple]:
    """The seed's query verbatim (window changed for 30 days), days in the business time zone."""
    sql = SEED_6_3.replace("INTERVAL '7 days'", f"INTERVAL '{days} days'")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [str(business_tz())])
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.fixture
def spread_logs(make_logs):
    """Rows over the last 40 business days, some just either side of local midnight."""
    partitions_ensure(months_ahead=0)
    today = timezone.localdate(timezone=business_tz())
    for months_back in (1, 2):
        first = today.replace(day=1) - timedelta(days=31 * months_back - 1)
        partitions_ensure(months_ahead=0, today=datetime.combine(first, time(12), business_tz()))
    rows = []
    for offset in range(0, 40):
        day = today - timedelta(days=offset)
        for hour, minute, status in (
            (0, 5, "success"),
            (23, 55, "failed"),
            (12, 0, "skipped"),
            (9, 30, "success"),
        ):
            if (offset + hour) % 3 == 0 and status == "success":
                continue  # vary the counts from day to day
            moment = datetime.combine(day, time(hour, minute), business_tz())
            rows.append({"user_id": "U00001", "status": status, "processed_at": moment})
    make_logs(rows)


@pytest.mark.parametrize("days", [7, 30])
def test_daily_counts_equal_seed_6_3(spread_logs, days):
    """daily_counts gives the seed's rows exactly (date, total, success, failed), newest first."""
    seed = _seed_6_3(days)
    ours = [(c.day, c.total, c.success, c.failed) for c in daily_counts(days=days)]
    assert ours == seed
    assert len(seed) == days + 1  # the seed's window is today and the `days` days before


def test_dashboard_page_shows_the_seed_numbers(client_for, spread_logs):
    """The admin index's tables and chart carry the same numbers as seed 6.3."""
    response = client_for("auditor").get(reverse("admin:index"))
    assert response.status_code == 200
    week, month = response.context["daily_windows"]
    for window, days in ((week, 7), (month, 30)):
        seed = _seed_6_3(days)
        assert [(c.day, c.total, c.success, c.failed) for c in window["counts"]] == seed
        assert window["total"] == sum(row[1] for row in seed)
    html = response.content.decode()
    assert html.count('<figure class="daily-chart">') == 2
    newest = week["counts"][0]
    assert f"<td>{newest.day:%Y-%m-%d}</td><td>{newest.total}</td>" in html
    assert 'class="bar-failed"' in html
    assert "app-logs" in html or "model-processinglog" in html  # the app list is still there


def test_dashboard_lists_recent_runs_and_partitions(client_for, accounts):
    """Recent executions, job runs and the partitions (with DEFAULT's rows) are on the index."""
    Execution.objects.create(name="user-log-20260102-030405", status=Execution.Status.COMPLETED)
    JobRun.objects.create(job=JobRun.Job.RETENTION, status=JobRun.Status.FAILED, error_message="x")
    partitions_ensure(months_ahead=1)
    html = client_for("support").get(reverse("admin:index")).content.decode()
    assert "user-log-20260102-030405" in html
    assert reverse("admin:logs_jobrun_changelist") in html
    current = timezone.localdate(timezone=business_tz())
    assert f"processing_logs_{current:%Y_%m}" in html
    assert 'id="partition-status"' in html


def test_dashboard_counts_rows_of_the_default_partition(client_for, make_logs):
    """A row sitting in DEFAULT (its month has no partition) is reported on the dashboard."""
    make_logs([{"processed_at": datetime(2001, 1, 1, tzinfo=business_tz())}])
    response = client_for("auditor").get(reverse("admin:index"))
    assert response.context["partition_status"].default_rows == 1
    assert "DEFAULT" in response.content.decode()


def test_dashboard_refuses_post(client_for, accounts):
    """The index is read-only."""
    assert client_for("superuser").post(reverse("admin:index")).status_code == 405


def test_chart_stacks_statuses_in_proportion():
    """Bars stack success, failed, skipped bottom-up, heights in proportion; empty days are bare."""
    today = timezone.localdate(timezone=business_tz())
    counts = [DailyCount(today, 10, 6, 3, 1), DailyCount(today - timedelta(days=2), 5, 5, 0, 0)]
    series = daily_series(counts=counts, days=7)
    assert len(series) == 8 and series[-1].day == today and series[6].total == 0
    chart = stacked_bar_chart(series=series)
    last = chart.bars[-1]
    assert [s.status for s in last.segments] == ["success", "failed", "skipped"]
    heights = [s.height for s in last.segments]
    assert heights[0] / heights[1] == pytest.approx(2, rel=0.05)
    assert last.segments[0].y > last.segments[1].y > last.segments[2].y  # stacked upwards
    assert chart.bars[6].segments == []
    assert chart.ticks[-1].value == 10 and chart.ticks[0].value == 0
