"""Celery tasks: simple arguments in (ids, flags), one service call, a small result out.

Scheduled jobs have no automatic retry: every job is safe to run again and its schedule runs it
again; a failed run is visible as a failed JobRun. A worker lost mid-run gives the message back
(acks late) and the next delivery finishes the work — or, for an import, marks it failed.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import connection

from logs.months import Month
from logs.services.alerts import alerts_check
from logs.services.errors import errors_purge
from logs.services.executions import executions_fail_stale, executions_requeue_pending
from logs.services.inbox import inbox_pickup
from logs.services.ingest import execution_run_queued
from logs.services.integrity import logs_verify_run
from logs.services.partitions import partitions_maintain
from logs.services.retention import retention_run
from logs.services.summaries import summaries_update

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def execution_run_task(execution_id: int) -> dict:
    """Run one pending Execution (queued by the admin upload)."""
    execution, result = execution_run_queued(execution_id=execution_id)
    outcome = {"execution": execution.pk, "status": execution.status}
    if result is not None:
        outcome["rows"] = result.rows_total
    return outcome


@shared_task
def ensure_partitions(months_ahead: int | None = None) -> int:
    """Keep the current month and the months ahead partitioned; empty DEFAULT."""
    return partitions_maintain(months_ahead=months_ahead).pk


@shared_task
def summarize_logs(month: str | None = None) -> int:
    """Upsert the monthly summaries (``month`` as YYYY-MM forces that one month)."""
    return summaries_update(month=Month.parse(month) if month else None).pk


@shared_task
def run_retention(dry_run: bool = False) -> int:
    """Summarize, archive and drop the months past retention."""
    return retention_run(dry_run=dry_run).pk


@shared_task
def purge_errors() -> int:
    """Delete the processing errors past their expiry."""
    return errors_purge().pk


@shared_task
def fail_stale_runs() -> int:
    """Mark executions stuck in ``pending`` or ``running`` as failed."""
    return executions_fail_stale().pk


@shared_task
def requeue_pending_runs() -> dict:
    """Queue again the runs of uploads pending past REQUEUE_PENDING_AFTER_SECONDS."""
    runs = executions_requeue_pending(enqueue=execution_run_task.delay)
    return {"requeued": [execution.pk for execution in runs]}


@worker_ready.connect
def requeue_pending_at_worker_start(**_: object) -> None:
    """A worker starting queues every pending upload again at once: a broker restarted with it
    may have lost their messages (a copy of a message still queued runs nothing)."""
    try:
        executions_requeue_pending(enqueue=execution_run_task.delay, after_seconds=0)
    except Exception:  # the worker serves its queue all the same; the schedule tries again
        logger.exception("queuing the pending uploads again at worker start failed")
    finally:
        connection.close()  # this main process may run no task: no connection left idle


@shared_task
def pickup_inbox(dry_run: bool = False) -> int | None:
    """Import the new files of the inbox once each and move them; None without an inbox."""
    run = inbox_pickup(dry_run=dry_run)
    return run.pk if run is not None else None


@shared_task
def verify_logs() -> int:
    """Verify the trail (digests, chains, DEFAULT, counters) as a job run."""
    return logs_verify_run().pk


@shared_task
def check_alerts() -> dict:
    """Raise the alerts of new events and send the deliveries that are due."""
    return alerts_check()
