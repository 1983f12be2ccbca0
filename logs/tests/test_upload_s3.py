"""Uploads kept in S3 (MEDIA_S3_BUCKET), for web and workers on different hosts: the admin
upload stores the original in the bucket, the run reads it from there, and the download view
streams it back (moto)."""

from __future__ import annotations

import io

import boto3
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from moto import mock_aws

from auditsite.celery import app as celery_app
from auditsite.settings.base import media_storage
from logs.models import Execution
from users.models import UserStatistics
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db

BUCKET = "auditsite-uploads-test"
CSV = b"user_id,login_count,post_count\nU00001,2,1\nU00002,x,3\n"


@pytest.fixture
def s3_media(monkeypatch, settings):
    """A moto bucket as the default storage, as MEDIA_S3_BUCKET sets it."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": media_storage(bucket=BUCKET, prefix="uploads/", endpoint_url=None),
        }
        # Django builds default_storage again when STORAGES changes (setting_changed).
        assert default_storage.bucket_name == BUCKET
        yield client


def test_no_bucket_means_the_file_system():
    """Without MEDIA_S3_BUCKET uploads stay under MEDIA_ROOT."""
    assert media_storage(bucket="", prefix="uploads/", endpoint_url=None) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }


def test_an_upload_is_kept_in_s3_run_from_there_and_downloaded_back(
    s3_media, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    """Upload → preview → confirm with the original in S3: the run (as a worker on another host
    would, from the bucket) applies it, and the download gives the exact bytes back."""
    demo_users_seed(count=2)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
    client = client_for("uploader")
    upload = io.BytesIO(CSV)
    upload.name = "user-log-20260301-090000.csv"
    response = client.post(reverse("admin:logs_execution_upload"), {"file": upload})
    assert response.status_code == 302
    token = client.get(response["Location"]).context["pending"].token
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:logs_execution_upload_confirm", args=[token]), {"confirm": "1"})

    execution = Execution.objects.get()
    assert execution.status == Execution.Status.COMPLETED, execution.error_message
    assert (execution.success_count, execution.failed_count) == (3, 1)
    assert UserStatistics.objects.get(user_id="U00001").login_count == 2
    keys = [item["Key"] for item in s3_media.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"uploads/{execution.file.name}"]
    assert s3_media.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read() == CSV

    download = client.get(reverse("admin:logs_execution_download", args=[execution.pk]))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CSV
