"""Monthly partitions of ``processing_logs`` made ahead, and DEFAULT emptied into them.

Months are the business time zone's (``logs.months``); reads of the partitions are selectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from logs.models import JobRun
from logs.months import DEFAULT_PARTITION, PARENT_TABLE, Month
from logs.selectors import default_partition_months, default_partition_rows, partitions_list
from logs.services.job_runs import JobRefused, job_run_record
from logs.triggers import log_deletion_allowed, truncate_guard_sql


@dataclass
class EnsureResult:
    created: list[str] = field(default_factory=list)
    rows_moved: int = 0
    default_rows: int = 0  # rows left in DEFAULT after the run (should be 0)


def _quote(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def partition_create(*, month: Month, using: str = DEFAULT_DB_ALIAS) -> tuple[bool, int]:
    """Create the partition of ``month`` if missing, moving its rows out of DEFAULT.

    Returns ``(created, rows_moved)``. One transaction: the rows are in DEFAULT or in the new
    partition, never in both or neither.
    """
    connection = connections[using]
    name = month.partition_name
    table = _quote(connection, name)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False, 0
        # Serialize partition creation; concurrent inserts keep going.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('processing_logs partitions'))")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False, 0
        bounds = [month.start, month.end]
        cursor.execute(
            f"SELECT count(*) FROM {DEFAULT_PARTITION} "  # noqa: S608 - constant identifier
            "WHERE processed_at >= %s AND processed_at < %s",
            bounds,
        )
        strays = cursor.fetchone()[0]
        if strays == 0:
            cursor.execute(
                f"CREATE TABLE {table} PARTITION OF {PARENT_TABLE} FOR VALUES FROM (%s) TO (%s)",
                bounds,
            )
        else:
            cursor.execute(
                f"CREATE TABLE {table} "
                f"(LIKE {PARENT_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            with log_deletion_allowed():
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608
                    "WHERE processed_at >= %s AND processed_at < %s RETURNING *) "
                    f"INSERT INTO {table} SELECT * FROM moved",
                    bounds,
                )
            cursor.execute(
                f"ALTER TABLE {PARENT_TABLE} ATTACH PARTITION {table} FOR VALUES FROM (%s) TO (%s)",
                bounds,
            )
            # A table filled in one statement has no planner statistics until autovacuum comes
            # by: without them the planner guesses hundreds of rows per partition and picks
            # parallel plans for one user's history.
            cursor.execute(f"ANALYZE {table}")
            cursor.execute(f"ANALYZE {DEFAULT_PARTITION}")
        cursor.execute(truncate_guard_sql(table=name))
    return True, strays


def partitions_guard_truncate(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Add the TRUNCATE guard to every partition lacking it (e.g. one made by hand)."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        missing = [p.name for p in partitions_list(using=using) if not p.truncate_guarded]
        for name in missing:
            cursor.execute(truncate_guard_sql(table=name))
    return missing


def partitions_ensure(
    *,
    months_ahead: int,
    today: datetime | None = None,
    using: str = DEFAULT_DB_ALIAS,
    job_run: JobRun | None = None,
) -> EnsureResult:
    """Keep the current month and ``months_ahead`` months ready; move stray rows out of DEFAULT.

    With ``job_run``, each partition made is recorded on it in the transaction that made it, so
    the run's record stays true however far a crashed run got.
    """
    if months_ahead < 0:
        msg = "months_ahead must be 0 or more"
        raise ValueError(msg)
    current = Month.of(today) if today else Month.current()
    result = EnsureResult()
    partitions_guard_truncate(using=using)
    wanted = [current.add(offset) for offset in range(months_ahead + 1)]
    for month in sorted(set(wanted) | set(default_partition_months(using=using))):
        with transaction.atomic(using=using):
            created, moved = partition_create(month=month, using=using)
            if created and job_run is not None:
                job_run.partitions_created.append(month.partition_name)
                job_run.rows_moved += moved
                job_run.save(using=using, update_fields=["partitions_created", "rows_moved"])
        if created:
            result.created.append(month.partition_name)
        result.rows_moved += moved
    result.default_rows = default_partition_rows(using=using)
    return result


def partitions_maintain(
    *, months_ahead: int | None = None, today: datetime | None = None
) -> JobRun:
    """The partitions job: current month + ``months_ahead`` ready, DEFAULT emptied, one JobRun."""
    if months_ahead is None:
        months_ahead = settings.PARTITION_MONTHS_AHEAD
    if months_ahead < 0:
        msg = f"--months-ahead must be 0 or more, not {months_ahead}"
        raise JobRefused(msg)
    with job_run_record(job=JobRun.Job.PARTITIONS) as run:
        result = partitions_ensure(months_ahead=months_ahead, today=today, job_run=run)
        # Rows still in DEFAULT can only be rows inserted while this job ran: reported, and the
        # next run moves them.
        run.details = {"months_ahead": months_ahead, "default_rows": result.default_rows}
    return run
