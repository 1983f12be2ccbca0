"""The import task through real Celery workers (SPEC §10): end to end, and kill -9 of the worker
in the middle of an import leaves nothing applied, a failed Execution and a file that re-runs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from auditsite.celery import app as celery_app
from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.ingest import execution_create, execution_fail_if_abandoned
from logs.tasks import execution_run_task
from logs.tests.services.test_ingest_concurrency import (
    assert_verify_logs_clean,
    held_in_another_connection,
    wait_for,
)
from logs.tests.support import celery_worker, user_counters
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db(transaction=True)

RUN_LOCK_NAMESPACE = 0x1A5D  # pg_advisory_xact_lock(namespace, execution id), held by a live run
WORKER_WAIT_SECONDS = 120  # a 100,000-row import on a busy 2-core machine


@pytest.fixture
def broker() -> Iterator[str]:
    """The test broker's Redis database, empty before and after the test."""
    with celery_app.connection_for_write() as connection:
        client = connection.default_channel.client  # Redis, embedded or not
        client.flushdb()
        yield settings.CELERY_BROKER_URL
        client.flushdb()


def _worker(broker_url: str, log: Path):
    """A real worker on the test database and this test's broker."""
    return celery_worker(broker_url=broker_url, log=log)


def _status(execution: Execution) -> tuple[str, str]:
    query = Execution.objects.filter(pk=execution.pk).values_list("status", "progress_phase")
    status, phase = query.get()
    return status, phase


def _activity_file(path: Path, *, rows: int, users: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("user_id,login_count,post_count\n")
        for number in range(rows):
            out.write(f"U{number % users + 1:05d},1,2\n")
    return path


def _enqueue(path: Path) -> Execution:
    execution = execution_create(path=path, source=str(path), file_name=path.name)
    execution_run_task.delay(execution.pk)
    return execution


@pytest.mark.slow
def test_task_runs_an_import_through_a_real_worker(tmp_path, broker):
    """A queued import is picked up by a real worker and completes with the counters applied."""
    demo_users_seed(count=3)
    path = tmp_path / "small.csv"
    path.write_text("user_id,login_count,post_count\nU00001,2,1\nU00002,0,5\nU99999,1,1\n")
    execution = _enqueue(path)

    log = tmp_path / "worker.log"
    with _worker(broker, log):
        wait_for(
            lambda: _status(execution)[0] not in {"pending", "running"},
            "the worker to finish the import",
            WORKER_WAIT_SECONDS,
        )
    execution.refresh_from_db()
    assert execution.status == Execution.Status.COMPLETED, log.read_text()
    assert (execution.success_count, execution.skipped_count, execution.failed_count) == (3, 1, 2)
    assert user_counters()["U00001"] == (2, 1)
    assert user_counters()["U00002"] == (0, 5)


@pytest.mark.slow
def test_worker_killed_mid_import_applies_nothing_and_the_file_runs_again(tmp_path, broker):
    """kill -9 of the worker while it stages or applies: no log rows, no counter change, the
    Execution ends failed; a new run of the same file through a fresh worker completes."""
    users, rows = 500, 100_000
    demo_users_seed(count=users)
    initial = user_counters()
    path = _activity_file(tmp_path / "big.csv", rows=rows, users=users)
    log = tmp_path / "worker.log"

    killed = _enqueue(path)
    with _worker(broker, log) as worker:
        wait_for(
            lambda: _status(killed) in {("running", "staging"), ("running", "applying")},
            "the import to be staging or applying",
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    assert _status(killed)[0] == Execution.Status.RUNNING  # nobody has noticed yet

    wait_for(
        lambda: execution_fail_if_abandoned(execution=killed),
        "the killed run's transaction to end",
        timeout=60,
    )
    killed.refresh_from_db()
    assert killed.status == Execution.Status.FAILED
    assert_verify_logs_clean()
    assert not ProcessingLog.objects.filter(execution_name=killed.name).exists()
    assert ProcessingLog.objects.count() == 0
    assert ProcessingError.objects.count() == 0
    assert user_counters() == initial

    rerun = _enqueue(path)
    with _worker(broker, log):
        wait_for(
            lambda: _status(rerun)[0] in {"completed", "failed", "rejected"},
            "the re-run to finish",
            WORKER_WAIT_SECONDS,
        )
    rerun.refresh_from_db()
    assert rerun.status == Execution.Status.COMPLETED, (rerun.error_message, log.read_text())
    assert rerun.log_rows == 2 * rows
    per_user = rows // users
    assert user_counters() == {
        user_id: (login + per_user, post + 2 * per_user)
        for user_id, (login, post) in initial.items()
    }
    killed.refresh_from_db()
    assert killed.status == Execution.Status.FAILED
    assert_verify_logs_clean()


@pytest.mark.slow
def test_database_backend_of_a_running_import_terminated(tmp_path, broker):
    """pg_terminate_backend of the connection applying an import: nothing is applied, the
    worker itself marks the Execution failed (on a new connection), and a re-run completes."""
    users, rows = 500, 100_000
    demo_users_seed(count=users)
    initial = user_counters()
    path = _activity_file(tmp_path / "big.csv", rows=rows, users=users)
    log = tmp_path / "worker.log"

    cut = _enqueue(path)
    with _worker(broker, log):
        wait_for(
            lambda: _status(cut) in {("running", "staging"), ("running", "applying")},
            "the import to be staging or applying",
        )
        with connection.cursor() as cursor:
            # The backend holding the run lock is the one applying this execution.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND granted",
                [RUN_LOCK_NAMESPACE, cut.pk],
            )
            assert [row[0] for row in cursor.fetchall()] == [True]
        wait_for(lambda: _status(cut)[0] == Execution.Status.FAILED, "the run to be failed")
        cut.refresh_from_db()
        assert "terminat" in cut.error_message.lower(), cut.error_message
        assert not ProcessingLog.objects.exists()
        assert ProcessingError.objects.filter(execution=cut).count() == 0
        assert user_counters() == initial

        rerun = _enqueue(path)
        wait_for(
            lambda: _status(rerun)[0] in {"completed", "failed", "rejected"},
            "the re-run to finish",
            WORKER_WAIT_SECONDS,
        )
    rerun.refresh_from_db()
    assert rerun.status == Execution.Status.COMPLETED, (rerun.error_message, log.read_text())
    per_user = rows // users
    assert user_counters() == {
        user_id: (login + per_user, post + 2 * per_user)
        for user_id, (login, post) in initial.items()
    }
    assert_verify_logs_clean()


# --- a task delivered again (acks_late) ------------------------------------------------------


def _small_execution(tmp_path: Path, status: str) -> Execution:
    demo_users_seed(count=2)
    path = tmp_path / "again.csv"
    path.write_text("user_id,login_count,post_count\nU00001,4,4\n", encoding="utf-8")
    execution = execution_create(path=path, source=str(path), file_name=path.name)
    Execution.objects.filter(pk=execution.pk).update(status=status)
    return execution


def test_redelivered_task_of_a_dead_run_fails_it_and_applies_nothing(tmp_path):
    """The task delivered again for a ``running`` Execution whose worker died marks it failed
    and does not import the file a second time under the same Execution."""
    execution = _small_execution(tmp_path, Execution.Status.RUNNING)
    initial = user_counters()

    outcome = execution_run_task(execution.pk)

    assert outcome["status"] == Execution.Status.FAILED
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.FAILED
    assert not ProcessingLog.objects.exists()
    assert user_counters() == initial


def test_redelivered_task_of_a_live_run_leaves_it_alone(tmp_path):
    """The task delivered again while the first run still holds its run lock does nothing."""
    execution = _small_execution(tmp_path, Execution.Status.RUNNING)
    initial = user_counters()

    with held_in_another_connection(
        "SELECT pg_advisory_xact_lock(%s, %s)", [RUN_LOCK_NAMESPACE, execution.pk]
    ):
        outcome = execution_run_task(execution.pk)

    assert outcome["status"] == Execution.Status.RUNNING
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.RUNNING
    assert not ProcessingLog.objects.exists()
    assert user_counters() == initial


@pytest.mark.parametrize("status", [Execution.Status.COMPLETED, Execution.Status.REJECTED])
def test_task_of_a_finished_execution_does_nothing(tmp_path, status):
    """A task for an Execution that already finished leaves it and the counters as they are."""
    execution = _small_execution(tmp_path, status)
    initial = user_counters()

    assert execution_run_task(execution.pk)["status"] == status
    assert not ProcessingLog.objects.exists()
    assert user_counters() == initial
