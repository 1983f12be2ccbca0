"""The broker restarted while imports are queued (SPEC §10): confirmed uploads whose messages
Redis lost are queued again and each completes exactly once, through real Celery workers on a
Redis server of the test's own; copies of messages that were not lost apply nothing."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from auditsite.celery import app as celery_app
from logs import tasks
from logs.models import Execution, ProcessingError, ProcessingLog
from logs.services.executions import executions_requeue_pending
from logs.services.ingest import execution_create
from logs.services.uploads import upload_confirm, upload_receive
from logs.tasks import execution_run_task, requeue_pending_at_worker_start, requeue_pending_runs
from logs.tests.services.test_ingest_concurrency import assert_verify_logs_clean, wait_for
from logs.tests.support import RedisServer, celery_worker, user_counters
from users.services import demo_users_seed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media")]

UPLOADS = 5
WORKER_WAIT_SECONDS = 60


def _publish_to(monkeypatch, url: str) -> None:
    """This process's Celery app sends its tasks to ``url`` until the test ends."""
    # The setting first: its value now (which the environment may decide) is what comes back.
    monkeypatch.setattr(celery_app.conf, "broker_url", url)
    monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its own setting
    # Connections and producers are pooled per app: new ones for this broker, the old back after.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, keeping nothing on disk; killed at the end."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def publishing_to(redis_server, monkeypatch) -> Iterator[RedisServer]:
    """This process's Celery app sends its tasks to the test's Redis (the confirm's queuing)."""
    _publish_to(monkeypatch, redis_server.url)
    yield redis_server
    if celery_app._pool is not None:
        with contextlib.suppress(Exception):  # its server may be gone: nothing left to close
            celery_app._pool.force_close_all()


def _confirmed_uploads(count: int) -> list[Execution]:
    """``count`` different files uploaded and confirmed as the admin does: each Execution is
    pending and its run's message is sent to the broker once the confirm commits."""
    executions = []
    for number in range(1, count + 1):
        content = (
            f"user_id,login_count,post_count\nU00001,{number},1\nU00002,1,{number}\nU00003,0,2\n"
        )
        pending = upload_receive(
            uploaded_file=SimpleUploadedFile(f"day-{number}.csv", content.encode()),
            execution_name="",
            force=False,
        )
        assert not pending.rejected, pending.preview
        executions.append(upload_confirm(pending=pending, uploaded_by=None))
    return executions


def _queued(server: RedisServer) -> int:
    """Messages in the broker: waiting in the queue, or taken by a worker and not yet done."""
    client = server.client()
    return client.llen("celery") + client.hlen("unacked")


def _statuses(executions: list[Execution]) -> list[str]:
    pks = [execution.pk for execution in executions]
    return list(
        Execution.objects.filter(pk__in=pks).order_by("pk").values_list("status", flat=True)
    )


def _assert_each_applied_once(executions: list[Execution], before: dict) -> None:
    """Every upload completed once: its own log rows, the counters moved by the sum of the
    files, nothing else recorded, the trail verifies."""
    assert Execution.objects.count() == len(executions)
    total = sum(range(1, len(executions) + 1))
    for execution in executions:
        execution.refresh_from_db()
        assert execution.status == Execution.Status.COMPLETED, execution.error_message
        assert (execution.log_rows, execution.success_count, execution.skipped_count) == (6, 5, 1)
        assert ProcessingLog.objects.filter(execution_name=execution.name).count() == 6
    assert ProcessingLog.objects.count() == 6 * len(executions)
    assert not ProcessingError.objects.exists()
    assert user_counters() == {
        "U00001": (before["U00001"][0] + total, before["U00001"][1] + len(executions)),
        "U00002": (before["U00002"][0] + len(executions), before["U00002"][1] + total),
        "U00003": (before["U00003"][0], before["U00003"][1] + 2 * len(executions)),
    }
    assert_verify_logs_clean()


def _run_worker_until_done(
    server: RedisServer, executions: list[Execution], log: Path, env: dict[str, str]
) -> None:
    """A real worker on the test's Redis until every run has ended and no message is left."""
    with celery_worker(broker_url=server.url, env=env, log=log):
        wait_for(
            lambda: all(status not in {"pending", "running"} for status in _statuses(executions)),
            "every queued import to finish",
            WORKER_WAIT_SECONDS,
        )
        wait_for(lambda: _queued(server) == 0, "every message to be handled", 30)


@pytest.mark.slow
def test_imports_queued_when_redis_restarts_each_complete_once(publishing_to, tmp_path, media):
    """Five confirmed uploads queued, Redis killed and started again empty, then a worker
    starts: it queues the pending uploads again and each completes exactly once."""
    demo_users_seed(count=3)
    before = user_counters()
    executions = _confirmed_uploads(UPLOADS)
    assert _statuses(executions) == ["pending"] * UPLOADS
    assert _queued(publishing_to) == UPLOADS

    publishing_to.kill()
    publishing_to.start()  # the same port, nothing kept: the queue is gone
    assert _queued(publishing_to) == 0

    log = tmp_path / "worker.log"
    _run_worker_until_done(publishing_to, executions, log, {"MEDIA_ROOT": str(media)})

    assert "queuing the run of" in log.read_text()
    assert [e.requeue_count for e in Execution.objects.order_by("pk")] == [1] * UPLOADS
    _assert_each_applied_once(executions, before)


@pytest.mark.slow
def test_copies_of_messages_not_lost_apply_nothing(publishing_to, tmp_path, media):
    """Five uploads whose messages are still queued are queued again anyway (the pass, then
    the worker's start): three messages per run reach the worker, each file applies once."""
    demo_users_seed(count=3)
    before = user_counters()
    executions = _confirmed_uploads(UPLOADS)

    again = executions_requeue_pending(enqueue=execution_run_task.delay, after_seconds=0)
    assert [e.pk for e in again] == [e.pk for e in executions]
    assert _queued(publishing_to) == 2 * UPLOADS

    log = tmp_path / "worker.log"
    _run_worker_until_done(publishing_to, executions, log, {"MEDIA_ROOT": str(media)})

    assert [e.requeue_count for e in Execution.objects.order_by("pk")] == [2] * UPLOADS
    _assert_each_applied_once(executions, before)


# --- the scheduled pass and the worker's start, in this process --------------------------


def _pending_upload(tmp_path: Path) -> Execution:
    demo_users_seed(count=2)
    path = tmp_path / "waiting.csv"
    path.write_text("user_id,login_count,post_count\nU00001,4,4\n", encoding="utf-8")
    return execution_create(path=path, source=str(path), file_name=path.name, source_kind="upload")


def test_the_scheduled_task_names_the_runs_it_queued_again(tmp_path, eager_tasks, settings):
    """The beat task queues again an upload pending past the interval, and says which."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 0
    execution = _pending_upload(tmp_path)

    assert requeue_pending_runs() == {"requeued": [execution.pk]}
    assert Execution.objects.get(pk=execution.pk).status == Execution.Status.COMPLETED
    assert requeue_pending_runs() == {"requeued": []}


def test_a_worker_starting_queues_pending_uploads_at_once(tmp_path, eager_tasks, settings):
    """At a worker's start a pending upload is queued again without waiting for the interval."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 3600
    execution = _pending_upload(tmp_path)

    requeue_pending_at_worker_start(sender=None)

    execution.refresh_from_db()
    assert execution.requeue_count == 1
    assert execution.status == Execution.Status.COMPLETED


def test_a_failed_pass_at_worker_start_is_logged_and_the_worker_goes_on(
    tmp_path, monkeypatch, caplog
):
    """A pass that cannot queue (the broker refuses) is logged; the worker's start goes on and
    the run stays pending for the next pass."""
    execution = _pending_upload(tmp_path)
    _publish_to(monkeypatch, "redis://127.0.0.1:1/0")  # nobody listens on port 1
    monkeypatch.setitem(celery_app.conf, "task_publish_retry", False)

    with caplog.at_level(logging.ERROR, logger=tasks.__name__):
        requeue_pending_at_worker_start(sender=None)

    assert "queuing the pending uploads again at worker start failed" in caplog.text
    execution.refresh_from_db()
    assert execution.status == Execution.Status.PENDING
    # Recorded before the send: the next scheduled pass, past the interval, sends it again.
    assert execution.requeue_count == 1
