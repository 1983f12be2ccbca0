"""A run of one file: create its Execution, run it in one transaction (or dry-run it), and the
recovery of a run whose message was delivered again."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from logs.messages import DUPLICATE, ERROR_STORE_FAILED, NAME_TAKEN, NO_DATA_ROWS
from logs.models import Execution
from logs.services import error_store
from logs.services.executions import (
    FailReason,
    Phase,
    ProgressPublisher,
    error_text,
    execution_claimed,
    execution_complete,
    execution_fail,
    execution_fail_if_abandoned,
    execution_record_rejected,
    execution_reject,
    run_lock_hold,
)
from logs.services.ingest.apply import apply, failed_cells_sql, status_totals
from logs.services.ingest.classify import CellProblem, classify
from logs.services.ingest.naming import (
    MAX_NAME_LENGTH,
    explicit_name_problem,
    free_generated_name,
)
from logs.services.ingest.parsing import CsvRows
from logs.services.ingest.staging import (
    DROP_STAGING,
    Progress,
    lookups_read,
    stage,
    users_lock,
)
from logs.services.log_counts import log_counts_record
from logs.services.sources import (
    FileFacts,
    SourceError,
    inspect_file,
    local_copy,
    path_text,
    stored_copy,
)

logger = logging.getLogger(__name__)

FILE_NAME_LENGTH = Execution._meta.get_field("file_name").max_length


class ExecutionNotPending(Exception):
    """execution_run was asked to run an Execution that is not pending (any more)."""


class IngestRejected(Exception):
    """A file-level rejection (SPEC §4); the message is meant for the person who sent the file."""

    def __init__(self, message: str, execution: Execution | None = None) -> None:
        super().__init__(message)
        self.execution = execution


@dataclass
class IngestResult:
    execution: Execution | None  # None for a dry run
    execution_name: str
    dry_run: bool
    rejected: bool = False
    message: str = ""
    rows_total: int = 0
    log_rows: int = 0
    success_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[CellProblem] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_total / self.elapsed_seconds if self.elapsed_seconds else 0.0


def execution_create(
    *,
    file_name: str,
    source: str = "",
    source_kind: str = "",
    stored_file: str | None = None,
    path: Path | None = None,
    uploaded_by=None,
    execution_name: str | None = None,
    force: bool = False,
    corrects: Execution | None = None,
) -> Execution:
    """A pending Execution for one file, ready for ``execution_run`` (``corrects``: the import
    whose failed rows the file fixes).

    An explicit name that is too long or already used is a rejection known before running:
    the rejected Execution is recorded and ``IngestRejected`` raised. A file name or path that
    is not valid Unicode (bytes that are not UTF-8) is recorded as its ``path_text``.
    """
    file_name = path_text(file_name)
    fields = {
        "file_name": file_name[:FILE_NAME_LENGTH],
        "source": path_text(source or (str(path) if path else stored_file or "")),
        "source_kind": source_kind,
        "uploaded_by": uploaded_by,
        "force": force,
        "corrects": corrects,
    }
    if stored_file:
        fields["file"] = stored_file
    if execution_name is not None:
        problem = explicit_name_problem(execution_name)
        if problem is None:
            try:
                with transaction.atomic():
                    return Execution.objects.create(name=execution_name, **fields)
            except IntegrityError:  # taken between the check and the insert
                problem = NAME_TAKEN.render(name=repr(execution_name))
        rejected = execution_record_rejected(
            name=execution_name[:MAX_NAME_LENGTH], message=problem, **fields
        )
        raise IngestRejected(problem, rejected)
    while True:
        name = free_generated_name(file_name)
        try:
            with transaction.atomic():
                return Execution.objects.create(name=name, **fields)
        except IntegrityError:  # another run took it meanwhile: take the next suffix
            continue


def execution_run(*, execution: Execution, progress: Progress | None = None) -> IngestResult:
    """Run a pending Execution in one transaction; a file-level rejection is recorded and
    returned (``rejected=True``), any other failure marks the Execution failed and re-raises."""
    started = time.monotonic()
    with execution_claimed(execution=execution) as claimed:
        if not claimed:  # run already, or being run by another worker
            msg = f"execution {execution.name!r} is {execution.status} and not ours to run"
            raise ExecutionNotPending(msg)
        return _claimed_run(execution=execution, progress=progress, started=started)


def _claimed_run(
    *, execution: Execution, progress: Progress | None, started: float
) -> IngestResult:
    publisher = ProgressPublisher(execution, progress)
    try:
        opener = (
            stored_copy(execution.file.name) if execution.file else local_copy(execution.source)
        )
        with transaction.atomic():
            run_lock_hold(execution=execution)  # held by the transaction applying the file too
            if not Execution.objects.filter(
                pk=execution.pk, status=Execution.Status.RUNNING
            ).exists():  # declared abandoned while starting: leave it failed
                msg = f"execution {execution.name!r} was marked failed before it started"
                raise ExecutionNotPending(msg)
            with opener as path:
                facts = inspect_file(path)
                execution.size_bytes, execution.sha256 = facts.size, facts.sha256
                tally = _ingest(path, facts, execution=execution, progress=publisher)
    except SourceError as exc:
        execution_reject(execution=execution, message=str(exc))
        return IngestResult(
            execution=execution,
            execution_name=execution.name,
            dry_run=False,
            rejected=True,
            message=str(exc),
            elapsed_seconds=time.monotonic() - started,
        )
    except ExecutionNotPending:
        raise
    except BaseException as exc:
        execution_fail(execution_id=execution.pk, reason=FailReason.CRASHED, error=error_text(exc))
        raise
    finally:
        publisher.close()
    execution.refresh_from_db()
    try:
        error_store.errors_export_cells(execution=execution)
    except Exception as exc:  # noqa: BLE001 - the import is committed; its log keeps the cells
        logger.exception("copying failed cells of %s to the error store failed", execution.name)
        execution.warnings = [
            *execution.warnings,
            ERROR_STORE_FAILED.render(error=exc),
        ]
        execution.save(update_fields=["warnings"])
    return tally.result(execution=execution, dry_run=False, started=started)


def execution_run_queued(*, execution_id: int) -> tuple[Execution, IngestResult | None]:
    """Run an Execution whose message a worker received; the result when this call ran it.

    A redelivered message of a run whose worker died fails that run; a run that is not pending
    (finished, or being run by another worker) is left as it is.
    """
    execution = Execution.objects.get(pk=execution_id)
    if execution.status == Execution.Status.RUNNING:
        # Redelivered after the worker running it died: its transaction was rolled back.
        execution_fail_if_abandoned(execution=execution)
        execution.refresh_from_db()
    result = None
    if execution.status == Execution.Status.PENDING:
        try:
            result = execution_run(execution=execution)
        except ExecutionNotPending:  # the same message delivered twice: another worker has it
            pass
        execution.refresh_from_db()
    return execution, result


def ingest_preview(
    *, path: Path, file_name: str, execution_name: str | None = None, force: bool = False
) -> IngestResult:
    """Dry run: exactly the counts and problems a real run would have now; writes nothing."""
    started = time.monotonic()
    if execution_name is not None:
        name = execution_name
        problem = explicit_name_problem(execution_name)
    else:
        name, problem = free_generated_name(file_name), None
    try:
        if problem:
            raise SourceError(problem)
        facts = inspect_file(path)
        with transaction.atomic():
            tally = _ingest(path, facts, execution=None, execution_name=name, force=force)
            transaction.set_rollback(True)
    except SourceError as exc:
        return IngestResult(
            execution=None,
            execution_name=name,
            dry_run=True,
            rejected=True,
            message=str(exc),
            elapsed_seconds=time.monotonic() - started,
        )
    return tally.result(execution=None, dry_run=True, started=started)


@dataclass
class _Tally:
    execution_name: str
    rows_total: int
    counts: dict[str, dict[str, int]]
    warnings: list[str]
    problems: list[CellProblem]

    def result(self, *, execution: Execution | None, dry_run: bool, started: float):
        by_status = status_totals(self.counts)
        return IngestResult(
            execution=execution,
            execution_name=self.execution_name,
            dry_run=dry_run,
            rows_total=self.rows_total,
            log_rows=sum(by_status.values()),
            success_count=by_status["success"],
            failed_count=by_status["failed"],
            skipped_count=by_status["skipped"],
            counts=self.counts,
            warnings=self.warnings,
            problems=self.problems,
            elapsed_seconds=time.monotonic() - started,
        )


def _duplicate_of(sha256: str, execution: Execution | None) -> Execution | None:
    earlier = Execution.objects.filter(sha256=sha256, status=Execution.Status.COMPLETED)
    if execution is not None:
        earlier = earlier.exclude(pk=execution.pk)
    return earlier.order_by("created_at").first()


def _ingest(
    path: Path,
    facts: FileFacts,
    *,
    execution: Execution | None,
    execution_name: str = "",
    force: bool = False,
    progress: Progress | None = None,
) -> _Tally:
    """Stage and classify one file, and with an execution apply it (else only preview it).
    Runs inside a transaction."""
    if execution is not None:
        execution_name, force = execution.name, execution.force
    with connection.cursor() as cursor:
        cursor.execute(DROP_STAGING)
        # Sorts and hashes of a whole file stay in memory instead of spilling to disk.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.INGEST_WORK_MEM])
        # Same content twice at once: the second waits here, then sees the first as completed.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [facts.sha256])
        if not force and (earlier := _duplicate_of(facts.sha256, execution)) is not None:
            msg = DUPLICATE.render(sha256=facts.sha256[:12], earlier=repr(earlier.name))
            raise SourceError(msg)
        with CsvRows(path, facts.encoding, facts.sha256) as rows:  # first pass: the users
            staged = stage(cursor, rows, progress)
            header = rows.header
        if progress:
            progress(Phase.APPLYING, staged.rows, facts.size)
        if execution is not None:
            users_lock(cursor)
        # A statement of its own after the lock: a locking statement that also read the
        # counters would see them as of its start, not as the import it waited for left them.
        lookups = lookups_read(cursor, header.statistics)
        warnings = list(header.warnings)
        if staged.rows == 0:
            warnings.append(NO_DATA_ROWS.render())
        with CsvRows(path, facts.encoding, facts.sha256) as rows:  # second pass: the cells
            if execution is None:
                classified = classify(
                    rows,
                    lookups,
                    users_repeat=staged.users_repeat,
                    execution_name=execution_name,
                )
            else:
                applied = apply(
                    cursor,
                    rows,
                    lookups,
                    execution_name=execution_name,
                    users_repeat=staged.users_repeat,
                )
                classified = applied.classified
        counts, problems = classified.counts, classified.problems
        if execution is not None:
            log_counts_record(execution_name=execution_name, totals=status_totals(counts))
            error_store.errors_record_staged_cells(
                execution=execution, failed_cells=failed_cells_sql()
            )
            execution_complete(
                execution=execution,
                rows_total=classified.rows,
                counts=counts,
                totals=status_totals(counts),
                warnings=warnings,
                digest=applied.digest,
            )
        cursor.execute(DROP_STAGING)
    return _Tally(execution_name, classified.rows, counts, warnings, problems)
