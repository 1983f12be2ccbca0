"""Retention of processing logs: expired months leave the database, whole.

A month goes as a whole partition (DETACH + DROP, the seed's §8 intent without its batched
DELETE), once every row of it is older than ``LOG_RETENTION_MONTHS`` months, and only after its
summary matches its rows and, with ``ARCHIVE_S3_BUCKET`` set, its archive in S3 verifies. Each
step is recorded on the JobRun in the transaction that does it (or, for S3, right after it is
verified), so a run that dies at any point leaves a state the next run finishes, and counts.
Dropping a month is, with moving rows out of DEFAULT, one of the two removals of log rows that
``logs.triggers.log_deletion_allowed`` admits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from logs.models import JobRun
from logs.months import PARENT_TABLE, Month
from logs.selectors import ExpiredPartition, partitions_expired, partitions_list
from logs.services.access import access_logs_purge
from logs.services.archive import archive_key, archive_manifest_read, partition_archive
from logs.services.job_runs import job_run_record
from logs.services.log_counts import log_counts_forget
from logs.services.summaries import (
    summary_month_pending,
    summary_month_total,
    summary_month_upsert,
)
from logs.triggers import log_deletion_allowed

# DETACH waits for an ACCESS EXCLUSIVE lock on processing_logs, and every reader queues behind
# a waiting request: give up rather than stall the admin behind a long query.
RETIRE_LOCK_TIMEOUT = "10s"


class RetentionRefused(Exception):
    """A month was not dropped because dropping it would lose something."""


@dataclass
class MonthRetired:
    """What a run did to one expired month, written step by step: a run that died shows how far
    it got (``summarized_rows``, ``archive``, ``dropped_rows`` stay None until done)."""

    partition: str
    rows: int
    summarized_rows: int | None = None
    archive: str | None = None  # what became of the month's archive; None with archiving off
    dropped_rows: int | None = None


@dataclass
class MonthPlan:
    """What a dry run found retiring one expired month would do."""

    partition: str
    rows: int
    attached: bool
    summarize_rows: int
    drop: bool = True
    archive_key: str | None = None  # s3://… of the archive, when there are rows to archive
    archive: str | None = None  # "upload" or "verify existing"


@dataclass
class RetentionDetails:
    """``JobRun.details`` of a retention run: one definition for the job and its command."""

    keep_from: str  # the oldest month kept, YYYY-MM
    archive_bucket: str  # empty: archiving off
    months: dict[str, MonthRetired | MonthPlan] = field(default_factory=dict)  # by YYYY-MM
    # Access-log rows past ACCESS_LOG_RETENTION_MONTHS deleted (or, dry, that would be).
    access_logs_deleted: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON stored on the JobRun; a step not done yet has no key."""
        data: dict[str, Any] = {
            "keep_from": self.keep_from,
            "archive_bucket": self.archive_bucket,
            "months": {
                month: {key: value for key, value in asdict(entry).items() if value is not None}
                for month, entry in self.months.items()
            },
        }
        if self.access_logs_deleted is not None:
            data["access_logs_deleted"] = self.access_logs_deleted
        return data

    @classmethod
    def from_run(cls, run: JobRun) -> RetentionDetails:
        """The details a retention run (or dry run, which holds plans) stored."""
        entry = MonthPlan if run.dry_run else MonthRetired
        data = run.details
        return cls(
            keep_from=data["keep_from"],
            archive_bucket=data["archive_bucket"],
            months={month: entry(**values) for month, values in data["months"].items()},
            access_logs_deleted=data.get("access_logs_deleted"),
        )


def _details_save(run: JobRun, details: RetentionDetails, *fields: str) -> None:
    run.details = details.to_dict()
    run.save(update_fields=[*fields, "details"])


def retention_keep_from(*, today: datetime | None = None) -> Month:
    """The oldest month kept: all rows of earlier months are older than LOG_RETENTION_MONTHS."""
    months = settings.LOG_RETENTION_MONTHS
    if months < 1:
        msg = f"LOG_RETENTION_MONTHS must be 1 or more, not {months}"
        raise ImproperlyConfigured(msg)
    current = Month.of(today) if today else Month.current()
    return current.add(-months)


def partition_drop(*, table: str, month: Month, archived_rows: int | None = None) -> int:
    """Detach (if attached) and drop ``table`` in one transaction; return the rows dropped.

    Refused unless the table holds exactly the rows its month's summary accounts for and, when
    ``archived_rows`` is given, the rows archived. Once detached no row can arrive, and log rows
    are never updated or deleted, so equal counts mean the very same rows.
    """
    quoted = connection.ops.quote_name(table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{RETIRE_LOCK_TIMEOUT}'")
        if any(partition.name == table for partition in partitions_list()):
            cursor.execute(f"ALTER TABLE {PARENT_TABLE} DETACH PARTITION {quoted}")
        cursor.execute(f"SELECT count(*) FROM {quoted}")  # noqa: S608
        rows = cursor.fetchone()[0]
        summarized = summary_month_total(month=month)
        if rows != summarized:
            msg = (
                f"{table} not dropped: it holds {rows} rows but the summary of {month} "
                f"accounts for {summarized}"
            )
            raise RetentionRefused(msg)
        if archived_rows is not None and rows != archived_rows:
            msg = f"{table} not dropped: it holds {rows} rows but {archived_rows} were archived"
            raise RetentionRefused(msg)
        with log_deletion_allowed():
            cursor.execute(f"DROP TABLE {quoted}")
        log_counts_forget(month=month)
    return rows


def _archive_counted(manifest) -> bool:
    """Whether the run that uploaded this archive recorded it (it may have died just before)."""
    return JobRun.objects.filter(
        pk=manifest.job_run_id,
        archives__contains=[{"key": manifest.key, "sha256": manifest.sha256}],
    ).exists()


def _partition_retire(
    *, run: JobRun, details: RetentionDetails, partition: ExpiredPartition, bucket: str
) -> None:
    """Summarize, archive and drop one expired month, recording each step on ``run``."""
    entry = MonthRetired(partition=partition.table, rows=partition.rows)
    details.months[str(partition.month)] = entry
    with transaction.atomic():
        change = summary_month_upsert(month=partition.month, table=partition.table)
        run.rows_summarized += change.rows
        entry.summarized_rows = change.rows
        _details_save(run, details, "rows_summarized")

    archived_rows = None
    if bucket and partition.rows:
        manifest = partition_archive(
            table=partition.table,
            month=partition.month,
            rows=partition.rows,
            bucket=bucket,
            job_run=run,
        )
        if not manifest.reused:
            entry.archive = "uploaded and verified"
            run.rows_archived += manifest.rows
        elif _archive_counted(manifest):
            entry.archive = f"verified, uploaded by job run #{manifest.job_run_id}"
        else:
            entry.archive = "verified, uploaded by a run that did not record it: counted here"
            run.rows_archived += manifest.rows
        run.archives.append({**manifest.stored(), "reused": manifest.reused})
        _details_save(run, details, "archives", "rows_archived")
        archived_rows = manifest.rows
    elif bucket:
        entry.archive = "nothing to archive: no rows"

    # The drop and its record commit together: never dropped-but-unrecorded, never counted twice.
    with transaction.atomic():
        dropped = partition_drop(
            table=partition.table, month=partition.month, archived_rows=archived_rows
        )
        run.partitions_dropped.append(partition.table)
        run.rows_deleted += dropped
        entry.dropped_rows = dropped
        _details_save(run, details, "partitions_dropped", "rows_deleted")


def _partition_plan(
    *, run: JobRun, details: RetentionDetails, partition: ExpiredPartition, bucket: str
) -> None:
    """Record on ``run`` what retiring ``partition`` would do; change nothing else."""
    pending = summary_month_pending(month=partition.month, table=partition.table)
    entry = MonthPlan(
        partition=partition.table,
        rows=partition.rows,
        attached=partition.attached,
        summarize_rows=pending.rows,
    )
    if bucket and partition.rows:
        stored = archive_manifest_read(month=partition.month, bucket=bucket)
        entry.archive_key = f"s3://{bucket}/{archive_key(month=partition.month)}"
        entry.archive = (
            "verify existing"
            if stored is not None and stored.get("rows") == partition.rows
            else "upload"
        )
    details.months[str(partition.month)] = entry
    _details_save(run, details)


def retention_run(*, dry_run: bool = False, today: datetime | None = None) -> JobRun:
    """The retention job: every expired month summarized, archived if configured, then dropped;
    then the access-log rows past ACCESS_LOG_RETENTION_MONTHS.

    Months are handled oldest first; the first failure stops the run (its month stays, and so
    do the later ones) and fails the JobRun with the reason. A dry run records its plan on a
    ``dry_run`` JobRun and writes nothing else: no summary, no S3 object, no DDL.
    """
    bucket = settings.ARCHIVE_S3_BUCKET
    with job_run_record(job=JobRun.Job.RETENTION, dry_run=dry_run) as run:
        # Inside the run: a bad setting is a scheduled run that failed, for the admins to see.
        keep_from = retention_keep_from(today=today)
        expired = partitions_expired(keep_from=keep_from)
        details = RetentionDetails(keep_from=str(keep_from), archive_bucket=bucket)
        _details_save(run, details)
        for partition in expired:
            step = _partition_plan if dry_run else _partition_retire
            step(run=run, details=details, partition=partition, bucket=bucket)
        details.access_logs_deleted = access_logs_purge(today=today, dry_run=dry_run)
        _details_save(run, details)
    return run
