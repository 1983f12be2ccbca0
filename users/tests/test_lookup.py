"""Support's user lookup: current counters, the seed 6.1 timeline (paginated), recent errors."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from logs.models import ProcessingError
from logs.services.partitions import partitions_ensure
from logs.tests.test_seed_sql import SEED_6_1
from users.tests.factories import ServiceUserFactory, UserStatisticsFactory
from users.views import HISTORY_PER_PAGE

pytestmark = pytest.mark.django_db


def _lookup(client, user_id: str, **params):
    return client.get(reverse("admin:users_serviceuser_lookup"), {"user_id": user_id, **params})


@pytest.fixture
def history(make_logs):
    """U00001's changes over three months (two runs share a moment), plus another user's."""
    now = timezone.now()
    for months_back in (1, 2):
        partitions_ensure(months_ahead=0, today=now - timedelta(days=31 * months_back))
    UserStatisticsFactory.create(
        user__user_id="U00001", user__display_name="Alice", login_count=9, post_count=4
    )
    ServiceUserFactory.create(user_id="U00002")
    rows = []
    value = 0
    for day in range(70, 0, -1):
        moment = now - timedelta(days=day)
        rows.append(
            {
                "execution_name": f"user-log-{moment:%Y%m%d}-093000",
                "user_id": "U00001",
                "processing_type": "login_update",
                "old_value": value,
                "new_value": value + 1,
                "processed_at": moment,
            }
        )
        rows.append(
            {
                "execution_name": f"user-log-{moment:%Y%m%d}-093000",
                "user_id": "U00001",
                "processing_type": "post_update",
                "status": "skipped",
                "old_value": 4,
                "new_value": 4,
                "processed_at": moment,  # same moment: one run writes both cells at once
            }
        )
        rows.append({"user_id": "U00002", "processed_at": moment, "new_value": 1})
        value += 1
    return make_logs(rows)


def test_lookup_timeline_equals_seed_6_1(client_for, history):
    """Every page of the timeline together is seed 6.1's result, newest first, each page read
    from the one before it (keyset) and back again."""
    with connection.cursor() as cursor:
        # The timeline crosses monthly partitions.
        cursor.execute(
            "SELECT count(DISTINCT tableoid) FROM processing_logs WHERE user_id = 'U00001'"
        )
        assert cursor.fetchone()[0] >= 3
        cursor.execute(SEED_6_1)
        columns = [column.name for column in cursor.description]
        seed = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    client = client_for("support")
    pages = [_lookup(client, "U00001").context["history"]]
    while pages[-1].next_token:  # the "next" link, as a reader follows it
        pages.append(_lookup(client, "U00001", page=pages[-1].next_token).context["history"])
    shown = [log for page in pages for log in page.rows]
    assert len(pages) == -(-len(seed) // HISTORY_PER_PAGE)
    assert all(len(page.rows) == HISTORY_PER_PAGE for page in pages[:-1])
    # And back: each "previous" link gives the page before, the first one has none.
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        back = _lookup(client, "U00001", page=back.previous_token).context["history"]
        assert [log.log_id for log in back.rows] == [log.log_id for log in expected.rows]
    assert back.previous_token is None
    assert [log.processed_at for log in shown] == [row["processed_at"] for row in seed]
    assert sorted(log.log_id for log in shown) == sorted(row["log_id"] for row in seed)
    # Within one run (same processed_at) the later cell comes first: log_id descending.
    assert shown[0].log_id > shown[1].log_id and shown[0].processed_at == shown[1].processed_at
    for log in shown:
        assert log.user_id == "U00001"


def test_lookup_shows_counters_timeline_columns_and_errors(client_for, history):
    """Counters from user_statistics, the timeline's columns, and the user's recent errors."""
    ProcessingError.objects.create(
        execution_name="user-log-20260101-000000",
        user_id="U00001",
        row_number=7,
        processing_type="post_update",
        error_message='post_count: not an integer: "x"',
        expires_at=timezone.now() + timedelta(days=30),
    )
    response = _lookup(client_for("support"), " U00001 ")
    html = response.content.decode()
    counters = {c.column: c.value for c in response.context["counters"].counters}
    assert counters == {"login_count": 9, "post_count": 4}
    newest = history[-2]  # login_update of the newest run (U00002's row is the very last)
    assert newest.execution_name in html
    assert f"{newest.old_value} → {newest.new_value}" in html
    assert "post_count: not an integer" in html
    assert "Alice" in html
    assert "JST" in html  # times carry their zone


def test_lookup_of_an_id_not_in_users(client_for, make_logs):
    """An id only failed rows name (not in users) still shows its history, and says so."""
    make_logs(
        [
            {
                "user_id": "U99999",
                "status": "failed",
                "error_message": "User not found in users table",
            }
        ]
    )
    response = _lookup(client_for("superuser"), "U99999")
    html = response.content.decode()
    assert response.context["counters"].user is None
    assert "User not found in users table" in html
    assert len(response.context["history"].rows) == 1


def test_lookup_is_exact(client_for, history):
    """A prefix or another case finds nothing: the id is matched exactly (and uses its index)."""
    for typed in ("U0000", "u00001"):
        response = _lookup(client_for("support"), typed)
        assert response.context["history"].rows == []


def test_users_list_links_each_user_to_the_lookup(client_for, history):
    """Support sees a lookup link per user and a lookup box; the uploader sees neither."""
    url = reverse("admin:users_serviceuser_changelist")
    support = client_for("support").get(url).content.decode()
    assert reverse("admin:users_serviceuser_lookup") + "?user_id=U00001" in support
    assert 'id="lookup-user-id"' in support
    uploader = client_for("uploader").get(url).content.decode()
    assert reverse("admin:users_serviceuser_lookup") not in uploader


def test_lookup_reachable_from_the_admin_index(client_for, accounts):
    """The dashboard offers the lookup to those who may use it."""
    lookup = reverse("admin:users_serviceuser_lookup")
    assert lookup in client_for("support").get(reverse("admin:index")).content.decode()
    assert lookup not in client_for("auditor").get(reverse("admin:index")).content.decode()


def test_lookup_without_an_id_shows_the_form(client_for, accounts):
    """The bare page is a form; nothing is looked up."""
    response = client_for("support").get(reverse("admin:users_serviceuser_lookup"))
    assert response.status_code == 200
    assert "history" not in response.context
    assert 'name="user_id"' in response.content.decode()


@pytest.mark.parametrize(
    "language, shown",
    [("ja", "users テーブルにユーザーがありません"), ("en", "User not found in users table")],
)
def test_lookup_shows_cell_messages_in_the_readers_language(client_for, make_logs, language, shown):
    """A stored (English) cell message reads in the reader's language; the stored text stays
    on the page as the message's title."""
    make_logs(
        [
            {
                "user_id": "U99999",
                "status": "failed",
                "error_message": "User not found in users table",
            }
        ]
    )
    client = client_for("support")
    response = client.get(
        reverse("admin:users_serviceuser_lookup"),
        {"user_id": "U99999"},
        headers={"accept-language": language},
    )
    html = response.content.decode()
    assert shown in html
    if language == "ja":
        assert 'title="User not found in users table"' in html
