"""The dashboard: daily counts equal the seed's query 6.3, as SVG, with runs and partitions."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from logs.charts import stacked_bar_chart
from logs.models import Execution, JobRun
from logs.months import Month, business_tz
from logs.selectors import DailyCount, daily_counts, daily_series
from logs.services.partitions import partitions_ensure
from logs.tests.factories import ExecutionFactory
from logs.tests.test_seed_sql import SEED_6_3

pytestmark = pytest.mark.django_db


def _module(html: str, module_id: str) -> str:
    """The dashboard module of that id as HTML, nested elements included, blanks between tags
    removed."""
    start = html.rindex("<div", 0, html.index(f'id="{module_id}"'))
    depth = 0
    for tag in re.finditer(r"<div\b|</div>", html[start:]):
        depth += 1 if tag.group() == "<div" else -1
        if depth == 0:
            return re.sub(r">\s+<", "><", html[start : start + tag.end()])
    raise AssertionError(f"module {module_id} is not closed")


def _rows(module: str) -> list[list[str]]:
    """The cells of each body row of a module's table, as HTML."""
    body = module[module.index("<tbody>") : module.index("</tbody>")]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


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
            (18, 0, "skipped"),
        ):
            if (offset + hour) % 3 == 0 and status == "success":
                continue  # vary the counts from day to day
            if hour == 18 and offset % 2:
                continue  # and let failed and skipped differ on every other day
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
    """The index's two windows show seed 6.3's numbers: per-day table, totals line and chart."""
    response = _english(client_for("auditor")).get(reverse("admin:index"))
    assert response.status_code == 200
    week, month = response.context["daily_windows"]
    html = response.content.decode()
    for window, days in ((week, 7), (month, 30)):
        seed = _seed_6_3(days)
        assert [(c.day, c.total, c.success, c.failed) for c in window["counts"]] == seed
        module = _module(html, f"daily-{days}")
        # The seed counts no skipped rows: they are what is left of the day's total.
        expected = [
            [
                f"{day:%Y-%m-%d}",
                str(total),
                str(success),
                str(failed),
                str(total - success - failed),
            ]
            for day, total, success, failed in seed
        ]
        assert _rows(module) == expected
        total, success, failed = (sum(row[index] for row in seed) for index in (1, 2, 3))
        assert (
            f"{total} rows: {success} success, {failed} failed, {total - success - failed} skipped"
        ) in module
        assert module.count('<figure class="daily-chart">') == 1
        assert 'class="bar-failed"' in module


def test_dashboard_lists_recent_runs_and_partitions(client_for, accounts):
    """The newest executions (with counts and uploader) and job runs (with status and error)
    the test made are listed, newest first, beside the partitions of processing_logs."""
    older = ExecutionFactory.create(status=Execution.Status.FAILED)
    newer = ExecutionFactory.create(
        status=Execution.Status.COMPLETED,
        uploaded_by=accounts["uploader"],
        rows_total=4,
        success_count=3,
        failed_count=4,
        skipped_count=1,
    )
    Execution.objects.filter(pk=older.pk).update(created_at=newer.created_at - timedelta(hours=1))
    succeeded = JobRun.objects.create(
        job=JobRun.Job.PARTITIONS, status=JobRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    failed = JobRun.objects.create(
        job=JobRun.Job.RETENTION, status=JobRun.Status.FAILED, error_message="NoSuchBucket"
    )
    JobRun.objects.filter(pk=succeeded.pk).update(started_at=failed.started_at - timedelta(hours=1))
    partitions_ensure(months_ahead=1)
    html = _english(client_for("support")).get(reverse("admin:index")).content.decode()

    executions = _rows(_module(html, "recent-executions"))
    assert [cells[:2] + cells[4:] for cells in executions] == [
        [
            f'<a href="{reverse("admin:logs_execution_change", args=[newer.pk])}">{newer.name}</a>',
            '<span class="status status-completed">completed</span>',
            *("4", "3", "4", "1"),
        ],
        [
            f'<a href="{reverse("admin:logs_execution_change", args=[older.pk])}">{older.name}</a>',
            '<span class="status status-failed">failed</span>',
            *("0", "0", "0", "0"),
        ],
    ]
    assert [cells[2] for cells in executions] == ["test-uploader", "-"]

    job_runs = _rows(_module(html, "recent-job-runs"))
    assert [(cells[0], cells[1], cells[4]) for cells in job_runs] == [
        (
            f'<a href="{reverse("admin:logs_jobrun_change", args=[failed.pk])}">retention</a>',
            '<span class="status status-failed">failed</span>',
            "NoSuchBucket",
        ),
        (
            f'<a href="{reverse("admin:logs_jobrun_change", args=[succeeded.pk])}">partitions</a>',
            '<span class="status status-succeeded">succeeded</span>',
            "-",
        ),
    ]
    assert job_runs[0][3] == "-" and job_runs[1][3] != "-"  # finished or not

    partitions = _module(html, "partition-status")
    current = Month.current()
    names = [cells[0] for cells in _rows(partitions)]
    assert {current.partition_name, current.add(1).partition_name} <= set(names)
    assert "The DEFAULT partition is empty" in partitions


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
