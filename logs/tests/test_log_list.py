"""The processing-log list: filters, exact user search, default window, no COUNT(*), pruning."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from logs.months import Month, business_tz
from logs.paginators import CappedCountPaginator
from logs.services.partitions import partitions_ensure
from logs.tests.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:logs_processinglog_changelist")


@pytest.fixture
def logs(make_logs):
    """Recent rows of two executions and types, and one row from 70 days ago."""
    now = timezone.now()
    partitions_ensure(months_ahead=0, today=now - timedelta(days=70))
    ExecutionFactory.create(name="run-a", status="completed")
    ExecutionFactory.create(name="run-b", status="completed")
    return make_logs(
        [
            {"execution_name": "run-a", "user_id": "U00001", "processing_type": "login_update"},
            {
                "execution_name": "run-a",
                "user_id": "U00001",
                "processing_type": "post_update",
                "status": "skipped",
            },
            {
                "execution_name": "run-b",
                "user_id": "U00002",
                "processing_type": "login_update",
                "status": "failed",
                "error_message": "User not found in users table",
            },
            {
                "execution_name": "run-old",
                "user_id": "U00001",
                "processing_type": "login_update",
                "processed_at": now - timedelta(days=70),
            },
        ]
    )


def _shown(client, **params) -> list[int]:
    response = client.get(URL, params)
    assert response.status_code == 200
    return [log.log_id for log in response.context["cl"].result_list]


def test_filters_status_type_and_execution(client_for, logs):
    """Each filter narrows the list to exactly the matching rows."""
    client = client_for("auditor")
    recent_a, skipped, failed, old = (log.log_id for log in logs)
    assert _shown(client, status="failed") == [failed]
    assert _shown(client, processing_type="post_update") == [skipped]
    assert sorted(_shown(client, execution_name="run-a")) == sorted([recent_a, skipped])
    assert _shown(client, execution_name="run-old") == [old]  # an execution is not windowed


def test_newest_first_and_default_window_says_so(client_for, logs):
    """Without narrowing, the last LOG_LIST_DEFAULT_DAYS days show, newest first, with a note."""
    response = client_for("support").get(URL)
    shown = [log.log_id for log in response.context["cl"].result_list]
    assert shown == sorted((log.log_id for log in logs[:3]), reverse=True)
    assert 'id="default-window-note"' in response.content.decode()


def test_date_range_shows_older_rows(client_for, logs):
    """A date range (business-time-zone days) replaces the default window."""
    day = timezone.localtime(logs[3].processed_at, business_tz()).date()
    params = {
        "processed_at__range__gte": day.isoformat(),
        "processed_at__range__lte": day.isoformat(),
    }
    response = client_for("auditor").get(URL, params)
    assert [log.log_id for log in response.context["cl"].result_list] == [logs[3].log_id]
    assert 'id="default-window-note"' not in response.content.decode()


def test_search_is_an_exact_user_id(client_for, logs):
    """Search matches user_id exactly (all of the user's history), not by prefix or case."""
    client = client_for("support")
    assert sorted(_shown(client, q="U00001")) == sorted(
        log.log_id for log in logs if log.user_id == "U00001"
    )
    assert _shown(client, q="U0000") == []
    assert _shown(client, q="u00001") == []


def test_list_never_counts_the_whole_table(client_for, logs):
    """Every COUNT the list runs is bounded by a LIMIT; no full COUNT(*) of processing_logs."""
    client = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
        client.get(URL, {"status": "success"})
        client.get(URL, {"q": "U00001"})
    counts = [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "processing_logs" in q["sql"]
    ]
    assert counts, "the list shows a (bounded) count"
    for sql in counts:
        assert re.search(r"LIMIT \d+", sql), sql


def test_huge_result_uses_the_planner_estimate(client_for, logs, monkeypatch):
    """Past the exact-count limit the list says "about N" and pages on without a count."""
    monkeypatch.setattr(CappedCountPaginator, "exact_limit", 2)
    response = client_for("auditor").get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["cl"].paginator.is_estimate
    assert "(estimated)" in response.content.decode()


def test_default_window_prunes_old_partitions(client_for, logs):
    """The list's query has a constant lower bound on processed_at: old partitions are skipped."""
    old_partition = Month.of(logs[3].processed_at).partition_name
    with CaptureQueriesContext(connection) as queries:
        client_for("auditor").get(URL)
    select = next(
        q["sql"]
        for q in queries
        if q["sql"].startswith('SELECT "processing_logs"') and "ORDER BY" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + select)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    current_partition = Month.of(timezone.now()).partition_name
    assert current_partition in plan
    assert old_partition not in plan


def test_times_are_shown_with_their_zone(client_for, logs):
    """Timestamps in the list are in the business time zone and name it."""
    html = client_for("auditor").get(URL).content.decode()
    local = timezone.localtime(logs[0].processed_at, business_tz())
    assert "JST" in html
    assert f"{local:%Y}" in html


def test_old_row_detail_page_opens(client_for, logs):
    """A log's read-only page opens whatever its month (no window on the detail page)."""
    response = client_for("auditor").get(
        reverse("admin:logs_processinglog_change", args=[logs[3].log_id])
    )
    assert response.status_code == 200
    assert "run-old" in response.content.decode()
