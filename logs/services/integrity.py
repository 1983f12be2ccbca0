"""Integrity of the audit trail: per-execution digests over the log rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from auditsite.db import UTC_ISO_SESSION, cursor_copy
from logs.evidence_verify import GENESIS, executions_compare, seal_problems
from logs.models import Execution, JobRun, MonthSeal
from logs.months import Month
from logs.selectors import (
    BreakdownRow,
    default_partition_rows,
    execution_breakdown,
    partitions_list,
)
from logs.services.archive import archive_manifest_read
from logs.services.job_runs import job_run_record
from logs.services.log_counts import log_counts_problems
from logs.services.seals import month_executions, month_rows, seal_record, seal_s3_read
from users.statistics import STATISTICS

# The digest of an execution: sha256 over its log rows in log_id order, each row as one line of
# PostgreSQL's COPY text format (the LOG_COLUMNS in this order, tab-separated, \N for NULL,
# backslash escapes, "\n" after every row), times in UTC ISO (UTC_ISO_SESSION). Changing this
# invalidates stored digests.
LOG_COLUMNS = (
    "log_id, execution_name, user_id, processing_type, old_value, new_value, status, "
    "error_message, processed_at"
)


def digest_copy(cursor, query: str, params=None, *, ordered: bool = False) -> str | None:
    """The digest of the log rows ``query`` gives (LOG_COLUMNS), hashed here as ``COPY … TO
    STDOUT`` streams them out of the database; inside a transaction.

    The rows may arrive while the database is still writing them, in the order it wrote them:
    their log_ids are checked to ascend, and None is returned when they do not (the caller then
    reads them back in order with ``execution_digest``). A query that orders them by log_id
    itself (``ordered``) is hashed block by block, with no line to look into.
    """
    cursor.execute(UTC_ISO_SESSION)
    digest = hashlib.sha256()
    previous, ascending = 0, True
    with cursor_copy(cursor, f"COPY ({query}) TO STDOUT", params) as copy:
        for block in copy:  # one row per block, as PostgreSQL sends them
            digest.update(block)
            if ascending and not ordered:
                for line in bytes(block).splitlines():
                    log_id = int(line[: line.index(b"\t")])
                    ascending = log_id > previous
                    previous = log_id
    return digest.hexdigest() if ascending else None


@dataclass(frozen=True)
class CountsCheck:
    """An execution's log rows counted now (seed 6.2), and whether they are what it recorded."""

    breakdown: list[BreakdownRow]
    by_type: dict[str, dict[str, int]]  # {processing_type: {status: rows}}
    matches_record: bool


def execution_counts_check(*, execution: Execution) -> CountsCheck:
    """Seed 6.2 for the execution against the counts it stored when it completed: a difference
    means the trail changed since (runs that did not complete recorded nothing to compare)."""
    breakdown = execution_breakdown(execution_name=execution.name)
    by_type: dict[str, dict[str, int]] = {}
    for row in breakdown:
        per_status = by_type.setdefault(
            row.processing_type or "", {"success": 0, "failed": 0, "skipped": 0}
        )
        per_status[row.status] = row.count
    recorded = {key: dict(value) for key, value in execution.counts.items()}
    matches = execution.status != Execution.Status.COMPLETED or by_type == recorded
    return CountsCheck(breakdown=breakdown, by_type=by_type, matches_record=matches)


def execution_digest(*, execution_name: str) -> str:
    """sha256 over the log rows of one execution, in log_id order, as stored now."""
    with transaction.atomic(), connection.cursor() as cursor:
        digest = digest_copy(
            cursor,
            f"SELECT {LOG_COLUMNS} FROM processing_logs WHERE execution_name = %s "  # noqa: S608
            "ORDER BY log_id",
            [execution_name],
            ordered=True,
        )
    assert digest is not None, "an ordered query's digest is always taken"
    return digest


MAX_LISTED = 50  # problems of one kind listed in full; the rest are counted


_NO_ROWS = hashlib.sha256(b"").hexdigest()


def _dropped_partitions() -> set[str]:
    """Monthly tables retention has dropped (their rows live on in the archive and the seal)."""
    dropped: set[str] = set()
    runs = JobRun.objects.filter(job=JobRun.Job.RETENTION, dry_run=False)
    for names in runs.values_list("partitions_dropped", flat=True):
        dropped.update(names)
    return dropped


def _digest_problems() -> list[str]:
    problems = []
    dropped = _dropped_partitions()
    completed = Execution.objects.filter(status=Execution.Status.COMPLETED).exclude(digest="")
    for name, stored, finished_at in completed.values_list(
        "name", "digest", "finished_at"
    ).iterator():
        actual = execution_digest(execution_name=name)
        if actual == stored:
            continue
        if actual == _NO_ROWS and finished_at and Month.of(finished_at).partition_name in dropped:
            continue  # its month was retired whole: the seal and the archive manifest vouch
        problems.append(f"execution {name!r}: log rows differ from their digest")
    return problems


def _chain_problems() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT user_id, processing_type, log_id, old_value, previous_new
            FROM (
                SELECT user_id, processing_type, log_id, old_value,
                       lag(new_value) OVER (PARTITION BY user_id, processing_type
                                            ORDER BY log_id) AS previous_new
                FROM processing_logs WHERE status = 'success'
            ) chain
            WHERE previous_new IS NOT NULL AND old_value IS DISTINCT FROM previous_new
            ORDER BY log_id
            """
        )
        return [
            f"chain broken for {user_id} {processing_type} at log {log_id}: "
            f"old_value {old} but the previous success ended at {previous}"
            for user_id, processing_type, log_id, old, previous in cursor.fetchall()
        ]


def _default_partition_problems() -> list[str]:
    rows = default_partition_rows()
    return [f"{rows} rows in the DEFAULT partition (run ensure_partitions)"] if rows else []


def _counter_problems() -> list[str]:
    problems = []
    with connection.cursor() as cursor:
        for statistic in STATISTICS:
            cursor.execute(
                f"""
                SELECT s.user_id, s.{statistic.column}, last.new_value
                FROM user_statistics s
                JOIN (
                    -- One pass over the success rows (like the chain check), not one probe
                    -- of every partition per user: the last success of each user.
                    SELECT DISTINCT ON (user_id) user_id, new_value
                    FROM processing_logs
                    WHERE processing_type = %s AND status = 'success'
                    ORDER BY user_id, log_id DESC
                ) last ON last.user_id = s.user_id
                WHERE last.new_value IS DISTINCT FROM s.{statistic.column}
                ORDER BY s.user_id
                """,  # noqa: S608 - column name from the registry
                [statistic.processing_type],
            )
            problems += [
                f"{user_id} {statistic.column} is {counter} but its last logged value is {last}"
                for user_id, counter, last in cursor.fetchall()
            ]
    return problems


def _month_rows_problems(seal: MonthSeal, *, attached: set[Month], bucket: str) -> list[str]:
    """The month's rows now against its seal: counted while the month is in the database,
    compared with its archive manifest once retention has dropped it."""
    month = Month.parse(seal.month)
    rows = month_rows(month=month)
    if month in attached or rows:
        if rows != seal.rows:
            return [f"{month}: the month holds {rows} log rows, its seal says {seal.rows}"]
        return []
    if not seal.rows or not bucket:
        return []  # nothing was there to drop, or nothing to compare a dropped month with
    manifest = archive_manifest_read(month=month, bucket=bucket)
    if manifest is None:
        return [f"{month}: dropped, its seal says {seal.rows} rows, and no archive manifest"]
    if manifest.get("rows") != seal.rows:
        return [
            f"{month}: dropped; its archive manifest says {manifest.get('rows')} rows, "
            f"its seal {seal.rows}"
        ]
    return []


def _seal_problems() -> list[str]:
    problems: list[str] = []
    attached = {p.month for p in partitions_list() if p.month is not None}
    bucket = settings.ARCHIVE_S3_BUCKET
    previous, previous_month = GENESIS, None
    for seal in MonthSeal.objects.order_by("month"):
        month = Month.parse(seal.month)
        record = seal_record(seal)
        problems += seal_problems(record)
        if seal.previous_seal != previous:
            after = f"the seal of {previous_month}" if previous_month else "the start of the chain"
            problems.append(
                f"seal of {month} does not follow {after}: a seal between them was removed "
                "or replaced"
            )
        problems += executions_compare(
            month=str(month), sealed=seal.chain, current=month_executions(month=month)
        )
        problems += _month_rows_problems(seal, attached=attached, bucket=bucket)
        if bucket and seal.s3_key:
            copy = seal_s3_read(month=month, bucket=bucket)
            if copy is None or copy.get("seal") != seal.seal:
                problems.append(f"seal of {month}: its copy in S3 is missing or differs")
        previous, previous_month = seal.seal, month
    return problems


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"… and {len(problems) - MAX_LISTED} more like these"]


def logs_verify() -> list[str]:
    """Every problem with the trail: digests, chains, DEFAULT partition, counters vs logs,
    the dashboard's counts vs logs, month seals."""
    return [
        *_listed(_digest_problems()),
        *_listed(_seal_problems()),
        *_listed(_chain_problems()),
        *_default_partition_problems(),
        *_listed(_counter_problems()),
        *_listed(log_counts_problems()),
    ]


class TrailProblems(Exception):
    """verify_logs found problems; they are listed in the JobRun's details."""


def logs_verify_run() -> JobRun:
    """The verification job (nightly, and ``manage.py verify_logs``): ``logs_verify`` as a
    JobRun whose details list the problems; the run is failed when there are any."""
    with job_run_record(job=JobRun.Job.VERIFY) as run:
        problems = logs_verify()
        run.details = {"problems": problems}
        run.save(update_fields=["details"])
        if problems:
            msg = f"{len(problems)} problem(s) in the processing logs"
            raise TrailProblems(msg)
    return run
