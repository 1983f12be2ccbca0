"""Pending uploads queued again (SPEC §10, a broker that lost its queue): who is queued again and
when, and a copy of a run's message, early or late, never applies the file a second time."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from logs.models import Execution, ProcessingLog
from logs.services.executions import executions_requeue_pending
from logs.services.ingest import execution_create
from logs.services.ingest import run as ingest_run
from logs.tasks import execution_run_task
from logs.tests.services.test_ingest_concurrency import assert_verify_logs_clean
from logs.tests.support import user_counters
from users.services import demo_users_seed

pytestmark = pytest.mark.django_db

ROWS = "user_id,login_count,post_count\nU00001,2,3\nU00002,1,0\n"


@pytest.fixture
def users(db):
    """Service users U00001–U00003."""
    demo_users_seed(count=3)


def _upload(
    tmp_path: Path, *, name: str = "day", age_seconds: int = 0, rows: str = ROWS, **fields
) -> Execution:
    """A pending upload created ``age_seconds`` ago whose message never reached a worker."""
    path = tmp_path / f"{name}.csv"
    path.write_text(rows, encoding="utf-8")
    execution = execution_create(
        path=path, source=str(path), file_name=path.name, source_kind="upload"
    )
    created = timezone.now() - timedelta(seconds=age_seconds)
    Execution.objects.filter(pk=execution.pk).update(created_at=created, **fields)
    execution.refresh_from_db()
    return execution


def _requeue(*, now=None, after_seconds=None) -> tuple[list[Execution], list[int]]:
    """One pass through the real task (run at once, in this process); what was queued."""
    queued: list[int] = []

    def enqueue(execution_id: int) -> object:
        queued.append(execution_id)
        return execution_run_task.delay(execution_id)

    runs = executions_requeue_pending(enqueue=enqueue, now=now, after_seconds=after_seconds)
    return runs, queued


def test_an_upload_pending_past_the_interval_is_queued_again_and_runs(
    tmp_path, users, eager_tasks, settings, django_capture_on_commit_callbacks
):
    """An upload pending longer than REQUEUE_PENDING_AFTER_SECONDS is queued again once, after
    commit, recorded on it; its run then completes with the counters applied."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 120
    execution = _upload(tmp_path, age_seconds=121)
    before = user_counters()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        runs, queued = _requeue()
        assert queued == []  # nothing is sent before the pass commits
    assert len(callbacks) == 1
    assert [run.pk for run in runs] == queued == [execution.pk]

    execution.refresh_from_db()
    assert execution.status == Execution.Status.COMPLETED
    assert execution.requeue_count == 1 and execution.requeued_at is not None
    assert user_counters()["U00001"] == (before["U00001"][0] + 2, before["U00001"][1] + 3)


def test_the_interval_is_counted_from_the_last_queuing(tmp_path, users, settings):
    """Younger than the interval, or queued again within it: left; past it: queued again."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 120
    now = timezone.now()
    young = _upload(tmp_path, name="young", age_seconds=119, rows=ROWS + "U00003,1,1\n")
    recently = _upload(
        tmp_path,
        name="recently",
        age_seconds=600,
        rows=ROWS + "U00003,2,2\n",
        requeued_at=now - timedelta(seconds=60),
        requeue_count=1,
    )
    due = _upload(
        tmp_path,
        name="due",
        age_seconds=600,
        rows=ROWS + "U00003,3,3\n",
        requeued_at=now - timedelta(seconds=121),
        requeue_count=1,
    )

    runs, _ = _requeue(now=now)

    assert [run.pk for run in runs] == [due.pk]
    for execution in (young, recently, due):
        execution.refresh_from_db()
        assert execution.status == Execution.Status.PENDING
    assert (young.requeue_count, young.requeued_at) == (0, None)
    assert recently.requeue_count == 1
    assert (due.requeue_count, due.requeued_at) == (2, now)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Execution.Status.RUNNING},
        {"status": Execution.Status.COMPLETED},
        {"status": Execution.Status.FAILED},
        {"status": Execution.Status.REJECTED},
        {"source_kind": Execution.SourceKind.COMMAND},
        {"source_kind": Execution.SourceKind.INBOX},
        {"source_kind": ""},
        {"kind": Execution.Kind.ADJUSTMENT},
    ],
    ids=lambda fields: "-".join(str(value) or "no-source" for value in fields.values()),
)
def test_only_pending_uploads_are_queued_again(tmp_path, users, settings, fields):
    """A run not pending, not an upload (a command or the inbox runs its own import) or not an
    import is never queued again, however old."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 120
    execution = _upload(tmp_path, age_seconds=3600, **fields)

    runs, queued = _requeue()

    assert runs == [] and queued == []
    execution.refresh_from_db()
    assert execution.requeue_count == 0 and execution.requeued_at is None


def test_a_run_old_enough_to_be_stale_is_left_to_the_stale_run_job(tmp_path, users, settings):
    """Pending for STALE_RUN_MINUTES or more: not queued again (the stale-run job fails it)."""
    settings.REQUEUE_PENDING_AFTER_SECONDS = 120
    settings.STALE_RUN_MINUTES = 60
    stale = _upload(tmp_path, name="stale", age_seconds=3601)
    kept = _upload(tmp_path, name="kept", age_seconds=3500, rows=ROWS + "U00003,1,1\n")

    runs, _ = _requeue()

    assert [run.pk for run in runs] == [kept.pk]
    stale.refresh_from_db()
    assert stale.requeue_count == 0


def test_copies_of_a_run_s_message_apply_it_once(
    tmp_path, users, eager_tasks, django_capture_on_commit_callbacks
):
    """The original message and two copies queued again all reach the task: the first runs the
    file, the others find it completed and apply nothing."""
    execution = _upload(tmp_path, age_seconds=5)
    before = user_counters()

    with django_capture_on_commit_callbacks(execute=True):
        first, _ = _requeue(after_seconds=0)
    with django_capture_on_commit_callbacks(execute=True):
        second, _ = _requeue(after_seconds=0)  # completed by now: nothing queued
    late = execution_run_task(execution.pk)  # the original message, arriving last

    assert [run.pk for run in first] == [execution.pk] and second == []
    assert late == {"execution": execution.pk, "status": Execution.Status.COMPLETED}
    assert ProcessingLog.objects.filter(execution_name=execution.name).count() == 4
    assert user_counters()["U00001"] == (before["U00001"][0] + 2, before["U00001"][1] + 3)
    assert Execution.objects.get(pk=execution.pk).requeue_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_copy_arriving_while_the_run_starts_leaves_it_running(tmp_path, users, monkeypatch):
    """A copy of the message delivered between the claim (pending → running, committed) and the
    run's transaction finds the run busy: it neither fails it as abandoned nor runs it; the
    first delivery completes and the file is applied once."""
    execution = _upload(tmp_path, age_seconds=5)
    before = user_counters()
    copies: list[dict] = []
    real_publisher = ingest_run.ProgressPublisher

    def deliver_a_copy() -> None:
        try:
            copies.append(execution_run_task(execution.pk))
        finally:
            connections.close_all()

    def publisher_after_a_copy(*args, **kwargs):
        # Here the run is claimed and committed as running; its transaction has not begun.
        if not copies:
            copy = threading.Thread(target=deliver_a_copy)
            copy.start()
            copy.join(timeout=30)
        return real_publisher(*args, **kwargs)

    monkeypatch.setattr(ingest_run, "ProgressPublisher", publisher_after_a_copy)

    outcome = execution_run_task(execution.pk)

    assert copies == [{"execution": execution.pk, "status": Execution.Status.RUNNING}]
    assert outcome["status"] == Execution.Status.COMPLETED
    assert ProcessingLog.objects.filter(execution_name=execution.name).count() == 4
    assert user_counters()["U00001"] == (before["U00001"][0] + 2, before["U00001"][1] + 3)
    assert_verify_logs_clean()
