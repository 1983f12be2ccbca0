"""The processing-log list: filters, exact user search, default window, keyset pages (no
COUNT, no OFFSET), pruning."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from logs.admin import ProcessingLogAdmin
from logs.months import Month, business_tz
from logs.paginators import AFTER, LogPosition
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


def test_list_never_counts_nor_skips_rows(client_for, logs):
    """The list runs no COUNT and no OFFSET over processing_logs, on its first page or later
    ones, filtered or not: a page is one indexed range read (keyset)."""
    client = client_for("auditor")
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
        client.get(URL, {"status": "success"})
        client.get(URL, {"q": "U00001"})
        token = LogPosition.of(logs[2]).token(AFTER)
        assert client.get(URL, {"p": token}).status_code == 200
    reads = [q["sql"] for q in queries if "processing_logs" in q["sql"]]
    assert len(reads) >= 4
    for sql in reads:
        assert "COUNT(" not in sql.upper() and "OFFSET" not in sql.upper(), sql


@pytest.fixture
def one_run(make_logs):
    """23 rows of one run (one processed_at for all, as a run writes them) and 4 of a later
    run, in the current month, some failed."""
    partitions_ensure(months_ahead=0)
    now = timezone.now()
    rows = [
        {
            "execution_name": "run-big",
            "user_id": f"U{n:05d}",
            "status": "failed" if n % 3 == 0 else "success",
            "processed_at": now - timedelta(hours=1),
        }
        for n in range(23)
    ]
    rows += [
        {"execution_name": "run-next", "user_id": "U00001", "status": "failed", "processed_at": now}
        for _ in range(4)
    ]
    return make_logs(rows)


def _links(response) -> dict[str, str | None]:
    return response.context["cl"].keyset_links


@pytest.mark.parametrize(
    "params, newest_first",
    [({}, True), ({"status": "failed"}, True), ({"o": "1"}, False), ({"o": "-1"}, True)],
)
def test_pages_follow_each_other_across_one_runs_rows(
    client_for, one_run, settings, monkeypatch, params, newest_first
):
    """Following "next" from the first page shows every matching row once, in (processed_at,
    log_id) order, though a page boundary falls among rows of one processed_at; filters and
    order stay in the links; "previous" gives back each page, "first" the first one."""
    monkeypatch.setattr(ProcessingLogAdmin, "list_per_page", 5)
    client = client_for("auditor")
    expected = [
        log.log_id
        for log in sorted(
            (log for log in one_run if params.get("status") in (None, log.status)),
            key=lambda log: (log.processed_at, log.log_id),
            reverse=newest_first,
        )
    ]
    response = client.get(URL, params)
    pages = [[log.log_id for log in response.context["cl"].result_list]]
    assert _links(response) == {"first": None, "previous": None, "next": _links(response)["next"]}
    responses = [response]
    while _links(responses[-1])["next"]:
        link = _links(responses[-1])["next"]
        for key, value in params.items():
            assert f"{key}={value}" in link
        responses.append(client.get(URL + link))
        pages.append([log.log_id for log in responses[-1].context["cl"].result_list])
    assert [log_id for page in pages for log_id in page] == expected
    assert all(len(page) == 5 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 5
    for number in range(len(pages) - 1, 0, -1):
        back = client.get(URL + _links(responses[number])["previous"])
        assert [log.log_id for log in back.context["cl"].result_list] == pages[number - 1]
    first = client.get(URL + _links(responses[-1])["first"])
    assert [log.log_id for log in first.context["cl"].result_list] == pages[0]


def test_last_page_of_an_exact_multiple_has_no_next(client_for, one_run, monkeypatch):
    """27 rows at 9 a page: three pages, and the third offers no (empty) fourth."""
    monkeypatch.setattr(ProcessingLogAdmin, "list_per_page", 9)
    client = client_for("auditor")
    response = client.get(URL)
    seen = len(response.context["cl"].result_list)
    for _ in range(2):
        response = client.get(URL + _links(response)["next"])
        seen += len(response.context["cl"].result_list)
    assert seen == 27 and _links(response)["next"] is None


@pytest.mark.parametrize("token", ["garbage", "a12_", "b1_x", "a" + "9" * 20 + "_1", "c1_1"])
def test_a_page_token_that_is_not_one_gives_the_first_page(client_for, one_run, token):
    """A hand-made or truncated page parameter shows the first page, never an error."""
    client = client_for("auditor")
    first = [log.log_id for log in client.get(URL).context["cl"].result_list]
    response = client.get(URL, {"p": token})
    assert response.status_code == 200
    assert [log.log_id for log in response.context["cl"].result_list] == first


def test_page_links_are_shown_in_the_readers_language(client_for, one_run, monkeypatch):
    """The pager reads first / previous / next (最初へ / 前へ / 次へ) and nothing else: no
    row count."""
    monkeypatch.setattr(ProcessingLogAdmin, "list_per_page", 5)
    client = client_for("auditor")
    second = _links(client.get(URL))["next"]
    for language, words in (("en", "first previous next"), ("ja", "最初へ 前へ 次へ")):
        html = client.get(URL + second, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        pager = re.search(r'<p class="paginator keyset-links">(.*?)</p>', html, re.S)
        assert pager is not None
        assert " ".join(re.sub(r"<[^>]+>", " ", pager.group(1)).split()) == words


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
