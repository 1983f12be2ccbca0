"""Fixtures of the logs tests: a year and a half of generated logs, a moto S3 archive bucket."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from logs.models import ProcessingLog
from logs.months import Month
from logs.services.partitions import partition_create
from logs.tests.support import ARCHIVE_BUCKET, TODAY, LogHistory, month_logs


@pytest.fixture
def log_history(db) -> LogHistory:
    """A year and a half of logs: December 2022 to June 2024 (19 months), today 2024-06-15."""
    current = Month.of(TODAY)
    months = [Month(2022, 12).add(offset) for offset in range(19)]
    assert months[-1] == current
    for month in months:
        partition_create(month=month)
        ProcessingLog.objects.bulk_create(month_logs(month))
    return LogHistory(today=TODAY, months=months)


@pytest.fixture
def s3(monkeypatch, settings):
    """A moto S3 with the archive bucket, and archiving switched on."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings.AWS_S3_ENDPOINT_URL = None
    settings.ARCHIVE_S3_BUCKET = ARCHIVE_BUCKET
    settings.ARCHIVE_S3_PREFIX = "processing_logs/"
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=ARCHIVE_BUCKET)
        yield client


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded files go to a folder of this test's own."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path
