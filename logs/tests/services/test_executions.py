"""The Execution lifecycle: a copy of a run's message never applies the file a second time."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from logs.models import Execution, ProcessingLog
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
