"""What trying to break the site over HTTP found, each pinned down: abandoned previews expire,
any file name uploads, bad ids are 404s, media is never served, the user master round-trips,
and every page carries a Content-Security-Policy."""

from __future__ import annotations

import csv
import importlib
import io
import os
import time

import pytest
from django.core.files.storage import default_storage
from django.urls import Resolver404, resolve, reverse

from auditsite import urls
from logs.models import Execution
from logs.services.executions import executions_fail_stale
from logs.services.upload_previews import previews_expire
from users.models import ServiceUser
from users.resources import ServiceUserResource

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

UPLOAD = reverse("admin:logs_execution_upload")
CSV_TEXT = "user_id,login_count\nU00001,1\n"


def _upload(client, name: str = "activity.csv"):
    handle = io.BytesIO(CSV_TEXT.encode())
    handle.name = name
    return client.post(UPLOAD, {"file": handle})


def _stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def _age(media, hours: float) -> None:
    """Make every stored file look ``hours`` old."""
    then = time.time() - hours * 3600
    for path in media.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def test_unconfirmed_previews_expire(client_for, service_users, media, settings):
    """Previews left unconfirmed for UPLOAD_PREVIEW_HOURS are deleted (by the hourly job and by
    the next upload); a confirmed upload's file stays, a fresh preview too."""
    settings.UPLOAD_PREVIEW_HOURS = 2
    client = client_for("uploader")
    for _ in range(4):
        assert _upload(client).status_code == 302
    confirmed = _upload(client)
    token = confirmed["Location"].rstrip("/").rsplit("/", 1)[-1]
    client.post(reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"})
    kept = Execution.objects.get().file.name
    assert len(_stored_files(media)) == 5
    _age(media, hours=3)
    run = executions_fail_stale()
    assert run.details["previews_expired"] == 4
    assert _stored_files(media) == [kept]
    # A new upload sweeps too, and keeps itself.
    assert _upload(client).status_code == 302
    _age(media, hours=3)
    assert _upload(client).status_code == 302
    assert len(_stored_files(media)) == 2  # the confirmed file and the newest preview
    assert previews_expire() == []


@pytest.mark.parametrize("length", [69, 120, 300])
def test_long_file_names_upload_and_confirm(client_for, service_users, length):
    """A file name of any length previews and confirms: stored under a generated name, the
    uploader's name kept (up to the column's 255 characters)."""
    name = "x" * (length - 4) + ".csv"
    client = client_for("uploader")
    response = _upload(client, name)
    assert response.status_code == 302, response.content[:500]
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert client.get(response["Location"]).status_code == 200
    response = client.post(
        reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"}
    )
    assert response.status_code == 302
    execution = Execution.objects.get()
    assert execution.file_name.endswith(".csv")
    assert execution.file_name == name[-255:] or len(execution.file_name) == 255
    assert len(execution.file.name) <= 100
    assert default_storage.exists(execution.file.name)


@pytest.mark.parametrize("page", ["download", "progress"])
@pytest.mark.parametrize("object_id", ["abc", "1x", "-1", "999999"])
def test_bad_execution_ids_are_404(client_for, page, object_id):
    """A non-numeric or unknown execution id is a 404, never a server error."""
    url = f"/admin/logs/execution/{object_id}/{page}/"
    assert client_for("uploader").get(url).status_code == 404


def test_media_is_never_served_even_under_debug(settings):
    """With DEBUG on, /media/… still resolves to nothing: originals go out only through the
    permission-checked download."""
    settings.DEBUG = True
    try:
        importlib.reload(urls)
        with pytest.raises(Resolver404):
            resolve("/media/executions/2026/01/x.html", urlconf=urls)
    finally:
        settings.DEBUG = False
        importlib.reload(urls)


def test_user_master_round_trips_formula_text(client_for, export_form_data):
    """An exported user master imports back to the same values: the export's apostrophe in
    front of a formula is taken off again, and no second user appears."""
    for user_id, name in (("=2+3", "=SUM(A1)"), ("U00002", "'=quoted"), ("U00003", "plain")):
        ServiceUser.objects.create(user_id=user_id, display_name=name)
    client = client_for("superuser")
    exported = client.post(
        reverse("admin:users_serviceuser_export"),
        export_form_data(ServiceUserResource, format_index=0),
    ).content
    rows = list(csv.reader(io.StringIO(exported.decode())))
    assert ["'=2+3", "'=SUM(A1)"] in [row[:2] for row in rows]
    assert ["U00002", "''=quoted"] in [row[:2] for row in rows]
    upload = io.BytesIO(exported)
    upload.name = "users.csv"
    response = client.post(
        reverse("admin:users_serviceuser_import"),
        {"import_file": upload, "format": "0", "resource": "0"},
    )
    assert response.status_code == 200
    response = client.post(
        reverse("admin:users_serviceuser_process_import"), response.context["confirm_form"].initial
    )
    assert response.status_code == 302
    assert dict(ServiceUser.objects.values_list("user_id", "display_name")) == {
        "=2+3": "=SUM(A1)",
        "U00002": "'=quoted",
        "U00003": "plain",
    }


def test_every_page_has_a_content_security_policy(client_for):
    """Admin pages and the login page carry a CSP with a fresh nonce each time; the date-range
    filter's inline script carries that nonce."""
    anonymous = client_for("anonymous")
    first = anonymous.get(reverse("admin:login"))["Content-Security-Policy"]
    second = anonymous.get(reverse("admin:login"))["Content-Security-Policy"]
    assert "default-src 'self'" in first and "frame-ancestors 'none'" in first
    assert "object-src 'none'" in first
    assert first != second  # the nonce
    response = client_for("auditor").get(reverse("admin:logs_processinglog_changelist"))
    policy = response["Content-Security-Policy"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'nonce="{nonce}"' in response.content.decode()
