"""Fixtures of the logs tests: a year and a half of generated logs, a moto S3 archive bucket."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from logs.models import Execution, ProcessingLog
from logs.months import Month
from logs.services.partitions import partition_create
from logs.services.summaries import summaries_update
from logs.tests.support import (
    ARCHIVE_BUCKET,
    NEXT_MONTH,
    TODAY,
    LogHistory,
    import_file,
    month_logs,
)


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


@pytest.fixture
def sealed(service_users, tmp_path) -> list[Execution]:
    """Three imports this month, then the summarize job run as if the month were over."""
    executions = [
        import_file(tmp_path, "a", "U00001,2,1\nU00002,1,0\n"),
        import_file(tmp_path, "b", "U00001,3,0\nU99999,1,4\n"),
        import_file(tmp_path, "c", "U00003,5,5\n"),
    ]
    summaries_update(today=NEXT_MONTH)
    return executions
