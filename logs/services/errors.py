"""Processing errors (the seed's DynamoDB role): their purge."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from logs.models import JobRun, ProcessingError
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
