"""Celery tasks: each calls its service and returns the JobRun id, through a real worker too."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from auditsite.celery import app as celery_app
from logs import tasks
from logs.models import Execution, JobRun, ProcessingError
from logs.services.job_runs import JobFailed
from logs.tests.support import celery_worker

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("task", "kwargs", "job"),
    [
        (tasks.ensure_partitions, {"months_ahead": 1}, JobRun.Job.PARTITIONS),
        (tasks.summarize_logs, {}, JobRun.Job.SUMMARIZE),
        (tasks.summarize_logs, {"month": "2020-01"}, JobRun.Job.SUMMARIZE),
        (tasks.run_retention, {"dry_run": True}, JobRun.Job.RETENTION),
        (tasks.purge_errors, {}, JobRun.Job.ERRORS),
        (tasks.fail_stale_runs, {}, JobRun.Job.STALE_RUNS),
    ],
)
def test_task_runs_its_job_and_returns_the_job_run_id(task, kwargs, job):
    """Run in-process, each task records one JobRun of its job and returns its id."""
    result = task.apply(kwargs=kwargs)
    run = JobRun.objects.get(pk=result.get())
    assert (run.job, run.status) == (job, JobRun.Status.SUCCEEDED)


def test_summarize_task_passes_the_month():
    """The month given as YYYY-MM reaches the service."""
    run = JobRun.objects.get(pk=tasks.summarize_logs.apply(kwargs={"month": "2020-01"}).get())
    assert run.details["checked"] == ["2020-01"]


def test_failing_job_fails_the_task(settings):
    """A job that fails makes its task fail (not succeed quietly)."""
    settings.LOG_RETENTION_MONTHS = 0
    result = tasks.run_retention.apply()
    assert result.failed()
    with pytest.raises(JobFailed):
        result.get()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_tasks_run_through_a_real_worker_on_redis(settings, tmp_path):
    """A Celery worker on Redis, on the test database, runs the jobs sent with .delay()."""
    settings.STALE_RUN_MINUTES = 120
    now = timezone.now()
    ProcessingError.objects.create(
        execution_name="old", error_message="x", expires_at=now - timedelta(days=1)
    )
    ProcessingError.objects.create(
        execution_name="new", error_message="x", expires_at=now + timedelta(days=1)
    )
    stuck = Execution.objects.create(
        name="user-log-stuck", status="running", started_at=now - timedelta(hours=5)
    )
    queue = f"test-jobs-{uuid.uuid4().hex[:8]}"  # no other worker on this broker takes them
    env = {
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "STALE_RUN_MINUTES": "120",
    }
    log = tmp_path / "worker.log"
    try:
        with celery_worker(env=env, args=("-Q", queue, "--without-heartbeat"), log=log):
            purge = tasks.purge_errors.apply_async(queue=queue)
            stale = tasks.fail_stale_runs.apply_async(queue=queue)
            purge_run = JobRun.objects.get(pk=purge.get(timeout=90))
            stale_run = JobRun.objects.get(pk=stale.get(timeout=60))
    finally:
        with celery_app.connection_for_write() as broker:
            broker.default_channel.queue_delete(queue)
    output = log.read_text(errors="replace")
    assert (purge_run.status, purge_run.rows_deleted) == (JobRun.Status.SUCCEEDED, 1), output
    assert list(ProcessingError.objects.values_list("execution_name", flat=True)) == ["new"]
    assert stale_run.details["executions"] == [{"id": stuck.pk, "name": "user-log-stuck"}]
    stuck.refresh_from_db()
    assert stuck.status == Execution.Status.FAILED
