"""Celery tasks: an API that takes ids, fetches, calls one service."""

from celery import shared_task

from logs.models import Execution
from logs.services.ingest import (
    ExecutionNotPending,
    execution_fail_if_abandoned,
    execution_run,
)


@shared_task(acks_late=True)
def execution_run_task(execution_id: int) -> dict:
    """Run one pending Execution (queued by the admin upload)."""
    execution = Execution.objects.get(pk=execution_id)
    if execution.status == Execution.Status.RUNNING:
        # Redelivered after the worker running it died: its transaction was rolled back.
        execution_fail_if_abandoned(execution=execution)
        execution.refresh_from_db()
    if execution.status != Execution.Status.PENDING:
        return {"execution": execution.pk, "status": execution.status}
    try:
        result = execution_run(execution=execution)
    except ExecutionNotPending:  # the same message delivered twice: another worker has it
        execution.refresh_from_db()
        return {"execution": execution.pk, "status": execution.status}
    return {
        "execution": execution.pk,
        "status": result.execution.status if result.execution else "",
        "rows": result.rows_total,
    }
