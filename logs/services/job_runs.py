"""Bookkeeping shared by the scheduled jobs: one JobRun per run, one run of a job at a time."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from logs.models import JobRun


class JobError(Exception):
    """A job did not do its work; the message says why (commands print it and exit 1)."""


class JobRefused(JobError):
    """The arguments of a job make no sense: nothing was run and no JobRun was written."""


class JobFailed(JobError):
    """A job started, failed, and its JobRun says so."""

    # job_run is optional so that Celery can rebuild the exception from its message alone.
    def __init__(self, message: str, job_run: JobRun | None = None) -> None:
        super().__init__(message)
        self.job_run = job_run


# Two-key advisory lock space of the jobs; partition creation uses the one-key space.
_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('auditsite jobs'), hashtext(%s))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('auditsite jobs'), hashtext(%s))"


# Runs of a job that may overlap (``concurrent=True``) each hold a lock on their own JobRun id.
_RUN_LOCK_SQL = "SELECT pg_advisory_lock(hashtext('auditsite job runs'), %s::int)"
_RUN_TRY_SQL = "SELECT pg_try_advisory_lock(hashtext('auditsite job runs'), %s::int)"
_RUN_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtext('auditsite job runs'), %s::int)"


@contextlib.contextmanager
def job_run_record(
    *, job: str, dry_run: bool = False, concurrent: bool = False
) -> Iterator[JobRun]:
    """Run the block as one JobRun of ``job``: running → succeeded, or failed with the reason.

    A session advisory lock keeps two runs of one job apart (beat and a manual command may
    overlap). Holding it also proves that any other run of this job still marked ``running``
    died mid-way (a crash releases the lock with its connection), so it is marked failed.
    Exceptions are re-raised as JobFailed; a BaseException (the process being torn down) leaves
    the run ``running``, exactly what a kill -9 leaves, for the next run to close.

    ``concurrent=True`` is for a job whose runs may overlap because it locks the pieces of its
    work itself (the inbox pickup): each run holds a lock on its own JobRun id instead, and an
    earlier run still marked ``running`` whose lock is free died mid-way.
    """
    if concurrent:
        with _concurrent_run(job=job, dry_run=dry_run) as run:
            yield run
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [job])
        locked = cursor.fetchone()[0]
    if not locked:
        busy = JobRun.objects.filter(job=job, status=JobRun.Status.RUNNING).first()
        run = JobRun.objects.create(
            job=job,
            dry_run=dry_run,
            status=JobRun.Status.FAILED,
            finished_at=timezone.now(),
            error_message=(
                f"another {job} run is in progress"
                + (f" (job run #{busy.pk})" if busy else "")
                + "; nothing done"
            ),
        )
        raise JobFailed(run.error_message, job_run=run)
    try:
        run = JobRun.objects.create(job=job, dry_run=dry_run)
        JobRun.objects.filter(job=job, status=JobRun.Status.RUNNING).exclude(pk=run.pk).update(
            status=JobRun.Status.FAILED,
            finished_at=timezone.now(),
            error_message=(
                f"interrupted before it finished; found still running by job run #{run.pk}"
            ),
        )
        with _outcome_recorded(run):
            yield run
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_UNLOCK_SQL, [job])


@contextlib.contextmanager
def _concurrent_run(*, job: str, dry_run: bool) -> Iterator[JobRun]:
    # The row and its lock become visible together: nobody sees this run unlocked.
    with transaction.atomic():
        run = JobRun.objects.create(job=job, dry_run=dry_run)
        with connection.cursor() as cursor:
            cursor.execute(_RUN_LOCK_SQL, [run.pk])
    try:
        others = JobRun.objects.filter(job=job, status=JobRun.Status.RUNNING).exclude(pk=run.pk)
        for other in others.order_by("pk"):
            with connection.cursor() as cursor:
                cursor.execute(_RUN_TRY_SQL, [other.pk])
                if not cursor.fetchone()[0]:
                    continue  # alive
                cursor.execute(_RUN_UNLOCK_SQL, [other.pk])
            JobRun.objects.filter(pk=other.pk, status=JobRun.Status.RUNNING).update(
                status=JobRun.Status.FAILED,
                finished_at=timezone.now(),
                error_message=(
                    f"interrupted before it finished; found still running by job run #{run.pk}"
                ),
            )
        with _outcome_recorded(run):
            yield run
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_RUN_UNLOCK_SQL, [run.pk])


@contextlib.contextmanager
def _outcome_recorded(run: JobRun) -> Iterator[None]:
    """The block's outcome on its JobRun: succeeded, or failed (re-raised as JobFailed)."""
    try:
        yield
    except Exception as exc:
        # Progress saved inside a transaction that rolled back is not true: reload first.
        run.refresh_from_db()
        run.status = JobRun.Status.FAILED
        run.finished_at = timezone.now()
        run.error_message = f"{type(exc).__name__}: {exc}"
        run.save(update_fields=["status", "finished_at", "error_message"])
        msg = f"{run.job} run #{run.pk} failed: {run.error_message}"
        raise JobFailed(msg, job_run=run) from exc
    run.status = JobRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save()
