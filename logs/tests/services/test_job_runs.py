"""JobRun bookkeeping: one run of a job at a time; runs left running by a crash are closed."""

import pytest

from logs.models import JobRun
from logs.services.errors import errors_purge
from logs.services.job_runs import JobFailed, job_run_record
from logs.tests.support import other_connection

pytestmark = pytest.mark.django_db


def test_run_succeeds_with_times():
    """A run that returns is succeeded, with a finish time after its start."""
    run = errors_purge()
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.finished_at >= run.started_at
    assert run.error_message == ""


def test_failure_is_recorded_and_raised_with_the_reason():
    """An exception fails the run with its type and message, and surfaces as JobFailed."""
    with pytest.raises(JobFailed, match=r"errors run #\d+ failed: KeyError: 'boom'") as raised:
        with job_run_record(job=JobRun.Job.ERRORS):
            key = "boom"
            raise KeyError(key)
    run = JobRun.objects.get()
    assert raised.value.job_run == run
    assert (run.status, run.error_message) == (JobRun.Status.FAILED, "KeyError: 'boom'")
    assert run.finished_at is not None


def test_run_left_running_is_closed_by_the_next():
    """A run still `running` when the next run holds the lock died: it is marked failed."""
    dead = JobRun.objects.create(job=JobRun.Job.ERRORS)
    other_job = JobRun.objects.create(job=JobRun.Job.RETENTION)
    run = errors_purge()
    dead.refresh_from_db()
    other_job.refresh_from_db()
    assert dead.status == JobRun.Status.FAILED
    assert dead.error_message.startswith("interrupted")
    assert f"#{run.pk}" in dead.error_message
    assert other_job.status == JobRun.Status.RUNNING  # another job's run is not ours to close


def test_concurrent_run_of_same_job_refused():
    """While another session runs the job, a second run does nothing and says why."""
    busy = JobRun.objects.create(job=JobRun.Job.ERRORS)
    with other_connection() as other:
        other.execute("SELECT pg_advisory_lock(hashtext('auditsite jobs'), hashtext('errors'))")
        with pytest.raises(JobFailed, match="another errors run is in progress"):
            errors_purge()
    refused = JobRun.objects.exclude(pk=busy.pk).get()
    assert refused.status == JobRun.Status.FAILED
    assert f"job run #{busy.pk}" in refused.error_message
    busy.refresh_from_db()
    assert busy.status == JobRun.Status.RUNNING  # alive in the other session: left alone
