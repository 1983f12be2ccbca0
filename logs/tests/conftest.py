"""Fixtures of the logs tests: a year and a half of generated logs, a moto S3 archive bucket."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import boto3
import pytest
from django.core.management import execute_from_command_line
from django.db import connections
from moto import mock_aws

from auditsite.celery import app as celery_app
from auditsite.testing import rolled_back
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

_HISTORY = "log_history"
# Set while a module's shared history (and the transaction holding it) is open.
_history_open = False


@pytest.hookimpl(trylast=True)  # on the final order (pytest-django puts transactional tests last)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within each module's run of tests, those of the shared log history come last.

    The history stays in the database until its module's tests end; run after it, a test that
    did not ask for it would see it. Nothing else moves: each run keeps its place and order.
    """
    ordered: list[pytest.Item] = []
    for _, run in itertools.groupby(items, key=lambda item: item.nodeid.split("::")[0]):
        tests = list(run)
        ordered += sorted(tests, key=lambda item: _HISTORY in getattr(item, "fixturenames", ()))
    items[:] = ordered


@pytest.fixture(scope="module")
def log_history(django_db_setup, django_db_blocker) -> Iterator[LogHistory]:
    """A year and a half of logs: December 2022 to June 2024 (19 months), today 2024-06-15.

    Built once per module, in a transaction rolled back after it. Each test runs in a savepoint
    of that transaction, so whatever a test writes — rows, summaries, job runs, partitions
    detached or dropped (DDL is transactional in PostgreSQL) — is gone before the next test.
    """
    global _history_open
    current = Month.of(TODAY)
    months = [Month(2022, 12).add(offset) for offset in range(19)]
    assert months[-1] == current
    with rolled_back(django_db_blocker):
        for month in months:
            partition_create(month=month)
        ProcessingLog.objects.bulk_create([log for month in months for log in month_logs(month)])
        _history_open = True
        try:
            yield LogHistory(today=TODAY, months=months)
        finally:
            _history_open = False


@pytest.fixture(autouse=True)
def _no_history_unasked(request) -> None:
    """A test that did not ask for the shared history must not run while it is open."""
    if _history_open and _HISTORY not in request.fixturenames:
        pytest.fail(f"{request.node.nodeid} would see another test's log_history")


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


@pytest.fixture
def exit_code(monkeypatch):
    """Run like `manage.py …` does and return the exit status a shell would see."""
    # manage.py closes every connection on its way out; the test's transaction must outlive it.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*args: str) -> int:
        try:
            execute_from_command_line(["manage.py", *args])
        except SystemExit as exit_:
            # As a shell sees it: no code is 0, a message is 1 (it is printed), a number itself.
            code = exit_.code
            return code if isinstance(code, int) else int(code is not None)
        return 0

    return run


@pytest.fixture
def eager_tasks(monkeypatch):
    """Celery tasks run in the test's process, at once (no broker, no worker)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)
