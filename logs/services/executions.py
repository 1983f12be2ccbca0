"""The Execution lifecycle: every change of an Execution's status is made here.

    pending ──claim──▶ running ──complete──▶ completed
       │                  ├──reject──▶ rejected   (the file is refused: SPEC §4 file rules)
       │                  └──fail────▶ failed     (crash, dead worker, stale)
       ├──reject──▶ rejected  (refused before it ran: the name)
       └──fail────▶ failed    (never queued, stale)

A run holds its run lock (a transaction-level advisory lock) while it applies the file, so
whether a ``running`` Execution is really alive is asked of the database, not guessed from time.
A queued run also holds it at session level from just before its claim (``execution_claimed``),
so it is never seen ``running`` with the lock free on its way into that transaction.

The message of a queued run lives in the broker until a worker takes it; a broker restarted
without persistence loses it. A pending upload whose message may be lost is queued again
(``executions_requeue_pending``); whichever copy comes first runs it, the others find it taken.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import Error, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from logs import messages
from logs.models import Execution, JobRun
from logs.services import error_store
from logs.services.job_runs import job_run_record
from logs.services.upload_previews import previews_expire

logger = logging.getLogger(__name__)

Phase = Execution.Phase
Progress = Callable[[str, int, int], None]  # (phase, rows staged, bytes read)
_RUN_LOCK_NAMESPACE = 0x1A5D  # pg_advisory_xact_lock(namespace, execution id)
_REASON_LENGTH = 2000


class FailReason(StrEnum):
    """Why an Execution ended ``failed``; each has the one message the trail stores for it."""

    CRASHED = "crashed"  # the run raised: {error}
    ABANDONED = "abandoned"  # its worker died mid-run (message redelivered)
    NOT_QUEUED = "not_queued"  # the broker did not take the run: {error}
    STALE_PENDING = "stale_pending"  # no worker started it: {minutes}, {since}
    STALE_RUNNING = "stale_running"  # its worker stopped: {minutes}, {since}


FAIL_MESSAGES = {
    FailReason.CRASHED: messages.CRASHED,
    FailReason.ABANDONED: messages.ABANDONED,
    FailReason.NOT_QUEUED: messages.NOT_QUEUED,
    FailReason.STALE_PENDING: messages.STALE_PENDING,
    FailReason.STALE_RUNNING: messages.STALE_RUNNING,
}


def error_text(exc: BaseException) -> str:
    """An exception as a failure's ``{error}``."""
    return f"{type(exc).__name__}: {exc}"


def fail_message(reason: FailReason, **fields: object) -> str:
    """The stored reason of a failure."""
    return FAIL_MESSAGES[reason].render(**fields)[:_REASON_LENGTH]


def execution_claim(*, execution: Execution) -> bool:
    """pending → running, atomically: True for the one caller that claimed it."""
    claimed = Execution.objects.filter(pk=execution.pk, status=Execution.Status.PENDING).update(
        status=Execution.Status.RUNNING, started_at=timezone.now(), progress_phase=Phase.READING
    )
    execution.refresh_from_db()
    return bool(claimed)


@contextlib.contextmanager
def execution_claimed(*, execution: Execution) -> Iterator[bool]:
    """pending → running for the one caller that gets it (the block receives True), with the
    run lock held on this session from before the claim to the end of the block.

    A run claimed outside its transaction is then never seen ``running`` with its lock free on
    its way into that transaction: a second copy of its message finds the run busy and leaves it,
    rather than failing it as abandoned. A caller that finds the lock held does not claim.
    """
    key = [_RUN_LOCK_NAMESPACE, execution.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s), pg_backend_pid()", key)
        locked, backend = cursor.fetchone()
    if not locked:  # another worker is claiming or running it
        execution.refresh_from_db()
        yield False
        return
    try:
        yield execution_claim(execution=execution)
    finally:
        # Only on the session that took it: a session cut off meanwhile took the lock with it.
        with contextlib.suppress(Error), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s) WHERE pg_backend_pid() = %s", [*key, backend]
            )


def execution_complete(
    *,
    execution: Execution,
    rows_total: int,
    counts: dict[str, dict[str, int]],
    totals: dict[str, int],
    warnings: list[str],
    digest: str,
) -> None:
    """running → completed, with what the run did (in the run's own transaction)."""
    execution.status = Execution.Status.COMPLETED
    execution.rows_total = rows_total
    execution.log_rows = sum(totals.values())
    execution.success_count = totals["success"]
    execution.failed_count = totals["failed"]
    execution.skipped_count = totals["skipped"]
    execution.counts = counts
    execution.warnings = warnings
    execution.digest = digest
    execution.progress_phase = Phase.DONE
    execution.progress_rows = rows_total
    execution.progress_bytes = execution.size_bytes or 0
    execution.finished_at = timezone.now()
    execution.save()


def execution_reject(*, execution: Execution, message: str) -> None:
    """→ rejected: the file (or its name) is refused; the reason also goes to the error store."""
    execution.status = Execution.Status.REJECTED
    execution.error_message = message
    execution.finished_at = timezone.now()
    execution.progress_phase = Phase.DONE
    execution.save()
    error_store.error_record_file(execution=execution, message=message)


def execution_record_rejected(*, name: str, message: str, **fields: object) -> Execution:
    """A run refused before it could be pending (its name is taken or unusable): recorded
    straight away as rejected, with the reason."""
    execution = Execution.objects.create(name=name, status=Execution.Status.REJECTED, **fields)
    execution_reject(execution=execution, message=message)
    return execution


def execution_fail(
    *,
    execution_id: int,
    reason: FailReason,
    from_statuses: tuple[str, ...] = (Execution.Status.PENDING, Execution.Status.RUNNING),
    now: datetime | None = None,
    **fields: object,
) -> bool:
    """pending or running → failed with the reason; False when it was in neither state."""
    return bool(
        Execution.objects.filter(pk=execution_id, status__in=from_statuses).update(
            status=Execution.Status.FAILED,
            error_message=fail_message(reason, **fields),
            finished_at=now or timezone.now(),
        )
    )


def run_lock_hold(*, execution: Execution) -> None:
    """Held by the transaction applying ``execution``; gone the moment that transaction ends,
    whether it commits, rolls back or its worker is killed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_RUN_LOCK_NAMESPACE, execution.pk])


def execution_run_lock_try(*, execution_id: int) -> bool:
    """Inside a transaction: True when no live transaction is applying the Execution (its run
    lock is free; this transaction then holds it until it ends), False while a run is alive."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [_RUN_LOCK_NAMESPACE, execution_id]
        )
        return cursor.fetchone()[0]


def execution_fail_if_abandoned(*, execution: Execution) -> bool:
    """Mark a ``running`` Execution ``failed`` when no transaction is applying it any more
    (its worker died); returns whether it did. A run still in progress is left alone."""
    with transaction.atomic():
        if not execution_run_lock_try(execution_id=execution.pk):
            return False
        return execution_fail(
            execution_id=execution.pk,
            reason=FailReason.ABANDONED,
            from_statuses=(Execution.Status.RUNNING,),
        )


def executions_fail_stale(*, now: datetime | None = None) -> JobRun:
    """The stale-run job: Executions ``pending`` or ``running`` for over STALE_RUN_MINUTES
    become ``failed``, each with the reason; previewed uploads never confirmed expire."""
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
            pending = execution.status == Execution.Status.PENDING
            since = (
                execution.created_at if pending else execution.started_at or execution.created_at
            )
            execution_fail(
                execution_id=execution.pk,
                reason=FailReason.STALE_PENDING if pending else FailReason.STALE_RUNNING,
                now=now,
                minutes=minutes,
                since=since.isoformat(),
            )
        run.details = {
            "stale_minutes": minutes,
            "failed": len(stale),
            "executions": [{"id": e.pk, "name": e.name} for e in stale],
            "previews_expired": len(previews_expire(now=now)),
        }
        run.save(update_fields=["details"])
    return run


def executions_requeue_pending(
    *,
    enqueue: Callable[[int], object],
    after_seconds: int | None = None,
    now: datetime | None = None,
) -> list[Execution]:
    """Queue again the run of each upload still ``pending`` ``after_seconds``
    (REQUEUE_PENDING_AFTER_SECONDS) after it was last queued; the runs queued again."""
    # Only uploads are queued (a command or the inbox runs its import itself). A run pending
    # for STALE_RUN_MINUTES is left to the stale-run job, which fails it: each run is queued
    # again at most once per interval until then, and a copy arriving late finds it failed.
    now = now or timezone.now()
    after = settings.REQUEUE_PENDING_AFTER_SECONDS if after_seconds is None else after_seconds
    with transaction.atomic():
        due: list[Execution] = list(
            Execution.objects.filter(
                status=Execution.Status.PENDING,
                kind=Execution.Kind.IMPORT,
                source_kind=Execution.SourceKind.UPLOAD,
                created_at__gte=now - timedelta(minutes=settings.STALE_RUN_MINUTES),
            )
            .annotate(last_queued=Coalesce("requeued_at", "created_at"))
            .filter(last_queued__lte=now - timedelta(seconds=after))
            # A row being claimed (or failed as stale) right now is skipped: it needs no copy.
            .select_for_update(skip_locked=True)
            .order_by("pk")
        )
        Execution.objects.filter(pk__in=[e.pk for e in due]).update(
            requeued_at=now, requeue_count=F("requeue_count") + 1
        )
        for execution in due:
            execution.requeued_at, execution.requeue_count = now, execution.requeue_count + 1
            logger.warning(
                "queuing the run of %s again (pending since %s; re-queue %d)",
                execution.name,
                execution.created_at.isoformat(),
                execution.requeue_count,
            )
            # Sent once recorded: a worker must find the committed row. A send that fails
            # leaves the rest recorded but unsent; the next pass after the interval sends them.
            transaction.on_commit(functools.partial(enqueue, execution.pk))
    return due


class ProgressPublisher:
    """Publishes a run's phase and progress on a connection of its own, so others see it during
    the long transaction of the run; throttled, and never fatal to the import."""

    def __init__(self, execution: Execution, extra: Progress | None) -> None:
        self._execution_id = execution.pk
        self._extra = extra
        self._last = 0.0
        self._phase = ""
        self._conn = None
        try:
            self._conn = connection.get_new_connection(connection.get_connection_params())
            self._conn.autocommit = True
        except Exception:  # noqa: BLE001 - progress is a courtesy; the import goes on without it
            self._conn = None

    def __call__(self, phase: str, rows: int, bytes_read: int) -> None:
        if self._extra:
            self._extra(phase, rows, bytes_read)
        now = time.monotonic()
        if self._conn is None or (phase == self._phase and now - self._last < 0.5):
            return
        self._phase, self._last = phase, now
        try:
            self._conn.execute(
                "UPDATE executions SET progress_phase = %s, progress_rows = %s, "
                "progress_bytes = %s WHERE id = %s",
                (phase, rows, bytes_read, self._execution_id),
            )
        except Exception:  # noqa: BLE001 - see above
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
