"""The user admin: superusers maintain service users; their counters are read-only to everybody."""

import pytest
from django.urls import reverse

from logs.models import ProcessingLog
from logs.tests.factories import ProcessingLogFactory
from users.models import ServiceUser, UserStatistics
from users.tests.factories import UserStatisticsFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted_user(db) -> UserStatistics:
    """U00001 with counters 3 and 4, and the log row that set the first."""
    ProcessingLogFactory.create(
        user_id="U00001", processing_type="login_update", old_value=0, new_value=3
    )
    return UserStatisticsFactory.create(
        user__user_id="U00001", user__display_name="one", login_count=3, post_count=4
    )


def _change_form(display_name: str, login_count: str, post_count: str) -> dict:
    """The service user change form as a browser would post it, inline counters included."""
    return {
        "user_id": "U00001",
        "display_name": display_name,
        "is_active": "on",
        "statistics-TOTAL_FORMS": "1",
        "statistics-INITIAL_FORMS": "1",
        "statistics-MIN_NUM_FORMS": "0",
        "statistics-MAX_NUM_FORMS": "1",
        "statistics-0-user": "U00001",
        "statistics-0-login_count": login_count,
        "statistics-0-post_count": post_count,
    }


def test_superuser_edits_a_user_but_not_its_inline_counters(client_for, counted_user):
    """A superuser's change of a user is saved; counters posted with it are ignored."""
    url = reverse("admin:users_serviceuser_change", args=["U00001"])
    response = client_for("superuser").post(url, _change_form("renamed", "999", "0"))
    assert response.status_code == 302
    assert ServiceUser.objects.get(user_id="U00001").display_name == "renamed"
    counted_user.refresh_from_db()
    assert (counted_user.login_count, counted_user.post_count) == (3, 4)


def test_inline_shows_counters_read_only(client_for, counted_user):
    """The user's change page shows the counters as text, with no input to edit them."""
    url = reverse("admin:users_serviceuser_change", args=["U00001"])
    html = client_for("superuser").get(url).content.decode()
    assert 'name="display_name"' in html
    assert 'name="statistics-0-login_count"' not in html
    assert 'name="statistics-0-post_count"' not in html
    assert "field-login_count" in html and "field-post_count" in html


@pytest.mark.parametrize("page", ["add", "change", "delete"])
def test_superuser_cannot_write_a_statistic(client_for, counted_user, page):
    """Adding, changing or deleting a statistic is refused to a superuser; nothing changes."""
    name = f"admin:users_userstatistics_{page}"
    url = reverse(name) if page == "add" else reverse(name, args=["U00001"])
    data = {"user": "U00001", "login_count": "7", "post_count": "8", "post": "yes"}
    response = client_for("superuser").post(url, data)
    assert response.status_code == 403
    counted_user.refresh_from_db()
    assert (counted_user.login_count, counted_user.post_count) == (3, 4)


def test_statistics_list_offers_no_add_or_bulk_delete(client_for, counted_user):
    """The statistics list has no add button and no delete action, for superusers too."""
    client = client_for("superuser")
    html = client.get(reverse("admin:users_userstatistics_changelist")).content.decode()
    assert reverse("admin:users_userstatistics_add") not in html
    assert "delete_selected" not in html
    response = client.post(
        reverse("admin:users_userstatistics_changelist"),
        {"action": "delete_selected", "_selected_action": ["U00001"], "post": "yes"},
    )
    assert response.status_code == 403
    assert UserStatistics.objects.filter(user_id="U00001").exists()


def test_superuser_may_still_delete_a_user_whose_history_stays(client_for, counted_user):
    """Deleting a user (full rights on users) takes its counters row along; its logs stay."""
    url = reverse("admin:users_serviceuser_delete", args=["U00001"])
    client = client_for("superuser")
    page = client.get(url)
    assert not page.context["perms_lacking"] and not page.context["protected"]
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not ServiceUser.objects.filter(user_id="U00001").exists()
    assert not UserStatistics.objects.filter(user_id="U00001").exists()
    assert ProcessingLog.objects.filter(user_id="U00001").count() == 1
