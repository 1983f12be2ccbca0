"""The access log: each look at personal data writes exactly one row; the table is append-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from logs.models import AccessLog, Execution, MonthSeal
from logs.resources import ProcessingLogResource
from logs.services.access import access_logs_purge
from logs.services.retention import RetentionDetails, retention_run
from users.resources import ServiceUserResource

pytestmark = pytest.mark.django_db


def only_access() -> AccessLog:
    """The one access row written (fails when there are none or several)."""
    rows = list(AccessLog.objects.all())
    assert len(rows) == 1, rows
    return rows[0]


def test_lookup_writes_one_row(client_for, service_users, make_logs):
    """A lookup records who, which user_id, how many rows were shown and from where."""
    make_logs([{"user_id": "U00002", "old_value": 0, "new_value": 1}])
    response = client_for("support").get(
        reverse("admin:users_serviceuser_lookup"), {"user_id": "U00002"}
    )
    assert response.status_code == 200
    assert 'id="lookup-recorded"' in response.content.decode()
    access = only_access()
    assert (access.kind, access.username, access.user_id) == ("lookup", "test-support", "U00002")
    assert access.rows == 1
    assert access.client_address == "127.0.0.1"
    assert access.filters == {"user_id": "U00002"}


def test_lookup_form_alone_writes_nothing(client_for):
    """Opening the empty lookup form shows nobody's data: nothing is recorded."""
    assert client_for("support").get(reverse("admin:users_serviceuser_lookup")).status_code == 200
    assert not AccessLog.objects.exists()


def test_log_list_narrowed_to_a_user_writes_one_row(client_for, make_logs):
    """The log list searched for a user_id is recorded; the unnarrowed list is not."""
    make_logs([{"user_id": "U00001", "old_value": 0, "new_value": 1}])
    client = client_for("support")
    url = reverse("admin:logs_processinglog_changelist")
    assert client.get(url).status_code == 200
    assert not AccessLog.objects.exists()
    assert client.get(url, {"q": "U00001"}).status_code == 200
    access = only_access()
    assert (access.kind, access.user_id, access.rows) == ("log_list", "U00001", 1)
    assert access.filters["q"] == "U00001"


@pytest.mark.parametrize(("format_index", "title"), [(0, "csv"), (1, "xlsx")])
def test_export_writes_one_row(client_for, make_logs, export_form_data, format_index, title):
    """A CSV or XLSX export records its format, filters and rows."""
    make_logs([{"user_id": "U00001", "old_value": 0, "new_value": 1}] * 3)
    response = client_for("auditor").post(
        f"{reverse('admin:logs_processinglog_export')}?q=U00001",
        export_form_data(ProcessingLogResource, format_index=format_index),
    )
    assert response.status_code == 200
    access = only_access()
    assert (access.kind, access.target, access.rows, access.user_id) == (
        "export",
        title,
        3,
        "U00001",
    )


def test_user_master_export_writes_one_row(client_for, service_users, export_form_data):
    """Exporting the user master (names, e-mail addresses) is recorded too."""
    response = client_for("superuser").post(
        reverse("admin:users_serviceuser_export"),
        export_form_data(ServiceUserResource, format_index=0),
    )
    assert response.status_code == 200
    access = only_access()
    assert (access.kind, access.rows, access.username) == ("user_export", 5, "test-superuser")


def test_download_writes_one_row(client_for, media):
    """Downloading an original file names the execution."""
    stored = default_storage.save("executions/t/a.csv", ContentFile(b"user_id,login_count\n"))
    execution = Execution.objects.create(name="user-log-x", file=stored, file_name="a.csv")
    response = client_for("uploader").get(
        reverse("admin:logs_execution_download", args=[execution.pk])
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)
    access = only_access()
    assert (access.kind, access.target, access.username) == (
        "download",
        "user-log-x",
        "test-uploader",
    )


def test_evidence_pack_action_writes_one_row(client_for, sealed):
    """An auditor downloads a month's evidence pack from the seals list: one access row; a role
    without the export right is refused and nothing is recorded."""
    seal = MonthSeal.objects.get()
    data = {"action": "evidence_pack_download", "_selected_action": [seal.pk]}
    url = reverse("admin:logs_monthseal_changelist")
    assert client_for("support").post(url, data).status_code == 403
    assert not AccessLog.objects.exists()
    response = client_for("auditor").post(url, data)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content)[:2] == b"PK"
    access = only_access()
    assert (access.kind, access.target, access.username) == ("evidence", seal.month, "test-auditor")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE access_logs SET username = 'someone else'", "Cannot update rows"),
        ("DELETE FROM access_logs", "Cannot delete rows"),
        ("TRUNCATE access_logs", "access_logs is append-only: TRUNCATE is refused"),
    ],
    ids=["update", "delete", "truncate"],
)
def test_access_log_refuses_change(sql, message):
    """access_logs refuses UPDATE, DELETE and TRUNCATE, for its owner too."""
    AccessLog.objects.create(username="a", kind=AccessLog.Kind.LOOKUP, user_id="U00001")
    with pytest.raises(DatabaseError, match=message), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    assert AccessLog.objects.get().username == "a"


def test_retention_purges_only_expired_access_rows(settings):
    """Rows older than ACCESS_LOG_RETENTION_MONTHS (whole months) go with the retention job,
    which says how many; newer rows stay."""
    settings.ACCESS_LOG_RETENTION_MONTHS = 24
    now = timezone.now()
    old = AccessLog.objects.create(
        username="a", kind="lookup", accessed_at=now - timedelta(days=800)
    )
    kept = AccessLog.objects.create(
        username="b", kind="lookup", accessed_at=now - timedelta(days=600)
    )
    assert access_logs_purge(dry_run=True) == 1
    run = retention_run()
    assert RetentionDetails.from_run(run).access_logs_deleted == 1
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not AccessLog.objects.filter(pk=old.pk).exists()
