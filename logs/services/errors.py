"""Processing errors (the seed's DynamoDB role) and the executions that failed without saying so."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from logs.models import Execution, JobRun, ProcessingError
from logs.services.ingest import execution_run_lock_try
from logs.services.job_runs import job_run_record


def errors_purge(*, now: datetime | None = None) -> JobRun:
    """The error purge job: delete the ProcessingErrors past their ``expires_at``, one JobRun."""
    now = now or timezone.now()
    with job_run_record(job=JobRun.Job.ERRORS) as run, transaction.atomic():
        # Nothing refers to a ProcessingError: Django deletes them with one DELETE statement.
        deleted, _ = ProcessingError.objects.filter(expires_at__lt=now).delete()
        run.rows_deleted = deleted
        run.details = {"expired_before": now.isoformat()}
        run.save(update_fields=["rows_deleted", "details"])
    return run


def _stale_reason(execution: Execution, *, minutes: int) -> str:
    if execution.status == Execution.Status.PENDING:
        return (
            f"still pending {minutes} minutes after it was created "
            f"({execution.created_at.isoformat()}): no worker started its run (it was never "
            "queued, or the queue is stuck); marked failed by the stale-run check, nothing was "
            "applied, it can be run again"
        )
    started = execution.started_at or execution.created_at
    return (
        f"still running {minutes} minutes after it started ({started.isoformat()}): "
        "its worker stopped; marked failed by the stale-run check, it can be run again"
    )


def executions_fail_stale(*, now: datetime | None = None) -> JobRun:
    """The stale-run job: Executions ``pending`` or ``running`` for over STALE_RUN_MINUTES
    become ``failed``, each with the reason."""
    now = now or timezone.now()
    minutes = settings.STALE_RUN_MINUTES
    cutoff = now - timedelta(minutes=minutes)
    with job_run_record(job=JobRun.Job.STALE_RUNS) as run, transaction.atomic():
        # Row locks: a worker starting a pending run (UPDATE … WHERE status = 'pending') waits
        # for this transaction, then finds it failed and leaves it; one that got there first
        # holds the row (skipped) or has made it running with a fresh started_at (not stale).
        candidates = (
            Execution.objects.filter(
                Q(status=Execution.Status.PENDING, created_at__lt=cutoff)
                | Q(status=Execution.Status.RUNNING, started_at__lt=cutoff)
                | Q(status=Execution.Status.RUNNING, started_at__isnull=True, created_at__lt=cutoff)
            )
            .select_for_update(skip_locked=True)
            .order_by("pk")
        )
        # A run whose import transaction is still open holds its run lock: a live (if long)
        # import, left alone. A dead worker's transaction was rolled back, freeing the lock.
        stale = [
            e
            for e in candidates
            if e.status == Execution.Status.PENDING or execution_run_lock_try(execution_id=e.pk)
        ]
        for execution in stale:
            execution.error_message = _stale_reason(execution, minutes=minutes)
            execution.status = Execution.Status.FAILED
            execution.finished_at = now
            execution.save(update_fields=["status", "finished_at", "error_message"])
        run.details = {
            "stale_minutes": minutes,
            "failed": len(stale),
            "executions": [{"id": e.pk, "name": e.name} for e in stale],
        }
        run.save(update_fields=["details"])
    return run
