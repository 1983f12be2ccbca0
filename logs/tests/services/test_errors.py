"""Error purge (expired ProcessingErrors only) and the stale-run check on Executions."""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connections, transaction

from logs.models import Execution, JobRun, ProcessingError, ProcessingLog
from logs.services.errors import errors_purge
from logs.services.executions import executions_fail_stale
from logs.services.ingest import execution_run_lock_try
from logs.tests.support import TOKYO

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=TOKYO)


def _error(name: str, expires_at: datetime) -> ProcessingError:
    return ProcessingError.objects.create(
        execution_name=name, error_message="User not found in users table", expires_at=expires_at
    )


def _execution(name: str, status: str, started_minutes_ago: int | None) -> Execution:
    started = NOW - timedelta(minutes=started_minutes_ago) if started_minutes_ago else None
    return Execution.objects.create(name=name, status=status, started_at=started)


def test_purge_deletes_only_expired_errors():
    """Errors past expires_at go; those expiring later, or right now, stay."""
    _error("old", NOW - timedelta(days=1))
    _error("just-expired", NOW - timedelta(seconds=1))
    _error("now", NOW)
    _error("fresh", NOW + timedelta(days=29))
    run = errors_purge(now=NOW)
    assert run.status == JobRun.Status.SUCCEEDED and run.job == JobRun.Job.ERRORS
    assert run.rows_deleted == 2
    assert set(ProcessingError.objects.values_list("execution_name", flat=True)) == {
        "now",
        "fresh",
    }
    assert errors_purge(now=NOW).rows_deleted == 0


def test_stale_running_executions_marked_failed(settings):
    """Running past STALE_RUN_MINUTES → failed with a reason; fresh or finished ones untouched."""
    settings.STALE_RUN_MINUTES = 120
    stale = _execution("user-log-20260310-080000", Execution.Status.RUNNING, 121)
    fresh = _execution("user-log-20260310-110000", Execution.Status.RUNNING, 30)
    done = _execution("user-log-20260309-080000", Execution.Status.COMPLETED, 1500)
    never_started = _execution("user-log-20260310-070000", Execution.Status.RUNNING, None)
    Execution.objects.filter(pk=never_started.pk).update(created_at=NOW - timedelta(hours=5))
    run = executions_fail_stale(now=NOW)
    assert run.status == JobRun.Status.SUCCEEDED and run.job == JobRun.Job.STALE_RUNS
    assert run.details["failed"] == 2
    assert [e["id"] for e in run.details["executions"]] == [stale.pk, never_started.pk]
    for execution in (stale, fresh, done, never_started):
        execution.refresh_from_db()
    assert stale.status == never_started.status == Execution.Status.FAILED
    assert stale.finished_at == NOW
    assert "120 minutes" in stale.error_message and "can be run again" in stale.error_message
    assert fresh.status == Execution.Status.RUNNING and fresh.error_message == ""
    assert done.status == Execution.Status.COMPLETED


def test_stale_pending_executions_marked_failed(settings):
    """Pending past STALE_RUN_MINUTES (its run never queued or never taken) → failed, saying so;
    a pending one created recently is left to its worker."""
    settings.STALE_RUN_MINUTES = 120
    stale = _execution("user-log-20260310-060000", Execution.Status.PENDING, None)
    fresh = _execution("user-log-20260310-113000", Execution.Status.PENDING, None)
    Execution.objects.filter(pk=stale.pk).update(created_at=NOW - timedelta(minutes=121))
    Execution.objects.filter(pk=fresh.pk).update(created_at=NOW - timedelta(minutes=5))
    run = executions_fail_stale(now=NOW)
    assert run.details["failed"] == 1
    assert run.details["executions"] == [{"id": stale.pk, "name": stale.name}]
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == Execution.Status.FAILED and stale.finished_at == NOW
    assert "still pending 120 minutes after it was created" in stale.error_message
    assert "no worker started its run" in stale.error_message
    assert "nothing was applied" in stale.error_message
    assert fresh.status == Execution.Status.PENDING and fresh.error_message == ""


def test_a_pending_run_failed_as_stale_is_not_run_later():
    """A run's message arriving after the stale check failed it finds it not pending: no rows."""
    from logs.tasks import execution_run_task

    execution = _execution("user-log-20260310-050000", Execution.Status.PENDING, None)
    Execution.objects.filter(pk=execution.pk).update(created_at=NOW - timedelta(days=1))
    executions_fail_stale(now=NOW)
    assert execution_run_task(execution.pk) == {
        "execution": execution.pk,
        "status": Execution.Status.FAILED,
    }
    assert not ProcessingLog.objects.filter(execution_name=execution.name).exists()


@pytest.mark.django_db(transaction=True)
def test_execution_locked_by_a_live_import_is_left_alone(settings):
    """A stale-looking run whose import transaction is still open (run lock held) is left."""
    settings.STALE_RUN_MINUTES = 60
    busy = _execution("user-log-20260310-050000", Execution.Status.RUNNING, 300)
    locked, release = threading.Event(), threading.Event()

    def live_import() -> None:
        try:
            with transaction.atomic():
                assert execution_run_lock_try(execution_id=busy.pk)  # what a live import holds
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    worker = threading.Thread(target=live_import)
    worker.start()
    try:
        assert locked.wait(timeout=30)
        run = executions_fail_stale(now=NOW)
    finally:
        release.set()
        worker.join(timeout=30)
    assert run.details["failed"] == 0
    busy.refresh_from_db()
    assert busy.status == Execution.Status.RUNNING
